package main

import (
	"fmt"
	"strings"

	"github.com/p1001/p1001/suites/botlog"
)

// Narrated tells whether l is one of the lines the run shows as the bot
// logs them: the retry layer's, the prompt lookup's and the message
// handler's (the runbook's lines), and the bot's advice on its URL.
func Narrated(l botlog.Line) bool {
	if botlog.IsRetry(l) {
		return true
	}
	switch botlog.KindOf(l) {
	case botlog.LookupFellBack, botlog.LookupError, botlog.HandlerDegraded, botlog.HandlerError, botlog.PreparedThroughPooler:
		return true
	}
	return false
}

// NewLogWatcher returns a watcher of the bot's log that passes the
// narrated lines to echo (nil: none).
func NewLogWatcher(echo func(botlog.Line)) *botlog.Watcher {
	return botlog.NewWatcher(func(l botlog.Line) {
		if echo != nil && Narrated(l) {
			echo(l)
		}
	})
}

// shownAttrs are the attributes worth a glance, in the order shown; the
// rest (max_attempts, delay_ms, ...) repeat what the message says.
var shownAttrs = []string{"op", "chat", "code", "source", "attempts", "reason", "state", "error", "err"}

// FormatLine renders l on one line: level, message, then the attributes
// that matter, the error last (it holds "P1001: Can't reach database
// server at ...").
func FormatLine(l botlog.Line) string {
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

// LineCount is a narrated line and how often it was logged.
type LineCount struct {
	Line  botlog.Line
	Count int
}

// GroupNarrated counts the narrated lines that read the same (time
// aside), in the order each first appeared: a burst of identical
// fast-fail lines reads as one line with a count.
func GroupNarrated(lines []botlog.Line) []LineCount {
	var groups []LineCount
	index := map[string]int{}
	for _, l := range lines {
		if !Narrated(l) {
			continue
		}
		key := FormatLine(l)
		if i, ok := index[key]; ok {
			groups[i].Count++
			continue
		}
		index[key] = len(groups)
		groups = append(groups, LineCount{Line: l, Count: 1})
	}
	return groups
}
