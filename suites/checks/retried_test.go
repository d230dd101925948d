package checks

import (
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// retriedHistory is goodHistory with op #9 (transition, custom) answered
// after one retry, and the retry layer's lines for it.
func retriedHistory(h *history.History) {
	setOp(h, 9, func(o *history.Op) {
		o.Attempts, o.Reply.Text = 2, "[You are a pirate.] You said: hello 9"
	})
	h.Logs = append(h.Logs,
		logAt(5505*ms, "WARN", "[Prisma Retry] Attempt 1/3 failed, retrying in 40ms...", "P1017", 1, 40),
		logAt(5550*ms, "INFO", "[Prisma Retry] Succeeded on attempt 2/3", "", 2, -1))
}

func TestRetriedLookups(t *testing.T) {
	want2 := func(s *scenarios.Scenario) { s.Expect.AttemptsPerRetriedLookup = 2 }
	runCases(t, RetriedLookups, NameRetriedLookups, false, []checkCase{
		{name: "unset: skipped", history: retriedHistory, pass: true, skipped: true},
		{name: "custom after 2 attempts, logged", scenario: want2, history: retriedHistory, pass: true},
		{name: "3 attempts", scenario: want2, history: func(h *history.History) {
			retriedHistory(h)
			setOp(h, 9, func(o *history.Op) { o.Attempts = 3 })
		}, detail: []string{"succeeded after 3 attempts, want exactly 2"}, ops: []int{9}},
		{name: "a fallback claiming success", scenario: want2, history: func(h *history.History) {
			retriedHistory(h)
			setOp(h, 9, func(o *history.Op) { o.PromptSource = "cached" })
		}, detail: []string{`prompt_source "cached"`}, ops: []int{9}},
		{name: "no persona quoted", scenario: want2, history: func(h *history.History) {
			retriedHistory(h)
			setOp(h, 9, func(o *history.Op) { o.Reply.Text = "hello" })
		}, detail: []string{"does not quote the chat's own prompt"}, ops: []int{9}},
		{name: "the default prompt quoted", scenario: want2, history: func(h *history.History) {
			retriedHistory(h)
			setOp(h, 9, func(o *history.Op) { o.Reply.Text = "[You are a helpful assistant.] You said: hello 9" })
		}, detail: []string{"does not quote the chat's own prompt"}, ops: []int{9}},
		{name: "the log does not show the retry", scenario: want2, history: func(h *history.History) {
			retriedHistory(h)
			h.Logs = h.Logs[:len(h.Logs)-1]
		}, detail: []string{"the log has only 0"}},
		{name: "nothing retried", scenario: want2, history: func(*history.History) {}, detail: []string{"no lookup needed a retry"}},
	})
}

func TestConnectRate(t *testing.T) {
	bound := func(s *scenarios.Scenario) { s.Bot.Database, s.Expect.MaxConnectsPerSecond = "direct", 2 }
	// The fault "cut" runs from 2s to 5s: counted from 3s, 2s.
	connects := func(at ...time.Duration) func(*history.History) {
		return func(h *history.History) { h.ServerConnects = at }
	}
	runCases(t, ConnectRate, NameConnectRate, false, []checkCase{
		{name: "unset: skipped", history: connects(), pass: true, skipped: true},
		{name: "one a second", scenario: bound, history: connects(1*time.Second, 2100*ms, 2200*ms, 2300*ms, 2400*ms, 3100*ms, 4100*ms, 6*time.Second), pass: true},
		{name: "a storm", scenario: bound, history: func(h *history.History) {
			for at := 3 * time.Second; at < 5*time.Second; at += 100 * ms {
				h.ServerConnects = append(h.ServerConnects, at)
			}
		}, detail: []string{"20 connections from the bot in 2s, 10.0 a second, over 2"}},
		{name: "no evidence", scenario: bound, history: connects(1*time.Second, 2500*ms), detail: []string{"logged no connection"}},
	})
}

func TestRunSkipsOnlyUnsetChecks(t *testing.T) {
	for _, r := range Run(testScenario(), goodHistory()) {
		if r.Skipped && !strings.Contains(r.Detail, "is not set") {
			t.Errorf("%s skipped: %s", r.Name, r.Detail)
		}
	}
}
