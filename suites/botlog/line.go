// Package botlog reads the bot's log as the harness sees it: one parser of
// its slog JSON lines (LOG_FORMAT=json), one Line type, and one recogniser
// per line the bot documents (docs/bot.md, "Documented log lines"; the
// retry layer's lines are listed in resilience.NewSlogObserver's doc).
//
// It is written from that documentation and never imports the bot's
// packages or strings: a check that imported the text it checks would pass
// by construction, whatever the bot logged.
package botlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Line is one line the bot logged. Its JSON form is the one history.jsonl
// stores.
type Line struct {
	Time  time.Time      `json:"time"`
	Level string         `json:"level"`
	Msg   string         `json:"msg"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

// Parse reads one slog JSON line. A line that is not JSON (a panic, say)
// comes back whole as Msg, so that nothing the bot said is lost; ok is
// false only for a blank line.
func Parse(raw []byte) (l Line, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return Line{}, false
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Line{Msg: string(raw)}, true
	}
	if t, ok := fields["time"].(string); ok {
		l.Time, _ = time.Parse(time.RFC3339Nano, t) // a bad time stays zero: such a line cannot be placed
	}
	l.Level, _ = fields["level"].(string)
	l.Msg, _ = fields["msg"].(string)
	delete(fields, "time")
	delete(fields, "level")
	delete(fields, "msg")
	if len(fields) > 0 {
		l.Attrs = fields
	}
	return l, true
}

// ParseAll reads every line of data (blank lines skipped).
func ParseAll(data []byte) []Line {
	var lines []Line
	for raw := range bytes.Lines(data) {
		if l, ok := Parse(raw); ok {
			lines = append(lines, l)
		}
	}
	return lines
}

// Attr returns a string attribute ("" when absent or not a string).
func (l Line) Attr(key string) string {
	s, _ := l.Attrs[key].(string)
	return s
}

// Int returns a numeric attribute, and whether it was there (JSON numbers
// decode as float64).
func (l Line) Int(key string) (int, bool) {
	f, ok := l.Attrs[key].(float64)
	return int(f), ok
}

// Has reports whether the line's attributes include every key/value of
// attrs (string attributes).
func (l Line) Has(attrs map[string]string) bool {
	for k, v := range attrs {
		if l.Attr(k) != v {
			return false
		}
	}
	return true
}

// String is the line as one string: its message, then key=value for every
// attribute in key order. Checks match expected text against it.
func (l Line) String() string {
	var b strings.Builder
	b.WriteString(l.Msg)
	for _, k := range slices.Sorted(maps.Keys(l.Attrs)) {
		fmt.Fprintf(&b, " %s=%v", k, l.Attrs[k])
	}
	return b.String()
}

// Count counts the lines that match.
func Count(lines []Line, match func(Line) bool) int {
	n := 0
	for _, l := range lines {
		if match(l) {
			n++
		}
	}
	return n
}
