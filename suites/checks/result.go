package checks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// Result is one checker's verdict on one history.
type Result struct {
	// Name is a stable id, e.g. "every-message-answered".
	Name string `json:"name"`
	// Guard marks a validity guard: when it fails, the scenario proved
	// nothing, whatever the behaviour checks say.
	Guard bool `json:"guard"`
	// Passed is the verdict. A skipped check has Passed true; a check
	// that is not observable has Passed false (it was never met), and is
	// no failure either: read State, or Failed, not Passed alone.
	Passed bool `json:"passed"`
	// Skipped is set when the scenario does not ask for this promise
	// (e.g. outbox_drained: false) or there is nothing it could apply to
	// (no faults to recover from). A score should not count it.
	Skipped bool `json:"skipped,omitempty"`
	// NotObservable is set when the history's target does not show
	// evidence the check needs (Unseen names it): the promise was not
	// judged, neither met nor broken. A score should not count it.
	NotObservable bool `json:"not_observable,omitempty"`
	// Unseen is the evidence the target did not show: what made the check
	// not observable, or, on a judged check, what a part of it needed
	// (that part was left out, and Detail says so). In AllEvidence order.
	Unseen []history.Evidence `json:"unseen,omitempty"`
	// Promise is the promise in one sentence, with the scenario's numbers.
	Promise string `json:"promise"`
	// Detail says what broke (at most maxExamples examples, then a count),
	// or why the check was skipped, or a note about what it could not see.
	Detail string `json:"detail,omitempty"`
	// Ops are the indexes (Op.Index) of every offending op, in history order.
	Ops []int `json:"ops,omitempty"`
	// Logs are the positions in History.Logs of every offending log line.
	Logs []int `json:"logs,omitempty"`
}

// String renders a result the way the matcher's failure message lists it:
// "[name] promise — detail".
func (r Result) String() string {
	s := "[" + r.Name + "] " + r.Promise
	if r.Detail != "" {
		s += " — " + r.Detail
	}
	return s
}

// States of a result (Result.State).
const (
	StateMet           = "met"
	StateBroken        = "broken"
	StateSkipped       = "skipped"
	StateNotObservable = "not observable"
)

// State is the result's verdict in one word: met, broken, skipped, or
// not observable. Only broken fails a scenario; only met and broken are
// scored.
func (r Result) State() string {
	switch {
	case r.NotObservable:
		return StateNotObservable
	case r.Skipped:
		return StateSkipped
	case r.Passed:
		return StateMet
	}
	return StateBroken
}

// Failed returns the results that broke their promise, in order: not the
// skipped ones, nor those the target did not let the harness observe.
func Failed(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.State() == StateBroken {
			out = append(out, r)
		}
	}
	return out
}

// Inconclusive reports whether rs judged nothing of the bot's behaviour:
// nothing broke, and not one behaviour check was met, because at least
// one was not observable and the rest were skipped. Such a run is no
// pass: the harness could not see whether the bot kept its promises.
func Inconclusive(rs []Result) bool {
	unseen := false
	for _, r := range rs {
		switch r.State() {
		case StateBroken:
			return false
		case StateMet:
			if !r.Guard {
				return false
			}
		case StateNotObservable:
			unseen = unseen || !r.Guard
		}
	}
	return unseen
}

// Check is one named checker.
type Check struct {
	Name  string
	Guard bool
	// Needs is the evidence the check needs to see at all: against a
	// history whose target does not show one of them, it is not
	// observable (Run enforces it). Parts of a check may need more; the
	// check leaves those parts out and names their evidence in Unseen.
	Needs []history.Evidence
	// AnyOf, when set, is evidence of which the check needs at least one
	// (log-lines: the retry or the fallback lines).
	AnyOf []history.Evidence
	Run   func(scenarios.Scenario, history.History) Result
}

// The evidence each check needs at all (Check.Needs).
var (
	needsAttempts     = []history.Evidence{history.SeesAttempts}
	needsRetried      = []history.Evidence{history.SeesDegraded, history.SeesAttempts, history.SeesPromptSource}
	needsCodes        = []history.Evidence{history.SeesCode}
	needsSources      = []history.Evidence{history.SeesPromptSource, history.SeesDegraded}
	needsClaims       = []history.Evidence{history.SeesDegraded}
	needsStaleness    = []history.Evidence{history.SeesPromptSource, history.SeesDegraded, history.SeesCode}
	needsCacheAge     = []history.Evidence{history.SeesPromptSource, history.SeesDegraded, history.SeesCode, history.SeesPromptAge}
	needsRetryLog     = []history.Evidence{history.SeesRetryLog}
	needsAckedWrites  = []history.Evidence{history.SeesPrompts, history.SeesCommands}
	needsOutbox       = []history.Evidence{history.SeesMetrics}
	anyLog            = []history.Evidence{history.SeesRetryLog, history.SeesFallbackLog}
	needsReplyEffects = map[string][]history.Evidence{
		scenarios.EffectDegraded: {history.SeesDegraded},
		scenarios.EffectRetried:  {history.SeesAttempts},
	}
)

