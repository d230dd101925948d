package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// SuiteFile is the chaos suite's record of every spec of the run, in the
// run dir; SuiteSchema versions it.
const (
	SuiteFile   = "suite.json"
	SuiteSchema = "p1001.suite/v1"
)

// Suite is suite.json: what Ginkgo's report said about the run, written by
// the chaos suite's ReportAfterSuite so that `make report` can rebuild the
// whole run's verdict, not only the scenarios', without Ginkgo.
type Suite struct {
	Schema string `json:"schema"`
	// Succeeded is Ginkgo's own verdict (types.Report.SuiteSucceeded).
	Succeeded bool `json:"succeeded"`
	// FailureReasons are Ginkgo's suite-level failure reasons: an
	// interrupt (Ctrl-C, a timeout), a BeforeSuite that skipped the suite.
	FailureReasons []string `json:"failure_reasons"`
	// LabelFilter, Focus and Skip are the run's spec filters.
	LabelFilter string   `json:"label_filter,omitempty"`
	Focus       []string `json:"focus,omitempty"`
	Skip        []string `json:"skip,omitempty"`
	// SpecsTotal is every spec of the suite; SpecsSelected those the
	// filters selected (Ginkgo's PreRunStats).
	SpecsTotal    int `json:"specs_total"`
	SpecsSelected int `json:"specs_selected"`
	// ScenariosSelected are the catalog scenarios whose spec the filters
	// selected: each must complete, or the run fails.
	ScenariosSelected []string `json:"scenarios_selected"`
	// Shard is the run's slice of the catalog ("i/n", "" for all of it).
	// CatalogSelected are the catalog scenarios the run's filters select,
	// shard aside: what the runs of every shard must cover together (a
	// merged report, MergeRuns, fails on one that none of them ran).
	Shard           string   `json:"shard,omitempty"`
	CatalogSelected []string `json:"catalog_selected,omitempty"`
	// Specs are Ginkgo's spec reports, suite nodes (BeforeSuite, ...)
	// included, in the order they ran.
	Specs []Spec `json:"specs"`
}

// Spec is one Ginkgo spec report (an It, or a suite node).
type Spec struct {
	// Name is the spec's full text; for a suite node, its node type.
	Name string `json:"name"`
	// Node is Ginkgo's node type: It, BeforeSuite, DeferCleanup (Suite), ...
	Node string `json:"node"`
	// Scenario names the catalog scenario the spec plays; "" for the others.
	Scenario string   `json:"scenario,omitempty"`
	Labels   []string `json:"labels"`
	// State is Ginkgo's: passed, failed, skipped, pending, panicked,
	// interrupted, aborted, timedout.
	State string `json:"state"`
	// Selected: the run's filters selected it (suite nodes always are).
	Selected   bool    `json:"selected"`
	DurationMS float64 `json:"duration_ms"`
	// Failure is the failure message (redacted), Location where it
	// happened (file:line) and FailureNode in which node.
	Failure     string `json:"failure,omitempty"`
	Location    string `json:"location,omitempty"`
	FailureNode string `json:"failure_node,omitempty"`
}

// failed reports whether the spec's state is one of Ginkgo's failure
// states.
func (s Spec) failed() bool {
	switch s.State {
	case "failed", "panicked", "interrupted", "aborted", "timedout":
		return true
	}
	return false
}

// ran reports whether the spec ran to an outcome (passed or failed; a
// spec that called Skip() ran too, and says why).
func (s Spec) ran() bool {
	return s.State == "passed" || s.failed() || (s.State == "skipped" && s.Failure != "")
}

// completed reports whether the spec ran to its end: passed, failed or
// panicked, not interrupted, aborted or timed out.
func (s Spec) completed() bool {
	return s.ran() && s.State != "interrupted" && s.State != "aborted" && s.State != "timedout"
}

// isSpec tells an It from a suite node.
func (s Spec) isSpec() bool { return s.Node == types.NodeTypeIt.String() }

// Selector says whether the run's filters select a spec, by its full text
// and labels, as Ginkgo decides it: label filter, then --focus and --skip
// regexps over "<suite description> <spec text>". (File filters apply in
// SuiteFromGinkgo, which has the specs' code locations; semver filters
// are not replicated: the suite's count check still catches a selected
// spec that did not run.)
type Selector func(text string, labels []string) bool

