package checks

import (
	"fmt"
	"slices"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// Names of the validity guards (stable ids).
const (
	NameFaultsPlayed = "guard-faults-played"
	NameTraffic      = "guard-traffic"
	NameEffect       = "guard-effect"
	NameSteadyState  = "guard-steady-state"
)

// minSteady is how many requests each steady-state stretch needs.
const minSteady = 3

// GuardFaultsPlayed: every planned fault has measured events, none with
// an error, and it stopped; no measured fault is missing from the plan.
// Without it, a fault the player never applied would leave every op
// "healthy" and every other check vacuously green.
func GuardFaultsPlayed(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameFaultsPlayed, true, "Every planned fault was applied and undone, with its start and stop measured.")
	tl := newTimeline(h, r.recoveryWithin)
	measured := map[string]window{}
	for _, w := range tl.windows {
		measured[w.fault] = w
	}
	for _, name := range r.planned {
		w, ok := measured[name]
		switch {
		case !ok:
			v.fail("fault %s has no measured start or stop", name)
		case w.err != "":
			v.fail("fault %s failed: %s", name, redact(w.err))
		case w.stop == forever:
			v.fail("fault %s started at %s and never stopped", name, offset(w.start))
		}
	}
	for _, w := range tl.windows {
		if !slices.Contains(r.planned, w.fault) {
			v.fail("measured fault %s is not in the scenario's timeline", w.fault)
		}
	}
	return v.result()
}

// GuardTraffic: at least expect.min_messages_per_fault requests met each
// measured fault window: invoked inside it, or in flight while it began (as
// in the fault phase). A bot that hangs through a fault throttles the
// traffic driver, yet its hung requests met the fault: that is for the
// behaviour checks (latency-bound), not a run that proved nothing; so a
// window where the bot held every one of the driver's slots
// (traffic.concurrency) for 90% of it passes with a note.
func GuardTraffic(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameTraffic, true, fmt.Sprintf("Each fault window met at least %d requests.", r.minPerFault))
	tl := newTimeline(h, r.recoveryWithin)
	if !tl.hasFaults() {
		return v.skip("no faults")
	}
	for _, w := range tl.windows {
		n := 0
		for _, o := range h.Ops {
			if o.Invoke < w.stop && end(o) >= w.start {
				n++
			}
		}
		if n < r.minPerFault && r.concurrency > 0 && saturated(h, w, r.concurrency) {
			v.note("fault %s met only %d requests because the bot held all %d of the driver's slots (see %s)", w.fault, n, r.concurrency, NameLatency)
			continue
		}
		if n < r.minPerFault {
			v.fail("fault %s [%s, %s) met %d requests", w.fault, offset(w.start), offset(w.stop), n)
		}
	}
	return v.result()
}

// ReplyEffect: the faults show in the replies, as expect.effect says:
// degraded: at least one degraded reply in a fault or transition phase;
// slower: the median latency of answered requests in the fault phase is at
// least expect.slower_by above the median of the healthy phase;
// retried: at least one reply in a fault or transition phase took more
// than one attempt (the fault reached the database path, and the retry
// layer absorbed it);
// unanswered: at least one request overlapping a kill or bot-restart got
// no answer (outcome info): the harness saw the bot down, whatever the bot
// says;
// none: no fault was planned or measured.
func ReplyEffect(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	tl := newTimeline(h, r.recoveryWithin)
	switch r.effect {
	case scenarios.EffectDegraded:
		v := newVerdict(NameReplyEffect, false, "The faults show in the replies: at least one degraded reply during a fault or its grace period.")
		if un, ok := v.unobservable(h, EffectNeeds(r.effect)); ok {
			return un
		}
		n, degraded := countDuringFaults(h, tl, func(o history.Op) bool { return o.Degraded })
		if degraded == 0 {
			v.fail("no degraded reply among the %d requests during the faults and their grace period", n)
		}
		return v.result()
	case scenarios.EffectRetried:
		v := newVerdict(NameReplyEffect, false, "The faults show in the replies: at least one reply during a fault or its grace period needed a retry "+
			"(or, for a reply that stopped waiting at the reply deadline, its lookup logged one then).")
		if un, ok := v.unobservable(h, EffectNeeds(r.effect)); ok {
			return un
		}
		n, retried := countDuringFaults(h, tl, func(o history.Op) bool { return o.Attempts > 1 })
		if retried > 0 {
			return v.result()
		}
		// Without them no reply reads as past the deadline: the check
		// fails on the replies alone, which is the stricter reading.
		v.part(h, "the allowance for replies past the reply deadline, whose retry only the log shows",
			history.SeesDegraded, history.SeesCode, history.SeesRetryLog)
		// A reply past the deadline shows only the attempts started by then:
		// the lookup's retry, if any, is on its own log line.
		_, late := countDuringFaults(h, tl, func(o history.Op) bool { return pastDeadline(r, o) })
		logged := 0
		for _, l := range h.Logs {
			if l.Is(botlog.RetryScheduled) && !l.Time.IsZero() && !h.Base.IsZero() && tl.during(l.Time.Sub(h.Base)) {
				logged++
			}
		}
		if late == 0 || logged == 0 {
			v.fail("no reply took more than one attempt among the %d requests during the faults and their grace period "+
				"(%d replies past the reply deadline, %d %sretry lines then)", n, late, logged, botlog.RetryPrefix)
		}
		return v.result()
	case scenarios.EffectUnanswered:
		v := newVerdict(NameReplyEffect, false, "The faults show in the replies: at least one request got no answer while the bot was down.")
		n, cut := 0, 0
		for _, o := range h.Ops {
			if tl.botDown(o) {
				n++
				if o.Outcome == history.Info {
					cut++
				}
			}
		}
		if cut == 0 {
			v.fail("every one of the %d requests overlapping a kill or bot-restart was answered: the bot never looked down", n)
		}
		return v.result()
	case scenarios.EffectSlower:
		v := newVerdict(NameReplyEffect, false, fmt.Sprintf(
			"The faults show in the replies: the median reply during a fault is at least %s slower than when healthy.", r.slowerBy))
		var healthy, fault []time.Duration
		for _, o := range h.Ops {
			if o.Outcome != history.OK {
				continue
			}
			switch tl.phase(o) {
			case Healthy:
				healthy = append(healthy, o.Latency())
			case Fault:
				fault = append(fault, o.Latency())
			}
		}
		switch {
		case len(healthy) == 0:
			v.fail("no answered request before the first fault to compare with")
		case len(fault) == 0:
			v.fail("no answered request during a fault")
		default:
			ph, pf := percentile(healthy, 0.5), percentile(fault, 0.5)
			if pf < ph+r.slowerBy {
				v.fail("median latency %s during the faults against %s when healthy: only %s slower",
					pf.Round(time.Millisecond), ph.Round(time.Millisecond), (pf - ph).Round(time.Millisecond))
			}
		}
		return v.result()
	case scenarios.EffectNone:
		v := newVerdict(NameReplyEffect, false, "The baseline runs without faults.")
		if len(r.planned) > 0 || tl.hasFaults() {
			v.fail("expect.effect is none, but %d faults were planned and %d measured", len(r.planned), len(tl.windows))
		}
		return v.result()
	default:
		v := newVerdict(NameReplyEffect, false, "The faults show in the replies.")
		v.fail("unknown expect.effect %q (want degraded, slower, retried, unanswered or none)", r.effect)
		return v.result()
	}
}

