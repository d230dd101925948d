// Command report rebuilds a chaos run's report (report.json, report.md,
// index.html) from its histories, run.json and suite.json, without running
// containers, or merges several runs' into one:
//
//	go run ./hack/report [-scenarios DIR] [RUN_DIR]
//	go run ./hack/report [-scenarios DIR] -out OUT_DIR RUN_DIR...
//
// RUN_DIR defaults to reports/latest; the catalog to P1001_SCENARIOS, else
// scenarios/. `make report RUN=<dir>` runs the first form, `make report
// MERGE='<dir> <dir>...' OUT=<dir>` the second (report.MergeRuns).
package main

import (
	"cmp"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/report"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		slog.Error("report", "err", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	catalogDir := fs.String("scenarios", cmp.Or(os.Getenv("P1001_SCENARIOS"), "scenarios"), "scenario catalog directory")
	out := fs.String("out", "", "merge the run directories given into this one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out != "" {
		if fs.NArg() == 0 {
			return fmt.Errorf("-out %s: name the run directories to merge", *out)
		}
		catalog, err := scenarios.LoadDir(*catalogDir)
		if err != nil {
			return fmt.Errorf("load the catalog: %w", err)
		}
		r, err := report.MergeRuns(*out, fs.Args(), catalog)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s; open %s/%s\n", *out, r.Headline(), *out, report.HTMLFile)
		return nil
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("want at most one run directory, got %d arguments", fs.NArg())
	}
	runDir := cmp.Or(fs.Arg(0), "reports/latest")
	if st, err := os.Stat(runDir); err != nil {
		return fmt.Errorf("run directory: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("run directory %s is not a directory", runDir)
	}
	catalog, err := scenarios.LoadDir(*catalogDir)
	if err != nil {
		return fmt.Errorf("load the catalog: %w", err)
	}
	r, err := report.Build(runDir, catalog)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s; open %s/%s\n", runDir, r.Headline(), runDir, report.HTMLFile)
	return nil
}