// NewSelector builds the Selector of a run's Ginkgo configuration.
func NewSelector(description string, cfg types.SuiteConfig) (Selector, error) {
	var labels types.LabelFilter
	if cfg.LabelFilter != "" {
		f, err := types.ParseLabelFilter(cfg.LabelFilter)
		if err != nil {
			return nil, fmt.Errorf("label filter %q: %w", cfg.LabelFilter, err)
		}
		labels = f
	}
	var focus, skip *regexp.Regexp
	var err error
	if len(cfg.FocusStrings) > 0 {
		if focus, err = regexp.Compile(strings.Join(cfg.FocusStrings, "|")); err != nil {
			return nil, fmt.Errorf("focus: %w", err)
		}
	}
	if len(cfg.SkipStrings) > 0 {
		if skip, err = regexp.Compile(strings.Join(cfg.SkipStrings, "|")); err != nil {
			return nil, fmt.Errorf("skip: %w", err)
		}
	}
	return func(text string, l []string) bool {
		full := description + " " + text
		return (labels == nil || labels(l)) &&
			(focus == nil || focus.MatchString(full)) &&
			(skip == nil || !skip.MatchString(full))
	}, nil
}

// SuiteFromGinkgo converts Ginkgo's report of the run. scenarioOf names
// the catalog scenario a spec plays ("" for the others); selected says
// which catalog scenarios the filters selected (the suite knows their spec
// texts and labels). Failure messages are redacted.
func SuiteFromGinkgo(r types.Report, scenarioOf func(types.SpecReport) string, selected []string) (Suite, error) {
	sel, err := NewSelector(r.SuiteDescription, r.SuiteConfig)
	if err != nil {
		return Suite{}, err
	}
	// A shard skips the spec files dealt to the others (--skip-file).
	focusFiles, err := types.ParseFileFilters(r.SuiteConfig.FocusFiles)
	if err != nil {
		return Suite{}, fmt.Errorf("focus files: %w", err)
	}
	skipFiles, err := types.ParseFileFilters(r.SuiteConfig.SkipFiles)
	if err != nil {
		return Suite{}, fmt.Errorf("skip files: %w", err)
	}
	s := Suite{
		Schema:            SuiteSchema,
		Succeeded:         r.SuiteSucceeded,
		FailureReasons:    []string{},
		LabelFilter:       redact(r.SuiteConfig.LabelFilter),
		Focus:             r.SuiteConfig.FocusStrings,
		Skip:              r.SuiteConfig.SkipStrings,
		SpecsTotal:        r.PreRunStats.TotalSpecs,
		SpecsSelected:     r.PreRunStats.SpecsThatWillRun,
		ScenariosSelected: append([]string{}, selected...),
		Specs:             []Spec{},
	}
	for _, reason := range r.SpecialSuiteFailureReasons {
		s.FailureReasons = append(s.FailureReasons, redact(reason))
	}
	for _, sr := range r.SpecReports {
		sp := Spec{
			Name:       SpecName(sr),
			Node:       sr.LeafNodeType.String(),
			Scenario:   scenarioOf(sr),
			Labels:     append([]string{}, sr.Labels()...),
			State:      sr.State.String(),
			Selected:   true,
			DurationMS: ms(sr.RunTime),
		}
		if sr.LeafNodeType.Is(types.NodeTypeIt) {
			at := append(slices.Clone(sr.ContainerHierarchyLocations), sr.LeafNodeLocation)
			sp.Selected = sel(sr.FullText(), sr.Labels()) &&
				(len(focusFiles) == 0 || focusFiles.Matches(at)) && !skipFiles.Matches(at)
		}
		if sr.State.Is(types.SpecStateFailureStates) || sr.Failure.Message != "" {
			sp.Failure = redact(failureText(sr.Failure))
			sp.Location = sr.Failure.Location.String()
			sp.FailureNode = sr.Failure.FailureNodeType.String()
		}
		s.Specs = append(s.Specs, sp)
	}
	return s, nil
}

// failureText is a failure's message, with a forwarded panic and an
// additional failure (a cleanup that also failed) appended.
func failureText(f types.Failure) string {
	msg := strings.TrimSpace(f.Message)
	if f.ForwardedPanic != "" {
		msg += "\npanic: " + f.ForwardedPanic
	}
	if f.AdditionalFailure != nil {
		msg += "\nalso: " + strings.TrimSpace(f.AdditionalFailure.Failure.Message)
	}
	return msg
}

// WriteSuite writes runDir/suite.json (replacing an earlier one: with
// --repeat, the last repetition's record is the one kept).
func WriteSuite(runDir string, s Suite) error {
	if s.Schema == "" {
		s.Schema = SuiteSchema
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", SuiteFile, err)
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", SuiteFile, err)
	}
	return writeFile(filepath.Join(runDir, SuiteFile), append(b, '\n'))
}

// ReadSuite reads runDir/suite.json; ok is false when there is none. A
// file of another schema is an error.
func ReadSuite(runDir string) (s Suite, ok bool, err error) {
	ok, err = readRecord(filepath.Join(runDir, SuiteFile), SuiteSchema, &s, &s.Schema)
	if !ok || err != nil {
		return Suite{}, false, err
	}
	return s, true, nil
}
