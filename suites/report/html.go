package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
)

//go:embed index.html.tmpl
var indexTemplate string

// page is what index.html.tmpl renders.
type page struct {
	Report
	VerdictLine string
	RunLine     string
	Rows        []pageRow
	Broken      []brokenPromise
	SeverityRow []kindSeverity
	OtherSpecs  []SpecResult
	Failures    []failureItem
	Costs       []severityCost
	Unobserved  []unobservedGroup
}

type severityCost struct {
	Severity int
	Percent  float64
}

type pageRow struct {
	Scenario
	FaultText    string
	P50, P99     string
	Sources      string // custom / cached / default, or n/a
	MaxAttempts  string
	RetriesText  string // "N (peak M/s)", or n/a
	Fallback     string
	Recovery     string
	VerdictText  string
	VerdictClass string
	PolicyText   string
	// Chart is the SVG gonum/plot rendered from redacted data; it is
	// trusted markup.
	Chart template.HTML
}

type brokenPromise struct {
	Scenario, Check, Kind, Promise, Detail, History string
}

// brokenPromises lists every failed check of r, for both renderings.
func brokenPromises(r Report) []brokenPromise {
	var out []brokenPromise
	for _, s := range r.Scenarios {
		for _, c := range s.Checks {
			if c.Passed || c.NotObservable {
				continue
			}
			kind := "broke"
			if c.Guard {
				kind = "proved nothing"
			}
			out = append(out, brokenPromise{s.Name, c.Name, kind, c.Promise, c.Detail, s.History})
		}
	}
	return out
}

type kindSeverity struct {
	Kind     string
	Severity int
}

var pageFuncs = template.FuncMap{
	"ms":     fmtMS,
	"policy": policyText,
	"pct":    func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"join":   strings.Join,
	"upper":  func(v Verdict) string { return strings.ToUpper(string(v)) },
	"state":  checkState,
}

// checkState is a check's verdict as the page shows it: its CSS class and
// its word. A check not observable reads neither met nor broken.
func checkState(c Check) (st struct{ Class, Text string }) {
	switch {
	case c.NotObservable:
		st.Class, st.Text = "unobserved", "not observable"
	case c.Skipped:
		st.Class, st.Text = "skipped", "skipped"
	case c.Passed:
		st.Class, st.Text = "pass", "met"
	case c.Guard:
		st.Class, st.Text = "invalid", "BROKEN"
	default:
		st.Class, st.Text = "fail", "BROKEN"
	}
	return st
}

// retriesText is the retry count and peak rate, or n/a when the target
// shows no retry log.
func retriesText(s Scenario) string {
	if s.Retries == nil || s.PeakRetriesPerSecond == nil {
		return notObservableText
	}
	return fmt.Sprintf("%d (peak %.0f/s)", *s.Retries, *s.PeakRetriesPerSecond)
}

var pageTemplate = template.Must(template.New("index").Funcs(pageFuncs).Parse(indexTemplate))

// renderHTML writes index.html: one self-contained file (inline CSS and
// SVG, no script, no external reference) that opens offline.
func renderHTML(r Report, charts map[string]string) ([]byte, error) {
	p := page{Report: r, VerdictLine: verdictLine(r), RunLine: runLine(r)}
	for _, s := range r.Scenarios {
		row := pageRow{
			Scenario:    s,
			FaultText:   faultSummary(s),
			P50:         fmtMS(s.Figures.P50MS),
			P99:         fmtMS(s.Figures.P99MS),
			Sources:     sourcesText(s.Figures),
			MaxAttempts: count(s.Figures.MaxAttempts),
			RetriesText: retriesText(s),
			Fallback:    fallbackText(s.Figures),
			Recovery:    recoveryText(s.Figures),
			VerdictText: verdictCell(s),
			PolicyText:  policyText(s.Policy),
			Chart:       template.HTML(charts[s.Name]), // #nosec G203 -- gonum/plot output over redacted text
		}
		row.VerdictClass = verdictClass(s)
		p.Rows = append(p.Rows, row)
	}
	p.Broken = brokenPromises(r)
	p.Unobserved = unobserved(r)
	p.OtherSpecs = otherSpecs(r)
	p.Failures = failures(r)
	for _, sev := range slices.Sorted(maps.Keys(failureCost)) {
		p.Costs = append(p.Costs, severityCost{sev, 100 * failureCost[sev]})
	}
	for _, k := range slices.Sorted(maps.Keys(r.Severities)) {
		p.SeverityRow = append(p.SeverityRow, kindSeverity{k, r.Severities[k]})
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("render %s: %w", HTMLFile, err)
	}
	return buf.Bytes(), nil
}

// policyText summarises a retry policy in one line.
func policyText(p Policy) string {
	s := fmt.Sprintf("%d attempts, backoff %s×%g up to %s", p.MaxAttempts, fmtMS(ms(p.BaseDelay)), p.Factor, fmtMS(ms(p.MaxDelay)))
	if p.Jitter {
		s += " (full jitter)"
	}
	s += fmt.Sprintf(", attempt timeout %s, budget %s", fmtMS(ms(p.AttemptTimeout)), fmtMS(ms(p.Budget)))
	if b := p.Breaker; b.Enabled {
		s += fmt.Sprintf("; breaker opens after %d failure(s), half-opens after %s, closes after %d success(es)",
			b.FailureThreshold, fmtMS(ms(b.Delay)), b.SuccessThreshold)
	} else {
		s += "; breaker disabled"
	}
	return s
}
