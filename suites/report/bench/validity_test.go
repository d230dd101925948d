package bench

import (
	"strings"
	"testing"
	"time"
)

func TestValidateAcceptsAValidRun(t *testing.T) {
	if problems := Validate(validReport()); len(problems) > 0 {
		t.Fatalf("a valid run has problems: %q", problems)
	}
}

func TestValidateFindsEachProblem(t *testing.T) {
	fallbackOf := func(r *Report, cfg string, o Outage) *FallbackResult {
		for i := range r.Fallback {
			if r.Fallback[i].Config == cfg && r.Fallback[i].Outage == o {
				return &r.Fallback[i]
			}
		}
		t.Fatalf("no %s/%s in the report", cfg, o)
		return nil
	}
	throughputOf := func(r *Report, setting string) *ThroughputResult {
		for i := range r.Throughput {
			if r.Throughput[i].Setting == setting {
				return &r.Throughput[i]
			}
		}
		t.Fatalf("no %s throughput in the report", setting)
		return nil
	}
	tests := []struct {
		name   string
		break_ func(r *Report)
		want   string
	}{
		{"too few cycles", func(r *Report) {
			f := fallbackOf(r, ConfigP1001, Reset)
			f.Cycles = f.Cycles[:2]
			f.Summarize()
		}, "reset_peer, p1001: 2 fault cycles, want at least 3"},
		{"too few steady samples", func(r *Report) {
			f := fallbackOf(r, ConfigRunbook, Refused)
			for i := range f.Cycles {
				f.Cycles[i].Steady = f.Cycles[i].Steady[:6]
			}
			f.Summarize()
		}, "outage, runbook: 18 steady-state samples, want at least 20"},
		{"errors do not count as samples", func(r *Report) {
			f := fallbackOf(r, ConfigRunbook, Refused)
			for i := range f.Cycles {
				for j := range 4 {
					f.Cycles[i].Steady[j] = Msg{Error: "HTTP 500"}
				}
			}
			f.Summarize()
		}, "outage, runbook: 18 steady-state samples"},
		{"a cycle where the fault never took effect", func(r *Report) {
			f := fallbackOf(r, ConfigP1001, Refused)
			c := &f.Cycles[1]
			c.First = reply(2)
			for j := range c.Steady {
				c.Steady[j] = reply(2)
			}
			f.Summarize()
		}, "outage, p1001, cycle 2: no reply was degraded and none hit the cap"},
		{"an outage not measured", func(r *Report) {
			r.Fallback = r.Fallback[:len(r.Fallback)-1] // p1001's reset
		}, "reset_peer, p1001: not measured"},
		{"a degraded reply while healthy", func(r *Report) {
			throughputOf(r, SettingHealthy).Degraded = 3
		}, "healthy: 3 of 10000 replies were degraded"},
		{"replies faster than the latency toxic", func(r *Report) {
			throughputOf(r, SettingLatency).Latency = Summarize("ms", Exact(1, 2, 3))
		}, "latency: median reply 2.0 ms is below the toxic's 50ms"},
		{"too few cycles of the runbook's black hole", func(r *Report) {
			f := fallbackOf(r, ConfigRunbook, BlackHole)
			f.Cycles = f.Cycles[:1]
			for range 10 {
				f.Cycles[0].Steady = append(f.Cycles[0].Steady, fallback(90000, 3))
			}
			f.Summarize()
		}, "black_hole, runbook: 1 fault cycles, want at least 2"},
		{"a reply still not back at the cap", func(r *Report) {
			f := fallbackOf(r, ConfigRunbook, BlackHole)
			f.Cycles[1].Steady[4] = capped(120000)
			f.Summarize()
		}, "black_hole, runbook: 1 replies still not back at the 2m0s cap: not measured to their end"},
		{"messages with no outcome", func(r *Report) {
			f := fallbackOf(r, ConfigP1001, BlackHole)
			f.Cycles[2].Steady[7], f.Cycles[2].Steady[8] = Msg{}, Msg{}
			f.Summarize()
		}, "black_hole, p1001, cycle 3: 2 messages have no outcome"},
		{"a cap short of the runbook's longest call", func(r *Report) { r.Settings.SlowCap = d(90 * time.Second) },
			"black_hole, runbook: the cap 1m30s is not past the policy's longest call 1m30s"},
		{"replies that did not fall back in the outage", func(r *Report) {
			throughputOf(r, SettingOutage).Degraded = 24990
		}, "outage: 10 of 25000 replies were not degraded"},
		{"too few throughput replies", func(r *Report) {
			throughputOf(r, SettingOutage).Replies = 49
		}, "outage: 49 replies in the window, want at least 50"},
		{"a throughput setting not measured", func(r *Report) {
			r.Throughput = r.Throughput[:2]
		}, "throughput, outage: not measured"},
		{"a spool configuration not measured", func(r *Report) { r.Spool = r.Spool[:2] }, "durable outbox cost, spool=reply: not measured"},
		{"too few replies without the spool", func(r *Report) { r.Spool[0].Replies = 49 }, "durable outbox cost, spool=off: 49 replies in the window"},
		{"degraded replies with the spool", func(r *Report) { r.Spool[1].Degraded = 3 }, "durable outbox cost, spool=background: 3 of 9500 replies were degraded"},
		{"no overhead", func(r *Report) { r.Overhead = nil }, "overhead: not measured"},
		{"too few overhead rounds", func(r *Report) { r.Overhead.Rounds = 9 }, "overhead: 9 rounds, want at least 10"},
		{"too few micro-benchmark runs", func(r *Report) { r.Micro.Benchmarks[1].Runs = 4 }, "micro-benchmark Query_Wrapped: 4 runs, want at least 5"},
		{"no micro-benchmarks", func(r *Report) { r.Micro = nil }, "micro-benchmarks: none ran"},
		{"two builds", func(r *Report) { r.Configs[1].BotVersion = "p1001 bot def-dirty go1.26.8" },
			`the runbook bot is "p1001 bot abc go1.26.8" and the p1001 bot "p1001 bot def-dirty go1.26.8"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validReport()
			tt.break_(r)
			problems := Validate(r)
			if len(problems) != 1 || !strings.Contains(problems[0], tt.want) {
				t.Errorf("Validate = %q, want exactly one problem containing %q", problems, tt.want)
			}
		})
	}
}

func TestSpoolCost(t *testing.T) {
	windows := []ThroughputResult{
		{Config: SpoolOff, WindowMS: 5000, Replies: 10000, Latency: Summarize("ms", Exact(1, 10))},
		{Config: SpoolBackground, WindowMS: 5000, Replies: 9000, Latency: Summarize("ms", Exact(1, 12))},
		{Config: SpoolOff, WindowMS: 5000, Replies: 10000, Latency: Summarize("ms", Exact(1, 20))},
		{Config: SpoolBackground, WindowMS: 5000, Replies: 9500, Latency: Summarize("ms", Exact(1, 14))},
	}
	got := SpoolCost(windows)
	if len(got) != 2 {
		t.Fatalf("rows = %+v, want spool=off and spool=background", got)
	}
	want := []SpoolRow{
		{Config: SpoolOff, Windows: 2, RepliesPerSec: 2000, P99MS: 15, ChangePct: 0},
		{Config: SpoolBackground, Windows: 2, RepliesPerSec: 1850, P99MS: 13, ChangePct: -7.5},
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Config != w.Config || g.Windows != w.Windows || g.RepliesPerSec != w.RepliesPerSec || g.P99MS != w.P99MS ||
			g.ChangePct < w.ChangePct-1e-9 || g.ChangePct > w.ChangePct+1e-9 {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}
}
