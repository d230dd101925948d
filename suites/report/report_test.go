package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/checks"
	"github.com/p1001/p1001/suites/history"
)

// fixtureSecret is the password of the DSNs quoted in the fixture
// histories (a log line's attrs, a fault's error, an op's error).
const fixtureSecret = "s3cr3t-fixture"

// fixture copies testdata/run (two trimmed real histories: a healthy
// baseline, and a flapping outage hand-edited to fail: its fault carries
// an error quoting a DSN, one op lost its reply) to a temporary run dir,
// builds the report there against testdata/catalog (which also holds
// black-hole, not run), and returns the dir and the report. The step
// summary goes to runDir/../summary.md, pre-filled with one line.
func fixture(t *testing.T) (string, Report) {
	t.Helper()
	root := t.TempDir()
	runDir := filepath.Join(root, "20261126T093300Z")
	copyDir(t, "testdata/run", runDir)
	summary := filepath.Join(root, "summary.md")
	if err := os.WriteFile(summary, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(StepSummaryEnv, summary)
	r, err := Build(runDir, loadCatalog(t))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return runDir, r
}

func loadCatalog(t testing.TB) []scenarios.Scenario {
	t.Helper()
	cat, err := scenarios.LoadDir("testdata/catalog")
	if err != nil {
		t.Fatalf("load the fixture catalog: %v", err)
	}
	return cat
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readFixtureHistory(t *testing.T, name string) history.History {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata/run/scenarios", name, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := history.ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func scenarioByName(t *testing.T, name string) scenarios.Scenario {
	t.Helper()
	for _, s := range loadCatalog(t) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %s in the fixture catalog", name)
	return scenarios.Scenario{}
}

// nearestRank is the nearest-rank percentile, computed here independently
// of checks.Measure.
func nearestRank(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(math.Ceil(q*float64(len(s))))-1]
}

// tableRow finds the report.md row of a scenario and splits its cells.
func tableRow(t *testing.T, md, name string) []string {
	t.Helper()
	prefix := fmt.Sprintf("| [%s](scenarios/%s/history.jsonl) | ", name, name)
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, prefix) {
			cells := strings.Split(strings.Trim(line, "| "), " | ")
			return cells
		}
	}
	t.Fatalf("report.md has no row for %s:\n%s", name, md)
	return nil
}

func TestMarkdownRows(t *testing.T) {
	runDir, _ := fixture(t)
	md := readFile(t, filepath.Join(runDir, MarkdownFile))
	tests := []struct {
		name     string
		faults   string // the fixture's measured windows (1.003s-3.503s)
		fallback string // "" = compute it from the history
		recovery string // "" = must be a duration
		verdict  string
	}{
		{name: "healthy-baseline", faults: "none", fallback: "—", recovery: "—", verdict: "✅ pass"},
		{name: "outage-flapping", faults: "flapping: outage pooler 1.0–3.5s (error)", verdict: "⚠️ invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cells := tableRow(t, md, tt.name)
			if len(cells) != 10 {
				t.Fatalf("row has %d cells, want 10: %q", len(cells), cells)
			}
			h := readFixtureHistory(t, tt.name)
			var lat []time.Duration
			counts := map[string]int{}
			maxAttempts := 0
			firstStart := time.Duration(math.MaxInt64)
			for _, f := range h.Faults {
				firstStart = min(firstStart, f.Start)
			}
			fallback := time.Duration(-1)
			for _, o := range h.Ops {
				maxAttempts = max(maxAttempts, o.Attempts)
				if o.Outcome != history.OK {
					continue
				}
				lat = append(lat, o.Complete-o.Invoke)
				counts[o.PromptSource]++
				if o.Degraded && o.Complete >= firstStart && (fallback < 0 || o.Complete-firstStart < fallback) {
					fallback = o.Complete - firstStart
				}
			}
			want := []string{
				tt.faults,
				fmt.Sprint(len(h.Ops)),
				fmt.Sprintf("%d / %d / %d", counts["custom"], counts["cached"], counts["default"]),
				fmt.Sprint(maxAttempts),
				fmtMS(ms(nearestRank(lat, 0.5))),
				fmtMS(ms(nearestRank(lat, 0.99))),
			}
			if !slices.Equal(cells[1:7], want) {
				t.Errorf("cells faults..p99 = %q, want %q", cells[1:7], want)
			}
			wantFallback := tt.fallback
			if wantFallback == "" {
				wantFallback = fmtMS(ms(fallback))
			}
			if cells[7] != wantFallback {
				t.Errorf("time to fallback = %q, want %q", cells[7], wantFallback)
			}
			if tt.recovery != "" && cells[8] != tt.recovery {
				t.Errorf("recovery = %q, want %q", cells[8], tt.recovery)
			}
			if tt.recovery == "" && !regexp.MustCompile(`^\d+(\.\d+)?m?s$`).MatchString(cells[8]) {
				t.Errorf("recovery = %q, want a duration", cells[8])
			}
			if !strings.HasPrefix(cells[9], tt.verdict) {
				t.Errorf("verdict = %q, want it to start with %q", cells[9], tt.verdict)
			}
		})
	}
}

