package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/checks"
	"github.com/p1001/p1001/suites/history"
)

// Output files, in the run dir.
const (
	JSONFile     = "report.json"
	MarkdownFile = "report.md"
	HTMLFile     = "index.html"
	// ScenariosDir holds scenarios/<name>/history.jsonl.
	ScenariosDir = "scenarios"
	HistoryFile  = "history.jsonl"
)

// StepSummaryEnv names the file GitHub Actions shows as the job summary.
const StepSummaryEnv = "GITHUB_STEP_SUMMARY"

// Build reads every scenarios/<name>/history.jsonl under runDir (and
// runDir/run.json when present), runs the checkers and measures each
// scenario against its catalog entry, and writes report.json, report.md and
// index.html into runDir. When $GITHUB_STEP_SUMMARY is set it also appends
// report.md to that file. Scenarios without a history are listed as not
// run; a history whose scenario is not in the catalog is an error naming
// the file. Nothing is written unless every output passes the redaction
// guard.
func Build(runDir string, catalog []scenarios.Scenario) (Report, error) {
	r, charts, err := assemble(runDir, catalog, time.Now())
	if err != nil {
		return r, err
	}
	jsonOut, err := renderJSON(r)
	if err != nil {
		return r, err
	}
	mdOut := []byte(renderMarkdown(r))
	htmlOut, err := renderHTML(r, charts)
	if err != nil {
		return r, err
	}
	outs := []struct {
		name string
		b    []byte
	}{{JSONFile, jsonOut}, {MarkdownFile, mdOut}, {HTMLFile, htmlOut}}
	for _, o := range outs {
		if err := checkRedacted(o.name, o.b); err != nil {
			return r, err
		}
	}
	for _, o := range outs {
		if err := writeFile(filepath.Join(runDir, o.name), o.b); err != nil {
			return r, err
		}
	}
	if path := os.Getenv(StepSummaryEnv); path != "" {
		if err := appendFile(path, mdOut); err != nil {
			return r, fmt.Errorf("append the report to $%s: %w", StepSummaryEnv, err)
		}
	}
	return r, nil
}

