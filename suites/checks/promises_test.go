package checks

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// retryCalls replaces the history's [Prisma Retry] lines with calls
// getCustomPrompt calls, one every 40ms from 2.1s (so they overlap), each
// failing 3 attempts of attemptTook. delay(k, n) is the delay logged after
// attempt n of call k (ms); waited(k, n) the delay really waited.
func retryCalls(h *history.History, calls int, attemptTook time.Duration, delay, waited func(k, n int) int) {
	var logs []botlog.Line
	for k := range calls {
		t := 2100*ms + time.Duration(k)*40*ms + attemptTook
		for n := 1; n <= 3; n++ {
			logs = append(logs, logAt(t, "DEBUG", fmt.Sprintf("[Prisma Retry] Attempt %d/3 failed", n), "P1001", n, -1))
			if n == 3 {
				logs = append(logs, logAt(t, "ERROR", "[Prisma Retry] Giving up after 3/3 attempts", "P1001", 3, -1))
				break
			}
			dl := delay(k, n)
			logs = append(logs, logAt(t, "WARN", fmt.Sprintf("[Prisma Retry] Attempt %d/3 failed, retrying in %dms...", n, dl), "P1001", n, dl))
			t += time.Duration(waited(k, n))*ms + attemptTook
		}
	}
	h.Logs = logs
}

// spread is a full-jitter delay for retry n of call k: evenly spread
// over [0, 100ms x 2^(n-1)], in an order that differs per call.
func spread(calls int) func(k, n int) int {
	return func(k, n int) int {
		ceil := 100 << (n - 1)
		return int(float64(ceil) * (float64((k*7+n*3)%calls) + 0.5) / float64(calls))
	}
}

func TestBackoff(t *testing.T) {
	same := func(delay func(k, n int) int) func(k, n int) int { return delay }
	runCases(t, Backoff, NameBackoff, false, []checkCase{
		{name: "honest jitter, overlapping calls", history: func(h *history.History) {
			d := spread(20)
			retryCalls(h, 20, 3*ms, d, same(d))
		}, pass: true},
		{name: "logs a delay but does not wait", history: func(h *history.History) {
			retryCalls(h, 20, 3*ms, spread(20), func(int, int) int { return 0 })
		}, promise: []string{"min(100ms x 2^(n-1), 2s)"}, detail: []string{"attempt 2 of getCustomPrompt ended at", "the bot did not wait as it logged"}},
		{name: "never waits and logs it (retrying in 0ms)", history: func(h *history.History) {
			zero := func(int, int) int { return 0 }
			retryCalls(h, 20, 3*ms, zero, zero)
		}, detail: []string{"the 20 logged delays of retry 1 (bound 100ms) are not spread over [0, bound]", "median 0s (want about 50ms)"}},
		{name: "delays that do not grow", history: func(h *history.History) {
			flat := func(k, n int) int { return spread(40)(k, 1) } // retry 2 drawn from retry 1's range
			retryCalls(h, 40, 3*ms, flat, flat)
		}, detail: []string{"logged delays of retry 2 (bound 200ms) are not spread"}},
		{name: "delay above the cap", history: func(h *history.History) {
			h.Logs[1].Msg, h.Logs[1].Attrs["delay_ms"] = "[Prisma Retry] Attempt 1/3 failed, retrying in 180ms...", float64(180)
		}, detail: []string{"delay 180ms after attempt 1 is above the policy's bound 100ms"}},
		{name: "no jitter: the exact ceiling", scenario: func(s *scenarios.Scenario) {
			no := false
			s.Bot.Retry.Jitter = &no
		}, detail: []string{"delay 80ms after attempt 1, but without jitter it is 100ms"}},
		{name: "retries but no attempt ends (info-level log)", history: func(h *history.History) {
			dropLine("[Prisma Retry] Attempt 2/3 failed")(h)
			dropLine("[Prisma Retry] Attempt 3/3 failed")(h)
		}, detail: []string{"no line marking the end of a retried attempt", "LOG_LEVEL=debug"}},
		{name: "no retry at all", history: func(h *history.History) { h.Logs = nil }, pass: true, skipped: true},
	})
}

