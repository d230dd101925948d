package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/p1001/p1001/suites/botlog"
)

// KindMissingPgBouncer names, for FAULT=, a mistake in DATABASE_URL rather
// than a fault of the stack: the runbook's pooler URL without
// pgbouncer=true. Nothing is cut; the mistake is there from the start.
const KindMissingPgBouncer = "missing_pgbouncer"

// URLDemo is the narrated run of a DATABASE_URL mistake: busy chats
// through PgBouncer in transaction mode with pgx's named prepared
// statements, which the pooler loses or mixes up between its server
// connections.
type URLDemo struct {
	Verdict
	Bot  DemoBot
	Logs *botlog.Watcher
	// Chats send Messages each, all at once: one chat alone rarely gets
	// two server connections, so the mix-up needs a busy bot.
	Chats, Messages int
	Timing          Timing
}

// Steps are the URL demo's steps, in order.
func (d *URLDemo) Steps() []Step {
	return []Step{
		{fmt.Sprintf("send %d messages from each of %d chats at once, through the transaction pooler", d.Messages, d.Chats), d.StepBusy},
		{"the bot's advice: one line that says what to change", d.StepAdvice},
	}
}

// StepBusy sends the messages: every one is answered, the ones whose
// statement the pooler lost are degraded with DB_ERROR (no outage: the
// honest code) and never retried (retrying cannot fix a configuration).
func (d *URLDemo) StepBusy(ctx context.Context) error {
	// The burst's lines are counted, not streamed: the first of each kind
	// shows, with how many followed it.
	mark := d.Logs.Mark()
	d.Logs.Mute(true)
	var (
		mu      sync.Mutex
		replies []Reply
		errs    []error
		wg      sync.WaitGroup
	)
	for c := range d.Chats {
		wg.Go(func() {
			for m := range d.Messages {
				r, err := send(ctx, d.Bot, fmt.Sprintf("p1001-busy-%d", c), fmt.Sprintf("Hello %d", m))
				mu.Lock()
				replies, errs = append(replies, r), append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d.Logs.Mute(false)
	d.showBurst(d.Logs.Since(mark))
	var first *Reply
	degraded, wrongCode, retried, unanswered := 0, 0, 0, 0
	for i, r := range replies {
		switch {
		case errs[i] != nil:
			unanswered++
		case r.Degraded:
			degraded++
			if first == nil {
				first = &replies[i]
			}
			if r.Code != "DB_ERROR" {
				wrongCode++
			}
			if r.Attempts != 1 {
				retried++
			}
		}
	}
	if first != nil {
		d.N.Say("the first degraded reply:")
		d.N.Bot(*first)
	}
	total := len(replies)
	d.expect(unanswered == 0, "%d/%d messages answered", total-unanswered, total)
	d.expect(degraded > 0, "%d/%d replies degraded: the pooler lost or mixed up the bot's prepared statements", degraded, total)
	d.expect(wrongCode == 0, "every degraded reply says DB_ERROR, no outage code (%d say otherwise)", wrongCode)
	d.expect(retried == 0, "none was retried: 1 attempt each (%d made more)", retried)
	return nil
}

// showBurst shows the first narrated line of each kind (its message) and
// how many lines of that kind there were.
func (d *URLDemo) showBurst(lines []botlog.Line) {
	counts := map[string]int{}
	var firsts []botlog.Line
	for _, l := range lines {
		if !Narrated(l) {
			continue
		}
		if counts[l.Msg] == 0 {
			firsts = append(firsts, l)
		}
		counts[l.Msg]++
	}
	for _, l := range firsts {
		d.N.Log(l)
		if n := counts[l.Msg] - 1; n > 0 {
			d.N.Say("... and %d more lines like it", n)
		}
	}
}

// StepAdvice waits for the bot's advice line and checks it came once.
func (d *URLDemo) StepAdvice(ctx context.Context) error {
	advice := func(l botlog.Line) bool { return l.Is(botlog.PreparedThroughPooler) }
	var lines []botlog.Line
	d.Logs.WaitFor(ctx, 0, d.Timing.LogWait, func(ls []botlog.Line) bool {
		lines = ls
		return botlog.Count(ls, advice) > 0
	})
	d.expect(botlog.Count(lines, advice) == 1, "log: once, however many replies failed: %s (%d times)",
		botlog.PreparedThroughPooler, botlog.Count(lines, advice))
	return nil
}