// assemble computes the report and the per-scenario charts (by name).
func assemble(runDir string, catalog []scenarios.Scenario, now time.Time) (Report, map[string]string, error) {
	sev := severities()
	r := Report{
		Schema:         Schema,
		GeneratedAt:    now.UTC().Truncate(time.Second),
		Run:            filepath.Base(runDir),
		VerdictReasons: []string{},
		CatalogSize:    len(catalog),
		NotRun:         []string{},
		NotSelected:    []string{},
		Incomplete:     []string{},
		Severities:     sev,
		Scenarios:      []Scenario{},
		Specs:          []SpecResult{},
	}
	info, ok, err := ReadRunInfo(runDir)
	if err != nil {
		return r, nil, err
	}
	if ok {
		r.Environment = redactInfo(info)
	}
	m, merged, err := ReadMerge(runDir)
	if err != nil {
		return r, nil, err
	}
	if merged {
		for _, mr := range m.Runs {
			mr.Source = redact(mr.Source)
			if mr.Environment != nil {
				mr.Environment = redactInfo(*mr.Environment)
				if r.Environment == nil {
					r.Environment = mr.Environment
				}
			}
			r.Runs = append(r.Runs, mr)
		}
	}
	suite, known, err := ReadSuite(runDir)
	if err != nil {
		return r, nil, err
	}
	r.SpecsKnown = known
	if err := r.addSpecs(runDir, suite); err != nil {
		return r, nil, err
	}

	hists, err := readHistories(runDir, catalog)
	if err != nil {
		return r, nil, err
	}
	selected := map[string]bool{}
	for _, name := range suite.ScenariosSelected {
		selected[name] = true
	}
	specOf := map[string]Spec{}
	for _, sp := range suite.Specs {
		if sp.Scenario != "" {
			specOf[sp.Scenario] = sp
		}
	}
	var outcomes []outcome
	charts := map[string]string{}
	for _, s := range catalog {
		h, ran := hists[s.Name]
		sp, hasSpec := specOf[s.Name]
		if !ran {
			r.NotRun = append(r.NotRun, s.Name)
			switch {
			case !known: // whether the filters selected it is unknown
			case !selected[s.Name]:
				r.NotSelected = append(r.NotSelected, s.Name)
			default:
				r.Incomplete = append(r.Incomplete, s.Name)
				r.ScenariosSelected++
				w, _, err := severityOf(sev, s)
				if err != nil {
					return r, nil, err
				}
				outcomes = append(outcomes, outcome{severity: w})
			}
			continue
		}
		// A scenario with a history completed when its spec ran to its end
		// (without suite.json, the history is all there is to go by).
		if known && !(hasSpec && sp.completed()) {
			r.Incomplete = append(r.Incomplete, s.Name)
		}
		row, err := scenarioRow(sev, s, h)
		if err != nil {
			return r, nil, err
		}
		if hasSpec {
			row.SpecState = sp.State
			if !sp.completed() || sp.failed() {
				row.Verdict = Fail
			}
		} else if known {
			row.Verdict = Fail
		}
		if row.Verdict == Pass {
			row.Score = 1
		}
		// An inconclusive scenario was not judged: it neither keeps nor
		// costs anything in the score (the verdict says it is no pass).
		if row.Verdict != Inconclusive {
			outcomes = append(outcomes, outcome{severity: row.Severity, kept: row.Verdict == Pass})
		}
		sr := seriesOf(s, h)
		row.Breaker = sr.breaker
		if row.Breaker == nil {
			row.Breaker = []BreakerSpan{}
		}
		if sr.seesRetries {
			_, rates := retryRates(sr.retries, sr.end)
			row.Retries, row.PeakRetriesPerSecond = ptr(len(sr.retries)), ptr(slices.Max(rates))
		}
		chart, err := renderChart(sr, row.BreakerEnabled)
		if err != nil {
			return r, nil, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		charts[s.Name] = chart
		if r.BotBuild == "" {
			r.BotBuild = botBuild(h)
		}
		r.Scenarios = append(r.Scenarios, row)
		r.ScenariosRun++
		r.ScenariosSelected++
		switch row.Verdict {
		case Pass:
			r.ScenariosPassed++
		case Inconclusive:
			r.ScenariosInconclusive++
		}
	}
	for _, sp := range r.Specs {
		if sp.Scenario == "" && sp.failed() {
			outcomes = append(outcomes, outcome{severity: maxSeverity})
		}
	}
	r.Score = score(outcomes)
	r.VerdictReasons = verdictReasons(r, suite)
	unjudged := inconclusiveReasons(r)
	switch {
	case len(r.VerdictReasons) > 0:
		r.Verdict = Fail
	case known && suite.SpecsSelected == 0 || !known && r.ScenariosRun == 0:
		r.Verdict = Empty
	case len(unjudged) > 0:
		r.Verdict = Inconclusive
	default:
		r.Verdict = Pass
	}
	if r.Verdict != Empty {
		r.VerdictReasons = append(r.VerdictReasons, unjudged...)
	}
	return r, charts, nil
}

// redactInfo is run.json as a report may show it.
func redactInfo(info RunInfo) *RunInfo {
	info.LabelFilter = redact(info.LabelFilter)
	for i := range info.Images {
		info.Images[i].Name = redact(info.Images[i].Name)
		info.Images[i].Version = redact(info.Images[i].Version)
	}
	return &info
}

// addSpecs copies suite.json's specs into the report with their verdicts
// and evidence, and counts them.
func (r *Report) addSpecs(runDir string, suite Suite) error {
	for _, sp := range suite.Specs {
		res := SpecResult{Spec: sp, Evidence: []string{}}
		res.Name = redact(res.Name)
		res.Failure = redact(res.Failure)
		res.Location = redact(res.Location)
		switch {
		case sp.failed():
			res.Verdict = string(Fail)
		case sp.State == "passed":
			res.Verdict = string(Pass)
		case sp.State == "pending":
			res.Verdict = "pending"
		case sp.ran():
			res.Verdict = "skipped"
		case !sp.Selected:
			res.Verdict = "not selected"
		default:
			res.Verdict = "not run"
		}
		files, err := evidenceFiles(runDir, sp.Name)
		if err != nil {
			return err
		}
		res.Evidence = append(res.Evidence, files...)
		if sp.Scenario != "" && (sp.failed() || len(files) > 0) {
			res.Evidence = append(res.Evidence, historyPath(sp.Scenario))
		}
		if sp.isSpec() {
			switch {
			case sp.failed():
				r.SpecsFailed++
			case sp.State == "passed":
				r.SpecsPassed++
			}
		}
		r.Specs = append(r.Specs, res)
	}
	r.SpecsSelected = suite.SpecsSelected
	return nil
}

// maxReasonNames bounds the names one verdict reason lists.
const maxReasonNames = 6

// verdictReasons says, one sentence each, why the run is not a pass.
func verdictReasons(r Report, suite Suite) []string {
	out := []string{}
	if !r.SpecsKnown {
		out = append(out, "no "+SuiteFile+": the suite's record of its specs is missing (the suite stopped before its report, or the run dir predates the record), so the specs outside the scenarios are unknown")
	}
	for _, reason := range suite.FailureReasons {
		out = append(out, "the suite: "+firstLine(reason))
	}
	for _, sp := range r.Specs {
		if sp.Scenario == "" && sp.failed() {
			// Whole, on one line: Gomega's first line is often only
			// "Unexpected error:".
			out = append(out, fmt.Sprintf("%s %s: %s", sp.Name, sp.State, truncate(strings.Join(strings.Fields(sp.Failure), " "), 240)))
		}
	}
	if r.SpecsKnown {
		ran := 0
		for _, sp := range r.Specs {
			if sp.isSpec() && sp.ran() {
				ran++
			}
		}
		if missing := r.SpecsSelected - ran; missing > 0 {
			out = append(out, fmt.Sprintf("%d of %d selected specs did not run", missing, r.SpecsSelected))
		}
	}
	incomplete := r.Incomplete
	if len(r.Runs) > 0 {
		// A merge: a selected scenario without a history ran in no run
		// (a shard missing from the merge, or a run that stopped early).
		var none []string
		incomplete = nil
		for _, name := range r.Incomplete {
			if slices.Contains(r.NotRun, name) {
				none = append(none, name)
			} else {
				incomplete = append(incomplete, name)
			}
		}
		if n := len(none); n > 0 {
			out = append(out, fmt.Sprintf("%d catalog scenario(s) ran in none of the %d merged runs: %s", n, len(r.Runs), names(none)))
		}
	}
	if n := len(incomplete); n > 0 {
		out = append(out, fmt.Sprintf("%d selected scenario(s) did not complete: %s", n, names(incomplete)))
	}
	var broken, invalid, specFailed []string
	for _, s := range r.Scenarios {
		if slices.Contains(r.Incomplete, s.Name) {
			continue
		}
		switch {
		case s.Invalid:
			invalid = append(invalid, s.Name)
		case s.ChecksMet < s.ChecksCounted:
			broken = append(broken, s.Name)
		case s.Verdict == Fail:
			specFailed = append(specFailed, s.Name)
		}
	}
	if n := len(broken); n > 0 {
		out = append(out, fmt.Sprintf("%d scenario(s) broke promises: %s", n, names(broken)))
	}
	if n := len(invalid); n > 0 {
		out = append(out, fmt.Sprintf("%d scenario(s) proved nothing (a validity guard failed): %s", n, names(invalid)))
	}
	if n := len(specFailed); n > 0 {
		out = append(out, fmt.Sprintf("%d scenario spec(s) failed although every check passed: %s", n, names(specFailed)))
	}
	if r.SpecsKnown && !suite.Succeeded && len(out) == 0 {
		out = append(out, "Ginkgo reports the suite failed")
	}
	return out
}

// inconclusiveReasons says which scenarios the harness could not judge:
// they make a run that nothing failed inconclusive, never a pass.
func inconclusiveReasons(r Report) []string {
	var list []string
	for _, s := range r.Scenarios {
		if s.Verdict == Inconclusive && !slices.Contains(r.Incomplete, s.Name) {
			list = append(list, s.Name)
		}
	}
	if len(list) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d scenario(s) judged nothing: every behaviour check was not observable against the target: %s", len(list), names(list))}
}

func names(list []string) string {
	if len(list) <= maxReasonNames {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:maxReasonNames], ", ") + fmt.Sprintf(" and %d more", len(list)-maxReasonNames)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// readHistories reads runDir/scenarios/*/history.jsonl, by scenario name.
func readHistories(runDir string, catalog []scenarios.Scenario) (map[string]history.History, error) {
	known := map[string]bool{}
	for _, s := range catalog {
		known[s.Name] = true
	}
	paths, err := filepath.Glob(filepath.Join(runDir, ScenariosDir, "*", HistoryFile))
	if err != nil {
		return nil, fmt.Errorf("list histories in %s: %w", runDir, err)
	}
	out := map[string]history.History{}
	for _, path := range paths {
		h, err := readHistory(path)
		if err != nil {
			return nil, err
		}
		dir := filepath.Base(filepath.Dir(path))
		switch {
		case h.Scenario == "":
			return nil, fmt.Errorf("%s: no run record (field scenario is empty): the file is empty or truncated at its first line", path)
		case h.Scenario != dir:
			return nil, fmt.Errorf("%s: field scenario is %q, but the file is in the directory of %q", path, h.Scenario, dir)
		case !known[h.Scenario]:
			return nil, fmt.Errorf("%s: scenario %q is not in the catalog", path, h.Scenario)
		}
		out[h.Scenario] = h
	}
	return out, nil
}

func readHistory(path string) (history.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return history.History{}, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	h, err := history.ReadJSONL(f)
	if err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// scenarioRow runs the checkers and the figures over one history.
func scenarioRow(sev map[string]int, s scenarios.Scenario, h history.History) (Scenario, error) {
	weight, kinds, err := severityOf(sev, s)
	if err != nil {
		return Scenario{}, err
	}
	pol := s.Policy()
	row := Scenario{
		Name:           s.Name,
		Description:    redact(strings.TrimSpace(s.Description)),
		File:           filepath.Base(s.File),
		History:        historyPath(s.Name),
		Labels:         append([]string{}, s.Labels...),
		Kinds:          kinds,
		Severity:       weight,
		Verdict:        Pass,
		Policy:         PolicyOf(pol),
		BreakerEnabled: pol.Breaker.Enabled,
		Faults:         []Fault{},
		Checks:         []Check{},
	}
	if h.Target != nil {
		t := *h.Target
		t.Name = redact(t.Name)
		t.Observes = append([]history.Evidence{}, t.Observes...)
		row.Target = &t
	}
	for _, e := range h.Faults {
		f := Fault{Name: redact(e.Fault), Type: e.Type, Where: redact(e.Where), StartMS: ms(e.Start), Error: redact(e.Err)}
		if e.Stop >= e.Start {
			f.StopMS = ptr(ms(e.Stop))
		}
		row.Faults = append(row.Faults, f)
	}
	results := checks.Run(s, h)
	for _, res := range results {
		row.Checks = append(row.Checks, Check{
			Name:          res.Name,
			Guard:         res.Guard,
			Passed:        res.Passed,
			Skipped:       res.Skipped,
			NotObservable: res.NotObservable,
			Unseen:        res.Unseen,
			Promise:       redact(res.Promise),
			Detail:        redact(res.Detail),
			Ops:           res.Ops,
			Logs:          res.Logs,
		})
		// Read by state, not Passed: a check not observable has Passed
		// false and fails nothing.
		switch res.State() {
		case checks.StateBroken:
			row.Verdict = Fail
			row.Invalid = row.Invalid || res.Guard
			row.ChecksCounted++
		case checks.StateMet:
			row.ChecksCounted++
			row.ChecksMet++
		case checks.StateNotObservable:
			row.ChecksNotObservable++
		}
	}
	if checks.Inconclusive(results) {
		row.Verdict = Inconclusive
	}
	if row.ChecksCounted > 0 {
		row.Share = float64(row.ChecksMet) / float64(row.ChecksCounted)
	}
	f := checks.Measure(s, h)
	seen := func(fig string, v int) *int {
		if !f.Sees(fig) {
			row.Figures.NotObservable = append(row.Figures.NotObservable, fig)
			return nil
		}
		return &v
	}
	row.Figures = Figures{
		Messages: f.Messages,
		P50MS:    ms(f.P50),
		P99MS:    ms(f.P99),
		Faults:   f.Faults,
	}
	row.Figures.Custom = seen(checks.FigCustom, f.Custom)
	row.Figures.Cached = seen(checks.FigCached, f.Cached)
	row.Figures.Default = seen(checks.FigDefault, f.Default)
	row.Figures.Degraded = seen(checks.FigDegraded, f.Degraded)
	row.Figures.MaxAttempts = seen(checks.FigMaxAttempts, f.MaxAttempts)
	if !f.Sees(checks.FigTimeToFallback) {
		row.Figures.NotObservable = append(row.Figures.NotObservable, figTimeToFallback)
	}
	if f.Faults > 0 {
		if f.TimeToFallback > 0 && f.Sees(checks.FigTimeToFallback) {
			row.Figures.TimeToFallbackMS = ptr(ms(f.TimeToFallback))
		}
		if f.Recovery >= 0 {
			row.Figures.RecoveryMS = ptr(ms(f.Recovery))
		}
	}
	return row, nil
}

// figTimeToFallback is the time-to-fallback figure's JSON name.
const figTimeToFallback = "time_to_fallback_ms"

// historyPath is a scenario's history file relative to the run dir, with
// forward slashes (it is also a link).
func historyPath(name string) string { return ScenariosDir + "/" + name + "/" + HistoryFile }

// botBuild reads the version label of the bot's bot_build_info metric.
func botBuild(h history.History) string { return redact(botapi.BuildVersion(h.MetricsAfter)) }

func renderJSON(r Report) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// No HTML escaping: '&' stays '&' so the redaction guard reads the
	// same text a person does.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode %s: %w", JSONFile, err)
	}
	return buf.Bytes(), nil
}

// writeFile replaces path through a temporary file, so that a reader never
// sees half a report.
func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ptr[T any](v T) *T { return &v }
