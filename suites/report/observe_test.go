package report

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/checks"
	"github.com/p1001/p1001/suites/history"
	"github.com/p1001/p1001/suites/history/historytest"
)

var blind = historytest.AsTarget

// answers500 makes every third request of h fail with HTTP 500, as a bot
// without retry or fallback does while its database is away.
func answers500(h *history.History) {
	for i := range h.Ops {
		if i%3 == 0 {
			h.Ops[i].Outcome, h.Ops[i].Status, h.Ops[i].Reply.Text = history.Fail, 500, ""
		}
	}
}

// targetRun builds a report over the healthy-baseline fixture history,
// changed by mod, played as scenario s, in a run whose every spec passed.
func targetRun(t *testing.T, s scenarios.Scenario, mod func(*history.History)) (string, Report) {
	t.Helper()
	t.Setenv(StepSummaryEnv, "")
	runDir := filepath.Join(t.TempDir(), "run")
	h := readFixtureHistory(t, "healthy-baseline")
	mod(&h)
	dir := filepath.Join(runDir, ScenariosDir, s.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.WriteJSONL(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	suite := Suite{Schema: SuiteSchema, Succeeded: true, FailureReasons: []string{}, SpecsTotal: 1, SpecsSelected: 1,
		ScenariosSelected: []string{s.Name},
		Specs:             []Spec{{Name: "scenario keeps the bot's promises " + s.Name, Node: "It", Scenario: s.Name, Labels: []string{}, State: "passed", Selected: true}}}
	if err := WriteSuite(runDir, suite); err != nil {
		t.Fatal(err)
	}
	r, err := Build(runDir, []scenarios.Scenario{s})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return runDir, r
}

// jsonCheck finds a check of the first scenario in report.json, as a
// consumer reads it.
func jsonCheck(t *testing.T, doc map[string]any, name string) map[string]any {
	t.Helper()
	for _, c := range doc["scenarios"].([]any)[0].(map[string]any)["checks"].([]any) {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("report.json has no check %s", name)
	return nil
}

// TestReportByObservability renders runs against targets that hide
// evidence: what they hide is "not observable" in report.md, index.html
// and report.json, with the reason, never met and never broken; it is
// left out of the counts and the score, and its figures read n/a (null),
// never 0. Black-box promises still fail a bot that answers 500.
func TestReportByObservability(t *testing.T) {
	baseline := scenarioByName(t, "healthy-baseline")
	// unjudged: a scenario whose every behaviour check needs a reply
	// field: a blind target lets the harness judge none of them.
	unjudged := baseline
	unjudged.Expect.AllAnswered = false
	unjudged.Expect.Effect = scenarios.EffectDegraded
	tests := []struct {
		name     string
		scenario scenarios.Scenario
		history  func(*history.History)
		verdict  Verdict
		row      Verdict // the scenario's verdict
		score    *float64
		headline string
		md       []string // report.md must hold
		broken   []string // checks listed as broken
		retries  bool     // the target shows its retry log
	}{
		{
			name: "blind target, a bot that answers", scenario: baseline, history: blind("naive"),
			verdict: Pass, row: Pass, score: ptr(100.0),
			headline: "# ✅ PASS: 1 of 1 specs passed · 1 of 1 scenarios kept all promises · resilience score 100.0/100",
			md: []string{
				"| n/a | n/a |", // sources, max attempts
				"✅ pass (10 not observable) |",
				"target `naive` (shows nothing beyond status, reply text and timing)",
				"## Not observable",
				"- `attempts-bounded` not observable in 1 scenario(s) (healthy-baseline): not observable: target naive does not show attempts",
				"- `every-message-answered` judged without message_log in 1 scenario(s) (healthy-baseline): not judged (target naive does not show message_log): message_log holds",
			},
		},
		{
			name: "blind target, a naive bot answering 500", scenario: baseline,
			history: func(h *history.History) { answers500(h); blind("naive")(h) },
			verdict: Fail, row: Fail, score: ptr(85.0),
			headline: "# ❌ FAIL: 1 of 1 specs passed · 0 of 1 scenarios kept all promises · resilience score 85.0/100",
			md: []string{
				"⚠️ invalid (3 of 5 checks met, 10 not observable) |",
				"- **healthy-baseline** broke `every-message-answered`: ",
				"outcome fail, HTTP 500",
				"- `outbox-drained` not observable in 1 scenario(s) (healthy-baseline): not observable: target naive does not show metrics",
			},
			broken: []string{checks.NameSteadyState, checks.NameAnswered},
		},
		{
			name: "blind target, nothing judged", scenario: unjudged, history: blind("naive"),
			verdict: Inconclusive, row: Inconclusive, score: nil,
			headline: "# ❔ INCONCLUSIVE: 1 of 1 specs passed · 0 of 1 scenarios kept all promises, 1 judged nothing (not observable) · resilience score n/a",
			md: []string{
				"**Why INCONCLUSIVE:**\n\n- 1 scenario(s) judged nothing: every behaviour check was not observable against the target: healthy-baseline\n",
				"❔ inconclusive (11 checks not observable, no behaviour judged) |",
				"- `effect-on-replies` not observable in 1 scenario(s) (healthy-baseline): not observable: target naive does not show degraded",
			},
		},
		{
			name: "attempts and retry log shown", scenario: baseline, history: blind("fixed", history.SeesAttempts, history.SeesRetryLog, history.SeesCommands, history.SeesPrompts),
			verdict: Pass, row: Pass, score: ptr(100.0), retries: true,
			md: []string{"| n/a | 1 |", "target `fixed` (shows attempts, retry_log, commands, prompts)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runDir, r := targetRun(t, tt.scenario, tt.history)
			row := r.Scenarios[0]
			if r.Verdict != tt.verdict || row.Verdict != tt.row {
				t.Errorf("verdict %s, scenario %s; want %s, %s (reasons %q)", r.Verdict, row.Verdict, tt.verdict, tt.row, r.VerdictReasons)
			}
			if (r.Score == nil) != (tt.score == nil) || r.Score != nil && math.Abs(*r.Score-*tt.score) > 1e-9 {
				t.Errorf("score %v, want %v", fmtScore(r.Score), fmtScore(tt.score))
			}
			// The counts: every check is met, broken, skipped or not
			// observable, and only the first two are counted.
			skipped, unseen, met := 0, 0, 0
			var broken []string
			for _, c := range row.Checks {
				switch {
				case c.NotObservable:
					unseen++
					if c.Passed || c.Skipped {
						t.Errorf("%s: not observable, yet passed %v skipped %v", c.Name, c.Passed, c.Skipped)
					}
					if len(c.Unseen) == 0 || !strings.Contains(c.Detail, "not observable: target ") {
						t.Errorf("%s: not observable without its reason: unseen %v, detail %q", c.Name, c.Unseen, c.Detail)
					}
				case c.Skipped:
					skipped++
				case c.Passed:
					met++
				default:
					broken = append(broken, c.Name)
				}
			}
			if row.ChecksNotObservable != unseen || row.ChecksMet != met || row.ChecksCounted != met+len(broken) || unseen == 0 {
				t.Errorf("counted %d met %d not observable %d; the checks say %d, %d, %d", row.ChecksCounted, row.ChecksMet, row.ChecksNotObservable, met+len(broken), met, unseen)
			}
			if !slices.Equal(broken, tt.broken) {
				t.Errorf("broken %v, want %v", broken, tt.broken)
			}
			var listed []string
			for _, bp := range brokenPromises(r) {
				listed = append(listed, bp.Check)
			}
			if !slices.Equal(listed, tt.broken) {
				t.Errorf("broken promises list %v, want %v", listed, tt.broken)
			}

			md := readFile(t, filepath.Join(runDir, MarkdownFile))
			if tt.headline != "" && !strings.HasPrefix(md, tt.headline+"\n") {
				t.Errorf("headline %q, want %q", strings.SplitN(md, "\n", 2)[0], tt.headline)
			}
			if r.Verdict != Pass && strings.HasPrefix(md, "# ✅") {
				t.Errorf("a %s run reads as a pass: %q", r.Verdict, strings.SplitN(md, "\n", 2)[0])
			}
			for _, want := range tt.md {
				if !strings.Contains(md, want) {
					t.Errorf("report.md lacks %q\n%s", want, md)
				}
			}
			if cells := tableRow(t, md, row.Name); cells[3] == "0 / 0 / 0" || !tt.scenario.Expect.AllAnswered && cells[4] == "0" {
				t.Errorf("report.md shows zeros for figures it did not measure: %q", cells)
			}

			page := readFile(t, filepath.Join(runDir, HTMLFile))
			sec := section(t, page, row.Name)
			if !strings.Contains(sec, `<td><code>`+checks.NameCacheAge+`</code></td><td class="unobserved">not observable</td>`) {
				t.Errorf("index.html does not show %s as not observable:\n%s", checks.NameCacheAge, sec)
			}
			// Without the retry log the breaker and retries are unknown, not
			// "closed" and 0.
			unknown := row.Retries == nil
			if unknown == tt.retries || (row.PeakRetriesPerSecond == nil) != unknown {
				t.Errorf("retries %v, peak %v; want them known: %v", row.Retries, row.PeakRetriesPerSecond, tt.retries)
			}
			if shown := strings.Contains(sec, "retries: n/a") && strings.Contains(sec, "retries not observable") &&
				strings.Contains(sec, "breaker not observable"); shown != unknown {
				t.Errorf("retries not observable: %v, but the page shows it so: %v", unknown, shown)
			}
			if n := strings.Count(sec, ">BROKEN<"); n != len(tt.broken) {
				t.Errorf("index.html marks %d checks BROKEN, want %d", n, len(tt.broken))
			}
			if !strings.Contains(page, `<h2 id="not-observable">Not observable</h2>`) || !strings.Contains(page, `<h1 class="`+string(r.Verdict)+`">`) {
				t.Error("index.html lacks the Not observable section or the verdict's class")
			}

			var doc map[string]any
			if err := json.Unmarshal([]byte(readFile(t, filepath.Join(runDir, JSONFile))), &doc); err != nil {
				t.Fatal(err)
			}
			c := jsonCheck(t, doc, checks.NameCacheAge)
			if c["passed"] != false || c["not_observable"] != true || !strings.Contains(c["detail"].(string), "not observable") {
				t.Errorf("report.json %s: %v", checks.NameCacheAge, c)
			}
			fig := doc["scenarios"].([]any)[0].(map[string]any)["figures"].(map[string]any)
			if fig["custom"] != nil || fig["degraded"] != nil || !slices.Contains(fig["not_observable"].([]any), any("custom")) {
				t.Errorf("report.json figures show what was not observable: %v", fig)
			}
			if doc["verdict"] != string(tt.verdict) {
				t.Errorf("report.json verdict %v, want %s", doc["verdict"], tt.verdict)
			}
		})
	}
}

func fmtScore(s *float64) string { return scoreText(s) }