func TestVerdictLineAndScore(t *testing.T) {
	runDir, r := fixture(t)
	md := readFile(t, filepath.Join(runDir, MarkdownFile))
	// outage-flapping (severity 3: outage, flapping) failed: 100 × (1 - 0.40).
	const wantScore = 60.0
	wantFirst := "# ❌ FAIL: 1 of 2 specs passed · 1 of 2 scenarios kept all promises · resilience score 60.0/100"
	if first, _, _ := strings.Cut(md, "\n"); first != wantFirst {
		t.Errorf("first line = %q, want %q", first, wantFirst)
	}
	if r.Score == nil || math.Abs(*r.Score-wantScore) > 1e-9 {
		t.Errorf("Score = %v, want %v", r.Score, wantScore)
	}
	if r.Verdict != Fail || r.ScenariosRun != 2 || r.ScenariosPassed != 1 || r.ScenariosSelected != 2 {
		t.Errorf("verdict %s, %d of %d passed (%d selected); want fail, 1 of 2 (2)", r.Verdict, r.ScenariosPassed, r.ScenariosRun, r.ScenariosSelected)
	}
	if !slices.Equal(r.NotRun, []string{"black-hole"}) || !slices.Equal(r.NotSelected, []string{"black-hole"}) || len(r.Incomplete) != 0 {
		t.Errorf("NotRun = %q, NotSelected = %q, Incomplete = %q; want black-hole not run because not selected", r.NotRun, r.NotSelected, r.Incomplete)
	}
	for _, s := range r.Scenarios {
		if want := map[string]float64{"healthy-baseline": 1, "outage-flapping": 0}[s.Name]; s.Score != want {
			t.Errorf("%s: score %v, want %v", s.Name, s.Score, want)
		}
	}
	for _, want := range []string{
		"**Why FAIL:**\n\n- 1 scenario(s) proved nothing (a validity guard failed): outage-flapping\n",
		"(not selected: black-hole)",
		"- **outage-flapping** proved nothing `guard-faults-played`: Every planned fault was applied and undone",
		"- **outage-flapping** broke `every-message-answered`: ",
		"([history](scenarios/outage-flapping/history.jsonl))",
		"## Specs outside the scenarios",
		"| the chaos environment routes the pooler proxy through pgbouncer and the direct proxy straight to postgres | smoke | ⚪ not selected |",
		"## Failures",
		"- **scenario keeps the bot's promises outage-flapping** failed in [It] at `/src/p1001/suites/chaos/scenarios_test.go:55`: outage-flapping broke every-message-answered",
		"evidence: [bot.log](failures/scenario-keeps-the-bot-s-promises-outage-flapping-0f731d94/bot.log), [postgres.log](failures/scenario-keeps-the-bot-s-promises-outage-flapping-0f731d94/postgres.log), [history.jsonl](scenarios/outage-flapping/history.jsonl)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Contains(md, "**healthy-baseline** broke") {
		t.Error("report.md lists a broken promise for healthy-baseline, which kept them all")
	}
	if strings.Contains(md, fixtureSecret) {
		t.Error("report.md quotes the fixture's secret from a failure message")
	}
}

