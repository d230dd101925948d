package report

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// The chaos suite's scenario specs: Describe("scenario") >
// DescribeTable("keeps the bot's promises") > Entry(<name>).
var scenarioTexts = []string{"scenario", "keeps the bot's promises"}

func scenarioSpecOf(sr types.SpecReport) string {
	if slices.Equal(sr.ContainerHierarchyTexts, scenarioTexts) {
		return sr.LeafNodeText
	}
	return ""
}

const smokeSpec = "keeps a custom prompt across a round-trip through pgbouncer with the runbook's pooler URL"

// ginkgoRun is a Ginkgo report of the chaos suite shape: BeforeSuite, one
// smoke spec, and one spec per fixture catalog scenario, each in the
// given state (absent: not reported at all, as after a failed
// BeforeSuite).
type ginkgoRun struct {
	filter  string
	states  map[string]types.SpecState // spec leaf text (scenario name or smokeSpec) -> state
	before  types.SpecState
	reasons []string
	failure map[string]string
}

func (g ginkgoRun) report(t *testing.T) types.Report {
	t.Helper()
	r := types.Report{
		SuiteDescription:           "p1001 chaos",
		SuiteSucceeded:             true,
		SuiteConfig:                types.SuiteConfig{LabelFilter: g.filter},
		SpecialSuiteFailureReasons: g.reasons,
		StartTime:                  time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC),
	}
	sel, err := NewSelector(r.SuiteDescription, r.SuiteConfig)
	if err != nil {
		t.Fatal(err)
	}
	add := func(sr types.SpecReport) {
		if sr.State.Is(types.SpecStateFailureStates) {
			r.SuiteSucceeded = false
			sr.Failure = types.Failure{Message: g.failure[sr.LeafNodeText], FailureNodeType: sr.LeafNodeType,
				Location: types.CodeLocation{FileName: "/src/p1001/suites/chaos/bot_test.go", LineNumber: 42}}
		}
		r.SpecReports = append(r.SpecReports, sr)
	}
	add(types.SpecReport{LeafNodeType: types.NodeTypeBeforeSuite, State: g.before,
		LeafNodeLocation: types.CodeLocation{FileName: "/src/p1001/suites/chaos/chaos_suite_test.go", LineNumber: 32}})
	if g.before != types.SpecStatePassed {
		r.SpecialSuiteFailureReasons = append(r.SpecialSuiteFailureReasons, "Suite skipped in BeforeSuite")
	}
	specs := []types.SpecReport{{ContainerHierarchyTexts: []string{"the bot binary"}, LeafNodeText: smokeSpec, LeafNodeLabels: []string{"smoke", "bot"}}}
	for _, s := range loadCatalog(t) {
		specs = append(specs, types.SpecReport{ContainerHierarchyTexts: scenarioTexts, LeafNodeText: s.Name, LeafNodeLabels: s.Labels})
	}
	for _, sr := range specs {
		sr.LeafNodeType = types.NodeTypeIt
		r.PreRunStats.TotalSpecs++
		if sel(sr.FullText(), sr.Labels()) {
			r.PreRunStats.SpecsThatWillRun++
		}
		state, ok := g.states[sr.LeafNodeText]
		if !ok {
			continue
		}
		sr.State = state
		if state != types.SpecStateSkipped {
			sr.RunTime = 1500 * time.Millisecond
		}
		add(sr)
	}
	return r
}

