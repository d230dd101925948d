package checks

import (
	"fmt"
	"slices"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// Names of the reply checks: prompt sources, latency, recovery (stable ids).
const (
	NamePromptSources = "prompt-sources"
	NameLatency       = "latency-bound"
	NameRecovered     = "recovered"
)

// PromptSources: every answered request's prompt_source is allowed in its
// phase (see Phase; transition allows the fault and recovery sets). A
// fresh, non-degraded "default" counts as "custom" for a chat that may
// have no custom prompt at that moment (never seeded, or reset).
func PromptSources(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NamePromptSources, false, fmt.Sprintf(
		"Replies use %s prompts when healthy, %s during a fault, and %s after recovery.",
		list(r.sources[Healthy]), list(r.sources[Fault]), list(r.sources[Recovery])))
	tl := newTimeline(h, r.recoveryWithin)
	p := newPrompts(s, h)
	for _, o := range h.Ops {
		if o.Outcome != history.OK {
			continue
		}
		ph := tl.phase(o)
		if allowed := r.sources[ph]; !slices.Contains(allowed, p.source(o)) {
			v.op(o, "%s phase, prompt_source %q, allowed %s", ph, o.PromptSource, list(allowed))
		}
	}
	return v.result()
}

// LatencyBound: every request in a fault or transition phase completes
// within expect.reply_latency_bound, whatever its outcome; writes
// (/setprompt text, /reset), which keep the policy's full budget, within
// expect.write_latency_bound.
func LatencyBound(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	claim := fmt.Sprintf("Every reply during a fault or within %s after it arrives within %s.", r.recoveryWithin, r.latencyBound)
	if r.writeBound != r.latencyBound {
		claim = fmt.Sprintf("Every reply during a fault or within %s after it arrives within %s, every write (/setprompt, /reset) within %s.",
			r.recoveryWithin, r.latencyBound, r.writeBound)
	}
	v := newVerdict(NameLatency, false, claim)
	tl := newTimeline(h, r.recoveryWithin)
	switch {
	case r.latencyBound <= 0:
		return v.skip("expect.reply_latency_bound is unset and the policy bounds no call (no budget, no attempt timeout)")
	case !tl.hasFaults():
		return v.skip("no faults")
	}
	for _, o := range h.Ops {
		ph := tl.phase(o)
		if ph != Fault && ph != Transition {
			continue
		}
		switch {
		case o.Complete < o.Invoke:
			v.op(o, "%s phase, no completion time recorded", ph)
		case isWrite(o) && o.Latency() > r.writeBound:
			v.op(o, "%s phase, write took %s (outcome %s), bound %s", ph, o.Latency().Round(1e6), o.Outcome, r.writeBound)
		case !isWrite(o) && o.Latency() > r.latencyBound:
			v.op(o, "%s phase, took %s (outcome %s)", ph, o.Latency().Round(1e6), o.Outcome)
		}
	}
	return v.result()
}

// Recovered: at least one request is answered after the last fault stop
// plus expect.recovery_within, and every one answered from then on is
// back to the recovery set (custom by default) and not degraded.
func Recovered(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NameRecovered, false, fmt.Sprintf(
		"Replies are %s and not degraded again within %s after the last fault clears.", list(r.sources[Recovery]), r.recoveryWithin))
	tl := newTimeline(h, r.recoveryWithin)
	if !tl.hasFaults() {
		return v.skip("no faults to recover from")
	}
	if tl.lastStop == forever {
		v.fail("a fault never stopped")
		return v.result()
	}
	deadline := tl.lastStop + r.recoveryWithin
	p := newPrompts(s, h)
	answered := 0
	for _, o := range byInvoke(h.Ops) {
		if o.Outcome != history.OK || o.Invoke < deadline {
			continue
		}
		answered++
		if !recoveredReply(r, p, o) {
			v.op(o, "invoked %s after the last fault stopped (at %s), prompt_source %q%s",
				offset(o.Invoke-tl.lastStop), offset(tl.lastStop), o.PromptSource, degradedNote(o))
		}
	}
	if answered == 0 {
		v.fail("no request invoked after %s (last fault stop %s + %s) was answered, so nothing shows recovery (see %s)",
			offset(deadline), offset(tl.lastStop), r.recoveryWithin, NameSteadyState)
	}
	return v.result()
}

func recoveredReply(r rules, p prompts, o history.Op) bool {
	return o.Outcome == history.OK && !o.Degraded && slices.Contains(r.sources[Recovery], p.source(o))
}

func degradedNote(o history.Op) string {
	if o.Degraded {
		return ", degraded " + o.Code
	}
	return ""
}
