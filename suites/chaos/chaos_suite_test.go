//go:build chaos

// Package chaos holds the Ginkgo chaos suites. They run against real
// postgres, pgbouncer and toxiproxy containers, started once per Ginkgo
// process and shared by that process's specs, with faults reset between
// specs. No spec needs Serial: every spec touches only its own process's
// stack (its containers, networks, ports, Postgres settings and the
// bot it starts), and writes only its own files (its scenario's history,
// its evidence directory).
package chaos

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/format"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/report"
	"github.com/p1001/p1001/suites/shard"
	"github.com/p1001/p1001/targets"
)

func TestChaos(t *testing.T) {
	RegisterFailHandler(Fail)
	// A failed Expect on a connect error would print its Config, password
	// included, to the terminal, ginkgo.json and junit.xml.
	format.RegisterCustomFormatter(report.FormatError)
	var err error
	if suiteShard, err = shard.Parse(os.Getenv(shard.Env)); err != nil {
		t.Fatalf("%s: %v", shard.Env, err)
	}
	suiteConfig, reporterConfig := GinkgoConfiguration()
	// Which catalog scenarios a shard holds is decided where the table is
	// built (scenarios_test.go; the others are not specs of the run at
	// all). The spec files outside the catalog are dealt here, the smoke
	// specs' to shard 1.
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return f == "chaos_suite_test.go" || f == "scenarios_test.go" })
	skip, err := suiteShard.SkipSpecs(files, []string{"smoke_test.go", "bot_test.go"})
	if err != nil {
		t.Fatalf("shard %s: %v", suiteShard, err)
	}
	for _, f := range skip {
		suiteConfig.SkipFiles = append(suiteConfig.SkipFiles, "/"+regexp.QuoteMeta(f)+"$")
	}
	RunSpecs(t, "p1001 chaos", suiteConfig, reporterConfig)
}

// suiteShard is the slice of the catalog this run plays (make chaos
// SHARD=i/n; the zero Shard: all of it), set once, before the specs are
// built.
var suiteShard shard.Shard

// stack is the environment shared by the specs of this process. Under
// `ginkgo -p` (make chaos PROCS=N) every process starts its own: network,
// Postgres, PgBouncer, Toxiproxy and bots, labelled with the process
// (environment.ProcessLabel) and removed by the process at its end.
var stack *environment.Env

// SynchronizedBeforeSuite: process 1 makes the configuration (images, run
// ID, the random password) and every process starts its stack from it.
// One password for all the stacks of a run lets process 1, which builds
// the report from every process's files, check them all for it; each
// stack is still private (own network, containers, ports).
var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	cfg, err := environment.ConfigFromEnv()
	Expect(err).NotTo(HaveOccurred())
	b, err := json.Marshal(cfg)
	Expect(err).NotTo(HaveOccurred())
	return b
}, func(ctx SpecContext, b []byte) {
	// Every failure, of a spec or of a suite node, leaves its evidence.
	DeferOnFailure(gatherEvidence, NodeTimeout(time.Minute))
	var cfg environment.Config
	Expect(json.Unmarshal(b, &cfg)).To(Succeed())
	cfg.Process = GinkgoParallelProcess()
	var err error
	stack, err = environment.Start(ctx, cfg)
	Expect(err).NotTo(HaveOccurred(), "start the chaos environment")
	// Runs after the stack's removal (cleanups run last in, first out):
	// what this process wrote (histories, evidence) may not hold its bots'
	// API tokens. Process 1 checks the report itself (ReportAfterSuite).
	DeferCleanup(func() {
		Expect(report.CheckNoSecrets(reportDir(), stack.Secrets()...)).To(Succeed(),
			"no file of process %d may carry the stack's password or a bot's API token", GinkgoParallelProcess())
	})
	DeferCleanup(func(ctx SpecContext) {
		Expect(stack.Close(ctx)).To(Succeed(), "remove the chaos environment")
	}, NodeTimeout(2*time.Minute))
	for name, d := range stack.StartTimes {
		AddReportEntry("start time "+name, d.Round(time.Millisecond).String())
	}
}, NodeTimeout(3*time.Minute))

