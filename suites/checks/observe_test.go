package checks

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
	"github.com/p1001/p1001/suites/history/historytest"
)

var asTarget = historytest.AsTarget

// naive is a bot without retry or fallback: during the outage (ops 4 to
// 8) it answers HTTP 500 with no reply.
func naive(h *history.History) {
	for _, i := range []int{4, 5, 6, 7, 8} {
		setOp(h, i, func(o *history.Op) {
			o.Outcome, o.Status, o.Reply.Text, o.Complete = history.Fail, 500, "", o.Invoke+5*ms
		})
	}
}

func byName(rs []Result) map[string]Result {
	out := map[string]Result{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

// TestRunByObservability runs every check over histories whose target
// hides evidence: the black-box checks still judge (and still fail a bot
// that answers 500), the others are not observable and name what they
// miss, and the parts a judged check left out are named too.
func TestRunByObservability(t *testing.T) {
	none := []history.Evidence{}
	type want struct {
		state  string
		unseen []history.Evidence
		ops    []int
		detail string
	}
	no := func(unseen ...history.Evidence) want { return want{state: StateNotObservable, unseen: unseen} }
	met := func(unseen ...history.Evidence) want { return want{state: StateMet, unseen: unseen} }
	E := func(es ...history.Evidence) []history.Evidence { return es }
	const (
		src, deg, att, code, age = history.SeesPromptSource, history.SeesDegraded, history.SeesAttempts, history.SeesCode, history.SeesPromptAge
		rlog, flog, prm, mlog    = history.SeesRetryLog, history.SeesFallbackLog, history.SeesPrompts, history.SeesMessageLog
		met_, cmd                = history.SeesMetrics, history.SeesCommands
	)
	// What a target that shows nothing beyond status, text and timing
	// leaves of the good history's verdicts.
	blind := map[string]want{
		NameFaultsPlayed:   met(),
		NameTraffic:        met(),
		NameEffect:         met(),
		NameSteadyState:    met(src, deg),
		NameAnswered:       met(mlog),
		NameReplyEffect:    no(deg),
		NameAttempts:       no(att),
		NameRetriedLookups: {state: StateSkipped},
		NameLogLines:       no(rlog, flog),
		NameCodes:          no(code),
		NameConnectRate:    {state: StateSkipped},
		NamePromptSources:  no(src, deg),
		NamePromptClaims:   no(deg),
		NameStaleness:      no(src, deg, code),
		NameCacheAge:       no(src, deg, code, age),
		NameLatency:        met(),
		NameBackoff:        no(rlog),
		NameAttemptTimeout: no(rlog),
		NameRecovered:      met(src, deg),
		NameAckedWrites:    no(prm, cmd),
		NameOutbox:         no(met_),
	}
	with := func(m map[string]want, changes map[string]want) map[string]want {
		out := map[string]want{}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range changes {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name    string
		history func(*history.History)
		want    map[string]want
		failed  []string
	}{
		{name: "blind target, good bot", history: asTarget("blind", none...), want: blind},
		{
			name:    "blind target, naive bot answering 500 in the outage",
			history: func(h *history.History) { naive(h); asTarget("naive", none...)(h) },
			want: with(blind, map[string]want{
				NameAnswered: {state: StateBroken, unseen: E(mlog), ops: []int{4, 5, 6, 7, 8}, detail: "outcome fail, HTTP 500"},
			}),
			failed: []string{NameAnswered},
		},
		{
			name: "blind target, still answering 500 after recovery",
			history: func(h *history.History) {
				setOp(h, 11, func(o *history.Op) { o.Outcome, o.Status, o.Reply.Text = history.Fail, 500, "" })
				asTarget("naive", none...)(h)
			},
			want: with(blind, map[string]want{
				NameAnswered:    {state: StateBroken, unseen: E(mlog), ops: []int{11}},
				NameSteadyState: {state: StateBroken, unseen: E(src, deg), ops: []int{11}},
				NameRecovered:   {state: StateBroken, unseen: E(src, deg), ops: []int{11}, detail: "not answered: outcome fail, HTTP 500"},
			}),
			failed: []string{NameSteadyState, NameAnswered, NameRecovered},
		},
		{
			name: "attempts and retry log mapped, a reply over the max",
			history: func(h *history.History) {
				setOp(h, 4, func(o *history.Op) { o.Attempts = 4 })
				asTarget("fixed", att, rlog)(h)
			},
			want: with(blind, map[string]want{
				NameAttempts:       {state: StateBroken, unseen: E(deg, code), ops: []int{4}, detail: "4 attempts, more than the policy's max 3"},
				NameLogLines:       met(deg, code, flog, history.SeesBotLog),
				NameBackoff:        met(),
				NameAttemptTimeout: met(),
				NameReplyEffect:    no(deg),
			}),
			failed: []string{NameAttempts},
		},
		{
			name: "degraded and prompt source shown: recovered judges them",
			history: func(h *history.History) {
				setOp(h, 12, func(o *history.Op) { o.Degraded, o.Code = true, "P1001" })
				asTarget("fields", src, deg)(h)
			},
			want: with(blind, map[string]want{
				NameSteadyState:   {state: StateBroken, ops: []int{12}},
				NameReplyEffect:   met(),
				NamePromptSources: met(),
				NamePromptClaims:  met(),
				NameRecovered:     {state: StateBroken, ops: []int{12}},
				NameStaleness:     no(code),
				NameCacheAge:      no(code, age),
			}),
			failed: []string{NameSteadyState, NameRecovered},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := goodHistory()
			tt.history(&h)
			s := testScenario()
			rs := Run(s, h)
			got := byName(rs)
			for name, w := range tt.want {
				r := got[name]
				if r.State() != w.state || !slices.Equal(r.Unseen, w.unseen) {
					t.Errorf("%s: state %q unseen %v, want %q %v\n%s", name, r.State(), r.Unseen, w.state, w.unseen, r)
				}
				if w.ops != nil && !slices.Equal(r.Ops, w.ops) {
					t.Errorf("%s: ops %v, want %v", name, r.Ops, w.ops)
				}
				if !strings.Contains(r.Detail, w.detail) {
					t.Errorf("%s: detail lacks %q:\n%s", name, w.detail, r.Detail)
				}
				switch {
				case r.NotObservable && r.Passed:
					t.Errorf("%s: not observable but Passed: it would read as met", name)
				case r.NotObservable && !strings.Contains(r.Detail, "not observable: target "+h.Target.Name+" does not show") &&
					!strings.Contains(r.Detail, "shows none of"):
					t.Errorf("%s: not observable without the reason: %q", name, r.Detail)
				case !r.NotObservable && len(r.Unseen) > 0 && !strings.Contains(r.Detail, "not judged ("):
					t.Errorf("%s: parts left out without saying so: %q", name, r.Detail)
				}
			}
			// A judged check promises only what it judged.
			if p := got[NameAnswered].Promise; !h.Sees(history.SeesMessageLog) && strings.Contains(p, "message_log") {
				t.Errorf("%s promises the message_log part it left out: %s", NameAnswered, p)
			}
			if p := got[NameSteadyState].Promise; !h.Sees(history.SeesDegraded) && strings.Contains(p, "degraded") {
				t.Errorf("%s promises the degraded part it left out: %s", NameSteadyState, p)
			}
			var failed []string
			for _, r := range Failed(rs) {
				failed = append(failed, r.Name)
			}
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("Failed = %v, want %v", failed, tt.failed)
			}
			if Inconclusive(rs) {
				t.Errorf("Inconclusive: black-box checks judged")
			}
			_, ok := expectThrough(s, h)
			if ok != (len(tt.failed) == 0) {
				t.Errorf("KeepPromises ok = %v, want %v", ok, len(tt.failed) == 0)
			}
		})
	}
}

// TestEachCheckAsksForItsNeeds runs each checker itself (not through Run,
// whose backstop would hide a checker that forgot) against a target that
// shows everything but one kind of evidence the check needs: it must be
// not observable, naming it, or skipped (not asked for).
func TestEachCheckAsksForItsNeeds(t *testing.T) {
	s := testScenario(func(s *scenarios.Scenario) {
		s.Expect.AttemptsPerRetriedLookup = 2
		s.Expect.CacheExpiry = true
	})
	for _, c := range Checks() {
		needs := slices.Concat(c.Needs, c.AnyOf)
		if c.Name == NameReplyEffect {
			needs = EffectNeeds(s.Expect.Effect)
		}
		hide := [][]history.Evidence{}
		for _, e := range c.Needs {
			hide = append(hide, []history.Evidence{e})
		}
		if c.Name == NameReplyEffect {
			hide = append(hide, needs)
		}
		if len(c.AnyOf) > 0 {
			hide = append(hide, c.AnyOf)
		}
		for _, hidden := range hide {
			t.Run(c.Name+"/"+evidenceList(hidden), func(t *testing.T) {
				var obs []history.Evidence
				for _, e := range history.AllEvidence {
					if !slices.Contains(hidden, e) {
						obs = append(obs, e)
					}
				}
				h := goodHistory()
				asTarget("partial", obs...)(&h)
				r := c.Run(s, h)
				if r.Skipped {
					return
				}
				if !r.NotObservable || r.Passed || !slices.Equal(r.Unseen, hidden) {
					t.Errorf("hiding %v: state %q, unseen %v\n%s", hidden, r.State(), r.Unseen, r)
				}
			})
		}
	}
}

func TestResultState(t *testing.T) {
	tests := []struct {
		r     Result
		state string
	}{
		{Result{Passed: true}, StateMet},
		{Result{}, StateBroken},
		{Result{Passed: true, Skipped: true}, StateSkipped},
		{Result{NotObservable: true}, StateNotObservable},
	}
	for _, tt := range tests {
		if got := tt.r.State(); got != tt.state {
			t.Errorf("%+v: State %q, want %q", tt.r, got, tt.state)
		}
		if failed := len(Failed([]Result{tt.r})) == 1; failed != (tt.state == StateBroken) {
			t.Errorf("%+v: Failed lists it = %v", tt.r, failed)
		}
	}
}

func TestInconclusive(t *testing.T) {
	guard := Result{Name: "g", Guard: true, Passed: true}
	unseen := Result{Name: "u", NotObservable: true}
	skipped := Result{Name: "s", Passed: true, Skipped: true}
	met := Result{Name: "m", Passed: true}
	broken := Result{Name: "b"}
	tests := []struct {
		name string
		rs   []Result
		want bool
	}{
		{"every behaviour check unseen", []Result{guard, unseen, unseen}, true},
		{"unseen and skipped", []Result{guard, unseen, skipped}, true},
		{"one met", []Result{guard, unseen, met}, false},
		{"one broken", []Result{guard, unseen, broken}, false},
		{"a broken guard", []Result{{Name: "g", Guard: true}, unseen}, false},
		{"all skipped, none unseen", []Result{guard, skipped}, false},
	}
	for _, tt := range tests {
		if got := Inconclusive(tt.rs); got != tt.want {
			t.Errorf("%s: Inconclusive = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMeasureByObservability(t *testing.T) {
	h := goodHistory()
	asTarget("blind")(&h)
	f := Measure(testScenario(), h)
	want := []string{FigCustom, FigCached, FigDefault, FigDegraded, FigMaxAttempts, FigTimeToFallback}
	if !slices.Equal(f.NotObservable, want) {
		t.Errorf("NotObservable = %v, want %v", f.NotObservable, want)
	}
	// Zero even when the fields the target does not show hold values: a
	// figure not observable is never a measured number.
	full := goodHistory()
	full.Target = &history.TargetInfo{Name: "blind"}
	if f := Measure(testScenario(), full); f.Custom+f.Cached+f.Default+f.Degraded+f.MaxAttempts != 0 || f.TimeToFallback != 0 {
		t.Errorf("figures not observable are not zero: %+v", f)
	}
	// Black-box recovery: from op #9 (5.5s) on every request is answered.
	if f.Recovery != 500*time.Millisecond || f.Messages != len(h.Ops) {
		t.Errorf("Recovery %s, Messages %d; want 500ms, %d", f.Recovery, f.Messages, len(h.Ops))
	}
	for _, fig := range want {
		if f.Sees(fig) {
			t.Errorf("Sees(%s) = true", fig)
		}
	}
	// A request that fails after the stop moves recovery past it: the
	// answers are all a blind target shows of recovery.
	setOp(&h, 9, func(o *history.Op) { o.Outcome, o.Status, o.Reply.Text = history.Fail, 500, "" })
	if f := Measure(testScenario(), h); f.Recovery != 2500*time.Millisecond {
		t.Errorf("with op #9 failed: Recovery %s, want 2.5s (from op #10)", f.Recovery)
	}
	if g := Measure(testScenario(), goodHistory()); len(g.NotObservable) != 0 {
		t.Errorf("p1001's own history: NotObservable = %v", g.NotObservable)
	}
}

// The scenario's expect.log_lines are p1001's own lines under the
// scenario's configuration: a target mapped by patterns is not held to
// them (its retry lines are judged by the generic rules); p1001's own bot
// (bot_log) is.
func TestLiteralLogLinesByKind(t *testing.T) {
	s := testScenario()
	const handler = "[MessageHandler] Database connection error, replying in degraded mode"
	s.Expect.LogLines = append(s.Expect.LogLines, handler)
	tests := []struct {
		name   string
		target func(*history.History)
		state  string
	}{
		{"p1001's own bot", func(*history.History) {}, StateBroken},
		{"json logs", asTarget("json", history.SeesRetryLog, history.SeesFallbackLog, history.SeesBotLog), StateBroken},
		{"retry and fallback patterns", asTarget("fixed", history.SeesRetryLog, history.SeesFallbackLog), StateMet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := goodHistory()
			h.Logs = slices.DeleteFunc(h.Logs, func(l botlog.Line) bool { return strings.Contains(l.Msg, "[MessageHandler]") })
			tt.target(&h)
			r := LogLines(s, h)
			if r.State() != tt.state {
				t.Errorf("state %q, want %q\n%s", r.State(), tt.state, r)
			}
			if tt.state == StateMet && !strings.Contains(r.Detail, "not judged") {
				t.Errorf("the unjudged line is not named: %s", r)
			}
		})
	}
}

// A bot whose policy is fixed in its code (a target's policy block) is held
// to its own, not to the scenario's bot.retry, which never reached it.
func TestTargetPolicy(t *testing.T) {
	s := testScenario() // max 3 attempts
	five := resilience.DefaultPolicy()
	five.MaxAttempts = 5
	tests := []struct {
		name   string
		policy *resilience.Policy
		want   string
	}{
		{"the scenario's policy", nil, StateBroken},
		{"the target's own policy", &five, StateMet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := goodHistory()
			historytest.AsTarget("fixed", history.SeesAttempts, history.SeesRetryLog)(&h)
			h.Target.Policy = tt.policy
			setOp(&h, 4, func(o *history.Op) { o.Attempts = 4 })
			if r := AttemptsBounded(s, h); r.State() != tt.want {
				t.Errorf("4 attempts: %q, want %q\n%s", r.State(), tt.want, r)
			}
		})
	}
}
