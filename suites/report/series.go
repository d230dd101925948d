package report

import (
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// retryBin is the width of the retries-per-second bins.
const retryBin = 250 * time.Millisecond

// series is what the charts plot for one scenario, derived from the
// history. Log times are wall-clock times of the bot's container; they
// become offsets through History.Base, the host's wall-clock time of
// offset 0. Both clocks are the same machine's kernel clock (the bot runs
// in a container on the host that runs the suite), so the offsets need no
// correction.
type series struct {
	points  []point
	faults  []scenarios.FaultEvent
	breaker []BreakerSpan // ms
	retries []time.Duration
	end     time.Duration // x range: [0, end]
	// seesRetries: the target shows its retry log, from which the
	// breaker's state and the retries come; without it both are unknown,
	// not "closed" and "none".
	seesRetries bool
}

// point is one answered (or failed) request.
type point struct {
	at       time.Duration // invoke offset
	latency  time.Duration
	source   string
	degraded bool
	failed   bool // outcome fail or info
}

func seriesOf(s scenarios.Scenario, h history.History) series {
	sr := series{faults: h.Faults, end: s.Traffic.Duration.D(), seesRetries: h.Sees(history.SeesRetryLog)}
	for _, o := range h.Ops {
		sr.end = max(sr.end, o.Invoke, o.Complete)
		sr.points = append(sr.points, point{
			at:       o.Invoke,
			latency:  max(o.Complete-o.Invoke, 0),
			source:   o.PromptSource,
			degraded: o.Degraded,
			failed:   o.Outcome != history.OK,
		})
	}
	for _, f := range h.Faults {
		sr.end = max(sr.end, f.Start, f.Stop)
	}
	// Half a second of margin keeps the last points off the frame.
	sr.end += 500 * time.Millisecond

	if !sr.seesRetries {
		return sr
	}
	var changes []stateChange
	for _, l := range h.Logs {
		at := l.Time.Sub(h.Base)
		r, ok := botlog.RetryOf(l)
		switch {
		case !ok:
		case r.Kind == botlog.BreakerChanged: // not the rejections ("... open, failing fast")
			changes = append(changes, stateChange{at, r.State})
		case r.Kind == botlog.RetryScheduled:
			// A retry is an attempt failed with another one scheduled. The
			// DEBUG "Attempt X/Y failed" line of the same attempt is not a
			// second one, nor is a failure that was not retried (budget
			// spent, not retryable).
			sr.retries = append(sr.retries, at)
		}
	}
	if s.Policy().Breaker.Enabled {
		sr.breaker = breakerSpans(changes, sr.end)
	}
	return sr
}

// stateChange is one logged breaker transition.
type stateChange struct {
	at    time.Duration
	state string
}

// breakerSpans turns state changes into spans over [0, end]. The breaker
// starts closed (the bot starts with each scenario); changes logged before
// offset 0 set the state at 0.
func breakerSpans(changes []stateChange, end time.Duration) []BreakerSpan {
	state, from := botlog.BreakerClosed, time.Duration(0)
	var out []BreakerSpan
	for _, ch := range changes {
		at := min(max(ch.at, 0), end)
		if at > from && ch.state != state {
			out = append(out, BreakerSpan{State: state, FromMS: ms(from), ToMS: ms(at)})
			from = at
		}
		state = ch.state
	}
	if end > from {
		out = append(out, BreakerSpan{State: state, FromMS: ms(from), ToMS: ms(end)})
	}
	return merge(out)
}

// merge joins adjacent spans of the same state.
func merge(spans []BreakerSpan) []BreakerSpan {
	var out []BreakerSpan
	for _, sp := range spans {
		if n := len(out); n > 0 && out[n-1].State == sp.State && out[n-1].ToMS == sp.FromMS {
			out[n-1].ToMS = sp.ToMS
			continue
		}
		out = append(out, sp)
	}
	return out
}

// retryRates bins retry offsets over [0, end] into retryBin bins and
// returns each bin's start and its rate per second.
func retryRates(retries []time.Duration, end time.Duration) (starts []time.Duration, perSecond []float64) {
	n := int(end/retryBin) + 1
	counts := make([]int, n)
	for _, at := range retries {
		if at < 0 || at > end {
			continue
		}
		counts[min(int(at/retryBin), n-1)]++
	}
	for i, c := range counts {
		starts = append(starts, time.Duration(i)*retryBin)
		perSecond = append(perSecond, float64(c)/retryBin.Seconds())
	}
	return starts, perSecond
}
