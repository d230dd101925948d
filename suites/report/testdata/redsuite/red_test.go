// Package redsuite is a Ginkgo suite shaped like the chaos suite (a smoke
// spec, a scenario table, DeferOnFailure evidence, the report built in
// ReportAfterSuite) whose smoke spec fails on purpose. TestGinkgoRedRun
// (../../ginkgo_test.go) runs it in a child `go test` and reads the report
// it leaves. It lives under testdata so that `go test ./...` skips it.
package redsuite

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/report"
)

func TestRed(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "p1001 chaos")
}

var runDir = os.Getenv("REDSUITE_RUN_DIR")

var scenarioTexts = []string{"scenario", "keeps the bot's promises"}

var _ = BeforeSuite(func() {
	Expect(runDir).NotTo(BeEmpty(), "REDSUITE_RUN_DIR")
	DeferOnFailure(func() {
		// What the chaos suite gathers from the stack, here a stand-in.
		_, err := report.WriteEvidence(runDir, report.SpecName(CurrentSpecReport()), map[string][]byte{
			"bot.log": []byte(`{"level":"ERROR","msg":"prompt lookup failed","err":"ERROR: relation \"chat_prompts\" does not exist (SQLSTATE 42P01)"}` + "\n"),
		}, "red-secret")
		Expect(err).NotTo(HaveOccurred())
	})
})

var _ = Describe("the bot binary", Label("smoke", "bot"), func() {
	It("keeps a custom prompt across a round-trip through pgbouncer with the runbook's pooler URL", func() {
		// Made to fail here, in the test, not in the product.
		Expect("default").To(Equal("custom"), `the reply used the default prompt: relation "chat_prompts" does not exist`)
	})
})

var _ = Describe(scenarioTexts[0], func() {
	DescribeTable(scenarioTexts[1], func(name string) {},
		Entry("healthy-baseline", Label("fault:none", "path:pooler"), "healthy-baseline"))
})

var _ = ReportAfterSuite("report", func(r Report) {
	catalog, err := scenarios.LoadDir(filepath.Join("..", "catalog"))
	Expect(err).NotTo(HaveOccurred())
	sel, err := report.NewSelector(r.SuiteDescription, r.SuiteConfig)
	Expect(err).NotTo(HaveOccurred())
	var selected []string
	for _, s := range catalog {
		if s.Name == "healthy-baseline" && sel("scenario keeps the bot's promises "+s.Name, s.Labels) {
			selected = append(selected, s.Name)
		}
	}
	suite, err := report.SuiteFromGinkgo(r, func(sr types.SpecReport) string {
		if slices.Equal(sr.ContainerHierarchyTexts, scenarioTexts) {
			return sr.LeafNodeText
		}
		return ""
	}, selected)
	Expect(err).NotTo(HaveOccurred())
	Expect(report.WriteSuite(runDir, suite)).To(Succeed())
	_, err = report.Build(runDir, catalog)
	Expect(err).NotTo(HaveOccurred())
})
