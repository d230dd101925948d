package bench

import (
	"fmt"
	"slices"
)

// The least a valid run has. Below them a figure is too thin to report.
const (
	MinCycles            = 3  // fault on/off cycles per outage and configuration
	MinSlowCycles        = 2  // the same for the runbook's black hole (Settings.CapFor)
	MinSteady            = 20 // steady-state messages per outage and configuration
	MinThroughputReplies = 50 // replies inside a throughput window
	MinOverheadRounds    = 10 // overhead rounds (bare, with a deadline, wrapped)
	MinMicroRuns         = 5  // runs of each micro-benchmark
)

// Throughput settings.
const (
	SettingHealthy = "healthy"
	SettingLatency = "latency"
	SettingOutage  = "outage"
)

// Validate lists what makes the run invalid: too few samples, or a fault
// that never took effect. It judges no figure against a target: the bench
// reports speed, it does not assert it.
func Validate(r *Report) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// Side by side means the same build: only the retry settings differ.
	for _, c := range r.Configs[min(1, len(r.Configs)):] {
		if c.BotVersion != r.Configs[0].BotVersion {
			add("the %s bot is %q and the %s bot %q: the configurations ran different builds",
				r.Configs[0].Name, r.Configs[0].BotVersion, c.Name, c.BotVersion)
		}
	}

	for _, cfg := range []string{ConfigRunbook, ConfigP1001} {
		for _, o := range AllOutages() {
			f := r.fallback(cfg, o)
			if f == nil {
				add("time to fallback, %s, %s: not measured", o, cfg)
				continue
			}
			want := MinCycles
			if cfg == ConfigRunbook && o == BlackHole {
				want = MinSlowCycles
			}
			if len(f.Cycles) < want {
				add("time to fallback, %s, %s: %d fault cycles, want at least %d", o, cfg, len(f.Cycles), want)
			}
			if f.Steady.N < MinSteady {
				add("time to fallback, %s, %s: %d steady-state samples, want at least %d", o, cfg, f.Steady.N, MinSteady)
			}
			// A capped wait is a bound, not a figure: every wait is measured
			// to its end, the runbook's black hole too.
			if f.Capped > 0 {
				capAt, _ := r.Settings.CapFor(cfg, o)
				add("time to fallback, %s, %s: %d replies still not back at the %s cap: not measured to their end", o, cfg, f.Capped, capAt)
			}
			for _, c := range f.Cycles {
				msgs := append([]Msg{c.First}, c.Steady...)
				if !slices.ContainsFunc(msgs, Msg.Effect) {
					add("time to fallback, %s, %s, cycle %d: no reply was degraded and none hit the cap: the fault never took effect", o, cfg, c.Index)
				}
				// Every reply names its prompt (docs/bot.md): one that does
				// not was never received, so the cycle ended before it.
				n := 0
				for _, m := range msgs {
					if m.Replied() && m.PromptSource == "" {
						n++
					}
				}
				if n > 0 {
					add("time to fallback, %s, %s, cycle %d: %d messages have no outcome (no reply, no cap, no error)", o, cfg, c.Index, n)
				}
			}
		}
	}
	// The runbook's black hole waits out every attempt: its cap must lie
	// past the longest call its policy allows.
	for _, c := range r.Configs {
		if worst := c.Policy.WorstCaseCall(); c.Name == ConfigRunbook && r.Settings.SlowCap.D() <= worst {
			add("time to fallback, %s, %s: the cap %s is not past the policy's longest call %s", BlackHole, c.Name, r.Settings.SlowCap, worst)
		}
	}

	for _, c := range SpoolConfigs() {
		if !slices.ContainsFunc(r.Spool, func(t ThroughputResult) bool { return t.Config == c.Name }) {
			add("durable outbox cost, %s: not measured", c.Name)
		}
	}
	for _, t := range r.Spool {
		switch {
		case t.Replies < MinThroughputReplies:
			add("durable outbox cost, %s: %d replies in the window, want at least %d", t.Config, t.Replies, MinThroughputReplies)
		case t.Degraded > 0:
			add("durable outbox cost, %s: %d of %d replies were degraded: the stack was not healthy", t.Config, t.Degraded, t.Replies)
		}
	}

	for _, setting := range []string{SettingHealthy, SettingLatency, SettingOutage} {
		i := slices.IndexFunc(r.Throughput, func(t ThroughputResult) bool { return t.Setting == setting })
		if i < 0 {
			add("throughput, %s: not measured", setting)
			continue
		}
		t := r.Throughput[i]
		if t.Replies < MinThroughputReplies {
			add("throughput, %s: %d replies in the window, want at least %d", setting, t.Replies, MinThroughputReplies)
			continue
		}
		switch setting {
		case SettingHealthy:
			if t.Degraded > 0 {
				add("throughput, healthy: %d of %d replies were degraded: the stack was not healthy", t.Degraded, t.Replies)
			}
		case SettingLatency:
			// Every reply reads the prompt: one round trip through the toxic.
			if toxic := r.Settings.LatencyToxic; t.Latency.Median.Value < MS(toxic.D()) {
				add("throughput, latency: median reply %.1f ms is below the toxic's %s: the latency never took effect",
					t.Latency.Median.Value, toxic)
			}
		case SettingOutage:
			if t.Degraded < t.Replies {
				add("throughput, outage: %d of %d replies were not degraded: not every reply fell back", t.Replies-t.Degraded, t.Replies)
			}
		}
	}

	switch o := r.Overhead; {
	case o == nil:
		add("overhead: not measured")
	case o.Rounds < MinOverheadRounds:
		add("overhead: %d rounds, want at least %d", o.Rounds, MinOverheadRounds)
	}

	if r.Micro == nil || len(r.Micro.Benchmarks) == 0 {
		add("micro-benchmarks: none ran")
	} else {
		for _, b := range r.Micro.Benchmarks {
			if b.Runs < MinMicroRuns {
				add("micro-benchmark %s: %d runs, want at least %d", b.Name, b.Runs, MinMicroRuns)
			}
		}
	}
	return problems
}
