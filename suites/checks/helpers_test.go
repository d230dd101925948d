package checks

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

const ms = time.Millisecond

// Documented log lines, copied from docs/bot.md.
const (
	lineLookupFailed = "[getCustomPrompt] Database connection error after retries, using fallback prompt"
	lineDegraded     = "[MessageHandler] Database connection error, replying in degraded mode"
)

func d(x time.Duration) scenarios.Duration { return scenarios.Duration(x) }

// testScenario is an outage of the pooler from 2s to 5s, with a 2s recovery
// bound and the codes and log lines the good history shows, and the
// loader's defaults (scenarios.Normalize) where it leaves a field out.
func testScenario(mods ...func(*scenarios.Scenario)) scenarios.Scenario {
	s := scenarios.Scenario{
		Name:   "outage-test",
		Labels: []string{"fault:outage"},
		Traffic: scenarios.Traffic{
			Chats: 2, Rate: 2, Duration: d(10 * time.Second), CustomPrompts: true,
		},
		Faults: []scenarios.Fault{{Name: "cut", At: d(2 * time.Second), For: d(3 * time.Second), Type: "outage", Proxy: "pooler"}},
		Expect: scenarios.Expect{
			Effect:                  "degraded",
			AttemptsPerFailedLookup: 3,
			PromptSources: scenarios.PromptSources{
				Healthy:  []string{"custom"},
				Fault:    []string{"custom", "cached", "default"},
				Recovery: []string{"custom"},
			},
			AllAnswered:         true,
			ReplyLatencyBound:   d(6 * time.Second),
			RecoveryWithin:      d(2 * time.Second),
			NoAckedWriteLost:    true,
			OutboxDrained:       true,
			LogLines:            []string{"[Prisma Retry] Attempt 1/3 failed", "[getCustomPrompt] Database connection error after retries"},
			MinMessagesPerFault: 5,
			Codes:               map[string]scenarios.FaultCodes{"cut": {Must: []string{"P1001"}, May: []string{"P1017"}}},
		},
	}
	s = scenarios.Normalize(s)
	for _, m := range mods {
		m(&s)
	}
	return s
}

// defaulted is a scenario mod that leaves fields out (zero sets them to
// their zero values) and lets the loader's defaults fill them in again.
func defaulted(zero func(*scenarios.Scenario)) func(*scenarios.Scenario) {
	return func(s *scenarios.Scenario) {
		zero(s)
		*s = scenarios.Normalize(*s)
	}
}

// op is a healthy answered message: custom prompt, one attempt, 10ms.
func op(chat string, at time.Duration) history.Op {
	return history.Op{
		Chat: chat, Kind: history.Message, Invoke: at, Complete: at + 10*ms,
		Outcome: history.OK, Status: 200, Reply: botapi.Reply{Text: "Arr, " + chat, PromptSource: "custom", Attempts: 1},
	}
}

// fallback is a degraded answer with a P1001 code, naming the pooler.
func fallback(chat string, at time.Duration, source string, attempts int, latency time.Duration) history.Op {
	o := op(chat, at)
	o.Complete = at + latency
	o.PromptSource, o.Degraded, o.Code, o.Attempts = source, true, "P1001", attempts
	o.Meta = &botapi.Meta{DatabaseHost: "toxiproxy", DatabasePort: 6543}
	return o
}

func kind(k history.Kind, text string, o history.Op) history.Op {
	o.Kind, o.Text = k, text
	return o
}