func TestAttemptTimeout(t *testing.T) {
	at500 := func(s *scenarios.Scenario) { x := d(500 * ms); s.Bot.Retry.AttemptTimeout = &x }
	runCases(t, AttemptTimeout, NameAttemptTimeout, false, []checkCase{
		{name: "attempts cut at the timeout", scenario: at500, history: func(h *history.History) {
			d := spread(10)
			retryCalls(h, 10, 500*ms, d, d)
		}, pass: true},
		{name: "an attempt hangs past the timeout (a bot masking the fault)", scenario: at500, history: func(h *history.History) {
			d := spread(10)
			retryCalls(h, 10, 2*time.Second, d, d)
		}, promise: []string{"attempt timeout 500ms plus 250ms"}, detail: []string{"attempt 2 of getCustomPrompt ended", "longer than 750ms"}},
		{name: "attempts that did not wait are left to backoff", scenario: at500, history: func(h *history.History) {
			retryCalls(h, 10, 3*ms, spread(10), func(int, int) int { return 0 })
		}, pass: true, detail: []string{"attempts 2 of getCustomPrompt are not timed: the bot did not wait before them (see backoff)"}},
		{name: "the good history", pass: true},
		{name: "no attempt timeout", scenario: func(s *scenarios.Scenario) {
			z := d(0)
			s.Bot.Retry.AttemptTimeout = &z
			b := d(10 * time.Second)
			s.Bot.Retry.Budget = &b
		}, pass: true, skipped: true},
	})
}

func TestCodesByCause(t *testing.T) {
	codes := func(must, may []string) func(*scenarios.Scenario) {
		return func(s *scenarios.Scenario) {
			s.Expect.Codes = map[string]scenarios.FaultCodes{"cut": {Must: must, May: may}}
		}
	}
	runCases(t, CodesByCause, NameCodes, false, []checkCase{
		{name: "the good history", pass: true},
		{name: "a must code never seen", scenario: codes([]string{"P1001", "P2024"}, []string{"P1017"}),
			detail: []string{"fault cut (outage on pooler, 2s to 5s): no degraded reply or [Prisma Retry] line during it has code P2024"}},
		{name: "refused connection reported as P1002 (wrong attribution)", history: func(h *history.History) {
			for i := range h.Logs {
				if h.Logs[i].Attrs["code"] == "P1001" {
					h.Logs[i].Attrs["code"] = "P1002"
				}
			}
			setOp(h, 4, func(o *history.Op) { o.Code = "P1002" })
		}, detail: []string{"op #4", "code P1002 during fault cut, whose cause gives P1001|P1017", "no degraded reply or [Prisma Retry] line during it has code P1001"}, ops: []int{4}},
		{name: "a code the fault may not produce, in a log line", scenario: codes([]string{"P1001"}, nil),
			detail: []string{`log line 0 "[Prisma Retry] Attempt 1/3 failed": code P1017 during fault cut, whose cause gives P1001`}},
		{name: "fast fails carry the breaker's P1001 and are not judged", scenario: codes([]string{"P1017"}, nil), history: func(h *history.History) {
			for i := range h.Logs {
				h.Logs[i].Attrs["code"] = "P1017"
			}
			setOp(h, 4, func(o *history.Op) { o.Code = "P1017" })
		}, pass: true},
		{name: "a code outside every fault is not judged", history: func(h *history.History) {
			h.Logs = append(h.Logs, logAt(9*time.Second, "DEBUG", "[Prisma Retry] Attempt 1/3 failed", "P2024", 1, -1))
		}, pass: true},
		{name: "no codes declared", scenario: func(s *scenarios.Scenario) { s.Expect.Codes = nil }, pass: true, skipped: true},
	})
}

// persona turns op i into a template reply quoting p.
func persona(h *history.History, i int, p string) {
	h.Ops[i].Reply.Text = "[" + p + "] You said: " + h.Ops[i].Text
}

