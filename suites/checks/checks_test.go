package checks

import (
	"slices"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/history"
)

func TestRunAcceptsGoodHistory(t *testing.T) {
	rs := Run(testScenario(), goodHistory())
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
		// The checks of optional expect fields skip when unset.
		optional := r.Name == NameRetriedLookups || r.Name == NameConnectRate
		if !r.Passed || r.Skipped != optional {
			t.Errorf("Passed, Skipped = %v, %v; want true, %v: %s", r.Passed, r.Skipped, optional, r)
		}
	}
	var want []string
	for _, c := range Checks() {
		want = append(want, c.Name)
	}
	if !slices.Equal(names, want) {
		t.Errorf("Run order %v, want %v", names, want)
	}
	if f := Failed(rs); len(f) != 0 {
		t.Errorf("Failed = %v", f)
	}
}

func TestEveryMessageAnswered(t *testing.T) {
	runCases(t, EveryMessageAnswered, NameAnswered, false, []checkCase{
		{name: "request timed out", history: func(h *history.History) {
			setOp(h, 5, func(o *history.Op) {
				o.Outcome, o.Status, o.Reply.Text, o.Error = history.Info, 0, "", "context deadline exceeded (password=hunter2)"
			})
			h.Logged[h.Ops[5].Text] = 0 // it may not have reached the bot
		}, detail: []string{"op #5 (message in chat c2 at 2.5s): outcome info", "context deadline exceeded"}, absent: []string{"hunter2"}, ops: []int{5}},
		{name: "HTTP 503", history: func(h *history.History) {
			setOp(h, 7, func(o *history.Op) { o.Status = 503 })
		}, detail: []string{"op #7", "answered with HTTP 503"}, ops: []int{7}},
		{name: "empty reply", history: func(h *history.History) {
			setOp(h, 9, func(o *history.Op) { o.Reply.Text = " " })
		}, detail: []string{"op #9", "empty reply"}, ops: []int{9}},
		{name: "index recorded twice", history: func(h *history.History) {
			h.Ops = append(h.Ops, h.Ops[3])
			h.Logged[h.Ops[3].Text] = 2
		}, detail: []string{"op #3", "index 3 recorded 2 times"}, ops: []int{3}},
		{name: "index missing", history: func(h *history.History) {
			h.Ops = slices.Delete(h.Ops, 6, 8)
		}, detail: []string{"op indexes missing from the history: 6, 7 (2 in all)"}},
		{name: "message lost from message_log", history: func(h *history.History) {
			h.Logged[h.Ops[8].Text] = 0
		}, detail: []string{"op #8", "logged 0 times in message_log, but 1 answered requests sent it (lost)"}, ops: []int{8}},
		{name: "message logged twice", history: func(h *history.History) {
			h.Logged[h.Ops[4].Text] = 2
		}, detail: []string{"op #4", "at most 1 requests may have reached the bot (duplicate)"}, ops: []int{4}},
		{name: "failed request logged", history: func(h *history.History) {
			setOp(h, 2, func(o *history.Op) { o.Outcome, o.Status = history.Fail, 400 })
		}, detail: []string{"op #2", "outcome fail, HTTP 400", "(duplicate)"}, ops: []int{2}},
		{name: "same text twice, one logged", history: func(h *history.History) {
			setOp(h, 11, func(o *history.Op) { o.Text = h.Ops[10].Text })
			delete(h.Logged, "hello 11")
		}, detail: []string{"op #10", "1 times in message_log, but 2 answered"}, ops: []int{10, 11}},
		{name: "unknown outcome may or may not be logged", scenario: func(s *scenarios.Scenario) {
			s.Expect.AllAnswered = true
		}, history: func(h *history.History) {
			h.Ops = append(h.Ops, history.Op{Index: 13, Chat: "c1", Kind: history.Message, Text: "late", Invoke: 9 * time.Second,
				Complete: 10 * time.Second, Outcome: history.Info})
			h.Logged["late"] = 1
		}, detail: []string{"op #13", "outcome info"}, absent: []string{"message_log"}, ops: []int{13}},
		// Across a kill of the bot (#7 and #8 are cut: unknown outcomes).
		{name: "kill: cut requests are unknown outcomes", scenario: withKill, history: func(h *history.History) {
			killAt(h, 3350*ms, 4100*ms)
		}, pass: true, detail: []string{"2 requests overlapping a kill or bot-restart got no answer: unknown outcomes, not counted as answered"}},
		{name: "kill: cut requests may be missing from message_log", scenario: withKill, history: func(h *history.History) {
			delete(h.Logged, h.Ops[7].Text)
			delete(h.LoggedReplies, h.Ops[7].Reply.Text)
			killAt(h, 3350*ms, 4100*ms)
		}, pass: true},
		{name: "kill: the outbox lost what was answered before it", scenario: withKill, history: func(h *history.History) {
			for _, i := range []int{4, 5} {
				h.Logged[h.Ops[i].Text], h.LoggedReplies[h.Ops[i].Reply.Text] = 0, 0
			}
			killAt(h, 3350*ms, 4100*ms)
		}, detail: []string{
			"op #4 (message in chat c1 at 2.1s): its text logged 0 times in message_log, but 1 answered requests sent it (lost)",
			"op #4 (message in chat c1 at 2.1s): its reply logged 0 times in message_log, but 1 answered requests sent it (lost)",
			"op #5",
		}, ops: []int{4, 5}},
		{name: "kill: the spool replayed twice", scenario: withKill, history: func(h *history.History) {
			h.Logged[h.Ops[5].Text] = 2
			killAt(h, 3350*ms, 4100*ms)
		}, detail: []string{"op #5", "its text logged 2 times in message_log, but at most 1 requests may have reached the bot (duplicate)"}, ops: []int{5}},
		{name: "kill: no answer outside the kill is still unanswered", scenario: withKill, history: func(h *history.History) {
			killAt(h, 3350*ms, 4100*ms)
			setOp(h, 9, func(o *history.Op) {
				o.Outcome, o.Status, o.Reply.Text, o.Error = history.Info, 0, "", "connection refused"
			})
		}, detail: []string{"op #9 (message in chat c2 at 5.5s): outcome info, connection refused"}, ops: []int{9}},
		{name: "kill: an error answer during the restart is not an unknown outcome", scenario: withKill, history: func(h *history.History) {
			killAt(h, 3350*ms, 4100*ms)
			setOp(h, 7, func(o *history.Op) { o.Outcome, o.Status, o.Error = history.Fail, 503, "status 503: shutting down" })
		}, detail: []string{"op #7", "outcome fail, HTTP 503"}, ops: []int{7}},
		{name: "kill: one cut request explains one unknown reply, not two", scenario: withKill, history: func(h *history.History) {
			killAt(h, 3350*ms, 3600*ms) // cuts #7 only
			h.LoggedReplies["[default] You said: hello 7"] = 1
		}, detail: []string{`message_log holds 2 reply rows that no request explains (at most 1 unknown outcomes could): "Arr, c2: hello 7" ×1, "[default] You said: hello 7" ×1`}},
		{name: "reply lost from message_log", history: func(h *history.History) {
			h.LoggedReplies[h.Ops[9].Reply.Text] = 0
		}, detail: []string{"op #9", "its reply logged 0 times in message_log, but 1 answered requests sent it (lost)"}, ops: []int{9}},
		{name: "reply logged twice", history: func(h *history.History) {
			h.LoggedReplies[h.Ops[10].Reply.Text] = 2
		}, detail: []string{"op #10", "its reply logged 2 times in message_log, but at most 1 requests may have reached the bot (duplicate)"}, ops: []int{10}},
		{name: "message row no request sent", history: func(h *history.History) {
			h.Logged["hello from nowhere"] = 1
		}, detail: []string{`message_log holds 1 message rows that no request explains (at most 0 unknown outcomes could): "hello from nowhere" ×1`}},
		{name: "reply row no request got", history: func(h *history.History) {
			h.LoggedReplies["Arr, c9: hello"] = 1
		}, detail: []string{`1 reply rows that no request explains (at most 0 unknown outcomes could): "Arr, c9: hello" ×1`}},
		{name: "replies not read", history: func(h *history.History) { h.LoggedReplies = nil },
			pass: true, detail: []string{"the replies in message_log were not read, so only messages were checked"}},
		{name: "message_log not read", history: func(h *history.History) { h.Logged = nil },
			pass: true, detail: []string{"message_log was not read"}},
		{name: "logging not promised", scenario: func(s *scenarios.Scenario) { s.Expect.OutboxDrained = false },
			history: func(h *history.History) { h.Logged[h.Ops[8].Text] = 0 }, pass: true},
		{name: "not asked", scenario: func(s *scenarios.Scenario) { s.Expect.AllAnswered = false }, history: func(h *history.History) {
			setOp(h, 7, func(o *history.Op) { o.Status = 503 })
		}, pass: true, skipped: true, detail: []string{"all_answered is false"}},
	})
}

