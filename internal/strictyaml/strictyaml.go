// Package strictyaml decodes one YAML document into Go structs strictly:
// unknown keys, duplicate keys, wrong kinds and untyped numbers are errors
// naming the file, the line and the field path, and decoding goes on after
// an error to report them all. The scenario catalog and the target files
// both load through it, so both refuse the same mistakes the same way.
package strictyaml

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

// MaxDuration bounds every duration, so that sums of them cannot overflow.
const MaxDuration = 24 * time.Hour

// Duration is a time.Duration written in Go syntax ("300ms", "2s") in YAML
// and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d in Go syntax; yaml and encoding/json both use it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads Go syntax ("300ms"). A bare number is an error: it
// has no unit.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Error is one problem found in a file. Problems.Err returns every problem
// of a file, each as an *Error, joined with errors.Join and sorted by line.
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

// Problems collects the errors of one file.
type Problems struct {
	file string
	list []*Error
	// Bad holds fields that already failed to decode, so validation does
	// not report them a second time (a bad duration is not also "missing").
	Bad map[string]bool
}

// NewProblems collects the problems of file.
func NewProblems(file string) *Problems {
	return &Problems{file: file, Bad: map[string]bool{}}
}

// File is the file the problems are of.
func (p *Problems) File() string { return p.file }

