package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/p1001/p1001/scenarios"
)

// shardRun is a made-up run dir: some of testdata/run's histories, a
// suite.json with the given specs, run.json, junit.xml.
type shardRun struct {
	name      string
	shard     string
	scenarios []string // histories copied from testdata/run
	smoke     string   // the smoke spec's state: "passed", "" (not selected)
	failEvid  bool     // the BeforeSuite node failed and left evidence
}

const mergeSmokeSpec = "the chaos environment routes the pooler proxy through pgbouncer and the direct proxy straight to postgres"

func (sr shardRun) write(t *testing.T, root string, catalog []scenarios.Scenario) string {
	t.Helper()
	dir := filepath.Join(root, sr.name)
	for _, name := range sr.scenarios {
		rel := filepath.Join(ScenariosDir, name)
		copyDir(t, filepath.Join("testdata", "run", rel), filepath.Join(dir, rel))
	}
	info := NewRunInfo(sr.name, time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC))
	info.Shard = sr.shard
	info.Processes = 2
	if _, err := WriteRunInfo(dir, info); err != nil {
		t.Fatal(err)
	}
	before := Spec{Name: "SynchronizedBeforeSuite (/src/suites/chaos/chaos_suite_test.go:80)", Node: "SynchronizedBeforeSuite", State: "passed", Selected: true}
	if sr.failEvid {
		before.State, before.Failure = "failed", "start the chaos environment"
		if _, err := WriteEvidence(dir, before.Name, map[string][]byte{"postgres.log": []byte("FATAL " + sr.name + "\n")}); err != nil {
			t.Fatal(err)
		}
	}
	s := Suite{Schema: SuiteSchema, Succeeded: !sr.failEvid, FailureReasons: []string{}, Shard: sr.shard,
		SpecsTotal: 1 + len(catalog), ScenariosSelected: []string{}, Specs: []Spec{before}}
	smoke := Spec{Name: mergeSmokeSpec, Node: "It", Labels: []string{"smoke"}, State: "skipped"}
	if sr.smoke != "" {
		smoke.State, smoke.Selected = sr.smoke, true
		s.SpecsSelected++
	}
	s.Specs = append(s.Specs, smoke)
	for _, sc := range catalog {
		s.CatalogSelected = append(s.CatalogSelected, sc.Name)
		sp := Spec{Name: "scenario keeps the bot's promises " + sc.Name, Node: "It", Scenario: sc.Name, State: "skipped"}
		if slices.Contains(sr.scenarios, sc.Name) {
			sp.State, sp.Selected = "passed", true
			s.ScenariosSelected = append(s.ScenariosSelected, sc.Name)
			s.SpecsSelected++
		}
		s.Specs = append(s.Specs, sp)
	}
	if err := WriteSuite(dir, s); err != nil {
		t.Fatal(err)
	}
	junit := reporters.JUnitTestSuites{Tests: len(s.Specs), TestSuites: []reporters.JUnitTestSuite{{Name: "p1001 chaos", Tests: len(s.Specs)}}}
	b, err := xml.Marshal(junit)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, JUnitFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// catalogOf is the fixture catalog narrowed to names.
