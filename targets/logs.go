package targets

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/p1001/p1001/suites/botlog"
)

// The kinds of logs.lines, as the file names them.
const (
	lineRetryScheduled = "retry_scheduled"
	lineAttemptFailed  = "attempt_failed"
	lineGaveUp         = "gave_up"
	lineSucceeded      = "succeeded"
	lineFallback       = "fallback"
)

// lineGroups are the named groups a kind's pattern must capture.
var lineGroups = map[string][]string{
	lineRetryScheduled: {"attempt", "max", "delay"},
	lineAttemptFailed:  {"attempt", "max"},
	lineGaveUp:         {"attempt", "max"},
	lineSucceeded:      {"attempt", "max"},
}

// ParseLogs reads what the bot's container printed into the lines the
// checks read. p1001's JSON lines are read as botlog reads them. A text
// line is timed by its leading timestamp; one that a logs.lines pattern
// matches becomes the documented line of its kind (botlog's wording, so
// that the checks recognise it), its own text kept in the "raw"
// attribute; any other line is kept as it is.
func (t Target) ParseLogs(data []byte) []botlog.Line {
	switch t.Logs.Format {
	case LogJSON:
		return botlog.ParseAll(data)
	case LogText:
	default:
		return nil
	}
	var out []botlog.Line
	for raw := range bytes.Lines(data) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		out = append(out, t.parseText(string(raw)))
	}
	return out
}

func (t Target) parseText(raw string) botlog.Line {
	l := botlog.Line{Msg: raw}
	// The stamp is as many words as the layout has (a zone's Z or
	// +01:00 varies its length).
	words := strings.SplitN(raw, " ", strings.Count(t.Logs.Timestamp, " ")+2)
	if len(words) == strings.Count(t.Logs.Timestamp, " ")+2 {
		stamp := strings.Join(words[:len(words)-1], " ")
		if at, err := time.Parse(t.Logs.Timestamp, stamp); err == nil {
			l.Time, l.Msg = at, words[len(words)-1]
		}
	}
	for _, p := range t.lines {
		m := p.re.FindStringSubmatch(l.Msg)
		if m == nil {
			continue
		}
		group := func(name string) string { return m[p.re.SubexpIndex(name)] }
		x, y := intGroup(p.re.SubexpIndex("attempt"), m), intGroup(p.re.SubexpIndex("max"), m)
		var msg string
		switch p.kind {
		case lineRetryScheduled:
			msg = fmt.Sprintf("%sAttempt %d/%d failed, retrying in %s...", botlog.RetryPrefix, x, y, group("delay"))
		case lineAttemptFailed:
			msg = fmt.Sprintf("%sAttempt %d/%d failed", botlog.RetryPrefix, x, y)
		case lineGaveUp:
			msg = fmt.Sprintf("%sGiving up after %d/%d attempts", botlog.RetryPrefix, x, y)
		case lineSucceeded:
			msg = fmt.Sprintf("%sSucceeded on attempt %d/%d", botlog.RetryPrefix, x, y)
		case lineFallback:
			msg = botlog.LookupFellBack.String()
		}
		l.Attrs = map[string]any{"raw": l.Msg}
		l.Msg = msg
		break
	}
	return l
}

func intGroup(i int, m []string) int {
	if i < 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[i])
	return n
}