func TestCacheStaleness(t *testing.T) {
	stale := func(limit time.Duration) func(*scenarios.Scenario) {
		return func(s *scenarios.Scenario) { x := d(limit); s.Bot.PromptMaxStaleness = &x }
	}
	runCases(t, CacheStaleness, NameStaleness, false, []checkCase{
		{name: "the good history", pass: true},
		{name: "cached prompt older than the limit (a bot ignoring PROMPT_MAX_STALENESS)", scenario: stale(300 * ms),
			// c1 was last read in op #2 (1.5s-1.51s); #6 at 3s and #8 at 4s are older than 300ms.
			promise: []string{"at most 300ms (PROMPT_MAX_STALENESS)"},
			detail:  []string{"op #6", "the bot last read or saved it in op #2, which ended 1.49s before this request began: older than 300ms"},
			ops:     []int{4, 5, 6, 7, 8}},
		{name: "cached reply with no read before it", history: func(h *history.History) {
			setOp(h, 0, func(o *history.Op) { o.PromptSource, o.Degraded, o.Code = "default", true, "P1001" })
			setOp(h, 2, func(o *history.Op) { o.PromptSource, o.Degraded, o.Code = "default", true, "P1001" })
		}, detail: []string{"op #4", "but the history shows no read or save of it by the bot before"}, ops: []int{4, 6, 8}},
		{name: "cached reply quoting another prompt than the one read", history: func(h *history.History) {
			for _, i := range []int{0, 2} {
				persona(h, i, "You are a parrot.")
			}
			persona(h, 4, "You are a pirate.")
		}, detail: []string{`op #4`, `quoting "You are a pirate."`, "no read or save of it"}, ops: []int{4}},
		{name: "the same persona read in time", scenario: stale(700 * ms), history: func(h *history.History) {
			for _, i := range []int{0, 2, 4} {
				persona(h, i, "You are a parrot.")
			}
			h.Ops = h.Ops[:5]
		}, pass: true},
		{name: "cache off", scenario: stale(0), detail: []string{"the cache is off"}, ops: []int{4, 5, 6, 7, 8}},
		{name: "a read straddling the proven outage could not have filled the cache inside it", scenario: stale(300 * ms), history: func(h *history.History) {
			// #9 read c1's prompt between 2.9s and 5.5s; #6 at 3s claims
			// the cache, which only #2 (ended 1.51s) could have filled.
			setOp(h, 9, func(o *history.Op) { o.Chat, o.Invoke = "c1", 2900*ms })
			h.Ops = h.Ops[:10]
			for i := 4; i <= 8; i++ {
				if h.Ops[i].Chat == "c2" {
					setOp(h, i, func(o *history.Op) { o.PromptSource = "default" })
				}
			}
		}, detail: []string{"op #6", "the bot last read or saved it in op #2"}, ops: []int{4, 6, 8}},
	})
}