func TestAttemptsBounded(t *testing.T) {
	runCases(t, AttemptsBounded, NameAttempts, false, []checkCase{
		{name: "failed lookup stopped early", history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.Attempts = 2 })
		}, detail: []string{"op #4 (message in chat c1 at 2.1s): degraded P1001 lookup after 2 attempts, want exactly 3"}, ops: []int{4}},
		{name: "more attempts than the policy", history: func(h *history.History) {
			setOp(h, 10, func(o *history.Op) { o.Attempts = 4 })
		}, detail: []string{"op #10", "4 attempts, more than the policy's max 3"}, ops: []int{10}},
		{name: "/prompt is a lookup too", history: func(h *history.History) {
			setOp(h, 6, func(o *history.Op) { o.Attempts = 1; o.Code = "P1017" })
		}, detail: []string{"op #6 (prompt in chat c1", "P1017 lookup after 1 attempts"}, ops: []int{6}},
		{name: "pool timeout counts", history: func(h *history.History) {
			setOp(h, 7, func(o *history.Op) { o.Attempts = 1; o.Code = "P2024" })
		}, detail: []string{"op #7"}, ops: []int{7}},
		{name: "write may stop early", history: func(h *history.History) {
			h.Ops = append(h.Ops, kind(history.SetPrompt, "/setprompt You are a cat.", fallback("c2", 4500*ms, "cached", 1, 900*ms)))
			h.Ops[13].Index = 13
		}, pass: true},
		{name: "but not past the max", history: func(h *history.History) {
			h.Ops = append(h.Ops, kind(history.Reset, "/reset", fallback("c2", 4500*ms, "cached", 4, 900*ms)))
			h.Ops[13].Index = 13
		}, detail: []string{"op #13 (reset", "4 attempts"}, ops: []int{13}},
		{name: "non-connection error is not retried", history: func(h *history.History) {
			setOp(h, 8, func(o *history.Op) { o.Attempts, o.Code = 1, "DB_ERROR" })
		}, pass: true},
		{name: "max from bot.retry", scenario: defaulted(func(s *scenarios.Scenario) {
			n := 5
			s.Bot.Retry.MaxAttempts = &n
			s.Expect.AttemptsPerFailedLookup = 0 // default: the policy's max
		}), history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.Attempts = 3 })
		}, detail: []string{"op #4", "after 3 attempts, want exactly 5"}, ops: []int{4}},
		{name: "max below what the history shows", scenario: func(s *scenarios.Scenario) {
			n := 2
			s.Bot.Retry.MaxAttempts = &n
			s.Expect.AttemptsPerFailedLookup = 2
		}, detail: []string{"op #4", "3 attempts, more than the policy's max 2"}, ops: []int{4}},
		{name: "policy the bot would refuse", scenario: func(s *scenarios.Scenario) {
			n := 0
			s.Bot.Retry.MaxAttempts = &n
		}, detail: []string{"bot.retry/bot.breaker", "MaxAttempts must be >= 1"}},
	})
}