func TestStepSummaryAppended(t *testing.T) {
	runDir, _ := fixture(t)
	got := readFile(t, filepath.Join(filepath.Dir(runDir), "summary.md"))
	md := readFile(t, filepath.Join(runDir, MarkdownFile))
	if got != "earlier step\n"+md {
		t.Errorf("step summary is not the earlier content followed by report.md:\n%s", got)
	}
}

func TestSecretNowhere(t *testing.T) {
	runDir, _ := fixture(t)
	outputs := []string{JSONFile, MarkdownFile, HTMLFile, "../summary.md"}
	for _, name := range outputs {
		if s := readFile(t, filepath.Join(runDir, name)); strings.Contains(s, fixtureSecret) {
			t.Errorf("%s contains the fixture's secret", name)
		}
	}
	// The texts that quoted the DSN are there, redacted, not dropped.
	js := readFile(t, filepath.Join(runDir, JSONFile))
	for _, want := range []string{"postgresql://p1001:xxxxx@toxiproxy:6543", "password=xxxxx", "api_key=xxxxx"} {
		if !strings.Contains(js, want) {
			t.Errorf("report.json lacks the redacted %q", want)
		}
	}
	// The suite's own guard over the whole run dir: the copied histories
	// still hold the secret (they are the fixture), the reports do not.
	err := CheckNoSecrets(runDir, fixtureSecret)
	if err == nil || !strings.Contains(err.Error(), "history.jsonl") || strings.Contains(err.Error(), fixtureSecret) {
		t.Errorf("CheckNoSecrets over the run dir = %v, want an error naming the histories, not the secret", err)
	}
	for _, name := range outputs {
		if strings.Contains(err.Error(), filepath.Base(name)) {
			t.Errorf("CheckNoSecrets names %s, which must be clean", name)
		}
	}
}

func TestHTMLSelfContained(t *testing.T) {
	runDir, _ := fixture(t)
	page := readFile(t, filepath.Join(runDir, HTMLFile))
	const svgNS = `xmlns="http://www.w3.org/2000/svg"`
	svgs := strings.Count(page, "<svg")
	if svgs != 2 {
		t.Fatalf("index.html has %d <svg>, want one per scenario run (2)", svgs)
	}
	if n := strings.Count(page, svgNS); n != svgs {
		t.Errorf("index.html has %d SVG namespaces for %d <svg>", n, svgs)
	}
	rest := strings.ReplaceAll(page, svgNS, "")
	for _, bad := range []string{"http://", "https://", "<script", "<link", "<iframe", "<img", "src=", "@import", "url(", "<?xml", "xlink"} {
		if strings.Contains(strings.ToLower(rest), bad) {
			t.Errorf("index.html contains %q outside the SVG namespace", bad)
		}
	}
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if strings.HasPrefix(m[1], "#") {
			continue
		}
		if st, err := os.Stat(filepath.Join(runDir, filepath.FromSlash(m[1]))); err != nil || !st.Mode().IsRegular() || filepath.IsAbs(m[1]) || strings.Contains(m[1], "..") {
			t.Errorf("index.html links to %q, neither an anchor nor a file of the run", m[1])
		}
	}
}

// section returns the HTML of one scenario's section.
func section(t *testing.T, page, name string) string {
	t.Helper()
	_, after, ok := strings.Cut(page, `<section class="scenario `)
	for ok {
		sec, _, _ := strings.Cut(after, "</section>")
		if strings.Contains(sec, `id="`+name+`"`) {
			return sec
		}
		_, after, ok = strings.Cut(after, `<section class="scenario `)
	}
	t.Fatalf("index.html has no section for %s", name)
	return ""
}

// reShade matches a translucent filled rectangle: the only translucent
// fills in a chart are the fault windows.
var reShade = regexp.MustCompile(`<path d="M([\d.]+),([\d.]+)L([\d.]+),([\d.]+)L([\d.]+),([\d.]+)L([\d.]+),([\d.]+)Z" style="fill:#[0-9A-F]{6};fill-opacity:0\.\d+" />`)