func TestPromptClaims(t *testing.T) {
	stale := func(limit time.Duration) func(*scenarios.Scenario) {
		return func(s *scenarios.Scenario) { x := d(limit); s.Bot.PromptMaxStaleness = &x }
	}
	// liar turns the fallbacks #5-#8 into fresh custom reads, as a bot
	// reporting its fallback as custom would.
	liar := func(h *history.History) {
		for i := 5; i <= 8; i++ {
			setOp(h, i, func(o *history.Op) { o.PromptSource, o.Degraded, o.Code = "custom", false, "" })
		}
	}
	runCases(t, PromptClaims, NamePromptClaims, false, []checkCase{
		{name: "the good history", pass: true},
		{name: "fallback reported as a fresh custom read inside a proven outage", history: liar,
			detail: []string{"op #5 (message in chat c2 at 2.5s): answered from a fresh database read", "inside fault cut (outage on pooler, [2s, 5s))"},
			ops:    []int{5, 6, 7, 8}},
		{name: "fallback reported as a fresh custom read inside a proven pgerror refusal", scenario: func(s *scenarios.Scenario) {
			f := &s.Faults[0]
			f.Type, f.Stream, f.Toxicity, f.Refusal = scenarios.TypePgError, "downstream", 1, "enotfound"
		}, history: func(h *history.History) {
			liar(h)
			for i := range h.Faults {
				h.Faults[i].Type = scenarios.TypePgError
			}
			for i := range h.Probes {
				if !h.Probes[i].OK {
					h.Probes[i].Err = "server error: FATAL: (ENOTFOUND) tenant/user postgres.p1001 not found (SQLSTATE XX000)"
				}
			}
		}, detail: []string{"op #5 (message in chat c2 at 2.5s): answered from a fresh database read", "inside fault cut (pgerror on pooler, [2s, 5s))"},
			ops: []int{5, 6, 7, 8}},
		{name: "not judged when no probe proved the outage", history: func(h *history.History) {
			liar(h)
			h.Probes = nil
		}, pass: true},
		{name: "not judged when the outage is on the other path", scenario: func(s *scenarios.Scenario) {
			s.Bot.Database = "direct"
		}, history: liar, pass: true},
		{name: "a custom read that overlaps the fault's edge is possible", history: func(h *history.History) {
			setOp(h, 9, func(o *history.Op) { o.Invoke = 4990 * ms })
		}, pass: true},
		// The toxic's removal frees the bot's connections while the undo
		// call still runs: a read that ends then is possible, one that
		// ended before the call began is not.
		{name: "a custom read that ends while the undo runs is possible", history: func(h *history.History) {
			h.Faults[0].Undoing = 4900 * ms
			setOp(h, 8, func(o *history.Op) {
				o.Invoke, o.Complete, o.PromptSource, o.Degraded, o.Code = 4850*ms, 4950*ms, "custom", false, ""
			})
		}, pass: true},
		{name: "a custom read that ends before the undo began is not", history: func(h *history.History) {
			h.Faults[0].Undoing = 4900 * ms
			setOp(h, 8, func(o *history.Op) {
				o.Invoke, o.Complete, o.PromptSource, o.Degraded, o.Code = 4800*ms, 4890*ms, "custom", false, ""
			})
		}, detail: []string{"op #8", "inside fault cut (outage on pooler, [2s, 5s), undone from 4.9s)"}, ops: []int{8}},
		{name: "default although the cached prompt was fresh", history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.PromptSource = "default" })
		}, detail: []string{"op #4", "fell back to the default prompt, but op #2 read or saved the chat's prompt between 1.5s and 1.51s"}, ops: []int{4}},
		{name: "default once the cached prompt is too old", scenario: stale(500 * ms), history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.PromptSource = "default" })
		}, pass: true},
		{name: "default after a kill: the new bot's cache is empty", history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.PromptSource = "default" })
			h.Faults = append(h.Faults, scenarios.FaultEvent{Fault: "crash", Type: scenarios.TypeKill, Where: "bot", Start: 1600 * ms, Stop: 1700 * ms})
		}, scenario: func(s *scenarios.Scenario) {
			s.Faults = append(s.Faults, scenarios.Fault{Name: "crash", At: d(1600 * ms), For: d(100 * ms), Type: scenarios.TypeKill, Target: "bot"})
		}, pass: true},
		{name: "default after a /reset", history: func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.PromptSource = "default" })
			setOp(h, 3, func(o *history.Op) { o.Chat, o.Kind, o.Text = "c1", history.Reset, "/reset" })
		}, pass: true},
	})
}

