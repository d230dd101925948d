package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes one file may expand to, aliases included, so
// that an alias bomb is an error rather than an out-of-memory.
const maxNodes = 20000

// maxDuration bounds every duration, so that sums of them cannot overflow.
const maxDuration = 24 * time.Hour

// Error is one problem found in a scenario file. Load, Parse and LoadDir
// return every problem of a file, each as an *Error, joined with
// errors.Join and sorted by line.
type Error struct {
	File  string
	Line  int    // 1-based; 0 when the problem has no single line
	Field string // the field path, e.g. "faults[0].for"; "" for the whole file
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// problems collects the errors of one file.
type problems struct {
	file string
	list []*Error
	// bad holds fields that already failed to decode, so validation does
	// not report them a second time (a bad duration is not also "missing").
	bad map[string]bool
}

func (p *problems) add(line int, field, format string, args ...any) {
	p.list = append(p.list, &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// maxReported bounds the errors reported for one file; the rest are
// counted in a last line.
const maxReported = 50

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Field, b.Field)
	})
	var errs []error
	for i, e := range p.list {
		if i == maxReported {
			errs = append(errs, &Error{File: p.file, Msg: fmt.Sprintf("%d more problems not shown", len(p.list)-maxReported)})
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// positions maps a field path to the YAML node of its value, so that
// validation can name the line of what it rejects.
type positions map[string]*yaml.Node

// has reports whether the file set the field.
func (ps positions) has(path string) bool { _, ok := ps[path]; return ok }

// line returns the line of path, or of its nearest ancestor that the file
// has (a missing field is reported on its parent's line, a missing
// top-level field on the document's); 0 when none.
func (ps positions) line(path string) int {
	for p := path; ; p = parentPath(p) {
		if n, ok := ps[p]; ok {
			return n.Line
		}
		if p == "" {
			return 0
		}
	}
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// decoder turns a YAML node tree into Go values strictly: unknown keys,
// duplicate keys, wrong kinds and untyped numbers are all errors naming
// the field and the line. It keeps going after an error to report them all.
type decoder struct {
	probs     *problems
	pos       positions
	visits    int
	tooBig    bool
	expanding map[*yaml.Node]bool
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses data into its single document's root node.
func parseDocument(data []byte, probs *problems) (root *yaml.Node) {
	defer func() {
		// The parser is third-party code; a panic on hostile input must
		// not take the suite down with it.
		if r := recover(); r != nil {
			probs.add(0, "", "YAML parser failed: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			probs.add(0, "", "empty file: expected a scenario (a mapping with name, description, labels, traffic, faults, expect)")
		} else {
			addSyntaxError(probs, err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		addSyntaxError(probs, err)
		return nil
	default:
		probs.add(next.Line, "", "more than one YAML document: a scenario file holds exactly one")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		probs.add(doc.Line, "", "expected one YAML document")
		return nil
	}
	return doc.Content[0]
}

// zeroBasedParserErrors are the parser (not scanner) errors, for which the
// YAML library reports a 0-based line (that of the unfinished construct,
// when there is one): for them the 1-based line is one more.
var zeroBasedParserErrors = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected key",
	"did not find expected '-' indicator",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected node content",
}

func addSyntaxError(probs *problems, err error) {
	msg := err.Error()
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(zeroBasedParserErrors, m[2]) {
			line++
		}
		probs.add(line, "", "YAML syntax: %s", m[2])
		return
	}
	probs.add(0, "", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

var durationType = reflect.TypeFor[Duration]()

func (d *decoder) errf(path string, n *yaml.Node, format string, args ...any) {
	d.probs.bad[path] = true
	d.probs.add(n.Line, path, format, args...)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected node"
}

// decode stores n into v, which is addressable.
func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	if d.tooBig {
		return
	}
	if d.visits++; d.visits > maxNodes {
		d.tooBig = true
		d.errf(path, n, "the file expands to more than %d YAML nodes (check its aliases)", maxNodes)
		return
	}
	if _, seen := d.pos[path]; !seen {
		d.pos[path] = n
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || d.expanding[n.Alias] {
			d.errf(path, n, "alias *%s refers to a node that contains it", n.Value)
			return
		}
		d.expanding[n.Alias] = true
		d.decode(path, n.Alias, v)
		delete(d.expanding, n.Alias)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		switch v.Kind() {
		case reflect.Struct, reflect.Map, reflect.Slice:
			return // "bot:" with nothing after it is an empty section
		}
		d.errf(path, n, "has no value")
		return
	}
	if v.Type() == durationType {
		d.decodeDuration(path, n, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(path, n, elem.Elem())
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Map:
		d.decodeMap(path, n, v)
	case reflect.Slice:
		d.decodeSlice(path, n, v)
	case reflect.String:
		if s, ok := d.scalar(path, n, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if _, ok := d.scalar(path, n, "true or false"); !ok {
			return
		}
		if n.ShortTag() != "!!bool" {
			d.errf(path, n, "expected true or false, got %s", kindName(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errf(path, n, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if _, ok := d.scalar(path, n, "an integer"); !ok {
			return
		}
		var i int64
		if n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.errf(path, n, "expected an integer, got %s", kindName(n))
			return
		}
		if v.OverflowInt(i) {
			d.errf(path, n, "integer %d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Float64, reflect.Float32:
		if _, ok := d.scalar(path, n, "a number"); !ok {
			return
		}
		var f float64
		if tag := n.ShortTag(); (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			d.errf(path, n, "expected a number, got %s", kindName(n))
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || v.OverflowFloat(f) {
			d.errf(path, n, "expected a finite number, got %s", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable if a field of an unsupported type is added.
		d.errf(path, n, "internal: cannot decode into %s", v.Type())
	}
}

// scalar returns the text of a plain scalar, or reports that n is not one.
func (d *decoder) scalar(path string, n *yaml.Node, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errf(path, n, "expected %s, got %s", want, kindName(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool":
		return n.Value, true
	}
	d.errf(path, n, "unsupported YAML tag %s", n.Tag)
	return "", false
}

func (d *decoder) decodeDuration(path string, n *yaml.Node, v reflect.Value) {
	s, ok := d.scalar(path, n, `a duration such as "300ms" or "2s"`)
	if !ok {
		return
	}
	dur, err := parseDuration(s)
	if err != nil {
		d.errf(path, n, "%v", err)
		return
	}
	v.SetInt(int64(dur))
}

// parseDuration reads Go syntax and rejects bare numbers (no unit) and
// durations longer than maxDuration.
func parseDuration(s string) (time.Duration, error) {
	dur, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return 0, fmt.Errorf("invalid duration %q: missing unit (write e.g. %sms or %ss)", s, s, s)
		}
		return 0, fmt.Errorf("invalid duration %q (use Go syntax, e.g. 300ms, 2s, 1m30s)", s)
	}
	if dur > maxDuration || dur < -maxDuration {
		return 0, fmt.Errorf("duration %s is out of range (at most %s)", dur, maxDuration)
	}
	return dur, nil
}

// mapPairs walks a mapping's key/value pairs, rejecting non-scalar, merge
// and duplicate keys.
func (d *decoder) mapPairs(path string, n *yaml.Node, fn func(key string, k, val *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.errf(path, n, "expected a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errf(path, k, "keys must be plain strings, got %s", kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.errf(path, k, "merge keys (<<) are not supported: write the fields out")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errf(joinPath(path, k.Value), k, "duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, k, val)
	}
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	d.mapPairs(path, n, func(key string, k, val *yaml.Node) {
		field := joinPath(path, key)
		i, ok := fields[key]
		if !ok {
			d.errf(field, k, "unknown field (known: %s)", strings.Join(names, ", "))
			return
		}
		d.decode(field, val, v.Field(i))
	})
}

func (d *decoder) decodeMap(path string, n *yaml.Node, v reflect.Value) {
	m := reflect.MakeMap(v.Type())
	d.mapPairs(path, n, func(key string, k, val *yaml.Node) {
		elem := reflect.New(v.Type().Elem()).Elem()
		// String values (env, url_params) take any scalar as its text, so
		// OUTBOX_CAPACITY: 1000 needs no quotes.
		d.decode(joinPath(path, key), val, elem)
		m.SetMapIndex(reflect.ValueOf(key), elem)
	})
	if m.Len() > 0 {
		v.Set(m)
	}
}

func (d *decoder) decodeSlice(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.errf(path, n, "expected a list, got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i))
	}
	v.Set(s)
}