func TestLogLines(t *testing.T) {
	runCases(t, LogLines, NameLogLines, false, []checkCase{
		{name: "expected line missing", scenario: func(s *scenarios.Scenario) {
			s.Expect.LogLines = append(s.Expect.LogLines, "[Prisma Retry] Circuit breaker open")
		}, detail: []string{`no log line contains "[Prisma Retry] Circuit breaker open" (expect.log_lines)`}},
		{name: "expected text in an attribute", scenario: func(s *scenarios.Scenario) {
			s.Expect.LogLines = []string{"error=P1001: Can't reach database server at `toxiproxy`:`6543`"}
		}, pass: true},
		{name: "Y is not the policy's max", history: func(h *history.History) {
			h.Logs[1].Msg = "[Prisma Retry] Attempt 2/5 failed, retrying in 150ms..."
		}, detail: []string{`log line 1 "[Prisma Retry] Attempt 2/5 failed`, "counts out of 5, the policy's max is 3"}},
		{name: "X beyond Y", history: func(h *history.History) {
			h.Logs[2].Msg = "[Prisma Retry] Giving up after 4/3 attempts"
		}, detail: []string{"log line 2", "attempt 4 is outside 1..3"}},
		{name: "retried without the retry line", scenario: func(s *scenarios.Scenario) {
			s.Expect.LogLines = nil
		}, history: dropLine("[Prisma Retry] Attempt 1/"),
			detail: []string{"op #4", `reports 3 attempts, but no log line starts with "[Prisma Retry] Attempt 1/3 failed"`}, ops: []int{4}},
		{name: "degraded without the handler line", history: dropLine("[MessageHandler]"),
			detail: []string{"op #4", "degraded with P1001", lineDegraded}, ops: []int{4}},
		{name: "lookup fell back without the getCustomPrompt line", scenario: func(s *scenarios.Scenario) {
			s.Expect.LogLines = nil
		}, history: dropLine("[getCustomPrompt]"),
			detail: []string{"op #4", lineLookupFailed, "`host`:`port`"}, ops: []int{4}},
		{name: "P1001 without host:port", history: func(h *history.History) {
			h.Logs[6].Attrs["error"] = "P1001: Can't reach database server"
		}, detail: []string{"op #4", "P1001: Can't reach database server at `host`:`port`"}, ops: []int{4}},
		{name: "P1001 in the former words (host:port without Prisma's backticks)", history: func(h *history.History) {
			h.Logs[6].Attrs["error"] = "P1001: Can't reach database server at toxiproxy:6543: connection refused (3 attempts)"
		}, detail: []string{"op #4", "(meta toxiproxy:6543)", "with that host and port"}, ops: []int{4}},
		{name: "P1001 naming another server than the reply's meta", history: func(h *history.History) {
			h.Ops[4].Meta = &botapi.Meta{DatabaseHost: "toxiproxy", DatabasePort: 5432}
		}, detail: []string{"op #4", "(meta toxiproxy:5432)"}, ops: []int{4}},
		{name: "P1001 reply without meta", history: func(h *history.History) {
			for i := range h.Ops {
				h.Ops[i].Meta = nil
			}
		}, detail: []string{"op #4", "the reply carries no meta"}, ops: []int{4}},
		{name: "no logs at all", history: func(h *history.History) { h.Logs = nil },
			detail: []string{"the history has no log lines at all"}, ops: []int{4}},
		{name: "breaker fast fails alone need no retry line", scenario: func(s *scenarios.Scenario) {
			s.Expect.LogLines = nil
		}, history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.Attempts, o.Complete = 0, o.Invoke+5*ms })
			dropLine("[Prisma Retry]")(h)
		}, pass: true},
	})
}