func TestGuardEffect(t *testing.T) {
	probe := func(kind string, ok, timedOut bool, start, took time.Duration, toxics ...string) history.Probe {
		return history.Probe{Fault: "cut", Kind: kind, Where: "pooler", Start: start, End: start + took, OK: ok, TimedOut: timedOut, Toxics: toxics}
	}
	fault := func(f scenarios.Fault) func(*scenarios.Scenario) {
		return func(s *scenarios.Scenario) {
			f.Name, f.At, f.For = "cut", d(2*time.Second), d(3*time.Second)
			s.Faults = []scenarios.Fault{f}
		}
	}
	probes := func(ps ...history.Probe) func(*history.History) {
		return func(h *history.History) { h.Probes = ps }
	}
	latency := fault(scenarios.Fault{Type: "latency", Proxy: "pooler", Attributes: map[string]int64{"latency": 1000}})
	kill := fault(scenarios.Fault{Type: "kill", Target: "bot"})
	pgerror := fault(scenarios.Fault{Type: scenarios.TypePgError, Proxy: "pooler", Stream: "downstream", Toxicity: 1, Refusal: "emaxconn"})
	pgProbe := func(err string) history.Probe {
		p := probe(history.ProbeSQL, false, false, 3*time.Second, ms)
		p.Err = err
		return p
	}
	// containerProbe: one look at the bot's container at 3s, running or
	// not, last started at the offset startedAt from the history's base.
	containerProbe := func(running bool, startedAt time.Duration) func(*history.History) {
		return func(h *history.History) {
			p := probe(history.ProbeContainer, running, false, 3*time.Second, ms)
			p.Where, p.StartedAt = "bot", h.Base.Add(startedAt)
			h.Probes = []history.Probe{p}
		}
	}
	runCases(t, GuardEffect, NameEffect, true, []checkCase{
		{name: "the good history: a refused probe", pass: true},
		{name: "a bot that masks the outage still has a proven fault", history: func(h *history.History) {
			for i := 4; i <= 8; i++ {
				setOp(h, i, func(o *history.Op) { o.PromptSource, o.Degraded, o.Code, o.Complete = "custom", false, "", 5100*ms })
			}
		}, pass: true},
		{name: "every probe answered: the outage did not happen", history: probes(
			probe(history.ProbeSQL, true, false, 2100*ms, 2*ms), probe(history.ProbeSQL, true, false, 2350*ms, 2*ms)),
			promise: []string{"without the bot"},
			detail:  []string{"fault cut [2s, 5s): none of the 2 probes inside its window shows it took effect (want: a probe connection through the proxy failed; the last: sql probe of pooler at 2.35s took 2ms, ok)"}},
		{name: "only a probe before the window", history: probes(history.Probe{Fault: "cut", Kind: history.ProbeSQL, Start: 1700 * ms, End: 1702 * ms, Err: "refused"}),
			detail: []string{"no probe of the stack ran inside its window"}},
		{name: "a probe that ends after the window does not count", history: probes(probe(history.ProbeSQL, false, true, 4500*ms, time.Second)),
			detail: []string{"no probe of the stack ran inside its window"}},
		{name: "latency: a slow probe", scenario: latency, history: probes(probe(history.ProbeSQL, true, false, 2100*ms, 1002*ms)), pass: true},
		{name: "latency: probes as fast as before", scenario: latency, history: probes(probe(history.ProbeSQL, true, false, 2100*ms, 3*ms)),
			detail: []string{"want: a probe query through the proxy took at least 995ms"}},
		{name: "bandwidth: Toxiproxy lists the toxic", scenario: fault(scenarios.Fault{Type: "bandwidth", Proxy: "pooler", Attributes: map[string]int64{"rate": 1}}),
			history: probes(probe(history.ProbeToxics, true, false, 3*time.Second, ms, "cut:bandwidth:downstream")), pass: true},
		{name: "bandwidth: Toxiproxy does not list it", scenario: fault(scenarios.Fault{Type: "bandwidth", Proxy: "pooler", Attributes: map[string]int64{"rate": 1}}),
			history: probes(probe(history.ProbeToxics, true, false, 3*time.Second, ms, "other:latency:downstream")),
			detail:  []string{"want: Toxiproxy listed the toxic cut:bandwidth:downstream on pooler"}},
		{name: "partition: Docker shows the bot detached", scenario: fault(scenarios.Fault{Type: "partition", Target: "bot"}),
			history: probes(probe(history.ProbeNetwork, false, false, 3*time.Second, ms)), pass: true},
		{name: "partition: the bot still attached", scenario: fault(scenarios.Fault{Type: "partition", Target: "bot"}),
			history: probes(probe(history.ProbeNetwork, true, false, 3*time.Second, ms)), detail: []string{"Docker showed bot detached"}},
		{name: "kill: Docker shows the bot started again inside the window", scenario: kill,
			history: containerProbe(true, 2500*ms), pass: true},
		{name: "kill: a probe caught the bot stopped", scenario: kill,
			history: containerProbe(false, -time.Minute), pass: true},
		{name: "kill: the bot ran on, started before the fault", scenario: kill,
			history: containerProbe(true, -time.Minute), detail: []string{"want: Docker showed the bot container stopped, or started again after the fault began"}},
		{name: "pgerror: a probe refused with the refusal", scenario: pgerror,
			history: probes(pgProbe("conn closed"), pgProbe("failed to connect: server error: FATAL: (EMAXCONN) max client connections reached, limit: 200 (SQLSTATE XX000)")), pass: true},
		{name: "pgerror: probes only cut, never refused in words", scenario: pgerror,
			history: probes(pgProbe("conn closed"), pgProbe("connection refused")),
			detail:  []string{`want: a probe connection through the proxy was refused with "(EMAXCONN) max client connections reached, limit: 200"`}},
		{name: "baseline", scenario: func(s *scenarios.Scenario) { s.Faults = nil }, history: func(h *history.History) { h.Faults = nil }, pass: true},
	})
}

