package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/p1001/p1001/suites/botlog"
)

// busyChats send busyMessages each, all at once: one chat alone rarely
// gets two server connections, so the mix-up needs a busy bot.
const busyChats, busyMessages = 8, 10

// URLSteps narrate a DATABASE_URL mistake instead of a fault
// (FAULT=missing-pgbouncer): busy chats through PgBouncer in transaction
// mode with pgx's named prepared statements, which the pooler loses or
// mixes up between its server connections.
func (d *Demo) URLSteps() []Step {
	return []Step{
		{fmt.Sprintf("send %d messages from each of %d chats at once, through the transaction pooler", busyMessages, busyChats), d.StepBusy},
		{"the bot's advice: one line that says what to change", d.StepAdvice},
	}
}

// StepBusy: every message is answered; those whose statement the pooler
// lost are degraded with DB_ERROR (no outage) and never retried.
func (d *Demo) StepBusy(ctx context.Context) error {
	// The burst's lines are counted, not streamed.
	mark := d.Logs.Mark()
	d.Logs.Mute(true)
	var (
		mu                                        sync.Mutex
		wg                                        sync.WaitGroup
		first                                     *Reply
		total, degraded, wrongCode, retried, lost int
	)
	for c := range busyChats {
		wg.Go(func() {
			for m := range busyMessages {
				r, err := send(ctx, d.Bot, fmt.Sprintf("p1001-busy-%d", c), fmt.Sprintf("Hello %d", m))
				mu.Lock()
				total++
				switch {
				case err != nil:
					lost++
				case r.Degraded:
					degraded++
					if first == nil {
						first = &r
					}
					wrongCode += btoi(r.Code != "DB_ERROR")
					retried += btoi(r.Attempts != 1)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d.Logs.Mute(false)
	d.N.LogGroups(d.Logs.Since(mark), func(l botlog.Line) string { return l.Msg }) // each kind once
	if first != nil {
		d.N.Say("the first degraded reply:")
		d.N.Bot(*first)
	}
	d.expect(lost == 0, "%d/%d messages answered", total-lost, total)
	d.expect(degraded > 0, "%d/%d replies degraded: the pooler lost or mixed up the bot's prepared statements", degraded, total)
	d.expect(wrongCode == 0, "every degraded reply says DB_ERROR, no outage code (%d say otherwise)", wrongCode)
	d.expect(retried == 0, "none was retried: 1 attempt each (%d made more)", retried)
	return nil
}

func (d *Demo) StepAdvice(ctx context.Context) error {
	advice := func(l botlog.Line) bool { return l.Is(botlog.PreparedThroughPooler) }
	var lines []botlog.Line
	d.Logs.WaitFor(ctx, 0, d.LogWait, func(ls []botlog.Line) bool {
		lines = ls
		return botlog.Count(ls, advice) > 0
	})
	d.expect(botlog.Count(lines, advice) == 1, "log: once, however many replies failed: %s (%d times)",
		botlog.PreparedThroughPooler, botlog.Count(lines, advice))
	return nil
}