// goodHistory is a run that keeps every promise of testScenario():
//
//	#0-#2  healthy messages, #3 an acknowledged /setprompt in chat c2
//	#4     the first lookup in the outage: 3 attempts, cached, 1.2s
//	#5-#8  fast fails by the open breaker (0 attempts), #6 a /prompt
//	#9     transition, custom again
//	#10-#12 after recovery
func goodHistory() history.History {
	ops := []history.Op{
		op("c1", 500*ms),
		op("c2", 1000*ms),
		op("c1", 1500*ms),
		kind(history.SetPrompt, "/setprompt You are a pirate.", op("c2", 1800*ms)),
		fallback("c1", 2100*ms, "cached", 3, 1200*ms),
		fallback("c2", 2500*ms, "cached", 0, 5*ms),
		kind(history.GetPrompt, "/prompt", fallback("c1", 3000*ms, "cached", 0, 5*ms)),
		fallback("c2", 3500*ms, "cached", 0, 5*ms),
		fallback("c1", 4000*ms, "cached", 0, 5*ms),
		op("c2", 5500*ms),
		op("c1", 7500*ms),
		op("c2", 8000*ms),
		op("c1", 8500*ms),
	}
	// The cached replies' prompt_age_ms: each since its chat's last fill
	// (c1: #2 at 1.5s-1.51s, c2: #3 at 1.8s-1.81s) to its fallback.
	for i, ms := range map[int]int64{4: 1790, 5: 700, 6: 1500, 7: 1700, 8: 2500} {
		ops[i].PromptAgeMS = &ms
	}
	logged, replies := map[string]int{}, map[string]int{}
	for i := range ops {
		ops[i].Index = i
		if ops[i].Text == "" {
			ops[i].Text = fmt.Sprintf("hello %d", i)
		}
		ops[i].Reply.Text += ": " + ops[i].Text // as the bot's echo: one reply text per message
		logged[ops[i].Text]++
		replies[ops[i].Reply.Text]++
	}
	return history.History{
		Scenario: "outage-test",
		Base:     testBase,
		Ops:      ops,
		Faults:   []scenarios.FaultEvent{{Fault: "cut", Type: "outage", Where: "pooler", Start: 2000 * ms, Stop: 5000 * ms}},
		Logs: []botlog.Line{
			// op #4's lookup: attempt 1 fails on the closed pooled
			// connection, 2 and 3 are refused; the waits are real.
			logAt(2105*ms, "DEBUG", "[Prisma Retry] Attempt 1/3 failed", "P1017", 1, -1),
			logAt(2105*ms, "WARN", "[Prisma Retry] Attempt 1/3 failed, retrying in 80ms...", "P1017", 1, 80),
			logAt(2190*ms, "DEBUG", "[Prisma Retry] Attempt 2/3 failed", "P1001", 2, -1),
			logAt(2190*ms, "WARN", "[Prisma Retry] Attempt 2/3 failed, retrying in 150ms...", "P1001", 2, 150),
			logAt(2345*ms, "DEBUG", "[Prisma Retry] Attempt 3/3 failed", "P1001", 3, -1),
			logAt(2345*ms, "ERROR", "[Prisma Retry] Giving up after 3/3 attempts", "P1001", 3, -1),
			{Time: testBase.Add(2346 * ms), Level: "ERROR", Msg: lineLookupFailed, Attrs: map[string]any{
				"chat": "c1", "code": "P1001", "reason": "connection refused",
				"error": "P1001: Can't reach database server at `toxiproxy`:`6543` Please make sure your database server is running at `toxiproxy`:`6543`."}},
			{Time: testBase.Add(2346 * ms), Level: "WARN", Msg: lineDegraded, Attrs: map[string]any{"chat": "c1", "code": "P1001"}},
		},
		Probes: []history.Probe{
			{Fault: "cut", Kind: history.ProbeSQL, Where: "pooler", Start: 1700 * ms, End: 1702 * ms, OK: true},
			{Fault: "cut", Kind: history.ProbeSQL, Where: "pooler", Start: 2050 * ms, End: 2051 * ms, Err: "connection refused"},
			{Fault: "cut", Kind: history.ProbeToxics, Where: "pooler", Start: 3500 * ms, End: 3501 * ms, OK: true},
		},
		MetricsAfter:  map[string]float64{"bot_outbox_depth": 0, `bot_outbox_dropped_total{reason="overflow"}`: 0},
		Prompts:       map[string]string{"c1": "You are a seeded parrot.", "c2": "You are a pirate."},
		Logged:        logged,
		LoggedReplies: replies,
	}
}

var testBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// logAt is a [Prisma Retry] line of getCustomPrompt at offset at from
// testBase; delayMS >= 0 adds delay_ms.
func logAt(at time.Duration, level, msg, code string, attempt int, delayMS int) botlog.Line {
	attrs := map[string]any{"op": "getCustomPrompt", "code": code, "attempt": float64(attempt), "max_attempts": float64(3)}
	if delayMS >= 0 {
		attrs["delay_ms"] = float64(delayMS)
	}
	return botlog.Line{Time: testBase.Add(at), Level: level, Msg: msg, Attrs: attrs}
}

// checkCase is one hand-made history and what one checker must say of it.
type checkCase struct {
	name     string
	scenario func(*scenarios.Scenario) // optional change to testScenario()
	history  func(*history.History)    // change to goodHistory()
	pass     bool
	skipped  bool
	promise  []string // substrings of Promise
	detail   []string // substrings of Detail
	absent   []string // substrings Detail must not have
	ops      []int    // exactly Result.Ops
}

func runCases(t *testing.T, check func(scenarios.Scenario, history.History) Result, name string, guard bool, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mods []func(*scenarios.Scenario)
			if tc.scenario != nil {
				mods = append(mods, tc.scenario)
			}
			s := testScenario(mods...)
			h := goodHistory()
			if tc.history != nil {
				tc.history(&h)
			}
			r := check(s, h)
			if r.Name != name || r.Guard != guard {
				t.Errorf("Name, Guard = %q, %v; want %q, %v", r.Name, r.Guard, name, guard)
			}
			if r.Promise == "" || !strings.HasSuffix(r.Promise, ".") {
				t.Errorf("Promise %q: want one sentence", r.Promise)
			}
			if r.Passed != tc.pass || r.Skipped != tc.skipped {
				t.Fatalf("Passed, Skipped = %v, %v; want %v, %v\n%s", r.Passed, r.Skipped, tc.pass, tc.skipped, r)
			}
			for _, want := range tc.promise {
				if !strings.Contains(r.Promise, want) {
					t.Errorf("Promise lacks %q: %s", want, r.Promise)
				}
			}
			for _, want := range tc.detail {
				if !strings.Contains(r.Detail, want) {
					t.Errorf("Detail lacks %q:\n%s", want, r.Detail)
				}
			}
			for _, bad := range tc.absent {
				if strings.Contains(r.Detail, bad) {
					t.Errorf("Detail has %q:\n%s", bad, r.Detail)
				}
			}
			if !slices.Equal(r.Ops, tc.ops) {
				t.Errorf("Ops = %v, want %v\n%s", r.Ops, tc.ops, r)
			}
		})
	}
}

// killAt adds a kill of the bot from start to stop to the history and its
// scenario's timeline, and turns the ops it cut (overlapping it) into
// unknown outcomes, as the traffic driver records them.
func killAt(h *history.History, start, stop time.Duration) {
	h.Faults = append(h.Faults, scenarios.FaultEvent{Fault: "crash", Type: "kill", Where: "bot", Start: start, Stop: stop})
	for i := range h.Ops {
		if o := &h.Ops[i]; o.Invoke < stop && o.Complete >= start {
			o.Outcome, o.Status, o.Reply.Text, o.PromptSource, o.Degraded, o.Attempts, o.Code = history.Info, 0, "", "", false, 0, ""
			o.Error = "no answer: connection refused"
		}
	}
}

func withKill(s *scenarios.Scenario) {
	s.Faults = append(s.Faults, scenarios.Fault{Name: "crash", At: d(3 * time.Second), For: d(time.Second), Type: "kill", Target: "bot"})
}

// setOp changes op #i of the history.
func setOp(h *history.History, i int, f func(*history.Op)) { f(&h.Ops[i]) }

// dropLine removes every log line whose message starts with msgPrefix.
func dropLine(msgPrefix string) func(*history.History) {
	return func(h *history.History) {
		h.Logs = slices.DeleteFunc(h.Logs, func(l botlog.Line) bool { return strings.HasPrefix(l.Msg, msgPrefix) })
	}
}
