package checks

import (
	"slices"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

func TestGuardFaultsPlayed(t *testing.T) {
	runCases(t, GuardFaultsPlayed, NameFaultsPlayed, true, []checkCase{
		{name: "fault never measured", history: func(h *history.History) { h.Faults = nil },
			detail: []string{"fault cut has no measured start or stop"}},
		{name: "fault failed to apply", history: func(h *history.History) {
			h.Faults[0].Err = "toxiproxy: disable pooler via postgres://app:s3cret@toxiproxy:6543/app: refused"
		}, detail: []string{"fault cut failed: toxiproxy: disable pooler", "refused"}, absent: []string{"s3cret"}},
		{name: "fault never stopped", history: func(h *history.History) { h.Faults[0].Stop = 0 },
			detail: []string{"fault cut started at 2s and never stopped"}},
		{name: "fault not in the plan", history: func(h *history.History) {
			h.Faults = append(h.Faults, scenarios.FaultEvent{Fault: "ghost", Start: 6 * time.Second, Stop: 7 * time.Second})
		}, detail: []string{"measured fault ghost is not in the scenario's timeline"}},
		{name: "flapping fault measured in several events", scenario: func(s *scenarios.Scenario) {
			s.Faults[0].Flap = d(500 * time.Millisecond)
		}, history: func(h *history.History) {
			h.Faults = []scenarios.FaultEvent{
				{Fault: "cut", Start: 2 * time.Second, Stop: 2500 * ms},
				{Fault: "cut", Start: 3 * time.Second, Stop: 3500 * ms},
				{Fault: "cut", Start: 4 * time.Second, Stop: 5 * time.Second},
			}
		}, pass: true},
		{name: "unnamed fault gets the loader's default name", scenario: defaulted(func(s *scenarios.Scenario) {
			s.Faults[0].Name = ""
		}), history: func(h *history.History) { h.Faults[0].Fault = "outage-0" }, pass: true},
		{name: "baseline", scenario: func(s *scenarios.Scenario) { s.Faults = nil },
			history: func(h *history.History) { h.Faults = nil }, pass: true},
	})
}

func TestGuardTraffic(t *testing.T) {
	runCases(t, GuardTraffic, NameTraffic, true, []checkCase{
		{name: "too few requests in the window", scenario: func(s *scenarios.Scenario) {
			s.Expect.MinMessagesPerFault = 6
		}, promise: []string{"at least 6 requests"}, detail: []string{"fault cut [2s, 5s) met 5 requests"}},
		{name: "every window counts", history: func(h *history.History) {
			h.Faults = append(h.Faults, scenarios.FaultEvent{Fault: "again", Start: 9 * time.Second, Stop: 9500 * ms})
		}, detail: []string{"fault again [9s, 9.5s) met 0 requests"}},
		{name: "default minimum", scenario: defaulted(func(s *scenarios.Scenario) { s.Expect.MinMessagesPerFault = 0 }),
			history: func(h *history.History) { h.Ops = h.Ops[:8] }, promise: []string{"at least 5"}, detail: []string{"met 4 requests"}},
		{name: "requests hung through the window count (a bot masking the fault throttles the driver)", history: func(h *history.History) {
			h.Ops = h.Ops[:5]
			for i := range h.Ops {
				setOp(h, i, func(o *history.Op) { o.Complete = 5100 * ms })
			}
		}, pass: true},
		{name: "every driver slot held by the bot through the window", scenario: func(s *scenarios.Scenario) {
			s.Traffic.Concurrency = 2
		}, history: func(h *history.History) {
			h.Ops = append(h.Ops[:4], h.Ops[9:]...)
			setOp(h, 2, func(o *history.Op) { o.Complete = 5100 * ms })
			setOp(h, 3, func(o *history.Op) { o.Complete = 5100 * ms })
		}, pass: true, detail: []string{"fault cut met only 2 requests because the bot held all 2 of the driver's slots"}},
		{name: "baseline", history: func(h *history.History) { h.Faults = nil }, pass: true, skipped: true},
	})
}

func TestReplyEffect(t *testing.T) {
	slower := func(by time.Duration) func(*scenarios.Scenario) {
		return func(s *scenarios.Scenario) { s.Expect.Effect, s.Expect.SlowerBy = "slower", d(by) }
	}
	retried := func(s *scenarios.Scenario) { s.Expect.Effect = "retried" }
	unanswered := func(s *scenarios.Scenario) { withKill(s); s.Expect.Effect = "unanswered" }
	// latencyFault turns the outage into 800ms of latency: nothing degrades.
	latencyFault := func(h *history.History) {
		for i := 4; i <= 8; i++ {
			setOp(h, i, func(o *history.Op) {
				o.PromptSource, o.Degraded, o.Code, o.Attempts, o.Complete = "custom", false, "", 1, o.Invoke+800*ms
			})
		}
	}
	runCases(t, ReplyEffect, NameReplyEffect, false, []checkCase{
		{name: "no degraded reply", history: latencyFault,
			detail: []string{"no degraded reply among the 6 requests during the faults and their grace period"}},
		{name: "degraded outside the faults does not count", history: func(h *history.History) {
			latencyFault(h)
			setOp(h, 12, func(o *history.Op) { o.Degraded = true })
		}, detail: []string{"no degraded reply"}},
		{name: "degraded in the grace period counts", history: func(h *history.History) {
			latencyFault(h)
			setOp(h, 9, func(o *history.Op) { o.Degraded, o.PromptSource = true, "cached" })
		}, pass: true},
		{name: "unanswered: the kill cut requests", scenario: unanswered, history: func(h *history.History) {
			killAt(h, 3350*ms, 4100*ms)
		}, pass: true, promise: []string{"no answer while the bot was down"}},
		{name: "unanswered: the bot answered through the kill", scenario: unanswered, history: func(h *history.History) {
			h.Faults = append(h.Faults, scenarios.FaultEvent{Fault: "crash", Type: "kill", Where: "bot", Start: 3350 * ms, Stop: 4100 * ms})
		}, detail: []string{"every one of the 2 requests overlapping a kill or bot-restart was answered: the bot never looked down"}},
		{name: "unanswered: no answer outside the kill does not count", scenario: unanswered, history: func(h *history.History) {
			h.Faults = append(h.Faults, scenarios.FaultEvent{Fault: "crash", Type: "kill", Where: "bot", Start: 6 * time.Second, Stop: 6500 * ms})
			setOp(h, 9, func(o *history.Op) { o.Outcome, o.Reply.Text = history.Info, "" })
		}, detail: []string{"every one of the 0 requests overlapping a kill or bot-restart was answered"}},
		{name: "unanswered: an outage is not a kill", scenario: unanswered, history: func(h *history.History) {
			setOp(h, 5, func(o *history.Op) { o.Outcome, o.Reply.Text = history.Info, "" })
		}, detail: []string{"every one of the 0 requests"}},
		{name: "retried: no retry during the faults", scenario: retried, history: latencyFault,
			promise: []string{"needed a retry"}, detail: []string{"no reply took more than one attempt among the 6 requests"}},
		{name: "retried: a retry outside the faults does not count", scenario: retried, history: func(h *history.History) {
			latencyFault(h)
			setOp(h, 12, func(o *history.Op) { o.Attempts = 2 })
		}, detail: []string{"no reply took more than one attempt"}},
		{name: "retried: a retried reply during the fault", scenario: retried, history: func(h *history.History) {
			latencyFault(h)
			setOp(h, 5, func(o *history.Op) { o.Attempts = 2 })
		}, pass: true},
		// A reply past the reply deadline shows the attempts started by
		// then; its lookup's retry is on a log line inside the fault.
		{name: "retried: a reply past the deadline, its lookup's retry logged then", scenario: retried, history: func(h *history.History) {
			latencyFault(h)
			setOp(h, 5, func(o *history.Op) {
				o.PromptSource, o.Degraded, o.Code, o.Attempts, o.Complete = "default", true, "P1008", 1, o.Invoke+1010*ms
			})
		}, pass: true},
		{name: "retried: a reply past the deadline, no retry logged", scenario: retried, history: func(h *history.History) {
			latencyFault(h)
			setOp(h, 5, func(o *history.Op) {
				o.PromptSource, o.Degraded, o.Code, o.Attempts, o.Complete = "default", true, "P1008", 1, o.Invoke+1010*ms
			})
			h.Logs = slices.DeleteFunc(h.Logs, func(l botlog.Line) bool { return l.Is(botlog.RetryScheduled) })
		}, detail: []string{"(1 replies past the reply deadline, 0 [Prisma Retry] retry lines then)"}},
		{name: "slower enough", scenario: slower(700 * ms), history: latencyFault, pass: true},
		{name: "not slower enough", scenario: slower(time.Second), history: latencyFault,
			promise: []string{"at least 1s slower"}, detail: []string{"median latency 800ms during the faults against 10ms when healthy: only 790ms slower"}},
		{name: "slower with nothing healthy to compare", scenario: slower(time.Second), history: func(h *history.History) {
			h.Ops = h.Ops[4:]
		}, detail: []string{"no answered request before the first fault"}},
		{name: "none with a fault", scenario: func(s *scenarios.Scenario) { s.Expect.Effect = "none" },
			detail: []string{"expect.effect is none, but 1 faults were planned and 1 measured"}},
		{name: "none for a baseline", scenario: defaulted(func(s *scenarios.Scenario) { s.Expect.Effect, s.Faults = "", nil }),
			history: func(h *history.History) { h.Faults = nil }, pass: true},
		{name: "unknown effect", scenario: func(s *scenarios.Scenario) { s.Expect.Effect = "louder" },
			detail: []string{`unknown expect.effect "louder"`}},
	})
}

func TestGuardSteadyState(t *testing.T) {
	runCases(t, GuardSteadyState, NameSteadyState, true, []checkCase{
		{name: "degraded before the fault", history: func(h *history.History) {
			setOp(h, 1, func(o *history.Op) { o.Degraded, o.Code, o.PromptSource = true, "P1017", "cached" })
		}, detail: []string{"op #1 (message in chat c2 at 1s): before the first fault: degraded P1017"}, ops: []int{1}},
		{name: "degraded by a fault whose apply call was still running", history: func(h *history.History) {
			h.Faults[0].Applying = 1790 * ms // the toxic went in from here; the call returned at 2s
			setOp(h, 3, func(o *history.Op) { o.Degraded, o.Code, o.Complete = true, "P1000", 1830*ms })
		}, pass: true},
		{name: "the same in a history without Applying: before the fault", history: func(h *history.History) {
			setOp(h, 3, func(o *history.Op) { o.Degraded, o.Code, o.Complete = true, "P1000", 1830*ms })
		}, detail: []string{"op #3", "before the first fault: degraded P1000"}, ops: []int{3}},
		{name: "failed before the fault", history: func(h *history.History) {
			setOp(h, 2, func(o *history.Op) { o.Outcome, o.Status = history.Fail, 500 })
		}, detail: []string{"op #2", "before the first fault: outcome fail, HTTP 500"}, ops: []int{2}},
		{name: "default prompt after recovery", history: func(h *history.History) {
			setOp(h, 11, func(o *history.Op) { o.PromptSource = "default" })
		}, detail: []string{"op #11", `after recovery (from 7s): prompt_source "default"`}, ops: []int{11}},
		{name: "too little before", history: func(h *history.History) {
			for i := range h.Ops[:3] {
				h.Ops[i].Invoke += 2 * time.Second // now inside the fault
				h.Ops[i].Complete += 2 * time.Second
			}
		}, detail: []string{"only 1 requests before the first fault"}},
		{name: "nothing after recovery", history: func(h *history.History) { h.Ops = h.Ops[:10] },
			detail: []string{"only 0 requests after recovery (from 7s)"}},
		{name: "baseline: the whole run", scenario: func(s *scenarios.Scenario) { s.Faults = nil }, history: func(h *history.History) {
			h.Faults = nil
		}, detail: []string{"op #4", "in the run: degraded P1001"}, ops: []int{4, 5, 6, 7, 8}},
	})
}
