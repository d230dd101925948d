package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// LogLine is one line the bot logged (slog JSON, LOG_FORMAT=json).
type LogLine struct {
	Time  time.Time
	Level string
	Msg   string
	Attrs map[string]any
}

// ParseLogLine reads one slog JSON line. A line that is not JSON (a panic,
// say) comes back whole as Msg, so that nothing the bot said is lost; ok is
// false only for a blank line.
func ParseLogLine(raw []byte) (line LogLine, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return LogLine{}, false
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return LogLine{Msg: string(raw)}, true
	}
	if t, ok := fields["time"].(string); ok {
		line.Time, _ = time.Parse(time.RFC3339Nano, t) // a bad time stays zero: it is only shown
	}
	line.Level, _ = fields["level"].(string)
	line.Msg, _ = fields["msg"].(string)
	delete(fields, "time")
	delete(fields, "level")
	delete(fields, "msg")
	line.Attrs = fields
	return line, true
}

// documentedPrefixes are the runbook's lines (docs/bot.md, "Documented log
// lines"): the retry layer's, the prompt lookup's and the message handler's.
var documentedPrefixes = []string{"[DB Retry] ", "[getCustomPrompt] ", "[MessageHandler] "}

// Documented tells whether l is one of the lines operators grep for.
func Documented(l LogLine) bool {
	for _, p := range documentedPrefixes {
		if strings.HasPrefix(l.Msg, p) {
			return true
		}
	}
	return false
}

// shownAttrs are the attributes worth a glance, in the order shown; the
// rest (max_attempts, delay_ms, ...) repeat what the message says.
var shownAttrs = []string{"op", "chat", "code", "source", "attempts", "state", "error", "err"}

// Format renders l on one line: level, message, then the attributes that
// matter, the error last (it holds "P1001: Can't reach database server
// at ...").
func (l LogLine) Format() string {
	var b strings.Builder
	if l.Level != "" {
		fmt.Fprintf(&b, "%-5s ", l.Level)
	}
	b.WriteString(l.Msg)
	for _, k := range shownAttrs {
		v, ok := l.Attrs[k]
		if !ok {
			continue
		}
		// Multi-line errors (pgx lists every address it tried) stay on one line.
		s := strings.Join(strings.Fields(fmt.Sprint(v)), " ")
		if f, isNum := v.(float64); isNum && f == float64(int64(f)) {
			s = fmt.Sprint(int64(f)) // JSON numbers decode as float64
		}
		if s == "" {
			continue
		}
		if strings.ContainsAny(s, " \"") {
			s = fmt.Sprintf("%q", s)
		}
		fmt.Fprintf(&b, " %s=%s", k, s)
	}
	return b.String()
}

// Attr returns a string attribute ("" when absent or not a string).
func (l LogLine) Attr(key string) string {
	s, _ := l.Attrs[key].(string)
	return s
}

// IntAttr returns a numeric attribute, and whether it was there.
func (l LogLine) IntAttr(key string) (int, bool) {
	f, ok := l.Attrs[key].(float64)
	return int(f), ok
}

// LogWatcher keeps every line the bot logs, as it logs it, and echoes the
// documented ones. Steps wait on it for the lines they promise to show.
type LogWatcher struct {
	echo func(LogLine)

	mu      sync.Mutex
	lines   []LogLine
	muted   bool
	changed chan struct{} // closed and replaced on every new line
}

// Mute stops (true) or resumes (false) the echo; lines are kept either way.
func (w *LogWatcher) Mute(muted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.muted = muted
}

// NewLogWatcher returns a watcher that passes each documented line to echo
// (nil: none).
func NewLogWatcher(echo func(LogLine)) *LogWatcher {
	return &LogWatcher{echo: echo, changed: make(chan struct{})}
}

// Accept takes one raw line from the container (environment.BotOptions.LogLines).
func (w *LogWatcher) Accept(raw []byte) {
	for _, part := range bytes.Split(raw, []byte("\n")) {
		line, ok := ParseLogLine(part)
		if !ok {
			continue
		}
		w.mu.Lock()
		w.lines = append(w.lines, line)
		close(w.changed)
		w.changed = make(chan struct{})
		muted := w.muted
		w.mu.Unlock()
		if w.echo != nil && !muted && Documented(line) {
			w.echo(line)
		}
	}
}

// Mark is a position in the log: lines after it are "since the mark".
func (w *LogWatcher) Mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lines)
}

// Since returns the lines logged after mark.
func (w *LogWatcher) Since(mark int) []LogLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	if mark > len(w.lines) {
		return nil
	}
	return slices.Clone(w.lines[mark:])
}

// WaitFor waits until the lines after mark satisfy done, up to timeout. The
// bot's lines reach the host through Docker's log stream, a little after
// the HTTP reply that they explain.
func (w *LogWatcher) WaitFor(ctx context.Context, mark int, timeout time.Duration, done func([]LogLine) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		w.mu.Lock()
		var lines []LogLine
		if mark <= len(w.lines) {
			lines = w.lines[mark:]
		}
		ok := done(lines)
		changed := w.changed
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}

// countMsg counts the lines whose message starts with prefix and whose
// attributes include every key/value of match.
func countMsg(lines []LogLine, prefix string, match map[string]string) int {
	n := 0
	for _, l := range lines {
		if !strings.HasPrefix(l.Msg, prefix) {
			continue
		}
		all := true
		for k, v := range match {
			if l.Attr(k) != v {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}

// LineCount is a documented line and how often it was logged.
type LineCount struct {
	Line  LogLine
	Count int
}

// GroupDocumented counts the documented lines that read the same (time
// aside), in the order each first appeared: a burst of identical
// fast-fail lines reads as one line with a count.
func GroupDocumented(lines []LogLine) []LineCount {
	var groups []LineCount
	index := map[string]int{}
	for _, l := range lines {
		if !Documented(l) {
			continue
		}
		key := l.Format()
		if i, ok := index[key]; ok {
			groups[i].Count++
			continue
		}
		index[key] = len(groups)
		groups = append(groups, LineCount{Line: l, Count: 1})
	}
	return groups
}
