package report

import (
	"time"

	"github.com/p1001/p1001/suites/history"
)

// Schema versions report.json. A change that removes or renames a field,
// or changes a field's meaning or unit, bumps it; adding a field does not.
const Schema = "p1001.report/v2"

// Verdict is the hard verdict of a run or a scenario.
type Verdict string

const (
	// Pass: every selected spec ran and passed, and every scenario kept
	// every promise, guards included.
	Pass Verdict = "pass"
	// Fail: a spec failed or did not run, the suite was interrupted, or a
	// check or validity guard failed (VerdictReasons says which).
	Fail Verdict = "fail"
	// Empty: the filters selected no spec: it proves nothing either way.
	Empty Verdict = "empty"
	// Inconclusive: nothing failed, but the harness could not judge: a
	// scenario whose every behaviour check was not observable against its
	// target (checks.Inconclusive), or a run with such a scenario. Never
	// a pass.
	Inconclusive Verdict = "inconclusive"
)

// Report is report.json. docs/report.md documents every field.
type Report struct {
	Schema      string    `json:"schema"`
	GeneratedAt time.Time `json:"generated_at"`
	// Run is the run directory's name (reports/<run>).
	Run     string  `json:"run"`
	Verdict Verdict `json:"verdict"`
	// VerdictReasons say why the verdict is fail, one sentence each
	// (empty when it is not).
	VerdictReasons []string `json:"verdict_reasons"`
	// SpecsKnown is false when the run dir has no suite.json, so the specs
	// outside the scenarios are unknown (and the verdict is fail).
	// SpecsSelected counts the specs (Its) the filters selected,
	// SpecsPassed those that passed, SpecsFailed those that failed.
	SpecsKnown    bool `json:"specs_known"`
	SpecsSelected int  `json:"specs_selected"`
	SpecsPassed   int  `json:"specs_passed"`
	SpecsFailed   int  `json:"specs_failed"`
	// ScenariosRun counts the scenarios with a history in the run;
	// ScenariosPassed those that kept every promise; ScenariosInconclusive
	// those whose target let the harness judge none of their behaviour
	// (omitted when 0).
	ScenariosRun          int `json:"scenarios_run"`
	ScenariosPassed       int `json:"scenarios_passed"`
	ScenariosInconclusive int `json:"scenarios_inconclusive,omitempty"`
	// CatalogSize is the number of scenarios in the catalog; NotRun names
	// those without a history (label-filtered, or the run stopped early).
	CatalogSize int      `json:"catalog_size"`
	NotRun      []string `json:"not_run"`
	// ScenariosSelected counts the catalog scenarios the filters selected
	// (ScenariosRun without suite.json); NotSelected names those they left
	// out; Incomplete those selected that did not complete (no history, or
	// their spec was interrupted, timed out or never ran): each fails the
	// run.
	ScenariosSelected int      `json:"scenarios_selected"`
	NotSelected       []string `json:"not_selected"`
	Incomplete        []string `json:"incomplete"`
	// Score is the resilience score, 0..100 (see docs/report.md); null for
	// an empty run. It never replaces the verdict.
	Score *float64 `json:"score"`
	// Severities is the weight of each fault kind in the score.
	Severities map[string]int `json:"severities"`
	// Environment is run.json; null when the run dir has none. In a
	// merged report (make report MERGE=), the first run's.
	Environment *RunInfo `json:"environment"`
	// Runs are the runs a merged report was built from (merge.json), each
	// with its own environment; omitted for a single run.
	Runs []MergedRun `json:"runs,omitempty"`
	// BotBuild is the bot's build (its bot_build_info version label), as
	// the first history with metrics reported it.
	BotBuild  string     `json:"bot_build,omitempty"`
	Scenarios []Scenario `json:"scenarios"`
	// Specs are every spec and suite node Ginkgo reported (suite.json),
	// with their verdicts and, for failed ones, the failure and evidence.
	Specs []SpecResult `json:"specs"`
}

// SpecResult is one spec of the run (suite.json's record) and its verdict.
type SpecResult struct {
	Spec
	// Verdict is pass, fail, "not run" (selected, but the run never got to
	// it), "not selected", pending or skipped (it called Skip).
	Verdict string `json:"verdict"`
	// Evidence are the files the suite gathered when the spec failed
	// (failures/<slug>/...), plus the scenario's history when it has one;
	// relative to the run dir.
	Evidence []string `json:"evidence"`
}

