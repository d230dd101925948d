package report

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGinkgoRedRun runs a real Ginkgo suite (testdata/redsuite) whose
// one non-scenario spec fails on purpose while its scenario passes, in a
// child `go test`, and wants the report it builds in ReportAfterSuite to
// say FAIL, list the failed spec with its message and link the evidence
// its DeferOnFailure wrote: the whole path from Ginkgo's own report to
// the headline.
func TestGinkgoRedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a child Ginkgo suite")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain on PATH")
	}
	runDir := filepath.Join(t.TempDir(), "run")
	copyDir(t, "testdata/run/scenarios/healthy-baseline", filepath.Join(runDir, ScenariosDir, "healthy-baseline"))
	cmd := exec.Command(gobin, "test", "-count=1", ".", "-args", "-ginkgo.no-color")
	cmd.Dir = "testdata/redsuite"
	cmd.Env = append(os.Environ(), "REDSUITE_RUN_DIR="+runDir, StepSummaryEnv+"=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the red suite passed; its smoke spec must fail:\n%s", out)
	}
	if !strings.Contains(string(out), "1 Passed | 1 Failed") {
		t.Fatalf("the red suite did not report 1 passed, 1 failed:\n%s", out)
	}
	md := readFile(t, filepath.Join(runDir, MarkdownFile))
	first, _, _ := strings.Cut(md, "\n")
	if want := "# ❌ FAIL: 1 of 2 specs passed · 1 of 1 scenarios kept all promises · resilience score 60.0/100"; first != want {
		t.Errorf("headline = %q\nwant       %q", first, want)
	}
	spec := "the bot binary keeps a custom prompt across a round-trip through pgbouncer with the runbook's pooler URL"
	evidence := EvidenceDir(spec) + "/bot.log"
	for _, want := range []string{
		"- " + spec + " failed: the reply used the default prompt: relation \"chat_prompts\" does not exist",
		"| " + spec + " | smoke, bot | ❌ fail |",
		"evidence: [bot.log](" + evidence + ")",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if log := readFile(t, filepath.Join(runDir, filepath.FromSlash(evidence))); !strings.Contains(log, `relation \"chat_prompts\" does not exist`) {
		t.Errorf("the evidence holds %q, not the bot's log", log)
	}
	js := readFile(t, filepath.Join(runDir, JSONFile))
	if !strings.Contains(js, `"verdict": "fail"`) {
		t.Error(`report.json's verdict is not "fail"`)
	}
}