// Checks lists every guard and check in the order Run reports them: the
// validity guards first (a failed guard makes the rest meaningless), then
// the behaviour checks. A check with no Needs is black-box: it reads only
// what every target shows (status, reply text, timing) and what the
// harness itself measured (faults, probes, Postgres's own log).
// effect-on-replies needs what its expect.effect reads (EffectNeeds).
func Checks() []Check {
	return []Check{
		{NameFaultsPlayed, true, nil, nil, GuardFaultsPlayed},
		{NameTraffic, true, nil, nil, GuardTraffic},
		{NameEffect, true, nil, nil, GuardEffect},
		{NameSteadyState, true, nil, nil, GuardSteadyState},
		{NameAnswered, false, nil, nil, EveryMessageAnswered},
		{NameReplyEffect, false, nil, nil, ReplyEffect},
		{NameAttempts, false, needsAttempts, nil, AttemptsBounded},
		{NameRetriedLookups, false, needsRetried, nil, RetriedLookups},
		{NameLogLines, false, nil, anyLog, LogLines},
		{NameCodes, false, needsCodes, nil, CodesByCause},
		{NameConnectRate, false, nil, nil, ConnectRate},
		{NamePromptSources, false, needsSources, nil, PromptSources},
		{NamePromptClaims, false, needsClaims, nil, PromptClaims},
		{NameStaleness, false, needsStaleness, nil, CacheStaleness},
		{NameCacheAge, false, needsCacheAge, nil, CacheAge},
		{NameLatency, false, nil, nil, LatencyBound},
		{NameBackoff, false, needsRetryLog, nil, Backoff},
		{NameAttemptTimeout, false, needsRetryLog, nil, AttemptTimeout},
		{NameRecovered, false, nil, nil, Recovered},
		{NameAckedWrites, false, needsAckedWrites, nil, NoAckedWriteLost},
		{NameOutbox, false, needsOutbox, nil, OutboxDrained},
	}
}

// EffectNeeds is the evidence effect-on-replies needs for an
// expect.effect: degraded reads the degraded field, retried the attempts;
// slower, unanswered and none are black-box.
func EffectNeeds(effect string) []history.Evidence { return needsReplyEffects[effect] }

// Run runs every guard and check over h, in the fixed order of Checks. A
// check that judged although h's target does not show what it needs (a
// checker that forgot to ask) is turned into a not-observable result: a
// verdict on evidence the harness did not see is never reported.
func Run(s scenarios.Scenario, h history.History) []Result {
	cs := Checks()
	out := make([]Result, 0, len(cs))
	for _, c := range cs {
		res := c.Run(s, h)
		needs := c.Needs
		if c.Name == NameReplyEffect {
			needs = EffectNeeds(s.Expect.Effect)
		}
		if res.State() == StateMet || res.State() == StateBroken {
			if un, ok := notObservable(res.Name, res.Guard, res.Promise, h, needs, c.AnyOf); ok {
				res = un
			}
		}
		out = append(out, res)
	}
	return out
}

// unseen returns the evidence of needs that h's target does not show, in
// AllEvidence order.
func unseen(h history.History, needs ...history.Evidence) []history.Evidence {
	var out []history.Evidence
	for _, e := range history.AllEvidence {
		if slices.Contains(needs, e) && !h.Sees(e) {
			out = append(out, e)
		}
	}
	return out
}

// notObservable is the result of a check that h's target does not let
// the harness judge: it does not show one of needs, or none of anyOf.
// ok is false when it shows them.
func notObservable(name string, guard bool, promise string, h history.History, needs, anyOf []history.Evidence) (Result, bool) {
	missing := unseen(h, needs...)
	if len(anyOf) > 0 && len(unseen(h, anyOf...)) == len(anyOf) {
		missing = unseen(h, slices.Concat(needs, anyOf)...)
	} else if len(missing) == 0 {
		return Result{}, false
	}
	detail := fmt.Sprintf("not observable: %s does not show %s", targetName(h), evidenceList(missing))
	if len(anyOf) > 0 && len(needs) == 0 {
		detail = fmt.Sprintf("not observable: %s shows none of %s", targetName(h), evidenceList(missing))
	}
	return Result{Name: name, Guard: guard, Promise: promise, NotObservable: true, Unseen: missing, Detail: detail}, true
}