// resetFaults is run around every spec, so a spec that fails half-way
// leaves no toxic behind for the next one.
func resetFaults(ctx context.Context) {
	Expect(stack.ResetFaults(ctx)).To(Succeed())
}

var _ = BeforeEach(resetFaults)
var _ = AfterEach(resetFaults)

// The specs outside the catalog and the stack's own smoke specs test
// p1001's bot itself (its binary, /readyz, doctor, auth, the reply
// deadline, its URL parameters): against another target they are skipped,
// each by name with the reason, before any of its setup starts a bot
// (this node is outermost, so it runs before their BeforeAll). The
// catalog plays against any target.
var _ = BeforeEach(func() {
	sr := CurrentSpecReport()
	if stack.Existing() && scenarioOf(sr) == "" {
		Skip(fmt.Sprintf("not playable on an existing stack: %q needs the harness's own containers", sr.FullText()))
	}
	if t := stack.Target(); t.Name != targets.P1001Name && scenarioOf(sr) == "" &&
		(len(sr.ContainerHierarchyTexts) == 0 || sr.ContainerHierarchyTexts[0] != stackContainer) {
		Skip(fmt.Sprintf("p1001-only: %q tests p1001's own bot, and the target is %s (%s); the catalog plays against it",
			sr.FullText(), t.Name, t.File))
	}
})

// notPlayable maps the catalog scenarios this process's stack cannot
// play to why; nil when it can play them all (or never came up).
func notPlayable() map[string]string {
	if stack == nil || !stack.Existing() {
		return nil
	}
	catalog, err := scenarios.LoadDir(catalogDir())
	if err != nil {
		return nil // the catalog's own spec fails on it
	}
	out := map[string]string{}
	for _, s := range catalog {
		if why := stack.NotPlayable(s); why != "" {
			out[s.Name] = why
		}
	}
	return out
}

// A spec's evidence never shows an earlier spec's bot.
var _ = BeforeEach(func() { stack.ForgetBotLogs() })

// evidenceTail is how many of the last lines of the Postgres, PgBouncer
// and Toxiproxy logs a failure keeps.
const evidenceTail = 200

// gatherEvidence runs when a spec or a suite node fails, right after the
// failing node (before the spec's cleanup stops its bot): the bot's full
// log and the last lines of the stack's logs go to the run dir
// (failures/<slug>/, linked from the report) and into the spec's report
// entries (ginkgo.json, junit.xml), scrubbed of the stack's password and
// redacted.
func gatherEvidence(ctx SpecContext) {
	sr := CurrentSpecReport()
	if stack == nil {
		GinkgoWriter.Println("evidence: the chaos environment never came up; no logs to gather")
		return
	}
	secret := stack.Config().Password
	files := map[string][]byte{}
	var problems []string
	if logs, err := stack.BotLogs(ctx); err != nil {
		problems = append(problems, err.Error())
	} else if len(logs) > 0 {
		files["bot.log"] = logs
	}
	for _, part := range []string{environment.PartPostgres, environment.PartPgBouncer, environment.PartToxiproxy} {
		tail, err := stack.LogTail(ctx, part, evidenceTail)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		files[part+".log"] = tail
	}
	if len(problems) > 0 {
		files["evidence-errors.txt"] = []byte(strings.Join(problems, "\n") + "\n")
	}
	paths, err := report.WriteEvidence(reportDir(), report.SpecName(sr), files, secret)
	Expect(err).NotTo(HaveOccurred(), "write the evidence of the failure")
	for _, name := range slices.Sorted(maps.Keys(files)) {
		AddReportEntry("evidence "+name, report.Scrub(string(files[name]), secret), ReportEntryVisibilityNever)
	}
	for i, p := range paths {
		paths[i] = filepath.Join(reportDir(), filepath.FromSlash(p))
	}
	AddReportEntry("evidence", strings.Join(paths, "\n"), ReportEntryVisibilityFailureOrVerbose)
}