func TestKSUniform(t *testing.T) {
	even := make([]float64, 50)
	for i := range even {
		even[i] = (float64(i) + 0.5) / 50
	}
	if _, p := ksUniform(even); p < 0.5 {
		t.Errorf("evenly spread values: p = %g, want about 1", p)
	}
	zeros := make([]float64, minJitterSamples)
	if d, p := ksUniform(zeros); d != 1 || p >= jitterAlpha {
		t.Errorf("%d zeros: D, p = %g, %g; want 1 and p < %g", len(zeros), d, p, jitterAlpha)
	}
	half := []float64{0.5, 0.5, 0.5, 0.5}
	if _, p := ksUniform(half); p < jitterAlpha {
		t.Errorf("four values are too few to reject: p = %g", p)
	}
	if _, p := ksUniform([]float64{0.1, 0.9}); math.IsNaN(p) {
		t.Error("p is NaN")
	}
}

func TestCacheAge(t *testing.T) {
	stale := func(limit time.Duration) func(*scenarios.Scenario) {
		return func(s *scenarios.Scenario) { x := d(limit); s.Bot.PromptMaxStaleness = &x }
	}
	age := func(i int, ms int64) func(*history.History) {
		return func(h *history.History) { setOp(h, i, func(o *history.Op) { o.PromptAgeMS = &ms }) }
	}
	// expiring turns c1's last cached fallback (#8, 4s, 2.49s after #2
	// ended) into the default prompt after a 2s limit: the switch.
	expiring := func(s *scenarios.Scenario) {
		stale(2 * time.Second)(s)
		s.Expect.CacheExpiry = true
	}
	switchAt8 := func(h *history.History) {
		setOp(h, 8, func(o *history.Op) { o.PromptSource, o.PromptAgeMS = "default", nil })
	}
	runCases(t, CacheAge, NameCacheAge, false, []checkCase{
		{name: "the good history", pass: true},
		{name: "no cached reply: skipped", history: func(h *history.History) {
			for i := 4; i <= 8; i++ {
				setOp(h, i, func(o *history.Op) { o.PromptSource, o.PromptAgeMS = "default", nil })
			}
		}, pass: true, skipped: true},
		{name: "a cached reply without its age", history: func(h *history.History) { h.Ops[5].PromptAgeMS = nil },
			detail: []string{"op #5", "reports no prompt_age_ms"}, ops: []int{5}},
		{name: "an age above the limit (a bot ignoring PROMPT_MAX_STALENESS, honest about it)", scenario: stale(2 * time.Second),
			detail: []string{"op #8", "reports a cached prompt 2.5s old: want 0 to 2s"}, ops: []int{8}},
		{name: "an age younger than the harness allows (a bot lying about it)", history: age(8, 900),
			detail: []string{"op #8", "900ms old, but the last read or save that could have filled it ended 2.49s before this request began"}, ops: []int{8}},
		// #6 (c1, 3s) stopped waiting at the reply deadline: its lookup
		// went on and may have refreshed c1's cache before #8 (4s).
		{name: "a younger age after a reply past the deadline", history: func(h *history.History) {
			setOp(h, 6, func(o *history.Op) {
				o.PromptSource, o.PromptAgeMS, o.Degraded, o.Code, o.Attempts, o.Complete = "default", nil, true, "P1008", 1, o.Invoke+1010*ms
			})
			age(8, 900)(h)
		}, pass: true},
		{name: "an age older than the harness allows", history: age(5, 800),
			detail: []string{"op #5", "800ms old, but a read or save of the chat began at most 705ms before this reply ended"}, ops: []int{5}},
		{name: "the age's resolution is allowed at both ends", history: func(h *history.History) {
			age(5, 705)(h)  // #3 began at 1.8s, #5 ended at 2.505s
			age(7, 1690)(h) // #3 ended at 1.81s, #7 began at 3.5s: at least 1.69s
		}, pass: true},
		{name: "cache_expiry: the switch to the default after the limit", scenario: expiring, history: switchAt8, pass: true},
		{name: "cache_expiry without the switch", scenario: func(s *scenarios.Scenario) {
			s.Expect.CacheExpiry = true // 10m limit: nothing expires
		}, detail: []string{"no chat switched from a cached to the default prompt"}},
		{name: "cache_expiry: a default reply before the limit is no switch", scenario: func(s *scenarios.Scenario) {
			expiring(s)
			stale(3 * time.Second)(s)
		}, history: switchAt8, detail: []string{"no chat switched"}},
	})
}
