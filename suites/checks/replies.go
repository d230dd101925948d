package checks

import (
	"fmt"
	"slices"
	"strings"

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
	r := rulesOf(s, h)
	v := newVerdict(NamePromptSources, false, fmt.Sprintf(
		"Replies use %s prompts when healthy, %s during a fault, and %s after recovery.",
		list(r.sources[Healthy]), list(r.sources[Fault]), list(r.sources[Recovery])))
	if un, ok := v.unobservable(h, needsSources); ok {
		return un
	}
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
	r := rulesOf(s, h)
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
	r := rulesOf(s, h)
	v := newVerdict(NameRecovered, false, fmt.Sprintf(
		"Replies are %s and not degraded again within %s after the last fault clears.", list(r.sources[Recovery]), r.recoveryWithin))
	if !h.Sees(history.SeesDegraded) {
		v.res.Promise = fmt.Sprintf("Every request is answered again (HTTP 200, a reply with text) from %s after the last fault clears.", r.recoveryWithin)
	}
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
	rec := recoveryOf(r, p, h)
	v.part(h, "replies not degraded", history.SeesDegraded)
	v.part(h, "replies with the recovery prompt sources", history.SeesPromptSource, history.SeesDegraded)
	answered := 0
	for _, o := range byInvoke(h.Ops) {
		if o.Invoke < deadline {
			continue
		}
		if o.Outcome != history.OK && !rec.blackBox {
			continue
		}
		if rec.answered(o) {
			answered++
		}
		switch {
		case rec.blackBox && !rec.answered(o):
			v.op(o, "invoked %s after the last fault stopped (at %s), not answered: outcome %s%s",
				offset(o.Invoke-tl.lastStop), offset(tl.lastStop), o.Outcome, statusAndError(o))
		case !rec.recovered(o):
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

// recovery says which replies show the bot recovered, by what the
// target shows: not degraded (when it shows degraded), with a recovery
// prompt source (when it shows prompt_source and degraded). A target that
// shows neither shows recovery only as answers (blackBox): then every
// request from the deadline on must be answered (outcome ok, HTTP 200, a
// reply with text), not only some.
type recovery struct {
	r                        rules
	p                        prompts
	seesDegraded, seesSource bool
	blackBox                 bool
}

func recoveryOf(r rules, p prompts, h history.History) recovery {
	rc := recovery{r: r, p: p, seesDegraded: h.Sees(history.SeesDegraded)}
	rc.seesSource = rc.seesDegraded && h.Sees(history.SeesPromptSource)
	rc.blackBox = !rc.seesDegraded && !rc.seesSource
	return rc
}

// answered: outcome ok and, for a black-box target, HTTP 200 with text
// (the bot's own fields say the rest for the others).
func (rc recovery) answered(o history.Op) bool {
	if rc.blackBox {
		return o.Outcome == history.OK && o.Status == 200 && strings.TrimSpace(o.Reply.Text) != ""
	}
	return o.Outcome == history.OK
}

// recovered: answered, and back to normal as far as the target shows.
func (rc recovery) recovered(o history.Op) bool {
	return rc.answered(o) && !(rc.seesDegraded && o.Degraded) &&
		(!rc.seesSource || slices.Contains(rc.r.sources[Recovery], rc.p.source(o)))
}

func degradedNote(o history.Op) string {
	if o.Degraded {
		return ", degraded " + o.Code
	}
	return ""
}
