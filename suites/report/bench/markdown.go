package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// RenderMarkdown writes the report as reports/bench/<stamp>.md.
func RenderMarkdown(r *Report) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# p1001 bench `%s`\n\n", r.Stamp)
	if r.Valid {
		p("**Valid run.** ")
	} else {
		p("**INVALID run** (see Validity below). ")
	}
	m := r.Machine
	p("`%s` on %d cores (GOMAXPROCS %d", r.Command, m.Cores, m.GOMAXPROCS)
	if m.CPU != "" {
		p(", %s", m.CPU)
	}
	p("), %s %s/%s, load average %.2f before and %.2f after (the machine is shared), wall time %s.\n\n",
		m.GoVersion, m.OS, m.Arch, m.LoadBefore, m.LoadAfter, fmtSeconds(r.WallS))
	var images []string
	for _, img := range r.Images {
		images = append(images, fmt.Sprintf("%s `%s` (`%s`)", img.Role, img.Name, shortID(img.ID)))
	}
	p("Images: %s.\n\n", strings.Join(images, ", "))

	p("## Headline\n\n")
	p("p1001's figures against issue 15's goals, and the runbook configuration's black hole measured to its end (times are under the load shown above).\n\n")
	p("| measure | figure | goal | met |\n|---|---|---|---|\n")
	for _, h := range Headline(r) {
		p("| %s | %s | %s | %s |\n", h.Measure, h.Figure, h.Goal, h.Met)
	}
	p("\n")

	p("## Configurations\n\n")
	p("Each configuration runs in its own bot container, one after the other, against the same stack and the same DATABASE_URL. " +
		"The runbook's: 3 attempts, no circuit breaker, no budget (`DB_RETRY_BUDGET=0`), and each attempt may take as long as " +
		"`connect_timeout=30`, the runbook's own per-attempt wait (an attempt timeout of 0 would let a query on an established, " +
		"black-holed connection wait forever). p1001's: the shipped defaults, nothing set.\n\n")
	p("| config | attempts | attempt timeout | budget | breaker | DATABASE_URL parameters | environment | bot |\n")
	p("|---|---:|---:|---:|---|---|---|---|\n")
	for _, c := range r.Configs {
		breaker := "off"
		if c.Policy.Breaker.Enabled {
			breaker = "on, " + fmtMS(msOf(c.Policy.Breaker.Delay)) + " to half-open"
		}
		env := "shipped defaults"
		if len(c.Env) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(c.Env)) {
				kv = append(kv, "`"+k+"="+c.Env[k]+"`")
			}
			env = strings.Join(kv, " ")
		}
		_, query, _ := strings.Cut(c.DatabaseURL, "?")
		p("| %s | %d | %s | %s | %s | `%s` | %s | %s |\n", c.Name, c.Policy.MaxAttempts,
			orNone(msOf(c.Policy.AttemptTimeout)), orNone(msOf(c.Policy.Budget)), breaker, query, env, c.BotVersion)
	}
	p("\n")

	s := r.Settings
	p("## 1. Time to fallback\n\n")
	p("Each cycle: the bot answers custom replies; the fault goes on (pooler proxy); **first** is the next message; "+
		"then %d messages go out one every %s whatever the replies take (**steady state**); the fault goes off. "+
		"Latency is the HTTP round trip seen by the client. **Cap: the client waits at most %s for a reply, %s in the runbook's "+
		"black hole** (past its policy's longest call, so that the figure is the real one), which runs %d cycles (the others %d); "+
		"a capped sample counts as ≥ the cap, every statistic it reaches is shown as ≥, and it makes the run invalid. "+
		"Cells: min / median (p50) / p99 / max, nearest rank.\n\n",
		s.SteadyMessages, s.SteadyInterval, s.Cap, s.SlowCap, s.SlowCycles, s.Cycles)
	p("| outage | config | cycles | first message | steady state | n steady | fallbacks (first, steady) | capped | codes |\n")
	p("|---|---|---:|---|---|---:|---|---:|---|\n")
	for _, f := range r.Fallback {
		p("| %s | %s | %d | %s | %s | %d | %d, %d | %d | %s |\n", f.Outage, f.Config, len(f.Cycles),
			spread(f.First, fmtMS), spread(f.Steady, fmtMS), f.Steady.N, f.FirstFallbacks, f.SteadyFallbacks, f.Capped, codes(f.Codes))
	}
	p("\n")
	if len(r.Ratios) > 0 {
		p("Ratio **runbook / p1001** (how many times longer the runbook's configuration keeps a user waiting; ≥ where the runbook's side is capped):\n\n")
		p("| outage | first message p50 | first message p99 | steady state p50 | steady state p99 |\n")
		p("|---|---:|---:|---:|---:|\n")
		for _, row := range r.Ratios {
			p("| %s | %s | %s | %s | %s |\n", row.Outage,
				fmtRatio(row.FirstMedian), fmtRatio(row.FirstP99), fmtRatio(row.SteadyMedian), fmtRatio(row.SteadyP99))
		}
		p("\n")
	}
	for _, o := range AllOutages() {
		p("- %s: %s\n", o, o.Describe())
	}
	p("\n")

	p("## 2. Recovery\n\n")
	p("From the fault going off: until the first custom-prompt reply, and until %d custom replies in a row "+
		"(messages one after another, %s or more apart; at most %s, shown as ≥ when reached). Cells: min / median / max.\n\n",
		s.RecoveryStreak, s.RecoveryPace, s.RecoveryTimeout)
	p("| outage | config | fault held (median) | first custom reply | %d custom in a row |\n", s.RecoveryStreak)
	p("|---|---|---:|---|---|\n")
	for _, f := range r.Fallback {
		p("| %s | %s | %s | %s | %s |\n", f.Outage, f.Config, fmtStat(f.Held.Median, fmtMS),
			spread3(f.RecoveryFirst, fmtMS), spread3(f.RecoverySteady, fmtMS))
	}
	p("\n")

	p("## 3. Healthy-path overhead\n\n")
	if o := r.Overhead; o != nil {
		p("`%s` over one pooled pgx connection (exec mode, as with `pgbouncer=true`), %s: bare pgx with a context "+
			"that has no deadline; bare with the attempt timeout's deadline (what any caller with a timeout pays: pgx then "+
			"watches the context); and through `resilience.Executor` with `DefaultPolicy()` (no observers), called as the bot calls it for a "+
			"lookup (a detached caller's context; the pool's tracer `resilience.QueryDeadlines`, which all three pass through). %d rounds of %d "+
			"queries per variant, the three taking turns query by query.\n\n", o.Query, o.Path, o.Rounds, o.Batch)
		p("| variant | queries | min | median | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
		for _, v := range []struct {
			name string
			s    Summary
		}{{"bare pgx", o.Bare}, {"bare pgx, with a deadline", o.BareDeadline}, {"wrapped (resilience.Query)", o.Wrapped}} {
			p("| %s | %d | %s | %s | %s | %s |\n", v.name, v.s.N, fmtUS(v.s.Min.Value), fmtUS(v.s.Median.Value),
				fmtUS(v.s.P99.Value), fmtUS(v.s.Max.Value))
		}
		p("\nWrapped / bare, per round (median over median): min %.4f, median %.4f, max %.4f. "+
			"**Overhead: %+.2f%%** (median round ratio); difference of the per-query medians: %+.1f µs. "+
			"Against bare with a deadline: %+.2f%% (round ratios %.4f / %.4f / %.4f).\n\n",
			o.RoundRatio.Min.Value, o.RoundRatio.Median.Value, o.RoundRatio.Max.Value, o.OverheadPct, o.DiffUS,
			o.OverheadDeadlinePct, o.RoundRatioDeadline.Min.Value, o.RoundRatioDeadline.Median.Value, o.RoundRatioDeadline.Max.Value)
	}
	if mi := r.Micro; mi != nil {
		p("Go micro-benchmarks, `%s` (before any container started):\n\n", mi.Command)
		p("| benchmark | runs | ns/op (min / median / max) | B/op (median) | allocs/op (median) |\n|---|---:|---|---:|---:|\n")
		for _, bm := range mi.Benchmarks {
			p("| %s | %d | %s | %s | %s |\n", bm.Name, bm.Runs, spread3(bm.NsPerOp, fmtNum), fmtNum(bm.BytesPerOp.Median.Value), fmtNum(bm.AllocsPerOp.Median.Value))
		}
		if bare, ok := mi.Find("Query_Bare"); ok {
			if wrapped, ok := mi.Find("Query_Wrapped"); ok && bare.NsPerOp.Median.Value > 0 {
				d := wrapped.NsPerOp.Median.Value - bare.NsPerOp.Median.Value
				p("\nQuery_Wrapped vs Query_Bare (a loopback query to an in-process fake server): %+.0f ns/op (%+.1f%%), %+.0f allocs/op.\n",
					d, 100*d/bare.NsPerOp.Median.Value, wrapped.AllocsPerOp.Median.Value-bare.AllocsPerOp.Median.Value)
			}
		}
		p("\n`%s`:\n\n```\n%s\n```\n\n", mi.BenchstatCommand, mi.Benchstat)
	}

	p("## 4. Throughput\n\n")
	if len(r.Throughput) > 0 {
		t0 := r.Throughput[0]
		p("A closed loop of %d clients (each sends, waits for the reply, sends again) against the %s bot, "+
			"%s of warm-up, then a %s window. healthy: no fault; latency: %s latency toxic downstream on the pooler proxy; "+
			"outage: pooler proxy disabled, measured once the breaker fails replies fast (all fallback).\n\n",
			t0.Concurrency, t0.Config, s.Warmup, fmtMS(t0.WindowMS), s.LatencyToxic)
	}
	p("| setting | replies | replies/s | per second (min / median / max) | latency (min / median / p99 / max) | degraded | capped | errors |\n")
	p("|---|---:|---:|---|---|---:|---:|---:|\n")
	for _, t := range r.Throughput {
		p("| %s | %d | %.0f | %s | %s | %d | %d | %d |\n", t.Setting, t.Replies, t.RepliesPerSec,
			spread3(t.PerSecond, fmtNum), spread(t.Latency, fmtMS), t.Degraded, t.Capped, t.Errors)
	}
	p("\n")
	if len(r.SpoolCost) > 0 {
		p("### The durable outbox's cost\n\n")
		p("The healthy closed loop again, against a fresh bot per window: without the spool (`SPOOL_PATH=off`), and with it "+
			"in each `SPOOL_FSYNC` mode, taking turns (%d rounds). The goal: at most 10%% fewer replies per second than without.\n\n", r.Settings.SpoolRounds)
		p("| configuration | windows | replies/s | vs spool=off | p99 (mean of windows) |\n|---|---:|---:|---:|---:|\n")
		for _, row := range r.SpoolCost {
			p("| %s | %d | %.0f | %+.1f%% | %s |\n", row.Config, row.Windows, row.RepliesPerSec, row.ChangePct, fmtMS(row.P99MS))
		}
		p("\n| window | replies | replies/s | latency (min / median / p99 / max) | degraded | errors |\n|---|---:|---:|---|---:|---:|\n")
		for _, t := range r.Spool {
			p("| %s | %d | %.0f | %s | %d | %d |\n", t.Config, t.Replies, t.RepliesPerSec, spread(t.Latency, fmtMS), t.Degraded, t.Errors)
		}
		p("\n")
	}

	p("## 5. The suite's own cost\n\n")
	if len(r.Cost.StartTimesMS) > 0 {
		p("Stack start (testcontainers, until each wait strategy passed; postgres, pgbouncer and toxiproxy start in parallel): %s.\n\n",
			startTimes(r.Cost.StartTimesMS))
	}
	for _, bs := range r.Cost.BotStarts {
		p("- %s bot: container up (`/healthz`) in %s, database up and migrated (`/readyz`) after %s.\n", bs.Config, fmtMS(bs.ContainerMS), fmtMS(bs.ReadyMS))
	}
	if c := r.Cost.Catalog; c != nil {
		scope := "the full catalog"
		if !c.Full {
			scope = fmt.Sprintf("label filter %q", c.LabelFilter)
		}
		p("- The last chaos run (`%s`, started %s, %s): %d specs, %d passed, **%s wall time** (read, not rerun).\n",
			c.Path, c.Started.UTC().Format(time.RFC3339), scope, c.Specs, c.Passed, fmtSeconds(c.WallS))
	}
	if r.Cost.CatalogNote != "" {
		p("- %s.\n", r.Cost.CatalogNote)
	}
	p("\n")

	if len(r.LeftOut) > 0 {
		p("## Left out\n\n")
		for _, l := range r.LeftOut {
			p("- %s\n", l)
		}
		p("\n")
	}

	p("## Validity\n\n")
	p("The bench asserts nothing about speed. A run is invalid only when a figure has too few samples "+
		"(fewer than %d cycles, %d in the runbook's black hole, or %d steady-state samples per outage and configuration, %d replies per throughput window, "+
		"%d overhead rounds, %d runs per micro-benchmark), a wait was not measured to its end (a reply capped, or a cap not past the "+
		"runbook policy's longest call; a message with no outcome), or a fault never took effect (a cycle with no degraded reply and no capped wait; "+
		"degraded replies while healthy; replies faster than the latency toxic; replies that did not fall back during the outage), "+
		"or the two configurations ran different bot builds.\n\n",
		MinCycles, MinSlowCycles, MinSteady, MinThroughputReplies, MinOverheadRounds, MinMicroRuns)
	if len(r.Problems) == 0 {
		p("No problem found.\n")
	}
	for _, problem := range r.Problems {
		p("- %s\n", problem)
	}
	return b.String()
}

