package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/p1001/p1001/scenarios"
)

// timedMsg is a reply and when it completed, from the window's start.
type timedMsg struct {
	At  time.Duration
	Msg Msg
}

// throughput runs a closed loop of Concurrency clients against bot in the
// given setting: each sends, waits for the reply, and sends again. Replies
// completing inside the window (after the warm-up) are counted.
func (b *bench) throughput(ctx context.Context, bot *botRun, setting string) (res ThroughputResult, err error) {
	if rec := b.untilCustom(ctx, bot, time.Now(), len(bot.chats)); !rec.Recovered {
		return res, fmt.Errorf("throughput, %s: the bot was not answering with custom prompts beforehand", setting)
	}
	switch setting {
	case SettingHealthy:
	case SettingLatency:
		f, _ := scenarios.NamedFault(scenarios.TypeLatency)
		f.Name, f.Attributes["latency"] = "bench-latency", b.opts.LatencyToxic.Milliseconds()
		err = f.Apply(ctx, b.faults.t)
	case SettingOutage:
		err = Refused.Fault().Apply(ctx, b.faults.t)
	default:
		err = fmt.Errorf("throughput setting %q: want %s, %s or %s", setting, SettingHealthy, SettingLatency, SettingOutage)
	}
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, b.env.ResetFaults(context.WithoutCancel(ctx))) }()
	if setting == SettingOutage {
		// All fallback means the breaker is open: wait for a reply that
		// did not even try the database.
		if err := b.untilFailFast(ctx, bot); err != nil {
			return res, err
		}
	}

	start := time.Now()
	winStart := start.Add(b.opts.Warmup)
	winEnd := winStart.Add(b.opts.Window)
	var (
		mu   sync.Mutex
		done []timedMsg
		wg   sync.WaitGroup
	)
	for range b.opts.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(winEnd) {
				m := bot.send(ctx, winStart, b.opts.Cap)
				at := time.Since(winStart)
				if at >= 0 && at < b.opts.Window {
					mu.Lock()
					done = append(done, timedMsg{At: at, Msg: m})
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return Tally(setting, bot.name, b.opts.Concurrency, b.opts.Window, done), nil
}

// untilFailFast sends messages until one is failed fast by the open
// breaker (degraded, no attempt), for at most RecoveryTimeout.
func (b *bench) untilFailFast(ctx context.Context, bot *botRun) error {
	deadline := time.Now().Add(b.opts.RecoveryTimeout)
	for time.Now().Before(deadline) {
		m := bot.send(ctx, time.Now(), b.opts.Cap)
		if m.Fallback() && m.Attempts == 0 {
			return nil
		}
		if !sleepUntil(ctx, time.Now().Add(b.opts.RecoveryPace)) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("throughput, outage: no reply was failed fast by the breaker within %s", b.opts.RecoveryTimeout)
}

// Tally sums up a throughput window: replies, replies per second overall
// and per 1 s bucket, and the latency of every message that completed.
func Tally(setting, config string, concurrency int, window time.Duration, done []timedMsg) ThroughputResult {
	res := ThroughputResult{Setting: setting, Config: config, Concurrency: concurrency, WindowMS: ms(window)}
	buckets := int((window + time.Second - 1) / time.Second)
	res.Buckets = make([]int, buckets)
	var latencies []Sample
	for _, d := range done {
		if s, ok := d.Msg.Sample(); ok {
			latencies = append(latencies, s)
		}
		switch {
		case d.Msg.Capped:
			res.Capped++
		case d.Msg.Error != "":
			res.Errors++
		default:
			res.Replies++
			if d.Msg.Degraded {
				res.Degraded++
			}
			if i := int(d.At / time.Second); i >= 0 && i < buckets {
				res.Buckets[i]++
			}
		}
	}
	if window > 0 {
		res.RepliesPerSec = float64(res.Replies) / window.Seconds()
	}
	var perSecond []Sample
	for i, n := range res.Buckets {
		// A last partial bucket is scaled to a full second.
		span := min(time.Second, window-time.Duration(i)*time.Second)
		perSecond = append(perSecond, Sample{Value: float64(n) / span.Seconds()})
	}
	res.PerSecond = Summarize("replies/s", perSecond)
	res.Latency = Summarize("ms", latencies)
	return res
}
