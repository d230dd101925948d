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
		Schema:      Schema,
		GeneratedAt: now.UTC().Truncate(time.Second),
		Run:         filepath.Base(runDir),
		CatalogSize: len(catalog),
		NotRun:      []string{},
		Severities:  sev,
		Scenarios:   []Scenario{},
	}
	info, ok, err := ReadRunInfo(runDir)
	if err != nil {
		return r, nil, err
	}
	if ok {
		info.LabelFilter = redact(info.LabelFilter)
		for i := range info.Images {
			info.Images[i].Name = redact(info.Images[i].Name)
			info.Images[i].Version = redact(info.Images[i].Version)
		}
		r.Environment = &info
	}

	hists, err := readHistories(runDir, catalog)
	if err != nil {
		return r, nil, err
	}
	charts := map[string]string{}
	for _, s := range catalog {
		h, ok := hists[s.Name]
		if !ok {
			r.NotRun = append(r.NotRun, s.Name)
			continue
		}
		row, err := scenarioRow(sev, s, h)
		if err != nil {
			return r, nil, err
		}
		sr := seriesOf(s, h)
		row.Breaker = sr.breaker
		if row.Breaker == nil {
			row.Breaker = []BreakerSpan{}
		}
		row.Retries = len(sr.retries)
		_, rates := retryRates(sr.retries, sr.end)
		row.PeakRetriesPerSecond = slices.Max(rates)
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
		if row.Verdict == Pass {
			r.ScenariosPassed++
		}
	}
	r.Score = score(r.Scenarios)
	switch {
	case r.ScenariosRun == 0:
		r.Verdict = Empty
	case r.ScenariosPassed == r.ScenariosRun:
		r.Verdict = Pass
	default:
		r.Verdict = Fail
	}
	return r, charts, nil
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
	for _, e := range h.Faults {
		f := Fault{Name: redact(e.Fault), Type: e.Type, Where: redact(e.Where), StartMS: ms(e.Start), Error: redact(e.Err)}
		if e.Stop >= e.Start {
			f.StopMS = ptr(ms(e.Stop))
		}
		row.Faults = append(row.Faults, f)
	}
	for _, res := range checks.Run(s, h) {
		row.Checks = append(row.Checks, Check{
			Name:    res.Name,
			Guard:   res.Guard,
			Passed:  res.Passed,
			Skipped: res.Skipped,
			Promise: redact(res.Promise),
			Detail:  redact(res.Detail),
			Ops:     res.Ops,
			Logs:    res.Logs,
		})
		if !res.Passed {
			row.Verdict = Fail
			row.Invalid = row.Invalid || res.Guard
		}
		if !res.Skipped {
			row.ChecksCounted++
			if res.Passed {
				row.ChecksMet++
			}
		}
	}
	if row.ChecksCounted > 0 {
		row.Share = float64(row.ChecksMet) / float64(row.ChecksCounted)
	}
	f := checks.Measure(s, h)
	row.Figures = Figures{
		Messages:    f.Messages,
		Custom:      f.Custom,
		Cached:      f.Cached,
		Default:     f.Default,
		Degraded:    f.Degraded,
		MaxAttempts: f.MaxAttempts,
		P50MS:       ms(f.P50),
		P99MS:       ms(f.P99),
		Faults:      f.Faults,
	}
	if f.Faults > 0 {
		if f.TimeToFallback > 0 {
			row.Figures.TimeToFallbackMS = ptr(ms(f.TimeToFallback))
		}
		if f.Recovery >= 0 {
			row.Figures.RecoveryMS = ptr(ms(f.Recovery))
		}
	}
	return row, nil
}

// historyPath is a scenario's history file relative to the run dir, with
// forward slashes (it is also a link).
func historyPath(name string) string { return ScenariosDir + "/" + name + "/" + HistoryFile }

// botBuild reads the version label of the bot's bot_build_info metric.
func botBuild(h history.History) string {
	for k := range h.MetricsAfter {
		name, labels, err := botapi.ParseSeriesKey(k)
		if err == nil && name == "bot_build_info" && labels["version"] != "" {
			return redact(labels["version"])
		}
	}
	return ""
}

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
