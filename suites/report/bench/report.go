package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/p1001/p1001/suites/report"
)

// Schema versions the JSON report. v2: outages are named by their fault
// kinds (outage, black_hole, reset_peer; v1 said refused, blackhole, reset).
// v3: settings' durations are Go durations ("15s", not cap_ms: 15000), and
// the runbook's black hole has a cap of its own (slow_cap).
const Schema = "p1001.bench/v3"

// Configuration names. The runbook's is the baseline of every ratio.
const (
	ConfigRunbook = "runbook"
	ConfigP1001   = "p1001"
)

// Report is one `make bench` run: reports/bench/<stamp>.json, rendered as
// <stamp>.md. It carries no DSN password.
type Report struct {
	Schema     string             `json:"schema"`
	Stamp      string             `json:"stamp"`
	Started    time.Time          `json:"started"`
	WallS      float64            `json:"wall_s"`
	Command    string             `json:"command"`
	Machine    Machine            `json:"machine"`
	Images     []Image            `json:"images"`
	Settings   Settings           `json:"settings"`
	Configs    []BotConfig        `json:"configs"`
	Fallback   []FallbackResult   `json:"fallback"`
	Ratios     []RatioRow         `json:"ratios"`
	Throughput []ThroughputResult `json:"throughput"`
	// Spool is the durable outbox's cost: healthy throughput windows of the
	// spool configurations (Config names them); SpoolCost sums them up.
	Spool     []ThroughputResult `json:"spool,omitempty"`
	SpoolCost []SpoolRow         `json:"spool_cost,omitempty"`
	Overhead  *OverheadResult    `json:"overhead,omitempty"`
	Micro     *MicroResult       `json:"micro,omitempty"`
	Cost      Cost               `json:"cost"`
	// LeftOut lists what this run did not measure, and why.
	LeftOut []string `json:"left_out,omitempty"`
	// Problems make the run invalid; Valid is their absence.
	Problems []string `json:"problems,omitempty"`
	Valid    bool     `json:"valid"`
}

// Machine is where the run ran.
type Machine struct {
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPU        string `json:"cpu,omitempty"`
	// LoadBefore and LoadAfter are the 1-minute load averages: the machine
	// is shared, and they say how much else was running.
	LoadBefore float64 `json:"load_before,omitempty"`
	LoadAfter  float64 `json:"load_after,omitempty"`
}

// Image is one container image of the stack, by role, with the ID it
// had when the stack started.
type Image struct {
	Role string `json:"role"`
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
}

// BotConfig is one bot configuration as started.
type BotConfig struct {
	Name      string            `json:"name"`
	Env       map[string]string `json:"env"`
	URLParams map[string]string `json:"url_params"`
	// DatabaseURL is the URL the bot got, password redacted.
	DatabaseURL string `json:"database_url"`
	// Policy is what the bot derives from Env, as the chaos report shows it.
	Policy     report.Policy `json:"policy"`
	BotVersion string        `json:"bot_version,omitempty"`
}

// Cycle is one fault on/off cycle against one bot.
type Cycle struct {
	Index int `json:"index"`
	// HeldMS is how long the fault was on.
	HeldMS   float64  `json:"held_ms"`
	First    Msg      `json:"first"`
	Steady   []Msg    `json:"steady"`
	Recovery Recovery `json:"recovery"`
}

// Recovery is the wait, from the fault clearing, for custom replies.
type Recovery struct {
	// First is until the first custom-prompt reply came back; Steady until
	// the last of RecoveryStreak custom replies in a row did. A timed out
	// wait is AtLeast the timeout.
	First     Stat `json:"first_custom_ms"`
	Steady    Stat `json:"steady_custom_ms"`
	Messages  int  `json:"messages"`
	Recovered bool `json:"recovered"`
}

