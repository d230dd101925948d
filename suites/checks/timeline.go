package checks

import (
	"math"
	"slices"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// Phase is where an op sits relative to the measured faults.
type Phase string

const (
	// Healthy: invoked and completed before the first fault could act
	// (before the call applying it began), or the scenario has no faults.
	Healthy Phase = "healthy"
	// Fault: the op's [invoke, complete] interval overlaps a fault window.
	Fault Phase = "fault"
	// Transition: invoked outside every window but less than
	// expect.recovery_within after a fault stopped (the grace period).
	Transition Phase = "transition"
	// Recovery: invoked at least expect.recovery_within after a fault
	// stopped, and overlapping no window.
	Recovery Phase = "recovery"
)

// forever stands for an offset that never came (a fault never stopped, an
// unknown write that may still take effect).
const forever = time.Duration(math.MaxInt64)

// window is the measured hull of one fault: from its first start to its
// last stop over all its events (a flapping outage may record several).
type window struct {
	fault       string
	typ         string
	start, stop time.Duration
	// from is when the fault could first act: the start of the call that
	// applied it (FaultEvent.Applying), at most start.
	from time.Duration
	// until is when the fault last surely acted: the start of the call
	// that undid it (FaultEvent.Undoing), at most stop.
	until time.Duration
	err   string
}

// cutsBot reports whether the window takes the bot itself down (kill,
// bot-restart).
func (w window) cutsBot() bool {
	return scenarios.Fault{Type: w.typ}.CutsBot()
}

// timeline is the measured fault windows of one history.
type timeline struct {
	windows              []window // by start
	grace                time.Duration
	firstStart, lastStop time.Duration
	firstFrom            time.Duration // the earliest window.from
}

func newTimeline(h history.History, grace time.Duration) timeline {
	var ws []window
	at := map[string]int{}
	for _, e := range h.Faults {
		stop := e.Stop
		if stop < e.Start {
			stop = forever // never stopped, as far as the history knows
		}
		from, until := e.Start, stop
		if e.Applying > 0 && e.Applying < e.Start {
			from = e.Applying
		}
		if e.Undoing > 0 && e.Undoing < stop {
			until = e.Undoing
		}
		i, ok := at[e.Fault]
		if !ok {
			at[e.Fault] = len(ws)
			ws = append(ws, window{fault: e.Fault, typ: e.Type, start: e.Start, stop: stop, from: from, until: until, err: e.Err})
			continue
		}
		w := &ws[i]
		w.start, w.stop, w.from, w.until = min(w.start, e.Start), max(w.stop, stop), min(w.from, from), max(w.until, until)
		if w.err == "" {
			w.err = e.Err
		}
	}
	slices.SortStableFunc(ws, func(a, b window) int { return cmpDur(a.start, b.start) })
	t := timeline{windows: ws, grace: grace, firstStart: forever, firstFrom: forever, lastStop: -1}
	for _, w := range ws {
		t.firstStart, t.firstFrom = min(t.firstStart, w.start), min(t.firstFrom, w.from)
		t.lastStop = max(t.lastStop, w.stop)
	}
	return t
}

func (t timeline) hasFaults() bool { return len(t.windows) > 0 }

// end is when an op finished, or its invoke when the history has no
// completion for it.
// during reports whether the offset t lies inside a fault window, from
// when the fault could first act to the end of its grace period.
func (t timeline) during(at time.Duration) bool {
	for _, w := range t.windows {
		if at >= w.from && (w.stop == forever || at < w.stop+t.grace) {
			return true
		}
	}
	return false
}

func end(o history.Op) time.Duration { return max(o.Complete, o.Invoke) }

func (t timeline) phase(o history.Op) Phase {
	for _, w := range t.windows {
		if o.Invoke < w.stop && end(o) >= w.from {
			return Fault
		}
	}
	if !t.hasFaults() || o.Invoke < t.firstFrom {
		return Healthy
	}
	for _, w := range t.windows {
		if w.stop != forever && o.Invoke >= w.stop && o.Invoke-w.stop < t.grace {
			return Transition
		}
	}
	return Recovery
}

// botDown reports whether the op's interval overlaps a window in which
// the bot itself was down (killed or restarting): such a request may get
// no answer at all, and may or may not have been acted on.
func (t timeline) botDown(o history.Op) bool {
	for _, w := range t.windows {
		if w.cutsBot() && o.Invoke < w.stop && end(o) >= w.start {
			return true
		}
	}
	return false
}

// botRestartedBetween reports whether a window in which the bot itself
// went down (kill, bot-restart) overlaps [from, to]: whatever the bot held
// in memory then (its prompt cache) may be gone after it.
func (t timeline) botRestartedBetween(from, to time.Duration) bool {
	for _, w := range t.windows {
		if w.cutsBot() && w.start <= to && w.stop >= from {
			return true
		}
	}
	return false
}

// PhaseOf says in which phase op ran, against the measured fault events of
// h and the scenario's recovery_within (see Phase). An op is in a fault as
// soon as its interval overlaps a window, even if it was invoked just
// before: its database call may well have met the fault.
func PhaseOf(s scenarios.Scenario, h history.History, op history.Op) Phase {
	return newTimeline(h, rulesOf(s, h).recoveryWithin).phase(op)
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// byInvoke returns the ops sorted by invoke offset, then index.
func byInvoke(ops []history.Op) []history.Op {
	out := slices.Clone(ops)
	slices.SortStableFunc(out, func(a, b history.Op) int {
		if c := cmpDur(a.Invoke, b.Invoke); c != 0 {
			return c
		}
		return a.Index - b.Index
	})
	return out
}
