package scenarios

import (
	"errors"
	"github.com/p1001/p1001/internal/strictyaml"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/p1001/p1001/resilience"
)

// FuzzParse: Parse never panics; a rejected input gets only well-formed
// errors naming the file; an accepted one passes Validate, keeps its
// invariants and survives a Marshal/Parse round trip unchanged.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("*" + Ext)
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(doc(join(header, outage, degraded)...))
	f.Add(doc(join(header, outage, []string{"    flap: 300ms"}, degraded)...))
	f.Add(aliasBomb())
	f.Add([]byte("name: [\n"))

	const file = "fuzz" // no .yaml suffix: the name need not match it
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(file, data)
		if err != nil {
			checkErrors(t, file, err)
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario Validate rejects: %v", err)
		}
		if s.File != file {
			t.Fatalf("File = %q", s.File)
		}
		for _, w := range s.FaultWindows() {
			if w.Start < 0 || w.End <= w.Start || w.End > s.Traffic.Duration.D() {
				t.Fatalf("window %+v outside the traffic (%s)", w, s.Traffic.Duration)
			}
		}
		for _, k := range s.Kinds() {
			if !s.HasLabel("fault:" + k) {
				t.Fatalf("kind %s has no label in %v", k, s.Labels)
			}
		}
		// The bot reads BotEnv back through resilience: same policy.
		env := s.BotEnv()
		p, err := resilience.PolicyFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatalf("the bot would reject BotEnv %v: %v", env, err)
		}
		if !reflect.DeepEqual(p, s.Policy()) {
			t.Fatalf("BotEnv describes %+v, the scenario %+v", p, s.Policy())
		}
		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := Parse(file, out)
		if err != nil {
			t.Fatalf("Parse(Marshal(s)) failed: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("round trip changed the scenario:\n%#v\n%#v\n%s", s, again, out)
		}
	})
}

// checkErrors asserts the shape of Parse's error: *Error values naming the
// file, at most strictyaml.MaxReported of them plus a count of the rest.
func checkErrors(t *testing.T, file string, err error) {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error is not a joined list: %T %v", err, err)
	}
	errs := joined.Unwrap()
	if len(errs) == 0 || len(errs) > strictyaml.MaxReported+1 {
		t.Fatalf("%d errors", len(errs))
	}
	for _, e := range errs {
		var se *Error
		if !errors.As(e, &se) || se.File != file || se.Msg == "" || se.Line < 0 {
			t.Fatalf("malformed error %#v", e)
		}
		if !strings.HasPrefix(e.Error(), file+":") || strings.Contains(se.Msg, "internal:") {
			t.Fatalf("error %q", e)
		}
	}
	lines := make([]int, len(errs))
	for i, e := range errs {
		var se *Error
		errors.As(e, &se)
		lines[i] = se.Line
	}
	if n := len(lines); n > strictyaml.MaxReported {
		lines = lines[:strictyaml.MaxReported] // the count line has no line number
	}
	if !slices.IsSorted(lines) {
		t.Fatalf("errors not sorted by line: %v", lines)
	}
}