func TestChartFaultWindowsAndBreaker(t *testing.T) {
	runDir, _ := fixture(t)
	page := readFile(t, filepath.Join(runDir, HTMLFile))
	tests := []struct {
		name        string
		shades      int // latency and retries panels shade each window
		faultLabels []string
		breaker     []string // state labels that must show in the band
		noBreaker   []string // ... and those that must not
		glyphFills  []string // prompt-source colours that must show
	}{
		{
			name: "healthy-baseline", shades: 0,
			breaker: []string{"closed"}, noBreaker: []string{"open", "half-open"},
			glyphFills: []string{"#2E7D32"},
		},
		{
			name: "outage-flapping", shades: 2,
			faultLabels: []string{"flapping: outage pooler (error)"},
			breaker:     []string{"closed", "open"},
			glyphFills:  []string{"#2E7D32", "#EF6C00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := section(t, page, tt.name)
			shades := reShade.FindAllStringSubmatch(sec, -1)
			if len(shades) != tt.shades {
				t.Errorf("%d shaded windows, want %d", len(shades), tt.shades)
			}
			for _, m := range shades {
				if m[1] != m[7] || m[3] != m[5] || m[2] != m[4] || m[6] != m[8] || m[1] >= m[3] {
					t.Errorf("shaded window %q is not a rectangle of positive width", m[0])
				}
			}
			for _, l := range tt.faultLabels {
				if !strings.Contains(sec, ">"+l+"</text>") {
					t.Errorf("no fault label %q in the chart", l)
				}
			}
			for _, l := range tt.breaker {
				if !strings.Contains(sec, ">"+l+"</text>") {
					t.Errorf("breaker band lacks %q", l)
				}
			}
			for _, l := range tt.noBreaker {
				if strings.Contains(sec, ">"+l+"</text>") {
					t.Errorf("breaker band shows %q", l)
				}
			}
			for _, c := range tt.glyphFills {
				if !strings.Contains(sec, c) {
					t.Errorf("no point coloured %s", c)
				}
			}
			if !strings.Contains(sec, ">reply latency (ms, log)</text>") || !strings.Contains(sec, ">retries/s</text>") {
				t.Error("the chart lacks its latency or retries panel")
			}
		})
	}
}

