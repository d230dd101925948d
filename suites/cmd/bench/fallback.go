package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/report/bench"
)

// bencher holds what every measurement needs.
type bencher struct {
	env  *environment.Env
	opts Options
	log  *slog.Logger
}

// fallback runs fault on/off cycles of o against bot, as many and with
// the cap that Settings.CapFor gives.
func (b *bencher) fallback(ctx context.Context, bot *botRun, o bench.Outage) (bench.FallbackResult, error) {
	res := bench.FallbackResult{Config: bot.name, Outage: o, Fault: o.Describe()}
	capAt, cycles := b.opts.CapFor(bot.name, o)
	b.log.Info("time to fallback and recovery", "config", bot.name, "outage", o, "cycles", cycles, "cap", capAt)
	for i := range cycles {
		c, err := b.cycle(ctx, bot, o, i+1, capAt)
		if err != nil {
			return res, fmt.Errorf("%s bot, %s, cycle %d: %w", bot.name, o, i+1, err)
		}
		res.Cycles = append(res.Cycles, c)
		b.log.Info("cycle", "config", bot.name, "outage", o, "cycle", i+1, "first_ms", int(c.First.LatencyMS),
			"first_capped", c.First.Capped, "first_source", c.First.PromptSource, "held_ms", int(c.HeldMS), "recovery_ms", int(c.Recovery.First.Value))
	}
	res.Summarize()
	return res, nil
}

// cycle: steady custom replies, fault on, the first message, the steady
// state (open loop), fault off once every reply is back, recovery.
func (b *bencher) cycle(ctx context.Context, bot *botRun, o bench.Outage, index int, capAt time.Duration) (c bench.Cycle, err error) {
	c.Index = index
	if rec := b.until(ctx, bot, time.Now(), len(bot.chats), bench.Msg.Custom); !rec.Recovered {
		return c, fmt.Errorf("before the fault, the bot did not answer %d messages in a row with custom prompts within %s (%d sent)",
			len(bot.chats), b.opts.RecoveryTimeout, rec.Messages)
	}
	if err := o.Fault().Apply(ctx, b.env.Faults()); err != nil {
		return c, err
	}
	on := time.Now()
	cleared := false
	defer func() {
		if !cleared {
			err = errors.Join(err, b.env.ResetFaults(context.WithoutCancel(ctx)))
		}
	}()
	c.First = bot.send(ctx, on, capAt)
	c.Steady = b.openLoop(ctx, bot, on, capAt)
	if err := ctx.Err(); err != nil {
		return c, err
	}
	if err := o.Fault().Undo(ctx, b.env.Faults()); err != nil {
		return c, err
	}
	off := time.Now()
	cleared = true
	c.HeldMS = bench.MS(off.Sub(on))
	c.Recovery = b.until(ctx, bot, off, b.opts.RecoveryStreak, bench.Msg.Custom)
	return c, ctx.Err()
}

// openLoop sends SteadyMessages, one every SteadyInterval whatever the
// replies take, as users keep writing, and waits for all of them.
func (b *bencher) openLoop(ctx context.Context, bot *botRun, since time.Time, capAt time.Duration) []bench.Msg {
	out := make([]bench.Msg, b.opts.SteadyMessages)
	var wg sync.WaitGroup
	start := time.Now()
	for j := range out {
		if !sleepUntil(ctx, start.Add(time.Duration(j)*b.opts.SteadyInterval.D())) {
			out = out[:j]
			break
		}
		wg.Go(func() { out[j] = bot.send(ctx, since, capAt) })
	}
	wg.Wait()
	return out
}

// until sends messages one after another, RecoveryPace apart, until
// streak of them in a row are ok (custom replies, say), or RecoveryTimeout
// passes. Times are from since.
func (b *bencher) until(ctx context.Context, bot *botRun, since time.Time, streak int, ok func(bench.Msg) bool) bench.Recovery {
	timeout := b.opts.RecoveryTimeout.D()
	timedOut := bench.Stat{Value: bench.MS(timeout), AtLeast: true}
	rec := bench.Recovery{First: timedOut, Steady: timedOut}
	for run := 0; ctx.Err() == nil && time.Since(since) < timeout; sleepUntil(ctx, time.Now().Add(b.opts.RecoveryPace.D())) {
		m := bot.send(ctx, since, min(b.opts.Cap.D(), timeout-time.Since(since)))
		rec.Messages++
		if !ok(m) {
			run = 0
			continue
		}
		if run++; rec.First.AtLeast {
			rec.First = bench.Stat{Value: bench.MS(time.Since(since))}
		}
		if run >= streak {
			rec.Steady, rec.Recovered = bench.Stat{Value: bench.MS(time.Since(since))}, true
			break
		}
	}
	return rec
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}
