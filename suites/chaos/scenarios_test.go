//go:build chaos

package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/checks"
	"github.com/p1001/p1001/suites/history"
	"github.com/p1001/p1001/suites/runner"
	"github.com/p1001/p1001/suites/shard"
)

// catalogDir is the scenario catalog; P1001_SCENARIOS points elsewhere.
func catalogDir() string {
	if dir := os.Getenv("P1001_SCENARIOS"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "scenarios")
}

// reportDir is where histories go: P1001_REPORT_DIR (set by make chaos),
// else a directory of this process that Ginkgo does not clean up.
func reportDir() string {
	if dir := os.Getenv("P1001_REPORT_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "p1001-reports")
}

// playScenario runs one catalog entry and checks every promise.
func playScenario(ctx SpecContext, s scenarios.Scenario) {
	if why := stack.NotPlayable(s); why != "" {
		Skip(why)
	}
	h, err := runner.Run(ctx, stack, s, runner.Options{
		RunID: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff),
		Seed:  uint64(GinkgoRandomSeed()),
		Progress: func(format string, args ...any) {
			GinkgoWriter.Printf(time.Now().Format("15:04:05.000 ")+format+"\n", args...)
		},
	})
	// The history is written even when the run broke half-way: it is what a
	// reviewer opens first.
	Expect(writeHistory(s, h)).To(Succeed())
	Expect(err).NotTo(HaveOccurred(), "run scenario %s", s.Name)
	Expect(h).To(checks.KeepPromises(s))
}

func writeHistory(s scenarios.Scenario, h history.History) error {
	dir := filepath.Join(reportDir(), "scenarios", s.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return err
	}
	AddReportEntry("history", f.Name())
	if err := h.WriteJSONL(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// The scenario specs' texts: Describe(scenarioContainer) >
// DescribeTable(scenarioTable) > Entry(<scenario name>). The report tells
// a scenario's spec from the others by them.
const (
	scenarioContainer = "scenario"
	scenarioTable     = "keeps the bot's promises"
)

// scenarioSpecText is the full text of a scenario's spec.
func scenarioSpecText(name string) string {
	return scenarioContainer + " " + scenarioTable + " " + name
}

// scenarioOf names the scenario a spec plays, "" for the other specs.
func scenarioOf(sr types.SpecReport) string {
	if slices.Equal(sr.ContainerHierarchyTexts, []string{scenarioContainer, scenarioTable}) {
		return sr.LeafNodeText
	}
	return ""
}

// catalogLabel is on every scenario spec besides the scenario's own
// labels: LABELS=catalog runs the catalog only, LABELS='!catalog' the rest.
const catalogLabel = "catalog"

// shardOf says which catalog scenarios are in s, by name: s deals the
// scenario files (package shard), so a scenario with two fault labels is
// in one shard, once.
func shardOf(catalog []scenarios.Scenario, s shard.Shard) (map[string]bool, error) {
	files := make([]string, len(catalog))
	byFile := map[string]string{}
	for i, sc := range catalog {
		files[i] = sc.File
		byFile[sc.File] = sc.Name
	}
	in, err := s.Select(files)
	if err != nil {
		return nil, fmt.Errorf("shard %s of the catalog: %w", s, err)
	}
	out := map[string]bool{}
	for _, f := range in {
		out[byFile[f]] = true
	}
	return out, nil
}

var _ = Describe(scenarioContainer, func() {
	catalog, err := scenarios.LoadDir(catalogDir())
	if err != nil {
		It("catalog loads", func() { Fail(err.Error()) })
		return
	}
	inShard, err := shardOf(catalog, suiteShard)
	if err != nil {
		It("catalog shards", func() { Fail(err.Error()) })
		return
	}
	entries := make([]TableEntry, 0, len(catalog))
	for _, s := range catalog {
		if !inShard[s.Name] {
			continue // another shard's: not a spec of this run
		}
		// The timeout is generous: a scenario's traffic lasts seconds, and
		// this only bounds a hang.
		labels := append([]string{catalogLabel}, s.Labels...)
		entries = append(entries, Entry(s.Name, Label(labels...), SpecTimeout(3*time.Minute), s))
	}
	DescribeTable(scenarioTable, playScenario, entries)
})
