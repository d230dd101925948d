package checks

import (
	"math"
	"slices"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// Figures are the numbers a report row shows for one scenario.
type Figures struct {
	// Messages counts requests of every kind (messages and commands).
	Messages int `json:"messages"`
	// Custom, Cached and Default count answered requests by the
	// prompt_source the bot reported; Degraded counts degraded replies.
	Custom   int `json:"custom"`
	Cached   int `json:"cached"`
	Default  int `json:"default"`
	Degraded int `json:"degraded"`
	// MaxAttempts is the most attempts any request reported.
	MaxAttempts int `json:"max_attempts"`
	// P50 and P99 are nearest-rank percentiles of the answered requests'
	// latency.
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	// Faults counts the measured fault windows; with none, TimeToFallback
	// and Recovery are 0 and mean nothing.
	Faults int `json:"faults"`
	// TimeToFallback runs from the first fault start to the completion of
	// the first degraded reply completed after it; 0 if there is none.
	TimeToFallback time.Duration `json:"time_to_fallback"`
	// Recovery runs from the last fault stop to the invoke of the first
	// request of the answered replies, invoked after that stop, from which
	// on every one is recovered (in the recovery set, custom by default,
	// and not degraded); -1 if that never happened.
	Recovery time.Duration `json:"recovery"`
}

// Measure computes the report's figures for h.
func Measure(s scenarios.Scenario, h history.History) Figures {
	r := rulesOf(s)
	tl := newTimeline(h, r.recoveryWithin)
	f := Figures{Messages: len(h.Ops), Faults: len(tl.windows)}
	var lat []time.Duration
	for _, o := range h.Ops {
		f.MaxAttempts = max(f.MaxAttempts, o.Attempts)
		if o.Outcome != history.OK {
			continue
		}
		lat = append(lat, o.Latency())
		switch o.PromptSource {
		case scenarios.SourceCustom:
			f.Custom++
		case scenarios.SourceCached:
			f.Cached++
		case scenarios.SourceDefault:
			f.Default++
		}
		if o.Degraded {
			f.Degraded++
		}
	}
	f.P50, f.P99 = percentile(lat, 0.5), percentile(lat, 0.99)
	if !tl.hasFaults() {
		return f
	}
	first := forever
	for _, o := range h.Ops {
		if o.Outcome == history.OK && o.Degraded && o.Complete >= tl.firstStart {
			first = min(first, o.Complete)
		}
	}
	if first != forever {
		f.TimeToFallback = first - tl.firstStart
	}
	f.Recovery = -1
	if tl.lastStop == forever {
		return f
	}
	p := newPrompts(s, h)
	var from *history.Op
	for _, o := range byInvoke(h.Ops) {
		if o.Outcome != history.OK || o.Invoke < tl.lastStop {
			continue
		}
		switch {
		case !recoveredReply(r, p, o):
			from = nil
		case from == nil:
			from = &o
		}
	}
	if from != nil {
		f.Recovery = from.Invoke - tl.lastStop
	}
	return f
}

// percentile is the nearest-rank q-quantile of d (0 when d is empty).
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
