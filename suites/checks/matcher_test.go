package checks

import (
	"strings"
	"testing"

	"github.com/onsi/gomega"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// expectThrough runs Expect(actual).To(KeepPromises(s)) on a Gomega whose
// fail handler records the message instead of failing the test.
func expectThrough(s scenarios.Scenario, actual any) (message string, ok bool) {
	failed := false
	g := gomega.NewGomega(func(msg string, _ ...int) { message, failed = msg, true })
	g.Expect(actual).To(KeepPromises(s))
	return message, !failed
}

func TestKeepPromisesMatches(t *testing.T) {
	h := goodHistory()
	for name, actual := range map[string]any{"value": h, "pointer": &h} {
		if msg, ok := expectThrough(testScenario(), actual); !ok {
			t.Errorf("%s: good history rejected:\n%s", name, msg)
		}
	}
}

func TestKeepPromisesFailureMessage(t *testing.T) {
	h := goodHistory()
	setOp(&h, 5, func(o *history.Op) {
		o.Outcome, o.Status, o.Reply.Text, o.Error = history.Info, 0, "", "read: connection reset"
	})
	h.Logged[h.Ops[5].Text] = 0
	setOp(&h, 11, func(o *history.Op) { o.PromptSource = "default" })

	msg, ok := expectThrough(testScenario(), h)
	if ok {
		t.Fatal("a history with an unanswered request and a late default passed")
	}
	want := []string{
		"scenario outage-test broke 4 of 21 promises (a validity guard failed: the run proved nothing):",
		"\n  [guard-steady-state] The bot is healthy before the first fault and after recovery",
		`— op #11 (message in chat c2 at 8s): after recovery (from 7s): prompt_source "default"`,
		"\n  [every-message-answered] Every request gets exactly one HTTP 200 reply, and every answered message and its reply are in message_log exactly once." +
			" — op #5 (message in chat c2 at 2.5s): outcome info, read: connection reset",
		"\n  [prompt-sources] Replies use custom prompts when healthy, custom|cached|default during a fault, and custom after recovery." +
			` — op #11 (message in chat c2 at 8s): recovery phase, prompt_source "default", allowed custom`,
		"\n  [recovered] Replies are custom and not degraded again within 2s after the last fault clears. — op #11",
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("failure message lacks %q:\n%s", w, msg)
		}
	}
	for _, passed := range []string{NameAttempts, NameLogLines, NameOutbox} {
		if strings.Contains(msg, "["+passed+"]") {
			t.Errorf("failure message lists %s, which passed:\n%s", passed, msg)
		}
	}
}

func TestKeepPromisesNegated(t *testing.T) {
	h := goodHistory()
	m := KeepPromises(testScenario())
	if ok, err := m.Match(h); !ok || err != nil {
		t.Fatalf("Match = %v, %v", ok, err)
	}
	want := "expected scenario outage-test to break a promise, but all 21 checks passed"
	if got := m.NegatedFailureMessage(h); got != want {
		t.Errorf("NegatedFailureMessage = %q, want %q", got, want)
	}
}

func TestKeepPromisesWrongType(t *testing.T) {
	var nilHistory *history.History
	for _, tt := range []struct {
		actual any
		want   string
	}{
		{"a history", "expects a history.History, got string"},
		{nilHistory, "got a nil *history.History"},
	} {
		ok, err := KeepPromises(testScenario()).Match(tt.actual)
		if ok || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Match(%T) = %v, %v; want an error with %q", tt.actual, ok, err, tt.want)
		}
	}
}

func TestResultString(t *testing.T) {
	r := Result{Name: "x", Promise: "P holds.", Detail: "op #1 broke it"}
	if got, want := r.String(), "[x] P holds. — op #1 broke it"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	r.Detail = ""
	if got, want := r.String(), "[x] P holds."; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestDetailCapsExamples(t *testing.T) {
	h := goodHistory()
	for i := range h.Ops {
		h.Ops[i].Status = 500
	}
	r := EveryMessageAnswered(testScenario(), h)
	if r.Passed || len(r.Ops) != len(h.Ops) {
		t.Fatalf("Passed %v, Ops %v; want every op", r.Passed, r.Ops)
	}
	if got := strings.Count(r.Detail, "answered with HTTP 500"); got != maxExamples {
		t.Errorf("Detail quotes %d examples, want %d:\n%s", got, maxExamples, r.Detail)
	}
	if !strings.HasPrefix(r.Detail, "13 broken: ") || !strings.HasSuffix(r.Detail, "; and 8 more") {
		t.Errorf("Detail = %q: want the count first and the rest counted", r.Detail)
	}
}

// TestRulesFromTheLoader runs the checks on a scenario read by the real
// loader, so the defaults the checks rely on are the loader's.
func TestRulesFromTheLoader(t *testing.T) {
	s, err := scenarios.Parse("outage-test.yaml", []byte(`
name: outage-test
description: The pooler is cut from 2s to 5s.
labels: [fault:outage, path:pooler]
bot:
  retry: {max_attempts: 4}
traffic: {chats: 2, rate: 5, duration: 10s}
faults:
  - {name: cut, at: 2s, for: 3s, type: outage, proxy: pooler}
expect:
  effect: degraded
  recovery_within: 2s
`))
	if err != nil {
		t.Fatal(err)
	}
	r := rulesOf(s, history.History{})
	if r.policyErr != nil || r.policy.MaxAttempts != 4 || r.attempts != 4 {
		t.Errorf("policy max %d, attempts per failed lookup %d, err %v; want 4, 4, nil", r.policy.MaxAttempts, r.attempts, r.policyErr)
	}
	if !r.allAnswered || !r.noAckedWriteLost || !r.outboxDrained || !r.customPrompts {
		t.Errorf("boolean defaults not all true: %+v", r)
	}
	if r.latencyBound <= 0 || r.minPerFault != scenarios.DefaultMinMessagesPerFault {
		t.Errorf("latency bound %s, min per fault %d", r.latencyBound, r.minPerFault)
	}
	// The good history's failed lookup took 3 attempts: with 4 allowed it
	// must be rejected, and the X/3 log lines with it.
	h := goodHistory()
	got := map[string]Result{}
	for _, res := range Run(s, h) {
		got[res.Name] = res
	}
	if a := got[NameAttempts]; a.Passed || !strings.Contains(a.Detail, "want exactly 4") {
		t.Errorf("attempts-bounded: %s", a)
	}
	if l := got[NameLogLines]; l.Passed || !strings.Contains(l.Detail, "counts out of 3, the policy's max is 4") {
		t.Errorf("log-lines: %s", l)
	}
	if p := got[NamePromptSources]; !p.Passed {
		t.Errorf("prompt-sources: %s", p)
	}
}