// FallbackResult is one outage against one configuration.
type FallbackResult struct {
	Config string  `json:"config"`
	Outage Outage  `json:"outage"`
	Fault  string  `json:"fault"`
	Cycles []Cycle `json:"cycles"`

	First          Summary `json:"first"`
	Steady         Summary `json:"steady"`
	RecoveryFirst  Summary `json:"recovery_first"`
	RecoverySteady Summary `json:"recovery_steady"`
	Held           Summary `json:"held"`
	// Fallbacks count degraded replies, Capped the waits cut off at the
	// cap, Errors the messages that got neither.
	FirstFallbacks  int            `json:"first_fallbacks"`
	SteadyFallbacks int            `json:"steady_fallbacks"`
	Capped          int            `json:"capped"`
	Errors          int            `json:"errors"`
	Codes           map[string]int `json:"codes,omitempty"`
}

// Summarize fills the summaries and counts from the cycles.
func (r *FallbackResult) Summarize() {
	var first, steady, recFirst, recSteady, held []Sample
	r.FirstFallbacks, r.SteadyFallbacks, r.Capped, r.Errors = 0, 0, 0, 0
	r.Codes = map[string]int{}
	count := func(m Msg, fallbacks *int, into *[]Sample) {
		if s, ok := m.Sample(); ok {
			*into = append(*into, s)
		}
		switch {
		case m.Fallback():
			*fallbacks++
			if m.Code != "" {
				r.Codes[m.Code]++
			}
		case m.Capped:
			r.Capped++
		case m.Error != "":
			r.Errors++
		}
	}
	for _, c := range r.Cycles {
		count(c.First, &r.FirstFallbacks, &first)
		for _, m := range c.Steady {
			count(m, &r.SteadyFallbacks, &steady)
		}
		recFirst = append(recFirst, Sample(c.Recovery.First))
		recSteady = append(recSteady, Sample(c.Recovery.Steady))
		held = append(held, Sample{Value: c.HeldMS})
	}
	r.First = Summarize("ms", first)
	r.Steady = Summarize("ms", steady)
	r.RecoveryFirst = Summarize("ms", recFirst)
	r.RecoverySteady = Summarize("ms", recSteady)
	r.Held = Summarize("ms", held)
}

// RatioRow is the baseline's figure over p1001's, for one outage.
type RatioRow struct {
	Outage       Outage `json:"outage"`
	FirstMedian  Ratio  `json:"first_p50"`
	FirstP99     Ratio  `json:"first_p99"`
	SteadyMedian Ratio  `json:"steady_p50"`
	SteadyP99    Ratio  `json:"steady_p99"`
}

// Ratios pairs the runbook's and p1001's results outage by outage.
func Ratios(results []FallbackResult) []RatioRow {
	find := (&Report{Fallback: results}).fallback
	var rows []RatioRow
	for _, o := range AllOutages() {
		base, ours := find(ConfigRunbook, o), find(ConfigP1001, o)
		if base == nil || ours == nil {
			continue
		}
		rows = append(rows, RatioRow{
			Outage:       o,
			FirstMedian:  RatioOf(base.First.Median, ours.First.Median),
			FirstP99:     RatioOf(base.First.P99, ours.First.P99),
			SteadyMedian: RatioOf(base.Steady.Median, ours.Steady.Median),
			SteadyP99:    RatioOf(base.Steady.P99, ours.Steady.P99),
		})
	}
	return rows
}

// ThroughputResult is a closed loop of Concurrency clients for a window.
type ThroughputResult struct {
	Setting     string  `json:"setting"`
	Config      string  `json:"config"`
	Concurrency int     `json:"concurrency"`
	WindowMS    float64 `json:"window_ms"`
	// Replies completed inside the window; RepliesPerSec is their count
	// over the window, PerSecond the spread of the 1 s buckets.
	Replies       int     `json:"replies"`
	RepliesPerSec float64 `json:"replies_per_sec"`
	PerSecond     Summary `json:"per_second"`
	Buckets       []int   `json:"buckets"`
	Latency       Summary `json:"latency"`
	Degraded      int     `json:"degraded"`
	Capped        int     `json:"capped"`
	Errors        int     `json:"errors"`
}

