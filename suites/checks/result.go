package checks

import (
	"fmt"
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
	// Passed is the verdict. A skipped check has Passed true.
	Passed bool `json:"passed"`
	// Skipped is set when the scenario does not ask for this promise
	// (e.g. outbox_drained: false) or there is nothing it could apply to
	// (no faults to recover from). A score should not count it.
	Skipped bool `json:"skipped,omitempty"`
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

// Failed returns the results that did not pass, in order.
func Failed(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if !r.Passed {
			out = append(out, r)
		}
	}
	return out
}

// Check is one named checker.
type Check struct {
	Name  string
	Guard bool
	Run   func(scenarios.Scenario, history.History) Result
}

// Checks lists every guard and check in the order Run reports them: the
// validity guards first (a failed guard makes the rest meaningless), then
// the behaviour checks.
func Checks() []Check {
	return []Check{
		{NameFaultsPlayed, true, GuardFaultsPlayed},
		{NameTraffic, true, GuardTraffic},
		{NameEffect, true, GuardEffect},
		{NameSteadyState, true, GuardSteadyState},
		{NameAnswered, false, EveryMessageAnswered},
		{NameReplyEffect, false, ReplyEffect},
		{NameAttempts, false, AttemptsBounded},
		{NameRetriedLookups, false, RetriedLookups},
		{NameLogLines, false, LogLines},
		{NameCodes, false, CodesByCause},
		{NameConnectRate, false, ConnectRate},
		{NamePromptSources, false, PromptSources},
		{NamePromptClaims, false, PromptClaims},
		{NameStaleness, false, CacheStaleness},
		{NameCacheAge, false, CacheAge},
		{NameLatency, false, LatencyBound},
		{NameBackoff, false, Backoff},
		{NameAttemptTimeout, false, AttemptTimeout},
		{NameRecovered, false, Recovered},
		{NameAckedWrites, false, NoAckedWriteLost},
		{NameOutbox, false, OutboxDrained},
	}
}

// Run runs every guard and check over h, in the fixed order of Checks.
func Run(s scenarios.Scenario, h history.History) []Result {
	cs := Checks()
	out := make([]Result, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Run(s, h))
	}
	return out
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