func TestPromptSources(t *testing.T) {
	runCases(t, PromptSources, NamePromptSources, false, []checkCase{
		{name: "default while healthy", history: func(h *history.History) {
			setOp(h, 0, func(o *history.Op) { o.PromptSource = "default" })
		}, detail: []string{`op #0 (message in chat c1 at 500ms): healthy phase, prompt_source "default", allowed custom`}, ops: []int{0}},
		{name: "cached after recovery", history: func(h *history.History) {
			setOp(h, 10, func(o *history.Op) { o.PromptSource = "cached" })
		}, detail: []string{"op #10", `recovery phase, prompt_source "cached"`}, ops: []int{10}},
		{name: "no default allowed during this fault", scenario: func(s *scenarios.Scenario) {
			s.Expect.PromptSources.Fault = []string{"cached"}
		}, history: func(h *history.History) {
			setOp(h, 5, func(o *history.Op) { o.PromptSource = "default" })
		}, detail: []string{"op #5", "fault phase", "allowed cached"}, ops: []int{5}},
		{name: "missing source", history: func(h *history.History) {
			setOp(h, 1, func(o *history.Op) { o.PromptSource = "" })
		}, detail: []string{"op #1", `prompt_source ""`}, ops: []int{1}},
		{name: "fallback in the grace period", history: func(h *history.History) {
			setOp(h, 9, func(o *history.Op) { o.PromptSource, o.Degraded = "cached", true })
		}, pass: true},
		{name: "invoked just before the fault, answered in it", history: func(h *history.History) {
			setOp(h, 3, func(o *history.Op) {
				o.Invoke, o.Complete, o.PromptSource, o.Degraded = 1990*ms, 2100*ms, "default", true
			})
		}, pass: true},
		{name: "reset chat answers with the default", history: func(h *history.History) {
			setOp(h, 1, func(o *history.Op) { o.Kind, o.Text, o.PromptSource = history.Reset, "/reset", "default" })
			setOp(h, 3, func(o *history.Op) {
				o.Kind, o.Text, o.Invoke, o.PromptSource = history.Message, "hi", 1200*ms, "default"
			})
			setOp(h, 11, func(o *history.Op) { o.PromptSource = "default" })
		}, pass: true},
		{name: "set again after the reset", history: func(h *history.History) {
			setOp(h, 1, func(o *history.Op) { o.Kind, o.Text, o.PromptSource = history.Reset, "/reset", "default" })
			setOp(h, 11, func(o *history.Op) { o.PromptSource = "default" }) // #3 set c2's prompt again
		}, detail: []string{"op #11"}, ops: []int{11}},
		{name: "unseeded chats read the default", scenario: func(s *scenarios.Scenario) {
			s.Traffic.CustomPrompts = false
		}, history: func(h *history.History) {
			for _, i := range []int{0, 1, 2, 10, 12} {
				setOp(h, i, func(o *history.Op) { o.PromptSource = "default" })
			}
			setOp(h, 11, func(o *history.Op) { o.PromptSource = "custom" }) // c2 was set by #3
		}, pass: true},
		{name: "unseeded chat set and then default", scenario: func(s *scenarios.Scenario) {
			s.Traffic.CustomPrompts = false
		}, history: func(h *history.History) {
			setOp(h, 11, func(o *history.Op) { o.PromptSource = "default" })
		}, detail: []string{"op #11", "recovery phase"}, ops: []int{11}},
	})
}