// spread is "min / median / p99 / max".
func spread(s Summary, f func(float64) string) string {
	if s.N == 0 {
		return "no samples"
	}
	return strings.Join([]string{fmtStat(s.Min, f), fmtStat(s.Median, f), fmtStat(s.P99, f), fmtStat(s.Max, f)}, " / ")
}

// spread3 is "min / median / max".
func spread3(s Summary, f func(float64) string) string {
	if s.N == 0 {
		return "no samples"
	}
	return strings.Join([]string{fmtStat(s.Min, f), fmtStat(s.Median, f), fmtStat(s.Max, f)}, " / ")
}

func fmtStat(s Stat, f func(float64) string) string {
	if s.AtLeast {
		return "≥ " + f(s.Value)
	}
	return f(s.Value)
}

// fmtMS shows milliseconds with a unit that keeps 3 significant digits.
func fmtMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmtUS(v * 1000)
}

// fmtUS shows microseconds.
func fmtUS(v float64) string {
	switch {
	case v >= 1000:
		return fmtMS(v / 1000)
	case v >= 100:
		return fmt.Sprintf("%.0f µs", v)
	}
	return fmt.Sprintf("%.1f µs", v)
}

func fmtNum(v float64) string {
	switch {
	case v >= 100 || v == float64(int64(v)):
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func fmtSeconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond).String()
}

