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
	// and not degraded); -1 if that never happened. Against a target that
	// shows neither degraded nor prompt_source, from the first request
	// from which on every request is answered (as in "recovered").
	Recovery time.Duration `json:"recovery"`
	// NotObservable names the figures the history's target does not let
	// the harness measure (their fields are zero and mean nothing):
	// FigCustom, FigCached, FigDefault (prompt_source), FigDegraded and
	// FigTimeToFallback (degraded), FigMaxAttempts (attempts).
	NotObservable []string `json:"not_observable,omitempty"`
}

// Figure names, as Figures.NotObservable lists them (report.json's).
const (
	FigCustom         = "custom"
	FigCached         = "cached"
	FigDefault        = "default"
	FigDegraded       = "degraded"
	FigMaxAttempts    = "max_attempts"
	FigTimeToFallback = "time_to_fallback"
)

// Sees reports whether the figure named fig was measured.
func (f Figures) Sees(fig string) bool { return !slices.Contains(f.NotObservable, fig) }

// Measure computes the report's figures for h.
func Measure(s scenarios.Scenario, h history.History) Figures {
	f := measure(s, h)
	f.blank()
	return f
}

func measure(s scenarios.Scenario, h history.History) Figures {
	r := rulesOf(s, h)
	tl := newTimeline(h, r.recoveryWithin)
	f := Figures{Messages: len(h.Ops), Faults: len(tl.windows)}
	// Time to fallback is the bot's own claim (a degraded reply): the
	// first failed request after the fault began would be another figure
	// (how soon the bot broke), not a fallback, so none stands in for it.
	if !h.Sees(history.SeesPromptSource) {
		f.NotObservable = append(f.NotObservable, FigCustom, FigCached, FigDefault)
	}
	if !h.Sees(history.SeesDegraded) {
		f.NotObservable = append(f.NotObservable, FigDegraded)
	}
	if !h.Sees(history.SeesAttempts) {
		f.NotObservable = append(f.NotObservable, FigMaxAttempts)
	}
	if !h.Sees(history.SeesDegraded) {
		f.NotObservable = append(f.NotObservable, FigTimeToFallback)
	}

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
	rc := recoveryOf(r, newPrompts(s, h), h)
	var from *history.Op
	for _, o := range byInvoke(h.Ops) {
		if o.Outcome != history.OK && !rc.blackBox || o.Invoke < tl.lastStop {
			continue
		}
		switch {
		case !rc.recovered(o):
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

// blank zeroes the figures that were not observable, so that no number
// measured from absent fields survives.
func (f *Figures) blank() {
	for _, fig := range f.NotObservable {
		switch fig {
		case FigCustom:
			f.Custom = 0
		case FigCached:
			f.Cached = 0
		case FigDefault:
			f.Default = 0
		case FigDegraded:
			f.Degraded = 0
		case FigMaxAttempts:
			f.MaxAttempts = 0
		case FigTimeToFallback:
			f.TimeToFallback = 0
		}
	}
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
