//go:build chaos

// Package chaos holds the Ginkgo chaos suites. They run against real
// postgres, pgbouncer and toxiproxy containers, started once per process
// and shared by the specs, with faults reset between specs.
package chaos

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/suites/environment"
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