func TestReportJSONSchema(t *testing.T) {
	runDir, _ := fixture(t)
	b, err := os.ReadFile(filepath.Join(runDir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("report.json does not decode strictly into Report: %v", err)
	}
	if r.Schema != "p1001.report/v2" {
		t.Errorf("schema = %q", r.Schema)
	}
	if r.Environment == nil || r.Environment.Cores != 2 || r.Environment.GinkgoVersion != "2.34.0" || len(r.Environment.Images) != 4 {
		t.Errorf("environment = %+v, want run.json's", r.Environment)
	}
	if r.Environment != nil && r.Environment.Policy.MaxAttempts != 3 {
		t.Errorf("environment policy = %+v", r.Environment.Policy)
	}
	if want := "p1001 bot 4d3ace2-dirty go1.26.8"; r.BotBuild != want {
		t.Errorf("bot_build = %q, want %q from the fixture's bot_build_info", r.BotBuild, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	// Every field is present (null where documented), none omitted by
	// accident.
	for _, k := range []string{"schema", "generated_at", "run", "verdict", "verdict_reasons", "specs_known", "specs_selected", "specs_passed", "specs_failed",
		"scenarios_run", "scenarios_passed", "catalog_size", "not_run", "scenarios_selected", "not_selected", "incomplete", "score", "severities", "environment", "scenarios", "specs"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report.json lacks %q", k)
		}
	}
	for _, s := range r.Scenarios {
		if len(s.Checks) != len(checks.Checks()) {
			t.Errorf("%s: %d checks, want %d", s.Name, len(s.Checks), len(checks.Checks()))
		}
		if s.History != "scenarios/"+s.Name+"/history.jsonl" {
			t.Errorf("%s: history = %q", s.Name, s.History)
		}
	}
}

// TestSchemaDocumented walks report.json's types and wants every JSON
// field named in docs/report.md, so the doc cannot fall behind.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/report.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(time.Time{}) || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("docs/report.md does not document `%s` (%s.%s)", name, path, f.Name)
			}
			walk(f.Type, path+"."+name)
		}
	}
	walk(reflect.TypeOf(Report{}), "report")
	walk(reflect.TypeOf(Suite{}), "suite")
	if !strings.Contains(string(doc), Schema) || !strings.Contains(string(doc), RunInfoSchema) || !strings.Contains(string(doc), SuiteSchema) {
		t.Error("docs/report.md does not name the schema versions")
	}
	for kind, sev := range severities() {
		if !strings.Contains(string(doc), fmt.Sprintf("| `%s` | %d |", kind, sev)) {
			t.Errorf("docs/report.md's severity table lacks | `%s` | %d |", kind, sev)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, runDir string)
		want    []string // substrings of the error
	}{
		{
			name: "history of a scenario not in the catalog",
			prepare: func(t *testing.T, runDir string) {
				writeHistory(t, runDir, "ghost", `{"record":"run","scenario":"ghost","base":"2026-11-26T09:00:00Z"}`)
			},
			want: []string{filepath.Join("scenarios", "ghost", "history.jsonl"), `"ghost" is not in the catalog`},
		},
		{
			name: "history in another scenario's directory",
			prepare: func(t *testing.T, runDir string) {
				writeHistory(t, runDir, "black-hole", `{"record":"run","scenario":"healthy-baseline","base":"2026-11-26T09:00:00Z"}`)
			},
			want: []string{filepath.Join("black-hole", "history.jsonl"), `field scenario is "healthy-baseline"`},
		},
		{
			name:    "empty history",
			prepare: func(t *testing.T, runDir string) { writeHistory(t, runDir, "black-hole", "") },
			want:    []string{filepath.Join("black-hole", "history.jsonl"), "no run record"},
		},
		{
			name: "broken history line",
			prepare: func(t *testing.T, runDir string) {
				writeHistory(t, runDir, "black-hole", `{"record":"run","scenario":"black-hole","base":"2026-11-26T09:00:00Z"}`+"\n{oops")
			},
			want: []string{filepath.Join("black-hole", "history.jsonl"), "history line 2"},
		},
		{
			name: "run.json with an unknown field",
			prepare: func(t *testing.T, runDir string) {
				writeRunJSON(t, runDir, `{"schema":"p1001.run/v1","cores":2,"colour":"blue"}`)
			},
			want: []string{"run.json", `unknown field "colour"`},
		},
		{
			name: "suite.json with an unknown field",
			prepare: func(t *testing.T, runDir string) {
				writeFileIn(t, runDir, SuiteFile, `{"schema":"p1001.suite/v1","specs":[],"colour":"blue"}`)
			},
			want: []string{"suite.json", `unknown field "colour"`},
		},
		{
			name:    "suite.json of another schema",
			prepare: func(t *testing.T, runDir string) { writeFileIn(t, runDir, SuiteFile, `{"schema":"p1001.suite/v0"}`) },
			want:    []string{"suite.json", "field schema", "p1001.suite/v0"},
		},
		{
			name:    "run.json of another schema",
			prepare: func(t *testing.T, runDir string) { writeRunJSON(t, runDir, `{"schema":"p1001.run/v0"}`) },
			want:    []string{"run.json", "field schema", "p1001.run/v0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(StepSummaryEnv, "")
			runDir := t.TempDir()
			copyDir(t, "testdata/run", runDir)
			tt.prepare(t, runDir)
			_, err := Build(runDir, loadCatalog(t))
			if err == nil {
				t.Fatal("Build succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, statErr := os.Stat(filepath.Join(runDir, MarkdownFile)); statErr == nil {
				t.Error("Build wrote report.md despite the error")
			}
		})
	}
}