// Add records a problem on line (0: none) of field ("": the whole file).
func (p *Problems) Add(line int, field, format string, args ...any) {
	p.list = append(p.list, &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// maxReported bounds the errors reported for one file; the rest are
// counted in a last line.
const MaxReported = 50

// Err is every problem, joined and sorted by line; nil when there is none.
func (p *Problems) Err() error {
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
		if i == MaxReported {
			errs = append(errs, &Error{File: p.file, Msg: fmt.Sprintf("%d more problems not shown", len(p.list)-MaxReported)})
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// Positions maps a field path to the YAML node of its value, so that
// validation can name the line of what it rejects.
type Positions map[string]*yaml.Node

// Has reports whether the file set the field.
func (ps Positions) Has(path string) bool { _, ok := ps[path]; return ok }

// Line returns the line of path, or of its nearest ancestor that the file
// has (a missing field is reported on its parent's line, a missing
// top-level field on the document's); 0 when none.
func (ps Positions) Line(path string) int {
	for p := path; ; p = ParentPath(p) {
		if n, ok := ps[p]; ok {
			return n.Line
		}
		if p == "" {
			return 0
		}
	}
}

func ParentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// JoinPath is parent.key.
func JoinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// Decoder turns a YAML node tree into Go values strictly: unknown keys,
// duplicate keys, wrong kinds and untyped numbers are all errors naming
// the field and the line. It keeps going after an error to report them all.
type Decoder struct {
	probs *Problems
	// Pos holds the node of every field decoded, by path.
	Pos       Positions
	visits    int
	tooBig    bool
	expanding map[*yaml.Node]bool
}

// NewDecoder reports to probs.
func NewDecoder(probs *Problems) *Decoder {
	return &Decoder{probs: probs, Pos: Positions{}, expanding: map[*yaml.Node]bool{}}
}

// TooBig reports whether the document expanded past maxNodes (decoding
// stopped: its value is incomplete).
func (d *Decoder) TooBig() bool { return d.tooBig }

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseDocument parses data into its single document's root node; nil
// after a problem. noun names the document ("scenario") and shape says
// what it holds ("a mapping with name, ..."), for the messages.
func ParseDocument(data []byte, probs *Problems, noun, shape string) (root *yaml.Node) {
	defer func() {
		// The parser is third-party code; a panic on hostile input must
		// not take the suite down with it.
		if r := recover(); r != nil {
			probs.Add(0, "", "YAML parser failed: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			probs.Add(0, "", "empty file: expected a %s (%s)", noun, shape)
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
		probs.Add(next.Line, "", "more than one YAML document: a %s file holds exactly one", noun)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		probs.Add(doc.Line, "", "expected one YAML document")
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

func addSyntaxError(probs *Problems, err error) {
	msg := err.Error()
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(zeroBasedParserErrors, m[2]) {
			line++
		}
		probs.Add(line, "", "YAML syntax: %s", m[2])
		return
	}
	probs.Add(0, "", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

var durationType = reflect.TypeFor[Duration]()

func (d *Decoder) errf(path string, n *yaml.Node, format string, args ...any) {
	d.probs.Bad[path] = true
	d.probs.Add(n.Line, path, format, args...)
}

// KindName describes a node for a message: "a mapping", a quoted scalar, ...
func KindName(n *yaml.Node) string {
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

// Decode stores n, at field path, into v, which is addressable.
func (d *Decoder) Decode(path string, n *yaml.Node, v reflect.Value) {
	if d.tooBig {
		return
	}
	if d.visits++; d.visits > maxNodes {
		d.tooBig = true
		d.errf(path, n, "the file expands to more than %d YAML nodes (check its aliases)", maxNodes)
		return
	}
	if _, seen := d.Pos[path]; !seen {
		d.Pos[path] = n
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || d.expanding[n.Alias] {
			d.errf(path, n, "alias *%s refers to a node that contains it", n.Value)
			return
		}
		d.expanding[n.Alias] = true
		d.Decode(path, n.Alias, v)
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
		d.Decode(path, n, elem.Elem())
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
			d.errf(path, n, "expected true or false, got %s", KindName(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errf(path, n, "expected true or false, got %s", KindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if _, ok := d.scalar(path, n, "an integer"); !ok {
			return
		}
		var i int64
		if n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.errf(path, n, "expected an integer, got %s", KindName(n))
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
			d.errf(path, n, "expected a number, got %s", KindName(n))
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
func (d *Decoder) scalar(path string, n *yaml.Node, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errf(path, n, "expected %s, got %s", want, KindName(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool":
		return n.Value, true
	}
	d.errf(path, n, "unsupported YAML tag %s", n.Tag)
	return "", false
}

func (d *Decoder) decodeDuration(path string, n *yaml.Node, v reflect.Value) {
	s, ok := d.scalar(path, n, `a duration such as "300ms" or "2s"`)
	if !ok {
		return
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.errf(path, n, "%v", err)
		return
	}
	v.SetInt(int64(dur))
}

// ParseDuration reads Go syntax and rejects bare numbers (no unit) and
// durations longer than MaxDuration.
func ParseDuration(s string) (time.Duration, error) {
	dur, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return 0, fmt.Errorf("invalid duration %q: missing unit (write e.g. %sms or %ss)", s, s, s)
		}
		return 0, fmt.Errorf("invalid duration %q (use Go syntax, e.g. 300ms, 2s, 1m30s)", s)
	}
	if dur > MaxDuration || dur < -MaxDuration {
		return 0, fmt.Errorf("duration %s is out of range (at most %s)", dur, MaxDuration)
	}
	return dur, nil
}

// mapPairs walks a mapping's key/value pairs, rejecting non-scalar, merge
// and duplicate keys.
func (d *Decoder) mapPairs(path string, n *yaml.Node, fn func(key string, k, val *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.errf(path, n, "expected a mapping, got %s", KindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errf(path, k, "keys must be plain strings, got %s", KindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.errf(path, k, "merge keys (<<) are not supported: write the fields out")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errf(JoinPath(path, k.Value), k, "duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, k, val)
	}
}

func (d *Decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
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
		field := JoinPath(path, key)
		i, ok := fields[key]
		if !ok {
			d.errf(field, k, "unknown field (known: %s)", strings.Join(names, ", "))
			return
		}
		d.Decode(field, val, v.Field(i))
	})
}

func (d *Decoder) decodeMap(path string, n *yaml.Node, v reflect.Value) {
	m := reflect.MakeMap(v.Type())
	d.mapPairs(path, n, func(key string, k, val *yaml.Node) {
		elem := reflect.New(v.Type().Elem()).Elem()
		// String values (env, url_params) take any scalar as its text, so
		// OUTBOX_CAPACITY: 1000 needs no quotes.
		d.Decode(JoinPath(path, key), val, elem)
		m.SetMapIndex(reflect.ValueOf(key), elem)
	})
	if m.Len() > 0 {
		v.Set(m)
	}
}

func (d *Decoder) decodeSlice(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.errf(path, n, "expected a list, got %s", KindName(n))
		return
	}
	if len(n.Content) == 0 {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.Decode(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i))
	}
	v.Set(s)
}

// Validator reports the problems a loader finds after decoding on the line
// of the field they concern.
type Validator struct {
	Probs *Problems
	Pos   Positions
}

// Errf reports a problem of field, unless its decoding failed already.
func (v *Validator) Errf(field, format string, args ...any) {
	if v.Probs.Bad[field] {
		return
	}
	v.Probs.Add(v.Pos.Line(field), field, format, args...)
}