func catalogOf(t *testing.T, names ...string) []scenarios.Scenario {
	var out []scenarios.Scenario
	for _, s := range loadCatalog(t) {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	if len(out) != len(names) {
		t.Fatalf("fixture catalog lacks one of %v", names)
	}
	return out
}

func TestMergeRuns(t *testing.T) {
	t.Setenv(StepSummaryEnv, "")
	tests := []struct {
		name    string
		catalog []string
		runs    []shardRun
		// wantErr: the merge refuses, with an error holding each of these.
		wantErr []string
		verdict Verdict
		reasons []string // each must be in one verdict reason
		notRun  []string
	}{
		{
			name:    "two shards that cover the catalog pass",
			catalog: []string{"healthy-baseline"},
			runs: []shardRun{
				{name: "shard-1", shard: "1/2", scenarios: []string{"healthy-baseline"}, smoke: "passed"},
				{name: "shard-2", shard: "2/2"},
			},
			verdict: Pass,
			notRun:  []string{},
		},
		{
			name:    "a shard missing from the merge: its scenario is not run, and the verdict fails",
			catalog: []string{"healthy-baseline", "black-hole"},
			runs: []shardRun{
				{name: "shard-1", shard: "1/2", scenarios: []string{"healthy-baseline"}, smoke: "passed"},
			},
			verdict: Fail,
			reasons: []string{"1 catalog scenario(s) ran in none of the 1 merged runs: black-hole"},
			notRun:  []string{"black-hole"},
		},
		{
			name:    "a failed scenario in one shard fails the merge",
			catalog: []string{"healthy-baseline", "outage-flapping"},
			runs: []shardRun{
				{name: "shard-1", shard: "1/2", scenarios: []string{"healthy-baseline"}, smoke: "passed"},
				{name: "shard-2", shard: "2/2", scenarios: []string{"outage-flapping"}},
			},
			verdict: Fail,
			reasons: []string{"outage-flapping"},
			notRun:  []string{},
		},
		{
			name:    "a suite node failed in one shard: named after its run, its evidence kept",
			catalog: []string{"healthy-baseline"},
			runs: []shardRun{
				{name: "shard-1", shard: "1/2", scenarios: []string{"healthy-baseline"}, smoke: "passed"},
				{name: "shard-2", shard: "2/2", failEvid: true},
			},
			verdict: Fail,
			reasons: []string{"shard-2: SynchronizedBeforeSuite"},
			notRun:  []string{},
		},
		{
			name:    "the same scenario in two runs is refused, naming both",
			catalog: []string{"healthy-baseline"},
			runs: []shardRun{
				{name: "run-a", scenarios: []string{"healthy-baseline"}, smoke: "passed"},
				{name: "run-b", scenarios: []string{"healthy-baseline"}},
			},
			wantErr: []string{"scenario healthy-baseline ran in two runs", "run-a", "run-b"},
		},
		{
			name:    "the same smoke spec in two runs is refused, naming both",
			catalog: []string{"healthy-baseline"},
			runs: []shardRun{
				{name: "run-a", scenarios: []string{"healthy-baseline"}, smoke: "passed"},
				{name: "run-b", smoke: "passed"},
			},
			wantErr: []string{mergeSmokeSpec, "ran in two runs", "run-a", "run-b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			catalog := catalogOf(t, tt.catalog...)
			var dirs []string
			for _, sr := range tt.runs {
				dirs = append(dirs, sr.write(t, root, catalog))
			}
			out := filepath.Join(root, "merged")
			r, err := MergeRuns(out, dirs, catalog)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("MergeRuns accepted the runs: %s", r.Headline())
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("MergeRuns: %v", err)
			}
			if r.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s (reasons %q)", r.Verdict, tt.verdict, r.VerdictReasons)
			}
			for _, want := range tt.reasons {
				if !slices.ContainsFunc(r.VerdictReasons, func(s string) bool { return strings.Contains(s, want) }) {
					t.Errorf("no verdict reason says %q: %q", want, r.VerdictReasons)
				}
			}
			if !slices.Equal(r.NotRun, tt.notRun) {
				t.Errorf("not run %q, want %q", r.NotRun, tt.notRun)
			}
			// Every run's environment: under runs/, and in the report.
			if len(r.Runs) != len(tt.runs) {
				t.Fatalf("report lists %d runs, want %d", len(r.Runs), len(tt.runs))
			}
			for i, sr := range tt.runs {
				mr := r.Runs[i]
				if mr.Name != sr.name || mr.Shard != sr.shard || mr.Environment == nil || mr.Environment.RunID != sr.name {
					t.Errorf("run %d: %+v, want %s, shard %q, its run.json", i, mr, sr.name, sr.shard)
				}
				if !slices.Equal(mr.Scenarios, append([]string{}, sr.scenarios...)) && len(sr.scenarios)+len(mr.Scenarios) > 0 {
					t.Errorf("run %s: scenarios %v, want %v", sr.name, mr.Scenarios, sr.scenarios)
				}
				for _, f := range []string{RunInfoFile, SuiteFile} {
					if _, err := os.Stat(filepath.Join(out, RunsDir, sr.name, f)); err != nil {
						t.Errorf("run %s's %s not kept: %v", sr.name, f, err)
					}
				}
				if sr.failEvid {
					name := sr.name + ": SynchronizedBeforeSuite (/src/suites/chaos/chaos_suite_test.go:80)"
					if files, err := evidenceFiles(out, name); err != nil || len(files) != 1 {
						t.Errorf("evidence of %q: %v, %v", name, files, err)
					}
				}
			}
			// junit.xml: every run's suites.
			b, err := os.ReadFile(filepath.Join(out, JUnitFile))
			if err != nil {
				t.Fatal(err)
			}
			var j reporters.JUnitTestSuites
			if err := xml.Unmarshal(b, &j); err != nil {
				t.Fatal(err)
			}
			if len(j.TestSuites) != len(tt.runs) {
				t.Errorf("junit.xml has %d suites, want %d", len(j.TestSuites), len(tt.runs))
			}
			want := 0
			for i, ts := range j.TestSuites {
				want += ts.Tests
				if !strings.Contains(ts.Name, tt.runs[i].name) {
					t.Errorf("junit suite %q does not name its run %s", ts.Name, tt.runs[i].name)
				}
			}
			if j.Tests != want || want == 0 {
				t.Errorf("junit.xml counts %d tests, its suites %d", j.Tests, want)
			}
			for _, f := range []string{JSONFile, MarkdownFile, HTMLFile, SuiteFile, MergeFile} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("%s not written: %v", f, err)
				}
			}
		})
	}
}

func TestMergeRunsOut(t *testing.T) {
	t.Setenv(StepSummaryEnv, "")
	root := t.TempDir()
	catalog := catalogOf(t, "healthy-baseline")
	a := shardRun{name: "a", shard: "1/1", scenarios: []string{"healthy-baseline"}, smoke: "passed"}.write(t, root, catalog)
	other := filepath.Join(root, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, out string
		runs      []string
		wantErr   string
	}{
		{"a new dir", filepath.Join(root, "m"), []string{a}, ""},
		{"an earlier merge is replaced", filepath.Join(root, "m"), []string{a}, ""},
		{"a dir with other files is not touched", other, []string{a}, "not empty and holds no earlier merge"},
		{"out is one of the runs", a, []string{a}, "is one of the runs"},
		{"no runs", filepath.Join(root, "m2"), nil, "no run directories"},
		{"a missing run", filepath.Join(root, "m3"), []string{filepath.Join(root, "nope")}, "run directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MergeRuns(tt.out, tt.runs, catalog)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("MergeRuns: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("MergeRuns = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Errorf("a refused out lost its file: %v", err)
	}
}
