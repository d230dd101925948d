package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/report"
)

// Reply is the bot's answer to one message and its round trip.
type Reply struct {
	botapi.Reply
	Latency time.Duration
}

// Format shows the reply with what it tells about the database:
// "[cached | DEGRADED P1001 | attempts 3 | 312ms] [A pirate.] You said: hi".
func (r Reply) Format() string {
	state := "ok"
	if r.Degraded {
		state = "DEGRADED " + r.Code
	}
	return fmt.Sprintf("[%s | %s | attempts %d | %s] %s", r.PromptSource, state, r.Attempts, roundDuration(r.Latency), r.Text)
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}

// Narrator prints timestamped lines. The bot's log stream and the steps
// write from different goroutines, so every line goes out whole, and every
// line is scrubbed of the secrets it was told about.
type Narrator struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	now     func() time.Time
	secrets []string
}

// NewNarrator writes to w; times are shown as wall clock and as time since
// now() at creation.
func NewNarrator(w io.Writer, now func() time.Time) *Narrator {
	if now == nil {
		now = time.Now
	}
	return &Narrator{w: w, start: now(), now: now}
}

// AddSecret makes every later line mask secret (report.Scrub).
func (n *Narrator) AddSecret(secret string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.secrets = append(n.secrets, secret)
}

func (n *Narrator) line(mark, text string, raw bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.now()
	if !raw {
		text = report.Scrub(text, n.secrets...)
	}
	for i, l := range strings.Split(text, "\n") {
		stamp := fmt.Sprintf("%s %+7.1fs", t.Format("15:04:05.000"), t.Sub(n.start).Seconds())
		if i > 0 {
			stamp = strings.Repeat(" ", len(stamp))
		}
		fmt.Fprintf(n.w, "%s %s %s\n", stamp, mark, l)
	}
}

func (n *Narrator) Step(i, total int, title string) {
	n.line("==>", fmt.Sprintf("Step %d/%d: %s", i, total, title), false)
}

func (n *Narrator) Say(format string, args ...any) {
	n.line("   ", fmt.Sprintf(format, args...), false)
}

func (n *Narrator) OK(format string, args ...any) { n.line(" ok", fmt.Sprintf(format, args...), false) }

func (n *Narrator) Fail(format string, args ...any) {
	n.line("!!!", "FAIL: "+fmt.Sprintf(format, args...), false)
}

// You shows what the user (or the demo) sent the bot.
func (n *Narrator) You(text string) { n.line("you", "> "+text, false) }

func (n *Narrator) Bot(r Reply) { n.line("bot", "< "+r.Format(), false) }

func (n *Narrator) Log(l botlog.Line) { n.line("log", "| "+FormatLine(l), false) }

// LogCount shows a line the bot logged count times.
func (n *Narrator) LogCount(c LineCount) {
	n.line("log", fmt.Sprintf("| %dx %s", c.Count, FormatLine(c.Line)), false)
}

// Secret prints text unscrubbed: only for what the user asked to see
// (SHOW_SECRETS=1).
func (n *Narrator) Secret(format string, args ...any) {
	n.line("   ", fmt.Sprintf(format, args...), true)
}

func (n *Narrator) Elapsed() time.Duration { return n.now().Sub(n.start) }
