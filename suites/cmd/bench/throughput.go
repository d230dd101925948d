package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/report/bench"
)

// throughput runs a closed loop of Concurrency clients against bot in the
// given setting: each sends, waits for the reply, and sends again. Replies
// completing inside the window (after the warm-up) are counted.
func (b *bencher) throughput(ctx context.Context, bot *botRun, setting string) (res bench.ThroughputResult, err error) {
	if rec := b.until(ctx, bot, time.Now(), len(bot.chats), bench.Msg.Custom); !rec.Recovered {
		return res, fmt.Errorf("throughput, %s: the bot was not answering with custom prompts beforehand", setting)
	}
	switch setting {
	case bench.SettingHealthy:
	case bench.SettingLatency:
		f, _ := scenarios.NamedFault(scenarios.TypeLatency)
		f.Name, f.Attributes["latency"] = "bench-latency", b.opts.LatencyToxic.D().Milliseconds()
		err = f.Apply(ctx, b.env.Faults())
	case bench.SettingOutage:
		err = bench.Refused.Fault().Apply(ctx, b.env.Faults())
	}
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, b.env.ResetFaults(context.WithoutCancel(ctx))) }()
	if setting == bench.SettingOutage {
		// All fallback means the breaker is open: wait for a reply that
		// did not even try the database.
		failedFast := func(m bench.Msg) bool { return m.Fallback() && m.Attempts == 0 }
		if !b.until(ctx, bot, time.Now(), 1, failedFast).Recovered {
			return res, errors.Join(ctx.Err(), fmt.Errorf("throughput, outage: no reply was failed fast by the breaker within %s", b.opts.RecoveryTimeout))
		}
	}

	start := time.Now()
	winStart := start.Add(b.opts.Warmup.D())
	winEnd := winStart.Add(b.opts.Window.D())
	var (
		mu   sync.Mutex
		done []bench.TimedMsg
		wg   sync.WaitGroup
	)
	for range b.opts.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(winEnd) {
				m := bot.send(ctx, winStart, b.opts.Cap.D())
				at := time.Since(winStart)
				if at >= 0 && at < b.opts.Window.D() {
					mu.Lock()
					done = append(done, bench.TimedMsg{At: at, Msg: m})
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return bench.Tally(setting, bot.name, b.opts.Concurrency, b.opts.Window.D(), done), nil
}

// spoolCost runs the healthy closed loop against each spool configuration,
// SpoolRounds times in turn.
func (b *bencher) spoolCost(ctx context.Context, r *bench.Report) error {
	for round := range b.opts.SpoolRounds {
		for _, c := range bench.SpoolConfigs() {
			b.log.Info("durable outbox cost: healthy throughput", "config", c.Name, "round", round+1, "of", b.opts.SpoolRounds)
			err := b.withBot(ctx, &c, r, func(bot *botRun) error {
				res, err := b.throughput(ctx, bot, bench.SettingHealthy)
				r.Spool = append(r.Spool, res)
				return err
			})
			if err != nil {
				return fmt.Errorf("durable outbox cost, %s: %w", c.Name, err)
			}
		}
	}
	return nil
}
