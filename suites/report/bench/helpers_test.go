package bench

import (
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/report"
)

// reply, fallback and capped build messages as the bot client records them.
func reply(latency float64) Msg {
	return Msg{LatencyMS: latency, Reply: botapi.Reply{PromptSource: "custom", Attempts: 1}}
}

func fallback(latency float64, attempts int) Msg {
	return Msg{LatencyMS: latency, Reply: botapi.Reply{PromptSource: "cached", Degraded: true, Attempts: attempts, Code: "P1001"}}
}

func capped(limit float64) Msg { return Msg{LatencyMS: limit, Capped: true} }

func d(v time.Duration) scenarios.Duration { return scenarios.Duration(v) }

// validReport is a run that passes every validity check: the runbook's
// black hole is capped throughout, everything else falls back.
func validReport() *Report {
	r := &Report{
		Schema: Schema, Stamp: "20261126T100000Z", Started: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		WallS: 345.6, Command: "make bench",
		Machine: Machine{Cores: 2, GOMAXPROCS: 2, GoVersion: "go1.26.8", OS: "linux", Arch: "amd64", CPU: "AMD EPYC", LoadBefore: 1.5, LoadAfter: 2.5},
		Images: []Image{{Role: "postgres", Name: "p1001/postgres:15", ID: "sha256:1db0ffe7595c5a3d0123"},
			{Role: "bot", Name: "p1001/bot:dev", ID: "sha256:33805c1b9a35ffff"}},
		Settings: Settings{
			Cap: d(15 * time.Second), Cycles: 3, SlowCap: d(2 * time.Minute), SlowCycles: 2, SteadyMessages: 10, SteadyInterval: d(100 * time.Millisecond),
			RecoveryStreak: 5, RecoveryTimeout: d(30 * time.Second), RecoveryPace: d(25 * time.Millisecond), Chats: 16, Concurrency: 16,
			Warmup: d(time.Second), Window: d(5 * time.Second), LatencyToxic: d(50 * time.Millisecond), OverheadRounds: 40, OverheadBatch: 100, BenchCount: 6,
		},
		Configs: []BotConfig{
			{Name: ConfigRunbook, Env: map[string]string{"DB_BREAKER_ENABLED": "false"},
				DatabaseURL: "postgresql://p1001:xxxxx@toxiproxy:6543/p1001?pgbouncer=true&connection_limit=10&connect_timeout=30",
				Policy:      report.PolicyOf(resilience.Policy{MaxAttempts: 3, AttemptTimeout: 30 * time.Second}), BotVersion: "p1001 bot abc go1.26.8"},
			{Name: ConfigP1001, Env: map[string]string{},
				DatabaseURL: "postgresql://p1001:xxxxx@toxiproxy:6543/p1001?pgbouncer=true&connection_limit=10&connect_timeout=30",
				Policy: report.PolicyOf(resilience.Policy{MaxAttempts: 3, AttemptTimeout: 2 * time.Second, Budget: 5 * time.Second,
					Breaker: resilience.BreakerSettings{Enabled: true, Delay: time.Second}}),
				BotVersion: "p1001 bot abc go1.26.8"},
		},
	}
	for _, cfg := range []string{ConfigRunbook, ConfigP1001} {
		for _, o := range AllOutages() {
			f := FallbackResult{Config: cfg, Outage: o, Fault: o.Describe()}
			_, cycles := r.Settings.CapFor(cfg, o)
			for i := range cycles {
				c := Cycle{Index: i + 1, HeldMS: 1200, Recovery: Recovery{First: Stat{Value: 30}, Steady: Stat{Value: 140}, Messages: 5, Recovered: true}}
				switch {
				case cfg == ConfigRunbook && o == BlackHole:
					c.First = fallback(90000+float64(i), 3)
					for j := range 10 {
						c.Steady = append(c.Steady, fallback(90100+float64(j), 3))
					}
				case cfg == ConfigRunbook:
					c.First = fallback(200+float64(i), 3)
					for j := range 10 {
						c.Steady = append(c.Steady, fallback(150+float64(j), 3))
					}
				default:
					c.First = fallback(100+float64(i), 3)
					if o == BlackHole {
						c.First = fallback(5000+float64(i), 3)
					}
					for j := range 10 {
						c.Steady = append(c.Steady, fallback(1+float64(j)/10, 0))
					}
				}
				f.Cycles = append(f.Cycles, c)
			}
			f.Summarize()
			r.Fallback = append(r.Fallback, f)
		}
	}
	r.Ratios = Ratios(r.Fallback)
	r.Throughput = []ThroughputResult{
		{Setting: SettingHealthy, Config: ConfigP1001, Concurrency: 16, WindowMS: 5000, Replies: 10000, RepliesPerSec: 2000,
			PerSecond: Summarize("replies/s", Exact(1900, 2000, 2100)), Latency: Summarize("ms", Exact(1, 6, 20))},
		{Setting: SettingLatency, Config: ConfigP1001, Concurrency: 16, WindowMS: 5000, Replies: 900, RepliesPerSec: 180,
			PerSecond: Summarize("replies/s", Exact(175, 180, 185)), Latency: Summarize("ms", Exact(55, 97, 110))},
		{Setting: SettingOutage, Config: ConfigP1001, Concurrency: 16, WindowMS: 5000, Replies: 25000, RepliesPerSec: 5000, Degraded: 25000,
			PerSecond: Summarize("replies/s", Exact(4900, 5000, 5100)), Latency: Summarize("ms", Exact(0.1, 2, 12))},
	}
	r.Settings.SpoolRounds = 1
	for i, c := range SpoolConfigs() {
		rps := 2000 - 100*float64(i)
		r.Spool = append(r.Spool, ThroughputResult{Setting: SettingHealthy, Config: c.Name, Concurrency: 16, WindowMS: 5000,
			Replies: int(5 * rps), RepliesPerSec: rps, PerSecond: Summarize("replies/s", Exact(rps)), Latency: Summarize("ms", Exact(1, 6, 20+float64(i)))})
	}
	r.SpoolCost = SpoolCost(r.Spool)
	r.Overhead = &OverheadResult{
		Path: "host -> toxiproxy (pooler) -> PgBouncer -> Postgres", Query: "SELECT prompt FROM chat_prompts WHERE chat_id = $1", Rounds: 40, Batch: 100,
		Bare: Summarize("µs", Exact(270, 338, 530)), BareDeadline: Summarize("µs", Exact(272, 342, 500)), Wrapped: Summarize("µs", Exact(260, 345, 490)),
		RoundRatio: Summarize("ratio", Exact(0.98, 1.004, 1.03)), OverheadPct: 0.4, DiffUS: 7,
		RoundRatioDeadline: Summarize("ratio", Exact(0.97, 1.002, 1.01)), OverheadDeadlinePct: 0.2,
	}
	r.Micro = &MicroResult{
		Command: "go test -run=^$ -bench=. -count=6 ./resilience/", Count: 6,
		BenchstatCommand: "go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da <output>", Benchstat: "Query_Bare-2  23.7µ ± 1%",
	}
	for _, b := range []struct {
		name       string
		ns, allocs float64
	}{{"Query_Bare", 23700, 20}, {"Query_Wrapped", 32300, 20}, {"Do_Wrapped", 900, 4}} {
		r.Micro.Benchmarks = append(r.Micro.Benchmarks, MicroBench{Name: b.name, Runs: 6,
			NsPerOp: Summarize("ns/op", Exact(b.ns, b.ns, b.ns, b.ns, b.ns, b.ns)), AllocsPerOp: Summarize("allocs/op", Exact(b.allocs))})
	}
	r.Cost = Cost{
		StartTimesMS: map[string]float64{"postgres": 3790, "total": 3880},
		BotStarts:    []BotStart{{Config: ConfigRunbook, ContainerMS: 436, ReadyMS: 439}},
		Catalog:      &Catalog{Path: "reports/latest/ginkgo.json", WallS: 145.4, Specs: 25, Passed: 25, Succeeded: true, Full: true},
	}
	r.LeftOut = LeftOut(r)
	r.Problems = Validate(r)
	r.Valid = len(r.Problems) == 0
	return r
}
