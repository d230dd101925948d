package checks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// Name of the codes check (stable id).
const NameCodes = "codes-by-cause"

// codeLead is how long before a fault's measured start its codes may
// already show: the fault acts while the call that applies it is still
// running, and the start is taken when that call returned.
const codeLead = 100 * time.Millisecond

// codeSeen is one code the bot attributed to a database failure.
type codeSeen struct {
	code string
	from string // "op #12 (...)" or "log line 40 ..."
	// [start, end] offsets from History.Base; placed is false for a log
	// line without a time.
	start, end time.Duration
	placed     bool
	op         *history.Op
	log        int
}

// codesOf lists the codes the bot gave for failures of its own calls:
// degraded replies that tried the database (attempts > 0: a reply the open
// breaker failed fast carries the breaker's P1001, whatever the cause),
// [Prisma Retry] lines with a code, except the breaker's fast fails, and
// the [getCustomPrompt] lines of lookups that gave up after trying. A
// reply that stopped waiting at the reply deadline is left out: its P1008
// says the bot stopped waiting, not what the fault did; its lookup's codes
// are in that lookup's log lines.
func codesOf(r rules, h history.History) []codeSeen {
	var out []codeSeen
	replies := h.Sees(history.SeesCode) && h.Sees(history.SeesDegraded) && h.Sees(history.SeesAttempts)
	for i := range h.Ops {
		o := &h.Ops[i]
		if replies && o.Outcome == history.OK && o.Degraded && o.Code != "" && o.Attempts > 0 && !pastDeadline(r, *o) {
			out = append(out, codeSeen{code: o.Code, from: describeOp(*o), start: o.Invoke, end: end(*o), placed: true, op: o, log: -1})
		}
	}
	for i, l := range h.Logs {
		c := l.Attr("code")
		n, _ := l.Int("attempts")
		retry := botlog.IsRetry(l) && h.Sees(history.SeesRetryLog)
		lookupGaveUp := l.Is(botlog.LookupFellBack) && n > 0 && h.Sees(history.SeesFallbackLog)
		if c == "" || !(retry || lookupGaveUp) || l.Is(botlog.BreakerRejected) {
			continue
		}
		cs := codeSeen{code: c, from: fmt.Sprintf("log line %d %q", i, l.Msg), log: i}
		if !l.Time.IsZero() && !h.Base.IsZero() {
			cs.start = l.Time.Sub(h.Base)
			cs.end, cs.placed = cs.start, true
		}
		out = append(out, cs)
	}
	return out
}

// CodesByCause: each fault with declared codes (expect.codes.<fault>)
// shows each of its must codes, on a degraded reply that tried the
// database (not one past the reply deadline), a [Prisma Retry] line or a
// lookup's [getCustomPrompt] fallback line, from codeLead before its start until
// recovery_within after its stop; and every code seen in that span is one
// that a fault active then must or may produce. A code seen while a fault
// without declared codes was also active is not judged, nor one seen
// outside every fault's span, nor a log line without a time (for must
// codes it counts for every fault).
func CodesByCause(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	if len(r.codes) == 0 {
		return newVerdict(NameCodes, false, "Each fault shows the Prisma codes its cause implies, and no other.").skip("expect.codes declares no fault's codes")
	}
	var parts []string
	for _, name := range sortedKeys(r.codes) {
		fc := r.codes[name]
		part := name + ": " + orNone(fc.Must)
		if len(fc.May) > 0 {
			part += " (may also " + list(fc.May) + ")"
		}
		parts = append(parts, part)
	}
	v := newVerdict(NameCodes, false, fmt.Sprintf("Each fault shows the Prisma codes its cause implies, and no other: %s.", strings.Join(parts, "; ")))
	// Codes come from degraded replies that tried the database, retry
	// lines and fallback lines: at least one source must be seen.
	if un, ok := v.unobservable(h, needsCodes); ok {
		return un
	}
	if len(unseen(h, history.SeesDegraded, history.SeesAttempts)) > 0 && len(unseen(h, anyLog...)) == len(anyLog) {
		un, _ := v.unobservable(h, []history.Evidence{history.SeesDegraded, history.SeesAttempts, history.SeesRetryLog, history.SeesFallbackLog})
		return un
	}
	// A must code is looked for in every source: with one unseen, its
	// absence proves nothing.
	must := v.part(h, "each fault shows the codes its cause implies (the codes it shows are judged)",
		history.SeesDegraded, history.SeesAttempts, history.SeesRetryLog, history.SeesFallbackLog)
	tl := newTimeline(h, r.recoveryWithin)
	span := func(w window) (time.Duration, time.Duration) {
		stop := w.stop
		if stop != forever {
			stop += r.recoveryWithin
		}
		return w.start - codeLead, stop
	}
	seen := codesOf(r, h)
	for _, w := range tl.windows {
		fc, ok := r.codes[w.fault]
		if !ok {
			continue
		}
		from, to := span(w)
		for _, c := range fc.Must {
			if !must {
				break
			}
			if !slices.ContainsFunc(seen, func(cs codeSeen) bool {
				return cs.code == c && (!cs.placed || cs.start < to && cs.end >= from)
			}) {
				v.fail("fault %s (%s on %s, %s to %s): no degraded reply or %sline during it has code %s, which its cause implies",
					w.fault, r.faults[w.fault].Type, r.faults[w.fault].Where(), offset(w.start), offset(w.stop), botlog.RetryPrefix, c)
			}
		}
	}
	for _, cs := range seen {
		if !cs.placed {
			continue
		}
		var active, allowing []string
		judged := true
		for _, w := range tl.windows {
			if from, to := span(w); cs.start >= to || cs.end < from {
				continue
			}
			active = append(active, w.fault)
			fc, ok := r.codes[w.fault]
			switch {
			case !ok:
				judged = false
			case fc.Allows(cs.code):
				allowing = append(allowing, w.fault)
			}
		}
		if !judged || len(active) == 0 || len(allowing) > 0 {
			continue
		}
		var allowed []string
		for _, f := range active {
			allowed = union(allowed, slices.Concat(r.codes[f].Must, r.codes[f].May))
		}
		what := fmt.Sprintf("code %s during fault %s, whose cause gives %s", cs.code, strings.Join(active, " and "), orNone(allowed))
		if cs.op != nil {
			v.op(*cs.op, "%s", what)
		} else {
			v.log(cs.log, h.Logs[cs.log], "%s", what)
		}
	}
	return v.result()
}

func orNone(v []string) string {
	if len(v) == 0 {
		return "no code"
	}
	return list(v)
}