// OverheadResult compares the same query bare, bare with a deadline,
// and through the retry layer, taking turns query by query.
type OverheadResult struct {
	Path         string  `json:"path"`
	Query        string  `json:"query"`
	Rounds       int     `json:"rounds"`
	Batch        int     `json:"batch"`
	Bare         Summary `json:"bare"`
	BareDeadline Summary `json:"bare_deadline"`
	Wrapped      Summary `json:"wrapped"`
	// RoundRatio is, per round, the wrapped queries' median over the bare
	// ones'; RoundRatioDeadline over the bare-with-a-deadline ones'.
	RoundRatio          Summary `json:"round_ratio"`
	RoundRatioDeadline  Summary `json:"round_ratio_deadline"`
	OverheadPct         float64 `json:"overhead_pct"`
	OverheadDeadlinePct float64 `json:"overhead_deadline_pct"`
	// DiffUS is the difference of the wrapped and bare per-query medians, in µs.
	DiffUS float64 `json:"diff_us"`
}

// MicroResult is the Go micro-benchmarks of resilience/.
type MicroResult struct {
	Command    string       `json:"command"`
	Count      int          `json:"count"`
	Benchmarks []MicroBench `json:"benchmarks"`
	// Benchstat is benchstat's table of the same output.
	BenchstatCommand string `json:"benchstat_command"`
	Benchstat        string `json:"benchstat"`
	Raw              string `json:"raw"`
}

// MicroBench is one benchmark over its runs.
type MicroBench struct {
	Name        string  `json:"name"`
	Runs        int     `json:"runs"`
	NsPerOp     Summary `json:"ns_per_op"`
	BytesPerOp  Summary `json:"bytes_per_op"`
	AllocsPerOp Summary `json:"allocs_per_op"`
}

// Find returns the named benchmark.
func (m *MicroResult) Find(name string) (MicroBench, bool) {
	i := slices.IndexFunc(m.Benchmarks, func(b MicroBench) bool { return b.Name == name })
	if i < 0 {
		return MicroBench{}, false
	}
	return m.Benchmarks[i], true
}

// Cost is what the harness itself costs.
type Cost struct {
	// StartTimesMS is how long each part of the stack took to be ready.
	StartTimesMS map[string]float64 `json:"start_times_ms"`
	BotStarts    []BotStart         `json:"bot_starts"`
	Catalog      *Catalog           `json:"catalog,omitempty"`
	// CatalogNote says why Catalog is missing, or what it is not.
	CatalogNote string `json:"catalog_note,omitempty"`
}

// BotStart is one bot container: until its /healthz answered, and until
// /readyz reported the database up and migrated.
type BotStart struct {
	Config      string  `json:"config"`
	ContainerMS float64 `json:"container_ms"`
	ReadyMS     float64 `json:"ready_ms"`
}

// JSON renders the report, indented.
func (r *Report) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the report: %w", err)
	}
	return append(data, '\n'), nil
}

// LeftOut says what the run did not measure.
func LeftOut(r *Report) []string {
	out := []string{"Throughput of the runbook configuration: only p1001's bot runs the closed loop."}
	s := r.Settings
	if f := r.fallback(ConfigRunbook, BlackHole); f != nil && s.SlowCycles < s.Cycles {
		out = append(out, fmt.Sprintf("Cycles of the runbook's black hole: %d, not %d as elsewhere. Each holds the fault for %s "+
			"(median), as the first message and then the steady state wait out the runbook's attempts; fewer cycles keep "+
			"`make bench` under %s.", len(f.Cycles), s.Cycles, fmtStat(f.Held.Median, fmtMS), GoalWall))
	}
	if r.Cost.CatalogNote != "" {
		out = append(out, "Catalog wall time: "+r.Cost.CatalogNote+".")
	}
	return out
}
