package report

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/suites/checks"
	"github.com/p1001/p1001/suites/history"
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
			fmt.Fprintf(&b, "| [%s](%s) | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n",
				s.Name, s.History, mdCell(faultSummary(s)), fig.Messages, sourcesText(fig),
				count(fig.MaxAttempts), fmtMS(fig.P50MS), fmtMS(fig.P99MS),
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
	if groups := unobserved(r); len(groups) > 0 {
		b.WriteString("## Not observable\n\n" + unobservedIntro + "\n\n")
		for _, g := range groups {
			fmt.Fprintf(&b, "- `%s` %s in %d scenario(s) (%s): %s\n", g.Check, g.Kind, len(g.Scenarios), names(g.Scenarios), mdInline(g.Reason))
		}
		b.WriteString("\n")
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
	if r.ScenariosInconclusive > 0 {
		scen += fmt.Sprintf(", %d judged nothing (not observable)", r.ScenariosInconclusive)
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
	string(Pass): "✅", string(Fail): "❌", string(Empty): "⚪", "invalid": "⚠️", string(Inconclusive): "❔",
}

// verdictClass is pass, fail, inconclusive, or invalid (a validity guard
// failed).
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
		if e.Target != "" && len(targets(r)) == 0 { // no scenario says what it showed
			parts = append(parts, "target `"+e.Target+"`")
		}
		if e.Stack != "" {
			parts = append(parts, e.Stack+" stack")
		}
		for _, name := range slices.Sorted(maps.Keys(e.NotPlayable)) {
			parts = append(parts, fmt.Sprintf("%s %s", name, e.NotPlayable[name]))
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
	parts = append(parts, targets(r)...)
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

// notObservableText stands for a figure the target did not let the
// harness measure: never a zero.
const notObservableText = "n/a"

// count prints a count, or n/a when it was not observable.
func count(v *int) string {
	if v == nil {
		return notObservableText
	}
	return fmt.Sprint(*v)
}

// sourcesText is the custom / cached / default cell.
func sourcesText(f Figures) string {
	if f.Custom == nil && f.Cached == nil && f.Default == nil {
		return notObservableText
	}
	return count(f.Custom) + " / " + count(f.Cached) + " / " + count(f.Default)
}

func fallbackText(f Figures) string {
	switch {
	case f.Faults == 0:
		return "—"
	case slices.Contains(f.NotObservable, figTimeToFallback):
		return notObservableText
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
	switch {
	case s.Verdict == Inconclusive:
		return fmt.Sprintf("inconclusive (%d checks not observable, no behaviour judged)", s.ChecksNotObservable)
	case s.Verdict == Pass && s.ChecksNotObservable > 0:
		return fmt.Sprintf("pass (%d not observable)", s.ChecksNotObservable)
	case s.Verdict == Pass:
		return "pass"
	case s.ChecksNotObservable > 0:
		return fmt.Sprintf("%s (%d of %d checks met, %d not observable)", verdictClass(s), s.ChecksMet, s.ChecksCounted, s.ChecksNotObservable)
	}
	return fmt.Sprintf("%s (%d of %d checks met)", verdictClass(s), s.ChecksMet, s.ChecksCounted)
}

// unobservedIntro explains the Not observable section.
const unobservedIntro = "Promises the target does not let the harness see (it does not show the reply field, log lines, " +
	"table or metrics they read): never met, never broken, left out of the score; and the parts of judged checks left out for the same reason."

// unobservedGroup is one check left unjudged, whole or in part, for the
// same reason in several scenarios.
type unobservedGroup struct {
	Check, Kind, Reason string
	Scenarios           []string
}

// unobserved groups the checks not observable (and the judged checks
// with parts left out) by check and reason, in check order.
func unobserved(r Report) []unobservedGroup {
	var out []unobservedGroup
	at := map[string]int{}
	for _, s := range r.Scenarios {
		for _, c := range s.Checks {
			if len(c.Unseen) == 0 || c.Skipped {
				continue
			}
			kind, reason := "not observable", c.Detail
			if !c.NotObservable {
				kind = "judged without " + evidenceText(c.Unseen)
				reason = unjudgedParts(c.Detail)
			}
			key := c.Name + "\x00" + kind + "\x00" + reason
			i, ok := at[key]
			if !ok {
				i = len(out)
				at[key] = i
				out = append(out, unobservedGroup{Check: c.Name, Kind: kind, Reason: reason})
			}
			out[i].Scenarios = append(out[i].Scenarios, s.Name)
		}
	}
	slices.SortStableFunc(out, func(a, b unobservedGroup) int { return checkOrder(a.Check) - checkOrder(b.Check) })
	return out
}

// unjudgedParts keeps the "not judged (...)" notes of a detail.
func unjudgedParts(detail string) string {
	var parts []string
	for _, p := range strings.Split(detail, ". ") {
		if strings.HasPrefix(p, "not judged (") {
			parts = append(parts, strings.TrimSuffix(p, "."))
		}
	}
	return strings.Join(parts, "; ")
}

func evidenceText(es []history.Evidence) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func checkOrder(name string) int {
	for i, c := range checks.Checks() {
		if c.Name == name {
			return i
		}
	}
	return len(name)
}

// targets describes the targets the run's histories were recorded
// against (none for p1001's own bot recorded without one).
func targets(r Report) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range r.Scenarios {
		t := s.Target
		if t == nil {
			continue
		}
		shows := evidenceText(t.Observes)
		if shows == "" {
			shows = "nothing beyond status, reply text and timing"
		}
		d := fmt.Sprintf("target `%s` (shows %s)", t.Name, shows)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
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