func fmtRatio(r Ratio) string {
	var v string
	switch {
	case r.Bound == "?":
		return "n/a"
	case r.Value >= 100:
		v = fmt.Sprintf("%.0f×", r.Value)
	default:
		v = fmt.Sprintf("%.1f×", r.Value)
	}
	switch r.Bound {
	case ">=":
		return "≥ " + v
	case "<=":
		return "≤ " + v
	}
	return v
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func orNone(msValue float64) string {
	if msValue <= 0 {
		return "none"
	}
	return fmtMS(msValue)
}

func codes(c map[string]int) string {
	if len(c) == 0 {
		return "—"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

// startTimes lists the stack's parts in start order, the total last.
func startTimes(times map[string]float64) string {
	order := []string{"network", "postgres", "pgbouncer", "toxiproxy"}
	for _, k := range slices.Sorted(maps.Keys(times)) {
		if !slices.Contains(order, k) && k != "total" {
			order = append(order, k)
		}
	}
	var parts []string
	for _, k := range append(order, "total") {
		if v, ok := times[k]; ok {
			parts = append(parts, k+" "+fmtMS(v))
		}
	}
	return strings.Join(parts, ", ")
}

// shortID is an image ID as `docker images` shows it.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	if id == "" {
		return "id unknown"
	}
	return id
}
