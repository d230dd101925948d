package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p1001/p1001/suites/report"
)

// copyRun copies the report package's fixture run to a temporary dir.
func copyRun(t *testing.T) string {
	t.Helper()
	from := filepath.Join("..", "..", "suites", "report", "testdata", "run")
	to := filepath.Join(t.TempDir(), "run")
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	return to
}

func TestRun(t *testing.T) {
	t.Setenv(report.StepSummaryEnv, "")
	catalog := filepath.Join("..", "..", "suites", "report", "testdata", "catalog")
	runDir := copyRun(t)
	if err := run([]string{"-scenarios", catalog, runDir}); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, name := range []string{report.JSONFile, report.MarkdownFile, report.HTMLFile} {
		if st, err := os.Stat(filepath.Join(runDir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}

	t.Setenv("P1001_SCENARIOS", catalog)
	if err := run([]string{runDir}); err != nil {
		t.Errorf("run with P1001_SCENARIOS: %v", err)
	}
}

// -out merges the runs given (report.MergeRuns has the rules' tests).
func TestRunMerge(t *testing.T) {
	t.Setenv(report.StepSummaryEnv, "")
	catalog := filepath.Join("..", "..", "suites", "report", "testdata", "catalog")
	out := filepath.Join(t.TempDir(), "merged")
	if err := run([]string{"-scenarios", catalog, "-out", out, copyRun(t)}); err != nil {
		t.Fatalf("run -out: %v", err)
	}
	for _, name := range []string{report.JSONFile, report.MergeFile, report.SuiteFile} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	err := run([]string{"-scenarios", catalog, "-out", filepath.Join(t.TempDir(), "m"), copyRun(t), copyRun(t)})
	if err == nil || !strings.Contains(err.Error(), "ran in two runs") {
		t.Errorf("the same run twice: %v, want a refusal", err)
	}
}

func TestRunErrors(t *testing.T) {
	t.Setenv(report.StepSummaryEnv, "")
	catalog := filepath.Join("..", "..", "suites", "report", "testdata", "catalog")
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing run dir", []string{"-scenarios", catalog, filepath.Join(t.TempDir(), "nope")}, "run directory"},
		{"run dir is a file", []string{"-scenarios", catalog, file}, "is not a directory"},
		{"two run dirs", []string{"-scenarios", catalog, "a", "b"}, "at most one run directory"},
		{"missing catalog", []string{"-scenarios", filepath.Join(t.TempDir(), "nope"), copyRun(t)}, "load the catalog"},
		{"unknown flag", []string{"-colour"}, "flag provided but not defined"},
		{"-out without runs", []string{"-scenarios", catalog, "-out", filepath.Join(t.TempDir(), "m")}, "name the run directories"},
		{"-out with a missing catalog", []string{"-scenarios", filepath.Join(t.TempDir(), "nope"), "-out", filepath.Join(t.TempDir(), "m"), copyRun(t)}, "load the catalog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}