func TestLatencyBound(t *testing.T) {
	runCases(t, LatencyBound, NameLatency, false, []checkCase{
		{name: "slow fallback", history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.Complete = o.Invoke + 7*time.Second })
		}, detail: []string{"op #4 (message in chat c1 at 2.1s): fault phase, took 7s (outcome ok)"}, ops: []int{4}},
		{name: "timed out in the grace period", history: func(h *history.History) {
			setOp(h, 9, func(o *history.Op) { o.Outcome, o.Complete = history.Info, o.Invoke+10*time.Second })
		}, detail: []string{"op #9", "transition phase, took 10s (outcome info)"}, ops: []int{9}},
		{name: "no completion", history: func(h *history.History) {
			setOp(h, 5, func(o *history.Op) { o.Complete = -1 })
		}, detail: []string{"op #5", "no completion time recorded"}, ops: []int{5}},
		{name: "slow while healthy is not this promise", history: func(h *history.History) {
			setOp(h, 12, func(o *history.Op) { o.Complete = o.Invoke + 9*time.Second })
		}, pass: true},
		{name: "default bound from the budget", scenario: defaulted(func(s *scenarios.Scenario) {
			s.Expect.ReplyLatencyBound = 0 // budget 5s + 1s margin
		}), history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.Complete = o.Invoke + 6100*ms })
		}, promise: []string{"within 6s"}, detail: []string{"took 6.1s"}, ops: []int{4}},
		{name: "nothing bounds a call", scenario: func(s *scenarios.Scenario) {
			var zero scenarios.Duration
			s.Expect.ReplyLatencyBound = 0
			s.Bot.Retry.Budget, s.Bot.Retry.AttemptTimeout = &zero, &zero
		}, pass: true, skipped: true},
	})
}

