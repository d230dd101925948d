package checks

import (
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// lineSlow is the reply deadline's line, copied from docs/bot.md.
const lineSlow = "[getCustomPrompt] Database slow, replying with the fallback prompt while the lookup continues"

// pastDeadlineReply makes op #4 a reply that stopped waiting at the 1s
// reply deadline after 1 attempt, logged as the bot logs it; its lookup
// ran on and gave up after 3 attempts (the lookup line says so).
func pastDeadlineReply(latency time.Duration, attempts int) func(*history.History) {
	return func(h *history.History) {
		setOp(h, 4, func(o *history.Op) {
			o.Code, o.Attempts, o.Complete, o.Meta = "P1008", attempts, o.Invoke+latency, nil
		})
		for i := range h.Logs {
			if h.Logs[i].Is(botlog.LookupFellBack) {
				h.Logs[i].Attrs["attempts"] = float64(3)
			}
		}
		h.Logs = append(h.Logs, botlog.Line{Time: testBase.Add(3100 * ms), Level: "WARN", Msg: lineSlow,
			Attrs: map[string]any{"chat": "c1", "code": "P1008", "source": "cached", "attempts": float64(attempts)}})
	}
}

func lookupLineAttempts(n int) func(*history.History) {
	return func(h *history.History) {
		for i := range h.Logs {
			if h.Logs[i].Is(botlog.LookupFellBack) {
				h.Logs[i].Attrs["attempts"] = float64(n)
			}
		}
	}
}

func TestDeadlineAttempts(t *testing.T) {
	runCases(t, AttemptsBounded, NameAttempts, false, []checkCase{
		{name: "past the deadline: the attempts so far", history: pastDeadlineReply(1050*ms, 1), pass: true},
		{name: "past the deadline: none started yet", history: pastDeadlineReply(1050*ms, 0), pass: true},
		{name: "a P1008 reply before the deadline is held exactly", history: pastDeadlineReply(900*ms, 1),
			detail: []string{"op #4", "degraded P1008 lookup after 1 attempts, want exactly 3"}, ops: []int{4}},
		{name: "past the deadline with more than a failed lookup's attempts", scenario: func(s *scenarios.Scenario) {
			s.Expect.AttemptsPerFailedLookup = 2
			n := 3
			s.Bot.Retry.MaxAttempts = &n
		}, history: func(h *history.History) {
			pastDeadlineReply(1050*ms, 3)(h)
			lookupLineAttempts(2)(h)
		}, detail: []string{"op #4", "shows 3 attempts so far, more than a failed lookup's 2"}, ops: []int{4}},
		{name: "the lookup that ran on gave up early", history: func(h *history.History) {
			pastDeadlineReply(1050*ms, 1)(h)
			lookupLineAttempts(2)(h)
		}, detail: []string{"log line 6", "gave up P1001 after 2 attempts, want exactly 3"}},
		{name: "a breaker fast fail on the lookup line", history: lookupLineAttempts(0), pass: true},
	})
}

func TestDeadlineCodes(t *testing.T) {
	runCases(t, CodesByCause, NameCodes, false, []checkCase{
		{name: "a reply past the deadline says nothing of the cause", history: pastDeadlineReply(1050*ms, 1), pass: true},
		{name: "a P1008 before the deadline is judged", history: pastDeadlineReply(900*ms, 1),
			detail: []string{"op #4", "code P1008 during fault cut"}, ops: []int{4}},
		{name: "the background lookup's code is seen on its line", scenario: func(s *scenarios.Scenario) {
			s.Expect.Codes = map[string]scenarios.FaultCodes{"cut": {Must: []string{"P1001"}, May: []string{"P1017"}}}
		}, history: func(h *history.History) {
			pastDeadlineReply(1050*ms, 1)(h)
			for i := range h.Logs {
				if !h.Logs[i].Is(botlog.LookupFellBack) {
					h.Logs[i].Attrs["code"] = "P1017" // only the lookup's own line says P1001
				}
			}
		}, pass: true},
		{name: "and judged there", history: func(h *history.History) {
			pastDeadlineReply(1050*ms, 1)(h)
			for i := range h.Logs {
				if h.Logs[i].Is(botlog.LookupFellBack) {
					h.Logs[i].Attrs["code"] = "P2024"
				}
			}
		}, detail: []string{"log line 6", "code P2024 during fault cut"}},
	})
}

func TestDeadlineLogLines(t *testing.T) {
	runCases(t, LogLines, NameLogLines, false, []checkCase{
		{name: "a reply past the deadline with its line", history: pastDeadlineReply(1050*ms, 1), pass: true},
		{name: "a reply past the deadline without its line", history: func(h *history.History) {
			pastDeadlineReply(1050*ms, 1)(h)
			dropLine("[getCustomPrompt] Database slow")(h)
		}, detail: []string{"op #4", "past the 1s reply deadline", lineSlow}, ops: []int{4}},
	})
}

func TestWriteLatencyBound(t *testing.T) {
	bounds := func(s *scenarios.Scenario) {
		s.Expect.ReplyLatencyBound, s.Expect.WriteLatencyBound = d(1500*ms), d(2500*ms)
	}
	write := func(latency time.Duration) func(*history.History) {
		return func(h *history.History) {
			setOp(h, 4, func(o *history.Op) {
				o.Kind, o.Text, o.Complete = history.SetPrompt, "/setprompt You are a cat.", o.Invoke+latency
			})
		}
	}
	runCases(t, LatencyBound, NameLatency, false, []checkCase{
		{name: "a write keeps its budget", scenario: bounds, history: write(2 * time.Second), pass: true,
			promise: []string{"within 1.5s, every write (/setprompt, /reset) within 2.5s"}},
		{name: "but not past its bound", scenario: bounds, history: write(2600 * ms),
			detail: []string{"op #4", "write took 2.6s (outcome ok), bound 2.5s"}, ops: []int{4}},
		{name: "a message is held to the reply bound", scenario: bounds, history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.Complete = o.Invoke + 2*time.Second })
		}, detail: []string{"op #4", "took 2s"}, ops: []int{4}},
	})
}
