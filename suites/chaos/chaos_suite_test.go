//go:build chaos

// Package chaos holds the Ginkgo chaos suites. They run against real
// postgres, pgbouncer and toxiproxy containers, started once per process
// and shared by the specs, with faults reset between specs.
package chaos

import (
	"cmp"
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/report"
)

func TestChaos(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "p1001 chaos")
}

// stack is the environment shared by the specs of this process.
var stack *environment.Env

var _ = BeforeSuite(func(ctx SpecContext) {
	cfg, err := environment.ConfigFromEnv()
	Expect(err).NotTo(HaveOccurred())
	stack, err = environment.Start(ctx, cfg)
	Expect(err).NotTo(HaveOccurred(), "start the chaos environment")
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

// The report (report.md, index.html, report.json) is built from the
// histories in the report dir once every spec has run, also after a
// failure or an interrupt. A report that cannot be built, or that would
// carry the stack's password or a bot's API token, fails the suite.
var _ = ReportAfterSuite("chaos report", func(r Report) {
	dir := reportDir()
	info := report.NewRunInfo(cmp.Or(os.Getenv("P1001_RUN_ID"), "adhoc"), r.StartTime)
	info.GinkgoVersion = types.VERSION
	info.LabelFilter = r.SuiteConfig.LabelFilter
	var secrets []string
	if stack != nil { // nil when the stack never came up
		cfg := stack.Config()
		info.RunID = cfg.RunID
		info.Images = []report.Image{
			report.NewImage("postgres", cfg.PostgresImage),
			report.NewImage("pgbouncer", cfg.PgBouncerImage),
			report.NewImage("toxiproxy", cfg.ToxiproxyImage),
			report.NewImage("bot", cfg.BotImage),
		}
		info.StartTimesMS = map[string]float64{}
		for part, d := range stack.StartTimes {
			info.StartTimesMS[part] = float64(d.Microseconds()) / 1000
		}
		secrets = stack.Secrets() // the password and every bot's API token
	}
	_, err := report.WriteRunInfo(dir, info)
	Expect(err).NotTo(HaveOccurred(), "write run.json")
	catalog, err := scenarios.LoadDir(catalogDir())
	Expect(err).NotTo(HaveOccurred(), "load the catalog for the report")
	rep, err := report.Build(dir, catalog)
	Expect(err).NotTo(HaveOccurred(), "build the report in %s", dir)
	Expect(report.CheckNoSecrets(dir, secrets...)).To(Succeed(), "no report file may carry the stack's password or a bot's API token")
	GinkgoWriter.Printf("report: %s, %d of %d scenarios kept all promises; open %s/%s\n",
		rep.Verdict, rep.ScenariosPassed, rep.ScenariosRun, dir, report.HTMLFile)
})