// saturated reports whether the bot held all `slots` of the traffic
// driver's requests in flight for at least 90% of w (sampled every 10ms),
// so that the driver could send nothing new.
func saturated(h history.History, w window, slots int) bool {
	const step = 10 * time.Millisecond
	if w.stop == forever || w.stop <= w.start {
		return false
	}
	samples, full := 0, 0
	for t := w.start; t < w.stop; t += step {
		samples++
		n := 0
		for _, o := range h.Ops {
			if o.Invoke <= t && t < end(o) {
				n++
			}
		}
		if n >= slots {
			full++
		}
	}
	return full*10 >= samples*9
}

// countDuringFaults counts the requests invoked in a fault or transition
// phase, and among them the answered ones that match.
func countDuringFaults(h history.History, tl timeline, match func(history.Op) bool) (requests, matched int) {
	for _, o := range h.Ops {
		if ph := tl.phase(o); ph == Fault || ph == Transition {
			requests++
			if o.Outcome == history.OK && match(o) {
				matched++
			}
		}
	}
	return requests, matched
}

// GuardSteadyState: before the first fault, and from expect.recovery_within
// after the last one, at least minSteady requests each, every one answered,
// none degraded, each with its chat's own prompt read fresh (custom, or a
// fresh default for a chat without one). With no faults the whole run is
// the steady state.
func GuardSteadyState(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameSteadyState, true, fmt.Sprintf(
		"The bot is healthy before the first fault and after recovery: at least %d requests each, all answered, none degraded, all with the chat's own prompt.",
		minSteady))
	tl := newTimeline(h, r.recoveryWithin)
	p := newPrompts(s, h)
	var before, after []history.Op
	for _, o := range h.Ops {
		switch {
		case tl.phase(o) == Healthy:
			before = append(before, o)
		case tl.lastStop != forever && o.Invoke >= tl.lastStop+r.recoveryWithin:
			after = append(after, o)
		}
	}
	// The answers are black-box; "not degraded" and "its own prompt" are
	// the bot's claims, judged only when the target shows them.
	seesDegraded := v.part(h, "no reply degraded", history.SeesDegraded)
	seesSource := v.part(h, "every reply with its chat's own prompt", history.SeesPromptSource, history.SeesDegraded)
	if !seesDegraded {
		v.res.Promise = fmt.Sprintf("The bot is healthy before the first fault and after recovery: at least %d requests each, all answered.", minSteady)
	}
	steady := func(when string, ops []history.Op) {
		if len(ops) < minSteady {
			v.fail("only %d requests %s", len(ops), when)
		}
		for _, o := range ops {
			switch {
			case o.Outcome != history.OK:
				v.op(o, "%s: outcome %s%s", when, o.Outcome, statusAndError(o))
			case seesDegraded && o.Degraded:
				v.op(o, "%s: degraded %s", when, o.Code)
			case seesSource && p.source(o) != scenarios.SourceCustom:
				v.op(o, "%s: prompt_source %q", when, o.PromptSource)
			}
		}
	}
	if !tl.hasFaults() {
		steady("in the run", before)
		return v.result()
	}
	steady("before the first fault", before)
	if tl.lastStop == forever {
		v.fail("a fault never stopped, so there is no steady state after it")
	} else {
		steady(fmt.Sprintf("after recovery (from %s)", offset(tl.lastStop+r.recoveryWithin)), after)
	}
	return v.result()
}