// runFixture writes the run dir: run.json, the histories of the given
// fixture scenarios, and suite.json converted from g's Ginkgo report as
// the chaos suite does it. It builds the report.
func runFixture(t *testing.T, g ginkgoRun, histories ...string) (string, Report) {
	t.Helper()
	t.Setenv(StepSummaryEnv, "")
	runDir := filepath.Join(t.TempDir(), "run")
	copyDir(t, "testdata/run", runDir)
	for _, dir := range []string{ScenariosDir, FailuresDir, SuiteFile} {
		if err := os.RemoveAll(filepath.Join(runDir, dir)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range histories {
		copyDir(t, filepath.Join("testdata/run/scenarios", name), filepath.Join(runDir, ScenariosDir, name))
	}
	gr := g.report(t)
	sel, err := NewSelector(gr.SuiteDescription, gr.SuiteConfig)
	if err != nil {
		t.Fatal(err)
	}
	var selected []string
	for _, s := range loadCatalog(t) {
		if sel(strings.Join(append(slices.Clone(scenarioTexts), s.Name), " "), s.Labels) {
			selected = append(selected, s.Name)
		}
	}
	suite, err := SuiteFromGinkgo(gr, scenarioSpecOf, selected)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteSuite(runDir, suite); err != nil {
		t.Fatal(err)
	}
	r, err := Build(runDir, loadCatalog(t))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return runDir, r
}

// TestRunVerdict: the headline is the whole run's verdict. A failed spec
// outside the scenarios, an interrupt, a failed BeforeSuite or a selected
// scenario that did not complete each fail it; scenarios left out by the
// label filter do not.
func TestRunVerdict(t *testing.T) {
	const (
		passed  = types.SpecStatePassed
		failed  = types.SpecStateFailed
		skipped = types.SpecStateSkipped
	)
	healthyOnly := "fault:none || smoke"
	tests := []struct {
		name       string
		run        ginkgoRun
		histories  []string
		verdict    Verdict
		headline   string
		reasons    []string // substrings, one per expected reason, in order
		incomplete []string
	}{
		{
			name:      "all selected specs passed",
			run:       ginkgoRun{filter: healthyOnly, before: passed, states: map[string]types.SpecState{smokeSpec: passed, "healthy-baseline": passed, "black-hole": skipped, "outage-flapping": skipped}},
			histories: []string{"healthy-baseline"},
			verdict:   Pass,
			headline:  "# ✅ PASS: 2 of 2 specs passed · 1 of 1 scenarios kept all promises · resilience score 100.0/100",
		},
		{
			// The bug this guards against: a failed smoke spec next to a
			// green catalog made a PASS headline.
			name: "a failed spec outside the scenarios",
			run: ginkgoRun{filter: healthyOnly, before: passed, states: map[string]types.SpecState{smokeSpec: failed, "healthy-baseline": passed, "black-hole": skipped, "outage-flapping": skipped},
				failure: map[string]string{smokeSpec: "Expected <string>: DB_ERROR to equal custom: relation \"chat_prompts\" does not exist (postgresql://bot:" + fixtureSecret + "@toxiproxy:6543/p1001)\nsecond line"}},
			histories: []string{"healthy-baseline"},
			verdict:   Fail,
			headline:  "# ❌ FAIL: 1 of 2 specs passed · 1 of 1 scenarios kept all promises · resilience score 60.0/100",
			reasons:   []string{"the bot binary " + smokeSpec + " failed: Expected <string>: DB_ERROR to equal custom: relation \"chat_prompts\" does not exist (postgresql://bot:xxxxx@toxiproxy:6543/p1001) second line"},
		},
		{
			name:       "interrupted before a selected scenario ran",
			run:        ginkgoRun{filter: healthyOnly, before: passed, reasons: []string{"Interrupted by User"}, states: map[string]types.SpecState{smokeSpec: passed, "healthy-baseline": skipped, "black-hole": skipped, "outage-flapping": skipped}},
			verdict:    Fail,
			headline:   "# ❌ FAIL: 1 of 2 specs passed · 0 of 1 scenarios kept all promises · resilience score 85.0/100",
			reasons:    []string{"the suite: Interrupted by User", "1 of 2 selected specs did not run", "1 selected scenario(s) did not complete: healthy-baseline"},
			incomplete: []string{"healthy-baseline"},
		},
		{
			name:       "a scenario spec interrupted after its history was written",
			run:        ginkgoRun{filter: healthyOnly, before: passed, reasons: []string{"Interrupted by Timeout"}, states: map[string]types.SpecState{smokeSpec: passed, "healthy-baseline": types.SpecStateInterrupted}},
			histories:  []string{"healthy-baseline"},
			verdict:    Fail,
			headline:   "# ❌ FAIL: 1 of 2 specs passed · 0 of 1 scenarios kept all promises · resilience score 85.0/100",
			reasons:    []string{"the suite: Interrupted by Timeout", "1 selected scenario(s) did not complete: healthy-baseline"},
			incomplete: []string{"healthy-baseline"},
		},
		{
			name:       "BeforeSuite failed: nothing ran",
			run:        ginkgoRun{filter: healthyOnly, before: failed},
			verdict:    Fail,
			headline:   "# ❌ FAIL: 0 of 2 specs passed · 0 of 1 scenarios kept all promises · resilience score 51.0/100",
			reasons:    []string{"the suite: Suite skipped in BeforeSuite", "BeforeSuite (/src/p1001/suites/chaos/chaos_suite_test.go:32) failed", "2 of 2 selected specs did not run", "1 selected scenario(s) did not complete: healthy-baseline"},
			incomplete: []string{"healthy-baseline"},
		},
		{
			name:     "a label filter that selects only the smoke spec",
			run:      ginkgoRun{filter: "smoke", before: passed, states: map[string]types.SpecState{smokeSpec: passed, "healthy-baseline": skipped, "black-hole": skipped, "outage-flapping": skipped}},
			verdict:  Pass,
			headline: "# ✅ PASS: 1 of 1 specs passed · no scenario selected · resilience score n/a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runDir, r := runFixture(t, tt.run, tt.histories...)
			md := readFile(t, filepath.Join(runDir, MarkdownFile))
			first, _, _ := strings.Cut(md, "\n")
			if first != tt.headline {
				t.Errorf("headline = %q\nwant       %q", first, tt.headline)
			}
			if r.Verdict != tt.verdict {
				t.Errorf("verdict = %s, want %s", r.Verdict, tt.verdict)
			}
			if len(r.VerdictReasons) != len(tt.reasons) {
				t.Errorf("reasons = %q, want %d", r.VerdictReasons, len(tt.reasons))
			}
			for i, want := range tt.reasons {
				if i < len(r.VerdictReasons) && !strings.Contains(r.VerdictReasons[i], want) {
					t.Errorf("reason %d = %q, want it to contain %q", i, r.VerdictReasons[i], want)
				}
			}
			if !slices.Equal(r.Incomplete, tt.incomplete) && len(r.Incomplete)+len(tt.incomplete) > 0 {
				t.Errorf("incomplete = %q, want %q", r.Incomplete, tt.incomplete)
			}
			// Markdown, HTML and JSON say the same.
			page := readFile(t, filepath.Join(runDir, HTMLFile))
			if !strings.Contains(page, `<h1 class="`+string(tt.verdict)+`">`+strings.TrimPrefix(strings.TrimPrefix(first, "# "), map[Verdict]string{Pass: "✅ ", Fail: "❌ "}[tt.verdict])) {
				t.Errorf("index.html's heading differs from report.md's %q", first)
			}
			for _, f := range []string{JSONFile, MarkdownFile, HTMLFile, SuiteFile} {
				if strings.Contains(readFile(t, filepath.Join(runDir, f)), fixtureSecret) {
					t.Errorf("%s quotes the secret of a failure message", f)
				}
			}
		})
	}
}

// TestFailedSpecListed: the failed smoke spec is in report.md's specs
// table and its Failures section, with its message and its evidence.
func TestFailedSpecListed(t *testing.T) {
	g := ginkgoRun{filter: "fault:none || smoke", before: types.SpecStatePassed,
		states:  map[string]types.SpecState{smokeSpec: types.SpecStateFailed, "healthy-baseline": types.SpecStatePassed},
		failure: map[string]string{smokeSpec: `relation "chat_prompts" does not exist`}}
	// The suite's DeferOnFailure wrote the evidence while the spec ran.
	name := "the bot binary " + smokeSpec
	runDir := t.TempDir()
	paths, err := WriteEvidence(runDir, name, map[string][]byte{"bot.log": []byte(`{"level":"ERROR","msg":"lookup failed","err":"relation \"chat_prompts\" does not exist"}` + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "copy")
	copyDir(t, runDir, dir)
	// runFixture starts from the fixture; put the evidence in afterwards
	// and rebuild.
	out, _ := runFixture(t, g, "healthy-baseline")
	copyDir(t, filepath.Join(dir, FailuresDir), filepath.Join(out, FailuresDir))
	r, err := Build(out, loadCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	md := readFile(t, filepath.Join(out, MarkdownFile))
	for _, want := range []string{
		"| " + name + " | smoke, bot | ❌ fail | 1.50s |",
		"| BeforeSuite (/src/p1001/suites/chaos/chaos_suite_test.go:32) |  | ✅ pass |",
		"- **" + name + "** failed in [It] at `/src/p1001/suites/chaos/bot_test.go:42`: relation \"chat_prompts\" does not exist — evidence: [bot.log](" + paths[0] + ")",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	var found bool
	for _, sp := range r.Specs {
		if sp.Name == name {
			found = true
			if sp.Verdict != "fail" || !slices.Equal(sp.Evidence, paths) {
				t.Errorf("report.json: %s verdict %q, evidence %q; want fail, %q", name, sp.Verdict, sp.Evidence, paths)
			}
		}
	}
	if !found {
		t.Errorf("report.json's specs lack %q", name)
	}
	page := readFile(t, filepath.Join(out, HTMLFile))
	if !strings.Contains(page, `<a href="`+paths[0]+`">bot.log</a>`) {
		t.Error("index.html's Failures section does not link the bot's log")
	}
}

func TestNewSelector(t *testing.T) {
	tests := []struct {
		name   string
		cfg    types.SuiteConfig
		text   string
		labels []string
		want   bool
	}{
		{"no filter", types.SuiteConfig{}, "scenario keeps the bot's promises slicer", []string{"fault:slicer"}, true},
		{"label filter matches", types.SuiteConfig{LabelFilter: "fault:outage || smoke"}, "x", []string{"smoke", "bot"}, true},
		{"label filter leaves out", types.SuiteConfig{LabelFilter: "fault:outage"}, "x", []string{"fault:slicer"}, false},
		{"label negation", types.SuiteConfig{LabelFilter: "!smoke"}, "x", []string{"smoke"}, false},
		{"focus over suite description and text", types.SuiteConfig{FocusStrings: []string{"^p1001 chaos scenario"}}, "scenario keeps the bot's promises slicer", nil, true},
		{"focus misses", types.SuiteConfig{FocusStrings: []string{"outage"}}, "scenario keeps the bot's promises slicer", nil, false},
		{"skip", types.SuiteConfig{SkipStrings: []string{"slicer", "nothing"}}, "scenario keeps the bot's promises slicer", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := NewSelector("p1001 chaos", tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := sel(tt.text, tt.labels); got != tt.want {
				t.Errorf("selected = %v, want %v", got, tt.want)
			}
		})
	}
	for _, cfg := range []types.SuiteConfig{{LabelFilter: "a &&"}, {FocusStrings: []string{"("}}, {SkipStrings: []string{"["}}} {
		if _, err := NewSelector("p1001 chaos", cfg); err == nil {
			t.Errorf("NewSelector(%+v) accepted a broken filter", cfg)
		}
	}
}

// A shard skips the spec files dealt to the others (--skip-file): those
// specs are not selected, so the run does not count them as selected specs
// that never ran.
func TestSuiteFromGinkgoFileFilters(t *testing.T) {
	spec := func(file string) types.SpecReport {
		return types.SpecReport{LeafNodeType: types.NodeTypeIt, ContainerHierarchyTexts: []string{file}, LeafNodeText: "x",
			ContainerHierarchyLocations: []types.CodeLocation{{FileName: "/s/" + file, LineNumber: 3}},
			LeafNodeLocation:            types.CodeLocation{FileName: "/s/" + file, LineNumber: 9}, State: types.SpecStateSkipped}
	}
	tests := []struct {
		cfg  types.SuiteConfig
		want []bool // auth, doctor
	}{
		{types.SuiteConfig{}, []bool{true, true}},
		{types.SuiteConfig{SkipFiles: []string{`/auth_test\.go$`}}, []bool{false, true}},
		{types.SuiteConfig{FocusFiles: []string{`/auth_test\.go$`}}, []bool{true, false}},
		{types.SuiteConfig{SkipFiles: []string{`/doctor_test\.go:9`}}, []bool{true, false}},
	}
	for _, tt := range tests {
		r := types.Report{SuiteDescription: "p1001 chaos", SuiteConfig: tt.cfg,
			SpecReports: types.SpecReports{spec("auth_test.go"), spec("doctor_test.go")}}
		s, err := SuiteFromGinkgo(r, scenarioSpecOf, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range tt.want {
			if s.Specs[i].Selected != want {
				t.Errorf("%+v: %s selected = %v, want %v", tt.cfg, s.Specs[i].Name, s.Specs[i].Selected, want)
			}
		}
	}
	if _, err := SuiteFromGinkgo(types.Report{SuiteConfig: types.SuiteConfig{SkipFiles: []string{"("}}}, scenarioSpecOf, nil); err == nil {
		t.Error("a broken file filter: no error")
	}
}

func TestSuiteFromGinkgo(t *testing.T) {
	r := types.Report{
		SuiteDescription:           "p1001 chaos",
		SuiteConfig:                types.SuiteConfig{LabelFilter: "smoke"},
		SpecialSuiteFailureReasons: []string{"Interrupted by User\nmore detail"},
		PreRunStats:                types.PreRunStats{TotalSpecs: 2, SpecsThatWillRun: 1},
		SpecReports: types.SpecReports{
			{LeafNodeType: types.NodeTypeIt, ContainerHierarchyTexts: []string{"the bot binary"}, LeafNodeText: "answers", LeafNodeLabels: []string{"smoke"},
				State: types.SpecStatePanicked, RunTime: 1250 * time.Millisecond,
				Failure: types.Failure{Message: "boom", ForwardedPanic: "runtime error: dial postgresql://bot:" + fixtureSecret + "@x/db",
					FailureNodeType: types.NodeTypeIt, Location: types.CodeLocation{FileName: "/s/bot_test.go", LineNumber: 7},
					AdditionalFailure: &types.AdditionalFailure{Failure: types.Failure{Message: "stop bot: context canceled"}}}},
			{LeafNodeType: types.NodeTypeIt, ContainerHierarchyTexts: scenarioTexts, LeafNodeText: "slicer", LeafNodeLabels: []string{"fault:slicer"}, State: types.SpecStateSkipped},
			{LeafNodeType: types.NodeTypeCleanupAfterSuite, LeafNodeLocation: types.CodeLocation{FileName: "/s/chaos_suite_test.go", LineNumber: 36}, State: types.SpecStatePassed},
		},
	}
	s, err := SuiteFromGinkgo(r, scenarioSpecOf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Schema != SuiteSchema || s.Succeeded || s.SpecsTotal != 2 || s.SpecsSelected != 1 || s.LabelFilter != "smoke" || len(s.ScenariosSelected) != 0 {
		t.Errorf("suite = %+v", s)
	}
	if len(s.Specs) != 3 {
		t.Fatalf("%d specs, want 3", len(s.Specs))
	}
	bot, slicer, cleanup := s.Specs[0], s.Specs[1], s.Specs[2]
	if bot.Name != "the bot binary answers" || bot.Node != "It" || bot.Scenario != "" || !bot.Selected || bot.State != "panicked" || bot.DurationMS != 1250 ||
		bot.Location != "/s/bot_test.go:7" || bot.FailureNode != "It" {
		t.Errorf("bot spec = %+v", bot)
	}
	if want := "boom\npanic: runtime error: dial postgresql://bot:xxxxx@x/db\nalso: stop bot: context canceled"; bot.Failure != want {
		t.Errorf("failure = %q, want %q", bot.Failure, want)
	}
	if slicer.Scenario != "slicer" || slicer.Selected || slicer.ran() {
		t.Errorf("slicer spec = %+v: want the slicer scenario, not selected, not run", slicer)
	}
	if cleanup.Name != "DeferCleanup (Suite) (/s/chaos_suite_test.go:36)" || !cleanup.Selected || cleanup.isSpec() {
		t.Errorf("cleanup node = %+v", cleanup)
	}
	if !bot.failed() || !bot.completed() || slicer.completed() {
		t.Error("failed/completed disagree with the states")
	}
	runDir := t.TempDir()
	if err := WriteSuite(runDir, s); err != nil {
		t.Fatal(err)
	}
	back, ok, err := ReadSuite(runDir)
	if err != nil || !ok || back.Specs[0].Failure != bot.Failure || back.FailureReasons[0] != "Interrupted by User\nmore detail" {
		t.Errorf("ReadSuite = %+v, %v, %v", back, ok, err)
	}
	if strings.Contains(readFile(t, filepath.Join(runDir, SuiteFile)), fixtureSecret) {
		t.Error("suite.json quotes the secret")
	}
}