// Scenario is one scenario's row, figures, checks and derived timelines.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// File is the scenario file's base name in the catalog.
	File string `json:"file"`
	// History is the history.jsonl path, relative to the run dir.
	History string   `json:"history"`
	Labels  []string `json:"labels"`
	// Kinds are the fault kinds the scenario exercises; Severity is the
	// largest of their severities, the scenario's weight in the score.
	Kinds    []string `json:"kinds"`
	Severity int      `json:"severity"`
	// Target is the bot the history was recorded against and the evidence
	// it shows; omitted for p1001's own bot recorded without a target
	// (which shows everything).
	Target *history.TargetInfo `json:"target,omitempty"`
	// Verdict is pass, fail, or inconclusive (nothing failed, and no
	// behaviour check was observable).
	Verdict Verdict `json:"verdict"`
	// Invalid is set when a validity guard failed: the run proved nothing.
	Invalid bool `json:"invalid"`
	// ChecksCounted is the number of results judged (guards included):
	// neither skipped nor not observable. ChecksMet those that passed,
	// Share = met/counted (0 when none counted). ChecksNotObservable
	// counts those the target did not let the harness judge (omitted when
	// 0); they are in neither.
	ChecksCounted       int     `json:"checks_counted"`
	ChecksMet           int     `json:"checks_met"`
	ChecksNotObservable int     `json:"checks_not_observable,omitempty"`
	Share               float64 `json:"share"`
	// Score is the scenario's score: 1 when it kept every promise and its
	// spec passed, else 0 (see docs/report.md).
	Score float64 `json:"score"`
	// SpecState is the Ginkgo state of the scenario's spec ("" without
	// suite.json); a failed spec fails the scenario even when every check
	// passed (the run broke half-way, or timed out).
	SpecState string `json:"spec_state"`
	// Policy is the retry policy the bot ran with in this scenario.
	Policy  Policy  `json:"policy"`
	Faults  []Fault `json:"faults"`
	Figures Figures `json:"figures"`
	// BreakerEnabled is the policy's; Breaker is the derived state over
	// time (empty when the breaker is disabled).
	BreakerEnabled bool          `json:"breaker_enabled"`
	Breaker        []BreakerSpan `json:"breaker"`
	// Retries counts the bot's "[Prisma Retry] Attempt X/Y failed" lines with
	// X < Y (a retry followed); PeakRetriesPerSecond is the largest rate
	// over 250 ms bins. Both are null, and Breaker is empty, when the
	// target does not show its retry log.
	Retries              *int     `json:"retries"`
	PeakRetriesPerSecond *float64 `json:"peak_retries_per_second"`
	Checks               []Check  `json:"checks"`
}

// Fault is one measured fault event (offsets from the history's base).
type Fault struct {
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Where   string  `json:"where"`
	StartMS float64 `json:"start_ms"`
	// StopMS is null when the fault never stopped, as far as the history
	// knows.
	StopMS *float64 `json:"stop_ms"`
	Error  string   `json:"error,omitempty"`
}

// Figures are the report row's numbers (checks.Measure, in report units).
// Custom, Cached, Default, Degraded and MaxAttempts are null when the
// target does not show what they count (NotObservable names them).
type Figures struct {
	Messages    int     `json:"messages"`
	Custom      *int    `json:"custom"`
	Cached      *int    `json:"cached"`
	Default     *int    `json:"default"`
	Degraded    *int    `json:"degraded"`
	MaxAttempts *int    `json:"max_attempts"`
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	Faults      int     `json:"faults"`
	// TimeToFallbackMS is null when there was no fault or no degraded reply
	// after the first fault started, or the target does not show degraded
	// (NotObservable says which).
	TimeToFallbackMS *float64 `json:"time_to_fallback_ms"`
	// RecoveryMS is null when there was no fault, or it never recovered.
	RecoveryMS *float64 `json:"recovery_ms"`
	// NotObservable names the figures the target did not let the harness
	// measure, by their JSON names (custom, cached, default, degraded,
	// max_attempts, time_to_fallback_ms); omitted when it saw them all.
	NotObservable []string `json:"not_observable,omitempty"`
}

// BreakerSpan is the breaker's state from FromMS to ToMS.
type BreakerSpan struct {
	State  string  `json:"state"`
	FromMS float64 `json:"from_ms"`
	ToMS   float64 `json:"to_ms"`
}

// Check is one checker's verdict (checks.Result, redacted). A check the
// target did not let the harness observe has NotObservable set and Passed
// false: it was never met, and it fails nothing.
type Check struct {
	Name          string `json:"name"`
	Guard         bool   `json:"guard"`
	Passed        bool   `json:"passed"`
	Skipped       bool   `json:"skipped"`
	NotObservable bool   `json:"not_observable,omitempty"`
	// Unseen is the evidence the target did not show: why the check is not
	// observable, or what the parts it left out needed.
	Unseen  []history.Evidence `json:"unseen,omitempty"`
	Promise string             `json:"promise"`
	Detail  string             `json:"detail,omitempty"`
	// Ops are the offending ops' indexes, Logs the offending log lines'
	// positions in the history.
	Ops  []int `json:"ops,omitempty"`
	Logs []int `json:"logs,omitempty"`
}