func writeHistory(t *testing.T, runDir, dir, content string) {
	t.Helper()
	d := filepath.Join(runDir, "scenarios", dir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "history.jsonl"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeRunJSON(t *testing.T, runDir, content string) {
	t.Helper()
	writeFileIn(t, runDir, RunInfoFile, content)
}

func writeFileIn(t *testing.T, runDir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(runDir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyRun(t *testing.T) {
	t.Setenv(StepSummaryEnv, "")
	runDir := t.TempDir()
	if err := WriteSuite(runDir, Suite{Succeeded: true, LabelFilter: "fault:meteor", SpecsTotal: 9}); err != nil {
		t.Fatal(err)
	}
	r, err := Build(runDir, loadCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Empty || r.Score != nil || len(r.NotRun) != 3 || len(r.NotSelected) != 3 || r.Environment != nil {
		t.Errorf("empty run: verdict %s, score %v, not run %q, not selected %q, environment %v", r.Verdict, r.Score, r.NotRun, r.NotSelected, r.Environment)
	}
	md := readFile(t, filepath.Join(runDir, MarkdownFile))
	if !strings.HasPrefix(md, "# ⚪ EMPTY: the run's filters selected no spec") {
		t.Errorf("report.md starts %q", md[:min(len(md), 60)])
	}
	if strings.Contains(md, "| scenario |") {
		t.Error("an empty run's report.md has a table")
	}
	js := readFile(t, filepath.Join(runDir, JSONFile))
	for _, want := range []string{`"score": null`, `"environment": null`, `"scenarios": []`, `"verdict_reasons": []`} {
		if !strings.Contains(js, want) {
			t.Errorf("report.json lacks %s", want)
		}
	}
}

// TestNoSuiteRecord: a run dir without suite.json (the suite died before
// its report) is no pass, even when every history kept its promises.
func TestNoSuiteRecord(t *testing.T) {
	t.Setenv(StepSummaryEnv, "")
	runDir := t.TempDir()
	copyDir(t, "testdata/run/scenarios/healthy-baseline", filepath.Join(runDir, "scenarios", "healthy-baseline"))
	r, err := Build(runDir, loadCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Fail || r.SpecsKnown || r.ScenariosPassed != 1 || len(r.Incomplete) != 0 {
		t.Errorf("verdict %s, specs known %v, %d passed, incomplete %q", r.Verdict, r.SpecsKnown, r.ScenariosPassed, r.Incomplete)
	}
	md := readFile(t, filepath.Join(runDir, MarkdownFile))
	if want := "# ❌ FAIL: specs unknown (no suite.json) · 1 of 1 scenarios kept all promises · resilience score 100.0/100\n"; !strings.HasPrefix(md, want) {
		t.Errorf("report.md starts %q, want %q", md[:min(len(md), 120)], want)
	}
	if !strings.Contains(md, "- no suite.json: the suite's record of its specs is missing") {
		t.Error("report.md does not say why")
	}
}

func TestRebuildIsStable(t *testing.T) {
	runDir, _ := fixture(t)
	first := readFile(t, filepath.Join(runDir, MarkdownFile))
	firstHTML := readFile(t, filepath.Join(runDir, HTMLFile))
	t.Setenv(StepSummaryEnv, "")
	if _, err := Build(runDir, loadCatalog(t)); err != nil {
		t.Fatalf("rebuild over an existing report: %v", err)
	}
	if got := readFile(t, filepath.Join(runDir, MarkdownFile)); got != first {
		t.Error("report.md changed when rebuilt from the same histories")
	}
	// The page differs at most in its generated_at line.
	strip := func(s string) string {
		return regexp.MustCompile(`generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`).ReplaceAllString(s, "")
	}
	if strip(readFile(t, filepath.Join(runDir, HTMLFile))) != strip(firstHTML) {
		t.Error("index.html changed when rebuilt from the same histories")
	}
}

// TestHistoriesReadUntouched guards the rebuild promise: Build never
// rewrites a history.
func TestHistoriesReadUntouched(t *testing.T) {
	runDir, _ := fixture(t)
	for _, name := range []string{"healthy-baseline", "outage-flapping"} {
		got := readFile(t, filepath.Join(runDir, "scenarios", name, "history.jsonl"))
		want := readFile(t, filepath.Join("testdata/run/scenarios", name, "history.jsonl"))
		if got != want {
			t.Errorf("%s's history changed", name)
		}
	}
	// And the fixture histories really do quote the secret, so the
	// redaction tests above are not vacuous.
	f, err := os.Open("testdata/run/scenarios/outage-flapping/history.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if strings.Contains(sc.Text(), fixtureSecret) {
			n++
		}
	}
	if n < 2 {
		t.Errorf("the flapping fixture quotes the secret on %d lines, want a fault and an op", n)
	}
}
