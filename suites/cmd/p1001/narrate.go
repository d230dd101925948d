package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/report"
)

// Bot is what the narrated runs and the console need: a *botapi.Client.
type Bot interface {
	Send(ctx context.Context, chat, text string) (botapi.Reply, time.Duration, error)
	Readiness(ctx context.Context) (botapi.Readiness, error)
	Metrics(ctx context.Context) (map[string]float64, error)
}

// Reply is the bot's answer to one message and its round trip.
type Reply struct {
	botapi.Reply
	Latency time.Duration
}

func send(ctx context.Context, bot Bot, chat, text string) (Reply, error) {
	r, latency, err := bot.Send(ctx, chat, text)
	if err != nil {
		return Reply{}, fmt.Errorf("message to chat %s: %w", chat, err)
	}
	return Reply{Reply: r, Latency: latency}, nil
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

// Narrator prints timestamped lines, each whole (the log stream writes
// from its own goroutine) and scrubbed of the secrets it was told.
type Narrator struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	now     func() time.Time
	secrets []string
}

// NewNarrator stamps lines with now() and the time since (nil: time.Now).
func NewNarrator(w io.Writer, now func() time.Time) *Narrator {
	if now == nil {
		now = time.Now
	}
	return &Narrator{w: w, start: now(), now: now}
}

func (n *Narrator) AddSecret(secret string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.secrets = append(n.secrets, secret)
}

func (n *Narrator) line(mark, text string) { n.print(mark, text, false) }

func (n *Narrator) print(mark, text string, raw bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.now()
	if !raw {
		text = report.Scrub(text, n.secrets...)
	}
	stamp := fmt.Sprintf("%s %+7.1fs", t.Format("15:04:05.000"), t.Sub(n.start).Seconds())
	for l := range strings.SplitSeq(text, "\n") {
		fmt.Fprintf(n.w, "%s %s %s\n", stamp, mark, l)
		stamp = strings.Repeat(" ", len(stamp))
	}
}

func (n *Narrator) Step(i, of int, t string) { n.line("==>", fmt.Sprintf("Step %d/%d: %s", i, of, t)) }
func (n *Narrator) Say(f string, a ...any)   { n.line("   ", fmt.Sprintf(f, a...)) }
func (n *Narrator) OK(f string, a ...any)    { n.line(" ok", fmt.Sprintf(f, a...)) }
func (n *Narrator) Fail(f string, a ...any)  { n.line("!!!", "FAIL: "+fmt.Sprintf(f, a...)) }
func (n *Narrator) You(text string)          { n.line("you", "> "+text) } // what the user (or the demo) sent
func (n *Narrator) Bot(r Reply)              { n.line("bot", "< "+r.Format()) }
func (n *Narrator) Log(l botlog.Line)        { n.line("log", "| "+FormatLine(l)) }
func (n *Narrator) Elapsed() time.Duration   { return n.now().Sub(n.start) }

// LogGroups shows the narrated lines once per key (FormatLine: the same
// but the time; message: the same kind), first seen first, with a count.
func (n *Narrator) LogGroups(lines []botlog.Line, key func(botlog.Line) string) {
	var firsts []botlog.Line
	count := map[string]int{}
	for _, l := range lines {
		if Narrated(l) {
			if count[key(l)]++; count[key(l)] == 1 {
				firsts = append(firsts, l)
			}
		}
	}
	for _, l := range firsts {
		n.line("log", fmt.Sprintf("| %dx %s", count[key(l)], FormatLine(l)))
	}
}

// Secret prints unscrubbed what the user asked to see (SHOW_SECRETS=1).
func (n *Narrator) Secret(f string, a ...any) { n.print("   ", fmt.Sprintf(f, a...), true) }

// Narrated tells whether the run shows l: the retry layer's, the prompt
// lookup's and the handler's lines (the runbook's), and the URL advice.
func Narrated(l botlog.Line) bool { return botlog.IsRetry(l) || narrated[botlog.KindOf(l)] }

var narrated = map[botlog.Kind]bool{botlog.LookupFellBack: true, botlog.LookupError: true,
	botlog.HandlerDegraded: true, botlog.HandlerError: true, botlog.PreparedThroughPooler: true}

// NewLogWatcher shows the bot's narrated lines on n as they come.
func NewLogWatcher(n *Narrator) *botlog.Watcher {
	return botlog.NewWatcher(func(l botlog.Line) {
		if Narrated(l) {
			n.Log(l)
		}
	})
}

// shownAttrs are worth a glance; the rest repeat the message.
var shownAttrs = []string{"op", "chat", "code", "source", "attempts", "reason", "state", "error", "err"}

// FormatLine renders l on one line: level, message, the attributes that
// matter, the error last.
func FormatLine(l botlog.Line) string {
	var b strings.Builder
	if l.Level != "" {
		fmt.Fprintf(&b, "%-5s ", l.Level)
	}
	b.WriteString(l.Msg)
	for _, k := range shownAttrs {
		v, ok := l.Attrs[k]
		// Multi-line errors (pgx lists every address it tried) stay on one
		// line; JSON's numbers (float64) print as the integers they are.
		s := strings.Join(strings.Fields(fmt.Sprint(v)), " ")
		if !ok || s == "" {
			continue
		}
		if strings.ContainsAny(s, " \"") {
			s = fmt.Sprintf("%q", s)
		}
		fmt.Fprintf(&b, " %s=%s", k, s)
	}
	return b.String()
}
