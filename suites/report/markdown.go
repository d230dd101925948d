package report

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// detailLimit bounds a failure's detail in report.md; report.json and
// index.html carry it whole.
const detailLimit = 300

// renderMarkdown writes report.md: the verdict line first, then one row per
// scenario, then every broken promise with a link to its history.
func renderMarkdown(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Headline())
	if len(r.VerdictReasons) > 0 {
		b.WriteString("**Why " + strings.ToUpper(string(r.Verdict)) + ":**\n\n")
		for _, reason := range r.VerdictReasons {
			b.WriteString("- " + mdInline(reason) + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString(runLine(r) + "\n\n")
	if len(r.Scenarios) > 0 {
		b.WriteString("| scenario | faults | msgs | custom / cached / default | max attempts | p50 | p99 | time to fallback | recovery | verdict |\n")
		b.WriteString("|---|---|---:|---|---:|---:|---:|---:|---:|---|\n")
		for _, s := range r.Scenarios {
			fig := s.Figures
			fmt.Fprintf(&b, "| [%s](%s) | %s | %d | %d / %d / %d | %d | %s | %s | %s | %s | %s |\n",
				s.Name, s.History, mdCell(faultSummary(s)), fig.Messages, fig.Custom, fig.Cached, fig.Default,
				fig.MaxAttempts, fmtMS(fig.P50MS), fmtMS(fig.P99MS),
				fallbackText(fig), recoveryText(fig), verdictEmoji[verdictClass(s)]+" "+verdictCell(s))
		}
		b.WriteString("\n")
	}
	if others := otherSpecs(r); len(others) > 0 {
		b.WriteString("## Specs outside the scenarios\n\n")
		b.WriteString("| spec | labels | verdict | time |\n|---|---|---|---:|\n")
		for _, sp := range others {
			fmt.Fprintf(&b, "| %s | %s | %s %s | %s |\n", mdCell(sp.Name), mdCell(strings.Join(sp.Labels, ", ")),
				specEmoji(sp.Verdict), sp.Verdict, fmtMS(sp.DurationMS))
		}
		b.WriteString("\n")
	}
	if fails := failures(r); len(fails) > 0 {
		b.WriteString("## Failures\n\nEach failed spec with its failure and the evidence the suite gathered when it failed (`" + FailuresDir + "/`: the bot's full log, the last lines of the Postgres, PgBouncer and Toxiproxy logs; the scenario's history).\n\n")
		for _, f := range fails {
			line := fmt.Sprintf("- **%s** %s", mdInline(f.Name), f.State)
			if f.Node != "" {
				line += fmt.Sprintf(" in [%s]", f.Node)
			}
			if f.Location != "" {
				line += " at `" + f.Location + "`"
			}
			if f.Message != "" {
				line += ": " + mdInline(truncate(f.Message, detailLimit))
			}
			var links []string
			for _, e := range f.Evidence {
				links = append(links, fmt.Sprintf("[%s](%s)", e.Name, e.Path))
			}
			if len(links) > 0 {
				line += " — evidence: " + strings.Join(links, ", ")
			} else {
				line += " — no evidence gathered"
			}
			b.WriteString(line + "\n")
		}
		b.WriteString("\n")
	}
	var broken []string
	for _, bp := range brokenPromises(r) {
		line := fmt.Sprintf("- **%s** %s `%s`: %s", bp.Scenario, bp.Kind, bp.Check, mdInline(bp.Promise))
		if bp.Detail != "" {
			line += " — " + mdInline(truncate(bp.Detail, detailLimit))
		}
		line += fmt.Sprintf(" ([history](%s))", bp.History)
		broken = append(broken, line)
	}
	if len(broken) > 0 {
		b.WriteString("## Broken promises\n\n")
		b.WriteString(strings.Join(broken, "\n") + "\n\n")
	}
	b.WriteString("Open `index.html` for the charts (latency per message, fault windows, breaker state, retries) and every checker's verdict; `report.json` has the same content (schema `" + Schema + "`).\n")
	return b.String()
}

// Headline is report.md's first line without its "# ": the verdict's mark
// and verdictLine. make chaos prints it last.
func (r Report) Headline() string {
	return verdictEmoji[string(r.Verdict)] + " " + verdictLine(r)
}

// verdictLine is the report's first line: the hard verdict, how many
// scenarios kept all promises, and the score next to it.
func verdictLine(r Report) string {
	if r.Verdict == Empty {
		return "EMPTY: the run's filters selected no spec, so it proves nothing"
	}
	specs := "specs unknown (no " + SuiteFile + ")"
	if r.SpecsKnown {
		specs = fmt.Sprintf("%d of %d specs passed", r.SpecsPassed, r.SpecsSelected)
	}
	scen := "no scenario selected"
	if r.ScenariosSelected > 0 {
		scen = fmt.Sprintf("%d of %d scenarios kept all promises", r.ScenariosPassed, r.ScenariosSelected)
	}
	return fmt.Sprintf("%s: %s · %s · resilience score %s",
		strings.ToUpper(string(r.Verdict)), specs, scen, scoreText(r.Score))
}

// otherSpecs are the specs and suite nodes that play no scenario (the
// scenarios have their own table).
func otherSpecs(r Report) []SpecResult {
	var out []SpecResult
	for _, sp := range r.Specs {
		if sp.Scenario == "" {
			out = append(out, sp)
		}
	}
	return out
}

// specEmoji marks a spec's verdict in Markdown.
func specEmoji(v string) string {
	switch v {
	case string(Pass):
		return "✅"
	case string(Fail), "not run":
		return "❌"
	}
	return "⚪"
}

type link struct{ Name, Path string }

// failureItem is one failed spec in the Failures section.
type failureItem struct {
	Name, State, Node, Location, Message string
	Evidence                             []link
}

// failures lists every failed spec with its evidence, for both renderings.
func failures(r Report) []failureItem {
	var out []failureItem
	for _, sp := range r.Specs {
		if sp.Verdict != string(Fail) {
			continue
		}
		f := failureItem{Name: sp.Name, State: sp.State, Node: sp.FailureNode, Location: sp.Location, Message: sp.Failure}
		for _, p := range sp.Evidence {
			f.Evidence = append(f.Evidence, link{Name: path.Base(p), Path: p})
		}
		out = append(out, f)
	}
	return out
}

// verdictEmoji marks verdicts in Markdown (GitHub renders them; the HTML
// uses colours instead, as a headless browser may have no emoji font).
var verdictEmoji = map[string]string{
	string(Pass): "✅", string(Fail): "❌", string(Empty): "⚪", "invalid": "⚠️",
}

// verdictClass is pass, fail, or invalid (a validity guard failed).
func verdictClass(s Scenario) string {
	if s.Invalid {
		return "invalid"
	}
	return string(s.Verdict)
}

func scoreText(s *float64) string {
	if s == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f/100", *s)
}

// runLine says which run this is and what it ran on.
func runLine(r Report) string {
	first := fmt.Sprintf("Run `%s`: %d of %d catalog scenarios ran", r.Run, r.ScenariosRun, r.CatalogSize)
	listed := func(label string, names []string) {
		switch n := len(names); {
		case n > 0 && n <= 8:
			first += " (" + label + ": " + strings.Join(names, ", ") + ")"
		case n > 8:
			first += fmt.Sprintf(" (%d %s)", n, label)
		}
	}
	if r.SpecsKnown {
		listed("not selected", r.NotSelected)
		listed("did not complete", r.Incomplete)
	} else {
		listed("not run", r.NotRun)
	}
	parts := []string{first}
	if e := r.Environment; e != nil {
		if e.Target != "" {
			parts = append(parts, "target `"+e.Target+"`")
		}
		if e.Stack != "" {
			parts = append(parts, e.Stack+" stack")
		}
		if e.LabelFilter != "" {
			parts = append(parts, "labels `"+e.LabelFilter+"`")
		}
		parts = append(parts, e.GoVersion)
		if e.GinkgoVersion != "" {
			parts = append(parts, "Ginkgo "+e.GinkgoVersion)
		}
		parts = append(parts, fmt.Sprintf("%d cores", e.Cores))
		if e.Processes > 1 {
			parts = append(parts, fmt.Sprintf("%d Ginkgo processes, a stack each", e.Processes))
		}
		if e.Shard != "" && len(r.Runs) == 0 {
			parts = append(parts, "shard "+e.Shard+" of the catalog")
		}
	}
	if r.BotBuild != "" {
		parts = append(parts, "bot `"+r.BotBuild+"`")
	}
	if len(r.Runs) > 0 {
		var runs []string
		for _, mr := range r.Runs {
			run := "`" + mr.Name + "`"
			if mr.Shard != "" {
				run += " (shard " + mr.Shard + ")"
			}
			runs = append(runs, fmt.Sprintf("%s: %d", run, len(mr.Scenarios)))
		}
		parts = append(parts, fmt.Sprintf("merged from %d runs (scenarios each: %s)", len(r.Runs), strings.Join(runs, ", ")))
	}
	return strings.Join(parts, " · ") + ". The score starts at 100 and each failed scenario takes its severity's share of what is left (15, 25 or 40 %; a failed spec outside the scenarios 40 %); the verdict is the gate, the score only sits next to it."
}

// faultSummary lists a scenario's measured fault windows.
func faultSummary(s Scenario) string {
	if len(s.Faults) == 0 {
		return "none"
	}
	var parts []string
	for _, f := range s.Faults {
		stop := "never stopped"
		if f.StopMS != nil {
			stop = fmt.Sprintf("%.1fs", *f.StopMS/1000)
		}
		p := fmt.Sprintf("%s %s %.1f–%s", f.Type, f.Where, f.StartMS/1000, stop)
		if f.Name != f.Type {
			p = f.Name + ": " + p
		}
		if f.Error != "" {
			p += " (error)"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func fallbackText(f Figures) string {
	switch {
	case f.Faults == 0:
		return "—"
	case f.TimeToFallbackMS == nil:
		return "none"
	}
	return fmtMS(*f.TimeToFallbackMS)
}

func recoveryText(f Figures) string {
	switch {
	case f.Faults == 0:
		return "—"
	case f.RecoveryMS == nil:
		return "never"
	}
	return fmtMS(*f.RecoveryMS)
}

func verdictCell(s Scenario) string {
	if s.Verdict == Pass {
		return "pass"
	}
	return fmt.Sprintf("%s (%d of %d checks met)", verdictClass(s), s.ChecksMet, s.ChecksCounted)
}

// fmtMS prints milliseconds the way a reader compares them: 0.8ms, 42ms,
// 1.25s.
func fmtMS(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", v)
	case d < time.Second:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.2fs", v/1000)
}

// mdCell escapes what would break a table cell.
func mdCell(s string) string { return strings.ReplaceAll(mdInline(s), "|", `\|`) }

// mdInline keeps text on one line.
func mdInline(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	// Redacted again: a cut through a masked secret ("token: xx…") would
	// no longer read as masked, and checkRedacted would refuse the report.
	return redact(string(r[:n]) + "…")
}
