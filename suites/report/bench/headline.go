package bench

import (
	"fmt"
	"slices"
	"time"
)

// Issue 15's goals for p1001 (reply within about a second whatever the
// database does, no healthy-path cost), and the bench's own time limit.
const (
	GoalBlackHoleFirstP99 = 1500 * time.Millisecond // first reply after a black hole
	GoalRefusedFirstP99   = 300 * time.Millisecond  // first reply after the pooler refuses
	GoalBreakerOpenP99    = 20 * time.Millisecond   // replies while the breaker is open
	GoalOverheadPct       = 1.0                     // wrapped vs bare pooler query, median round ratio
	GoalDoNs              = 1000                    // Do_Wrapped ns/op
	GoalDoAllocs          = 5                       // Do_Wrapped allocs/op
	GoalWall              = 10 * time.Minute        // the whole of make bench
)

// HeadlineRow is one measure against its goal. Met is "yes", "no", or
// "n/a" when the run has no figure for it.
type HeadlineRow struct {
	Measure string `json:"measure"`
	Figure  string `json:"figure"`
	Goal    string `json:"goal"`
	Met     string `json:"met"`
}

// Headline compares the run with the goals.
func Headline(r *Report) []HeadlineRow {
	var rows []HeadlineRow
	add := func(measure, goal string, have bool, figure func() (string, bool)) {
		row := HeadlineRow{Measure: measure, Goal: goal, Figure: "not measured", Met: "n/a"}
		if have {
			f, ok := figure()
			row.Figure, row.Met = f, map[bool]string{true: "yes", false: "no"}[ok]
		}
		rows = append(rows, row)
	}
	within := func(s Stat, goal time.Duration) bool { return !s.AtLeast && s.Value <= MS(goal) }
	bh, refused, runbookBH := r.fallback(ConfigP1001, BlackHole), r.fallback(ConfigP1001, Refused), r.fallback(ConfigRunbook, BlackHole)
	add("black hole, first message after the fault, p50 / p99", "p99 ≤ "+fmtMS(MS(GoalBlackHoleFirstP99)), bh != nil, func() (string, bool) {
		return fmtStat(bh.First.Median, fmtMS) + " / " + fmtStat(bh.First.P99, fmtMS), within(bh.First.P99, GoalBlackHoleFirstP99)
	})
	add("refused, first message p99", "≤ "+fmtMS(MS(GoalRefusedFirstP99)), refused != nil, func() (string, bool) {
		return fmtStat(refused.First.P99, fmtMS), within(refused.First.P99, GoalRefusedFirstP99)
	})
	i := slices.IndexFunc(r.Throughput, func(t ThroughputResult) bool { return t.Setting == SettingOutage })
	add("breaker open, steady state p99 (throughput, outage)", "≤ "+fmtMS(MS(GoalBreakerOpenP99)), i >= 0, func() (string, bool) {
		return fmtStat(r.Throughput[i].Latency.P99, fmtMS), within(r.Throughput[i].Latency.P99, GoalBreakerOpenP99)
	})
	o := r.Overhead
	add("healthy-path overhead through the real stack (median round ratio)", fmt.Sprintf("≤ %.0f %%", GoalOverheadPct), o != nil, func() (string, bool) {
		return fmt.Sprintf("%+.1f %% (%+.0f µs)", o.OverheadPct, o.DiffUS), o.OverheadPct <= GoalOverheadPct
	})
	var do MicroBench
	haveDo := false
	if r.Micro != nil {
		do, haveDo = r.Micro.Find("Do_Wrapped")
	}
	add("`Do` micro-benchmark, wrapped (medians)", fmt.Sprintf("≤ %d ns/op, ≤ %d allocs/op", GoalDoNs, GoalDoAllocs), haveDo, func() (string, bool) {
		ns, allocs := do.NsPerOp.Median.Value, do.AllocsPerOp.Median.Value
		return fmt.Sprintf("%s ns/op, %s allocs/op", fmtNum(ns), fmtNum(allocs)), ns <= GoalDoNs && allocs <= GoalDoAllocs
	})
	add("runbook configuration, black hole, first message p50 / p99", "the real figure (no capped reply)", runbookBH != nil, func() (string, bool) {
		return fmtStat(runbookBH.First.Median, fmtMS) + " / " + fmtStat(runbookBH.First.P99, fmtMS), runbookBH.Capped == 0
	})
	ri := slices.IndexFunc(r.Ratios, func(row RatioRow) bool { return row.Outage == BlackHole })
	add("ratio runbook / p1001, black hole, first message p50 / p99", "numbers, not bounds", ri >= 0, func() (string, bool) {
		row := r.Ratios[ri]
		return fmtRatio(row.FirstMedian) + " / " + fmtRatio(row.FirstP99), row.FirstMedian.Bound == "" && row.FirstP99.Bound == ""
	})
	add("`make bench` wall time", "< "+GoalWall.String(), r.WallS > 0, func() (string, bool) {
		return fmtSeconds(r.WallS), r.WallS < GoalWall.Seconds()
	})
	return rows
}

// fallback is the result of outage o against config, nil if not measured.
func (r *Report) fallback(config string, o Outage) *FallbackResult {
	i := slices.IndexFunc(r.Fallback, func(f FallbackResult) bool { return f.Config == config && f.Outage == o })
	if i < 0 {
		return nil
	}
	return &r.Fallback[i]
}