// The report (report.md, index.html, report.json) is built from the
// histories in the report dir once every spec has run, also after a
// failure or an interrupt. Under `ginkgo -p` this runs once, on process 1,
// after every process has ended, with every process's specs: one report.
// A report that cannot be built, or that would carry the stack's password
// or a bot's API token, fails the suite.
var _ = ReportAfterSuite("chaos report", func(r Report) {
	dir := reportDir()
	info := report.NewRunInfo(cmp.Or(os.Getenv("P1001_RUN_ID"), "adhoc"), r.StartTime)
	info.GinkgoVersion = types.VERSION
	info.LabelFilter = r.SuiteConfig.LabelFilter
	info.Shard = suiteShard.String()
	info.Processes = r.SuiteConfig.ParallelTotal
	var secrets []string
	if stack != nil { // nil when the stack never came up
		cfg := stack.Config()
		info.RunID = cfg.RunID
		info.Target = stack.Target().Name
		if stack.Existing() {
			info.Stack = environment.StackExisting
		}
		info.NotPlayable = notPlayable()
		if !stack.Existing() { // someone else's images are not known
			info.Images = []report.Image{
				report.NewImage("postgres", cfg.PostgresImage),
				report.NewImage("pgbouncer", cfg.PgBouncerImage),
				report.NewImage("toxiproxy", cfg.ToxiproxyImage),
				report.NewImage("bot", cfg.BotImage),
			}
		}
		info.StartTimesMS = map[string]float64{}
		for part, d := range stack.StartTimes {
			info.StartTimesMS[part] = float64(d.Microseconds()) / 1000
		}
		// The password (every process's stack shares it) and process 1's
		// bots' API tokens; the other processes' tokens are caught by
		// their shape below.
		secrets = stack.Secrets()
	}
	_, err := report.WriteRunInfo(dir, info)
	Expect(err).NotTo(HaveOccurred(), "write run.json")
	catalog, err := scenarios.LoadDir(catalogDir())
	Expect(err).NotTo(HaveOccurred(), "load the catalog for the report")
	// suite.json: every spec's outcome, so that the report's verdict is
	// the whole run's, not only the scenarios'.
	sel, err := report.NewSelector(r.SuiteDescription, r.SuiteConfig)
	Expect(err).NotTo(HaveOccurred())
	inShard, err := shardOf(catalog, suiteShard)
	Expect(err).NotTo(HaveOccurred())
	var selected, wanted []string
	skipped := notPlayable()
	for _, s := range catalog {
		if _, no := skipped[s.Name]; no {
			continue // skipped by name, with its reason (run.json)
		}
		labels := append([]string{catalogLabel}, s.Labels...)
		if !sel(scenarioSpecText(s.Name), labels) {
			continue
		}
		wanted = append(wanted, s.Name)
		if inShard[s.Name] {
			selected = append(selected, s.Name)
		}
	}
	suite, err := report.SuiteFromGinkgo(r, scenarioOf, selected)
	Expect(err).NotTo(HaveOccurred())
	suite.Shard = suiteShard.String()
	suite.CatalogSelected = wanted
	Expect(report.WriteSuite(dir, suite)).To(Succeed(), "write %s", report.SuiteFile)
	rep, err := report.Build(dir, catalog)
	Expect(err).NotTo(HaveOccurred(), "build the report in %s", dir)
	Expect(report.CheckNoSecrets(dir, secrets...)).To(Succeed(), "no report file may carry the stack's password or a bot's API token")
	Expect(report.CheckNoMatch(dir, environment.TokenPattern)).To(Succeed(), "no report file may carry a bot's API token (of any process)")
	GinkgoWriter.Printf("report: %s; open %s/%s\n", rep.Headline(), dir, report.HTMLFile)
})