func TestRecovered(t *testing.T) {
	runCases(t, Recovered, NameRecovered, false, []checkCase{
		{name: "still on the default", history: func(h *history.History) {
			setOp(h, 11, func(o *history.Op) { o.PromptSource = "default" })
		}, detail: []string{`op #11 (message in chat c2 at 8s): invoked 3s after the last fault stopped (at 5s), prompt_source "default"`}, ops: []int{11}},
		{name: "custom but degraded", history: func(h *history.History) {
			setOp(h, 12, func(o *history.Op) { o.Degraded, o.Code = true, "P1017" })
		}, detail: []string{"op #12", "degraded P1017"}, ops: []int{12}},
		{name: "nothing after the recovery bound", history: func(h *history.History) {
			h.Ops = h.Ops[:10]
		}, detail: []string{"no request invoked after 7s (last fault stop 5s + 2s) was answered", NameSteadyState}},
		{name: "only failures after it", history: func(h *history.History) {
			for i := 10; i <= 12; i++ {
				setOp(h, i, func(o *history.Op) { o.Outcome, o.Status = history.Info, 0 })
			}
		}, detail: []string{"nothing shows recovery"}},
		{name: "fallback within the bound", history: func(h *history.History) {
			setOp(h, 9, func(o *history.Op) { o.Invoke, o.Complete, o.PromptSource = 6900*ms, 6910*ms, "cached" })
		}, pass: true},
		{name: "fault never stopped", history: func(h *history.History) { h.Faults[0].Stop = 0 },
			detail: []string{"a fault never stopped"}},
		{name: "baseline", scenario: func(s *scenarios.Scenario) { s.Faults = nil },
			history: func(h *history.History) { h.Faults = nil }, pass: true, skipped: true},
	})
}

