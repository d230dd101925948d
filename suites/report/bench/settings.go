package bench

import (
	"flag"
	"fmt"
	"time"

	"github.com/p1001/p1001/scenarios"
)

// Settings are the run's knobs, as used: each is a flag of
// suites/cmd/bench (Flags), with its default and its limit (Check).
type Settings struct {
	// Cap is the longest the client waits for one reply, Cycles the fault
	// cycles per outage and configuration. The runbook's black hole gets
	// SlowCap and SlowCycles instead (CapFor): its replies take up to 3
	// attempts of 30 s, so the cap must lie past that for the figure to be
	// the real one, and each cycle waits it out twice (the first message,
	// then the steady state), so it runs fewer cycles to keep the run
	// under 10 minutes.
	Cap             scenarios.Duration `json:"cap"`
	Cycles          int                `json:"cycles"`
	SlowCap         scenarios.Duration `json:"slow_cap"`
	SlowCycles      int                `json:"slow_cycles"`
	SteadyMessages  int                `json:"steady_messages"`
	SteadyInterval  scenarios.Duration `json:"steady_interval"`
	RecoveryStreak  int                `json:"recovery_streak"`
	RecoveryTimeout scenarios.Duration `json:"recovery_timeout"`
	RecoveryPace    scenarios.Duration `json:"recovery_pace"`
	Chats           int                `json:"chats"`
	Concurrency     int                `json:"concurrency"`
	Warmup          scenarios.Duration `json:"warmup"`
	Window          scenarios.Duration `json:"window"`
	LatencyToxic    scenarios.Duration `json:"latency_toxic"`
	SpoolRounds     int                `json:"spool_rounds"`
	OverheadRounds  int                `json:"overhead_rounds"`
	OverheadBatch   int                `json:"overhead_batch"`
	BenchCount      int                `json:"bench_count"`
}

// CapFor is the client's cap and the number of fault cycles for one
// outage against one configuration.
func (s Settings) CapFor(config string, o Outage) (time.Duration, int) {
	if config == ConfigRunbook && o == BlackHole {
		return s.SlowCap.D(), s.SlowCycles
	}
	return s.Cap.D(), s.Cycles
}

// Flags registers each setting as a flag of fs, with the default that
// `make bench` runs.
func (s *Settings) Flags(fs *flag.FlagSet) {
	dur := func(p *scenarios.Duration, name string, def time.Duration, usage string) {
		fs.TextVar(p, name, scenarios.Duration(def), usage)
	}
	dur(&s.Cap, "cap", 15*time.Second, "longest wait for one reply; a reply not back by then counts as >= cap and makes the run invalid")
	fs.IntVar(&s.Cycles, "cycles", 8, "fault on/off cycles per outage and configuration")
	dur(&s.SlowCap, "slow-cap", 2*time.Minute, "the cap for the runbook's black hole: past its 3 attempts of 30 s")
	fs.IntVar(&s.SlowCycles, "slow-cycles", MinSlowCycles, "cycles for the runbook's black hole, where each waits out those attempts twice")
	fs.IntVar(&s.SteadyMessages, "steady", 10, "messages after the first one, per cycle (the steady state)")
	dur(&s.SteadyInterval, "steady-interval", 100*time.Millisecond, "steady-state messages go out one per interval, open loop")
	fs.IntVar(&s.RecoveryStreak, "recovery-streak", 5, "custom replies in a row that count as recovered")
	dur(&s.RecoveryTimeout, "recovery-timeout", 30*time.Second, "longest wait for recovery (and for steady custom replies before a fault)")
	dur(&s.RecoveryPace, "recovery-pace", 25*time.Millisecond, "pause between messages while waiting for recovery")
	fs.IntVar(&s.Chats, "chats", 16, "chats per bot, each with a custom prompt")
	fs.IntVar(&s.Concurrency, "concurrency", 16, "clients of the throughput closed loop")
	dur(&s.Warmup, "warmup", time.Second, "throughput: time before the window opens")
	dur(&s.Window, "window", 5*time.Second, "throughput: the measured window (whole seconds)")
	dur(&s.LatencyToxic, "latency", 50*time.Millisecond, "throughput: the latency toxic's delay (whole milliseconds)")
	fs.IntVar(&s.SpoolRounds, "spool-rounds", 2, "durable outbox cost: rounds of healthy throughput without the spool and in each SPOOL_FSYNC mode, in turn")
	fs.IntVar(&s.OverheadRounds, "overhead-rounds", 40, "overhead: rounds of the three variants taking turns")
	fs.IntVar(&s.OverheadBatch, "overhead-batch", 100, "overhead: queries per variant per round")
	fs.IntVar(&s.BenchCount, "bench-count", 6, "go test -count for the micro-benchmarks")
}

// Check names the first setting, by its flag, that cannot run.
func (s Settings) Check() error {
	for _, c := range []struct {
		flag string
		ok   bool
	}{
		{"-cap", s.Cap > 0}, {"-cycles", s.Cycles > 0}, {"-slow-cap", s.SlowCap > 0}, {"-slow-cycles", s.SlowCycles > 0},
		{"-steady", s.SteadyMessages > 0}, {"-steady-interval", s.SteadyInterval > 0}, {"-recovery-streak", s.RecoveryStreak > 0},
		{"-recovery-timeout", s.RecoveryTimeout > 0}, {"-recovery-pace", s.RecoveryPace >= 0}, {"-chats", s.Chats > 0},
		{"-concurrency", s.Concurrency > 0}, {"-warmup", s.Warmup >= 0},
		{"-window", s.Window.D() >= time.Second && s.Window.D()%time.Second == 0},
		{"-latency", s.LatencyToxic > 0 && s.LatencyToxic.D()%time.Millisecond == 0}, {"-spool-rounds", s.SpoolRounds > 0},
		{"-overhead-rounds", s.OverheadRounds > 0}, {"-overhead-batch", s.OverheadBatch > 0}, {"-bench-count", s.BenchCount > 0},
	} {
		if !c.ok {
			return fmt.Errorf("%s: invalid value (see -h)", c.flag)
		}
	}
	return nil
}