// targetName names the history's bot for a reader.
func targetName(h history.History) string {
	if h.Target == nil || h.Target.Name == "" {
		return "the target"
	}
	return "target " + h.Target.Name
}

func evidenceList(es []history.Evidence) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

// maxExamples bounds the examples quoted in a Detail; the rest are counted.
const maxExamples = 5

// verdict collects what broke while a checker runs and turns it into a
// Result.
type verdict struct {
	res      Result
	examples []string
	count    int
	seenOp   map[int]bool
}

func newVerdict(name string, guard bool, promise string) *verdict {
	return &verdict{res: Result{Name: name, Guard: guard, Promise: promise}, seenOp: map[int]bool{}}
}

// op records an offending op with what it did wrong.
func (v *verdict) op(o history.Op, format string, args ...any) {
	v.also(o)
	v.add(describeOp(o) + ": " + fmt.Sprintf(format, args...))
}

// also adds an op to the offenders without quoting it again.
func (v *verdict) also(o history.Op) {
	if !v.seenOp[o.Index] {
		v.seenOp[o.Index] = true
		v.res.Ops = append(v.res.Ops, o.Index)
	}
}

// log records an offending log line (its position in History.Logs).
func (v *verdict) log(i int, l botlog.Line, format string, args ...any) {
	v.res.Logs = append(v.res.Logs, i)
	v.add(fmt.Sprintf("log line %d %q: ", i, l.Msg) + fmt.Sprintf(format, args...))
}

// fail records a problem that is not about one op or line.
func (v *verdict) fail(format string, args ...any) { v.add(fmt.Sprintf(format, args...)) }

func (v *verdict) add(example string) {
	v.count++
	if len(v.examples) < maxExamples {
		v.examples = append(v.examples, example)
	}
}

// note adds a remark shown even when the check passes.
func (v *verdict) note(format string, args ...any) {
	v.res.Detail = joinSentences(v.res.Detail, fmt.Sprintf(format, args...))
}

// unobservable returns the not-observable result when h's target does
// not show needs (or none of anyOf); ok is false when the check can judge.
func (v *verdict) unobservable(h history.History, needs []history.Evidence, anyOf ...history.Evidence) (Result, bool) {
	return notObservable(v.res.Name, v.res.Guard, v.res.Promise, h, needs, anyOf)
}

// part reports whether h's target shows what one part of the check needs.
// When it does not, the part is left out: its evidence goes to Unseen and
// a note says what was not judged.
func (v *verdict) part(h history.History, what string, needs ...history.Evidence) bool {
	missing := unseen(h, needs...)
	if len(missing) == 0 {
		return true
	}
	for _, e := range missing {
		if !slices.Contains(v.res.Unseen, e) {
			v.res.Unseen = append(v.res.Unseen, e)
		}
	}
	slices.SortStableFunc(v.res.Unseen, func(a, b history.Evidence) int {
		return slices.Index(history.AllEvidence, a) - slices.Index(history.AllEvidence, b)
	})
	v.note("not judged (%s does not show %s): %s", targetName(h), evidenceList(missing), what)
	return false
}

func (v *verdict) skip(format string, args ...any) Result {
	v.res.Passed, v.res.Skipped = true, true
	v.res.Detail = "skipped: " + fmt.Sprintf(format, args...)
	return v.res
}

func (v *verdict) result() Result {
	if v.count == 0 {
		v.res.Passed = true
		return v.res
	}
	d := strings.Join(v.examples, "; ")
	if more := v.count - len(v.examples); more > 0 {
		d += fmt.Sprintf("; and %d more", more)
	}
	d = fmt.Sprintf("%d broken: %s", v.count, d)
	if v.count == 1 {
		d = strings.TrimPrefix(d, "1 broken: ")
	}
	v.res.Detail = joinSentences(d, v.res.Detail)
	return v.res
}

func joinSentences(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ". " + b
}

// describeOp names an op for a reader: index, kind, chat and invoke offset.
func describeOp(o history.Op) string {
	return fmt.Sprintf("op #%d (%s in chat %s at %s)", o.Index, o.Kind, o.Chat, offset(o.Invoke))
}

// redact keeps passwords and tokens in recorded error texts out of a
// Detail, which ends up in reports.
func redact(s string) string { return resilience.RedactText(s) }

// offset prints a history offset to the millisecond.
func offset(d time.Duration) string {
	if d == forever {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}