func TestNoAckedWriteLost(t *testing.T) {
	addWrite := func(h *history.History, k history.Kind, text string, at, lat time.Duration, outcome history.Outcome, degraded bool) {
		o := kind(k, text, op("c2", at))
		o.Index, o.Complete, o.Outcome, o.Degraded = len(h.Ops), at+lat, outcome, degraded
		h.Ops = append(h.Ops, o)
	}
	runCases(t, NoAckedWriteLost, NameAckedWrites, false, []checkCase{
		{name: "acknowledged prompt lost", history: func(h *history.History) {
			h.Prompts["c2"] = "You are a seeded parrot."
		}, detail: []string{`op #3 (setprompt in chat c2 at 1.8s): acknowledged "You are a pirate.", but postgres holds "You are a seeded parrot."`}, ops: []int{3}},
		{name: "kill: acknowledged before the kill, lost after it", scenario: withKill, history: func(h *history.History) {
			killAt(h, 3350*ms, 4100*ms)
			h.Prompts["c2"] = "You are a seeded parrot."
		}, detail: []string{`op #3 (setprompt in chat c2 at 1.8s): acknowledged "You are a pirate."`}, ops: []int{3}},
		{name: "kill: a /setprompt cut by the kill may have landed", scenario: withKill, history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt You are a cat.", 3400*ms, 20*ms, history.OK, false)
			killAt(h, 3350*ms, 4100*ms)
			h.Prompts["c2"] = "You are a cat."
		}, pass: true},
		{name: "kill: a /setprompt acknowledged after the restart is kept", scenario: withKill, history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt You are a dog.", 4200*ms, 20*ms, history.OK, false)
			killAt(h, 3350*ms, 4100*ms)
		}, detail: []string{"op #13", `acknowledged "You are a dog.", but postgres holds "You are a pirate."`}, ops: []int{13}},
		{name: "acknowledged prompt gone", history: func(h *history.History) { delete(h.Prompts, "c2") },
			detail: []string{"op #3", "postgres holds no custom prompt"}, ops: []int{3}},
		{name: "older acknowledged prompt came back", history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt You are a cat.", 9*time.Second, 20*ms, history.OK, false)
		}, detail: []string{"op #13", `acknowledged "You are a cat.", but postgres holds "You are a pirate."`}, ops: []int{13}},
		{name: "concurrent acknowledged writes: either may win", history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt You are a cat.", 1790*ms, 50*ms, history.OK, false)
		}, pass: true},
		{name: "acknowledged reset", history: func(h *history.History) {
			addWrite(h, history.Reset, "/reset", 9*time.Second, 20*ms, history.OK, false)
			delete(h.Prompts, "c2")
		}, pass: true},
		{name: "acknowledged reset lost", history: func(h *history.History) {
			addWrite(h, history.Reset, "/reset", 9*time.Second, 20*ms, history.OK, false)
		}, detail: []string{"op #13", `acknowledged no custom prompt, but postgres holds "You are a pirate."`}, ops: []int{13}},
		{name: "timed-out write may have landed", history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt You are a cat.", 2200*ms, 6*time.Second, history.Info, false)
			h.Prompts["c2"] = "You are a cat."
		}, pass: true},
		{name: "a 200 the target does not count as saved is no acknowledgement", history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt You are a cat.", 9*time.Second, 20*ms, history.OK, false)
			h.Ops[len(h.Ops)-1].Unacked = true
		}, pass: true},
		{name: "unconfirmed write may have landed, even late", history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt You are a cat.", 1000*ms, 200*ms, history.OK, true)
			h.Prompts["c2"] = "You are a cat."
		}, pass: true},
		{name: "failed write did not land", history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt You are a cat.", 2200*ms, 20*ms, history.Fail, false)
			h.Prompts["c2"] = "You are a cat."
		}, detail: []string{"op #3", `postgres holds "You are a cat."`}, ops: []int{3}},
		{name: "usage answer is no write", history: func(h *history.History) {
			addWrite(h, history.SetPrompt, "/setprompt   ", 9*time.Second, 20*ms, history.OK, false)
		}, pass: true},
		{name: "prompts not read", history: func(h *history.History) { h.Prompts = nil },
			detail: []string{"History.Prompts is empty", "1 chats with acknowledged writes"}},
		{name: "no acknowledged write", history: func(h *history.History) {
			setOp(h, 3, func(o *history.Op) { o.Outcome = history.Info })
			h.Prompts = nil
		}, pass: true, skipped: true},
		{name: "not asked", scenario: func(s *scenarios.Scenario) { s.Expect.NoAckedWriteLost = false },
			history: func(h *history.History) { delete(h.Prompts, "c2") }, pass: true, skipped: true},
	})
}

func TestOutboxDrained(t *testing.T) {
	runCases(t, OutboxDrained, NameOutbox, false, []checkCase{
		{name: "records still queued", history: func(h *history.History) { h.MetricsAfter["bot_outbox_depth"] = 12 },
			detail: []string{"bot_outbox_depth is 12: records still queued"}},
		{name: "records dropped", history: func(h *history.History) {
			h.MetricsAfter[`bot_outbox_dropped_total{reason="overflow"}`] = 3
		}, detail: []string{"bot_outbox_dropped_total is 3: records dropped on overflow"}},
		{name: "records rejected", history: func(h *history.History) { h.MetricsAfter["bot_outbox_rejected_total"] = 1 },
			detail: []string{"bot_outbox_rejected_total is 1"}},
		{name: "drops not reported", history: func(h *history.History) {
			delete(h.MetricsAfter, `bot_outbox_dropped_total{reason="overflow"}`)
		}, detail: []string{"bot_outbox_dropped_total was not reported"}},
		{name: "depth not reported", history: func(h *history.History) { delete(h.MetricsAfter, "bot_outbox_depth") },
			detail: []string{"bot_outbox_depth was not reported"}},
		{name: "no metrics", history: func(h *history.History) { h.MetricsAfter = nil },
			detail: []string{"no metrics were read after recovery"}},
		{name: "not asked", scenario: func(s *scenarios.Scenario) { s.Expect.OutboxDrained = false },
			history: func(h *history.History) { h.MetricsAfter["bot_outbox_depth"] = 12 }, pass: true, skipped: true},
	})
}
