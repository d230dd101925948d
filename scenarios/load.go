package scenarios

import (
	"errors"
	"fmt"
	"github.com/p1001/p1001/internal/strictyaml"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Ext is the extension of scenario files.
const Ext = ".yaml"

// Parse decodes and validates one scenario. name is the file name used in
// error messages and as Scenario.File; when it ends in .yaml, the scenario's
// name must equal its base name. Every problem of the file is returned,
// joined, each as an *Error naming the line and the field.
func Parse(name string, data []byte) (Scenario, error) {
	probs := strictyaml.NewProblems(name)
	root := strictyaml.ParseDocument(data, probs, "scenario", "a mapping with name, description, labels, traffic, faults, expect")
	if root == nil {
		return Scenario{}, probs.Err()
	}
	if root.Kind != yaml.MappingNode {
		probs.Add(root.Line, "", "expected a scenario mapping (name, description, labels, traffic, faults, expect), got %s", strictyaml.KindName(root))
		return Scenario{}, probs.Err()
	}
	var s Scenario
	d := strictyaml.NewDecoder(probs)
	d.Decode("", root, reflect.ValueOf(&s).Elem())
	if d.TooBig() {
		return Scenario{}, probs.Err()
	}
	s.File = name
	s.applyDefaults(func(path string, _ bool) bool { return d.Pos.Has(path) })
	s.validate(&validator{strictyaml.Validator{Probs: probs, Pos: d.Pos}})
	if strings.HasSuffix(name, Ext) && s.Name != "" {
		if base := strings.TrimSuffix(filepath.Base(name), Ext); s.Name != base {
			probs.Add(d.Pos.Line("name"), "name", "%q must equal the file's base name %q", s.Name, base)
		}
	}
	if err := probs.Err(); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

// Load reads and parses one scenario file.
func Load(path string) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// LoadDir loads every *.yaml file of dir, sorted by name. It reports the
// problems of all files, joined; a *.yml file is an error rather than
// silently skipped. Names are unique since each equals its file's name.
func LoadDir(dir string) ([]Scenario, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read scenario directory: %w", err)
	}
	var (
		list []Scenario
		errs []error
	)
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch ext := filepath.Ext(e.Name()); {
		case e.IsDir():
			continue
		case ext == ".yml":
			errs = append(errs, &Error{File: path, Msg: "scenario files use the " + Ext + " extension"})
			continue
		case ext != Ext:
			continue
		}
		s, err := Load(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list = append(list, s)
	}
	if len(list) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no *%s scenario files", dir, Ext))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(a, b Scenario) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}
