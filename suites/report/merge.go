package report

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/p1001/p1001/scenarios"
)

// Files of a merged run dir (MergeRuns).
const (
	// RunsDir holds runs/<name>/: each merged run's run.json and
	// suite.json, as the run wrote them.
	RunsDir = "runs"
	// MergeFile records which runs were merged and which scenarios each
	// ran; MergeSchema versions it.
	MergeFile   = "merge.json"
	MergeSchema = "p1001.merge/v1"
	// JUnitFile is Ginkgo's JUnit report in a run dir (make chaos writes
	// it); a merge writes one of all the runs'.
	JUnitFile = "junit.xml"
)

// Merge is merge.json.
type Merge struct {
	Schema string      `json:"schema"`
	Runs   []MergedRun `json:"runs"`
}

// MergedRun is one run of a merged report.
type MergedRun struct {
	// Name is the run's directory under runs/ (its own directory's name,
	// numbered when two runs share one).
	Name string `json:"name"`
	// Source is the run directory as given to the merge.
	Source string `json:"source"`
	// Shard is the run's slice of the catalog ("i/n"; "" for all of it).
	Shard string `json:"shard,omitempty"`
	// Scenarios are the scenarios whose history the run holds.
	Scenarios []string `json:"scenarios"`
	// Environment is the run's run.json; null when it had none.
	Environment *RunInfo `json:"environment"`
}

// MergeRuns builds one report in out from several runs' dirs (the shards
// of a CI matrix, say), and returns it:
//   - each scenario's history comes from the one run that played it; a
//     scenario (or any other spec) that ran in two runs is an error naming
//     both, since one of the two verdicts would be dropped;
//   - each run's run.json and suite.json are kept under runs/<name>/, and
//     the report lists every run with its environment;
//   - suite.json is the runs' together: every spec, suite nodes prefixed
//     with their run; the scenarios expected are those any run's filters
//     select, shard aside (Suite.CatalogSelected), so a catalog scenario
//     that no run played is "not run" and fails the verdict;
//   - junit.xml holds every run's test suites.
//
// out must not exist, be empty, or hold an earlier merge (which is
// replaced).
func MergeRuns(out string, runs []string, catalog []scenarios.Scenario) (Report, error) {
	if len(runs) == 0 {
		return Report{}, errors.New("merge: no run directories given")
	}
	if err := prepareOut(out, runs); err != nil {
		return Report{}, err
	}
	m := Merge{Schema: MergeSchema}
	ranIn := map[string]string{} // scenario or spec name -> the run that ran it
	names := map[string]bool{}
	var suites []Suite
	var specs []Spec
	allKnown := true
	for _, dir := range runs {
		if st, err := os.Stat(dir); err != nil {
			return Report{}, fmt.Errorf("merge: run directory: %w", err)
		} else if !st.IsDir() {
			return Report{}, fmt.Errorf("merge: run directory %s is not a directory", dir)
		}
		mr := MergedRun{Name: uniqueName(names, filepath.Base(filepath.Clean(dir))), Source: dir, Scenarios: []string{}}
		info, ok, err := ReadRunInfo(dir)
		if err != nil {
			return Report{}, fmt.Errorf("merge: %w", err)
		}
		if ok {
			mr.Environment = &info
			mr.Shard = info.Shard
		}
		hists, err := filepath.Glob(filepath.Join(dir, ScenariosDir, "*", HistoryFile))
		if err != nil {
			return Report{}, fmt.Errorf("merge: list histories in %s: %w", dir, err)
		}
		for _, h := range hists {
			name := filepath.Base(filepath.Dir(h))
			if other, dup := ranIn[name]; dup {
				return Report{}, fmt.Errorf("merge: scenario %s ran in two runs, %s and %s: a merged report keeps one verdict per scenario (merge each shard once)", name, other, dir)
			}
			ranIn[name] = dir
			mr.Scenarios = append(mr.Scenarios, name)
		}
		suite, known, err := ReadSuite(dir)
		if err != nil {
			return Report{}, fmt.Errorf("merge: %w", err)
		}
		allKnown = allKnown && known
		if known {
			if mr.Shard == "" {
				mr.Shard = suite.Shard
			}
			for _, sp := range suite.Specs {
				if !sp.isSpec() || !sp.ran() || sp.Scenario != "" {
					continue // scenarios: by their histories, above
				}
				if other, dup := ranIn["spec "+sp.Name]; dup {
					return Report{}, fmt.Errorf("merge: spec %q ran in two runs, %s and %s: a merged report keeps one verdict per spec", sp.Name, other, dir)
				}
				ranIn["spec "+sp.Name] = dir
			}
			suites = append(suites, suite)
			merged, err := copySpecs(out, dir, mr.Name, suite.Specs)
			if err != nil {
				return Report{}, err
			}
			specs = append(specs, merged...)
		}
		if err := copyRun(out, dir, mr); err != nil {
			return Report{}, err
		}
		m.Runs = append(m.Runs, mr)
	}
	if allKnown {
		if err := WriteSuite(out, mergeSuites(suites, specs)); err != nil {
			return Report{}, err
		}
	}
	if err := mergeJUnit(out, m.Runs); err != nil {
		return Report{}, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Report{}, fmt.Errorf("encode %s: %w", MergeFile, err)
	}
	if err := writeFile(filepath.Join(out, MergeFile), append(b, '\n')); err != nil {
		return Report{}, err
	}
	return Build(out, catalog)
}

// prepareOut makes out ready for a merge: new, empty, or an earlier merge
// (removed). It refuses to be one of the runs, or to hold anything else.
func prepareOut(out string, runs []string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("merge: out %s: %w", out, err)
	}
	for _, r := range runs {
		if ra, err := filepath.Abs(r); err == nil && ra == abs {
			return fmt.Errorf("merge: out %s is one of the runs", out)
		}
	}
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("merge: out: %w", err)
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(out, MergeFile)); err != nil {
			return fmt.Errorf("merge: out %s is not empty and holds no earlier merge (%s): not overwritten", out, MergeFile)
		}
		if err := os.RemoveAll(out); err != nil {
			return fmt.Errorf("merge: replace the earlier merge in %s: %w", out, err)
		}
	}
	return os.MkdirAll(out, 0o755)
}

// uniqueName is base, or base-2, base-3... when taken.
func uniqueName(taken map[string]bool, base string) string {
	name := base
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	taken[name] = true
	return name
}

// copyRun copies a run's histories, and its run.json and suite.json to
// runs/<name>/.
func copyRun(out, dir string, mr MergedRun) error {
	for _, name := range mr.Scenarios {
		rel := filepath.Join(ScenariosDir, name)
		if err := os.CopyFS(filepath.Join(out, rel), os.DirFS(filepath.Join(dir, rel))); err != nil {
			return fmt.Errorf("merge: copy %s of %s: %w", rel, dir, err)
		}
	}
	to := filepath.Join(out, RunsDir, mr.Name)
	if err := os.MkdirAll(to, 0o755); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	for _, f := range []string{RunInfoFile, SuiteFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		if err := writeFile(filepath.Join(to, f), b); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	return nil
}

// copySpecs returns a run's spec records for the merged suite.json and
// copies their evidence: suite nodes (BeforeSuite, ...) are renamed
// "<run>: <node>", since every run has them.
func copySpecs(out, dir, run string, specs []Spec) ([]Spec, error) {
	var merged []Spec
	for _, sp := range specs {
		from := EvidenceDir(sp.Name)
		if !sp.isSpec() {
			sp.Name = run + ": " + sp.Name
		}
		src := filepath.Join(dir, filepath.FromSlash(from))
		if _, err := os.Stat(src); err == nil {
			dst := filepath.Join(out, filepath.FromSlash(EvidenceDir(sp.Name)))
			if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
				return nil, fmt.Errorf("merge: copy the evidence of %q from %s: %w", sp.Name, dir, err)
			}
		}
		merged = append(merged, sp)
	}
	return merged, nil
}

// mergeSuites is the runs' suite.json together. A spec that ran keeps its
// one record; one that ran nowhere keeps its first (selected, if any run
// selected it).
func mergeSuites(suites []Suite, specs []Spec) Suite {
	s := Suite{Schema: SuiteSchema, Succeeded: true, FailureReasons: []string{}, ScenariosSelected: []string{}, Specs: []Spec{}}
	var filters []string
	expected := map[string]bool{}
	for _, in := range suites {
		s.Succeeded = s.Succeeded && in.Succeeded
		s.FailureReasons = append(s.FailureReasons, in.FailureReasons...)
		if !slices.Contains(filters, in.LabelFilter) {
			filters = append(filters, in.LabelFilter)
		}
		s.Focus = append(s.Focus, in.Focus...)
		s.Skip = append(s.Skip, in.Skip...)
		s.SpecsTotal = max(s.SpecsTotal, in.SpecsTotal)
		s.SpecsSelected += in.SpecsSelected
		want := in.CatalogSelected
		if want == nil { // a run from before shards: what it selected
			want = in.ScenariosSelected
		}
		for _, name := range want {
			expected[name] = true
		}
	}
	s.LabelFilter = strings.Join(filters, " ; ")
	if len(filters) == 1 {
		s.LabelFilter = filters[0]
	}
	for name := range expected {
		s.ScenariosSelected = append(s.ScenariosSelected, name)
	}
	slices.Sort(s.ScenariosSelected)
	s.CatalogSelected = slices.Clone(s.ScenariosSelected)
	at := map[string]int{}
	for _, sp := range specs {
		i, seen := at[sp.Name]
		switch {
		case !seen || !sp.isSpec():
			at[sp.Name] = len(s.Specs)
			s.Specs = append(s.Specs, sp)
		case sp.ran() || (!s.Specs[i].ran() && sp.Selected && !s.Specs[i].Selected):
			s.Specs[i] = sp
		}
	}
	return s
}

// mergeJUnit writes out/junit.xml with every run's test suites, each
// named after its run; nothing when no run has a junit.xml.
func mergeJUnit(out string, runs []MergedRun) error {
	var all reporters.JUnitTestSuites
	found := false
	for _, mr := range runs {
		b, err := os.ReadFile(filepath.Join(mr.Source, JUnitFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		var in reporters.JUnitTestSuites
		if err := xml.Unmarshal(b, &in); err != nil {
			return fmt.Errorf("merge: %s: %w", filepath.Join(mr.Source, JUnitFile), err)
		}
		found = true
		for _, ts := range in.TestSuites {
			ts.Name = fmt.Sprintf("%s (%s)", ts.Name, mr.Name)
			all.TestSuites = append(all.TestSuites, ts)
		}
		all.Tests += in.Tests
		all.Disabled += in.Disabled
		all.Errors += in.Errors
		all.Failures += in.Failures
		all.Time += in.Time
	}
	if !found {
		return nil
	}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("merge: encode %s: %w", JUnitFile, err)
	}
	return writeFile(filepath.Join(out, JUnitFile), append([]byte(xml.Header), append(b, '\n')...))
}

// ReadMerge reads runDir/merge.json; ok is false when the run dir is not
// a merge.
func ReadMerge(runDir string) (m Merge, ok bool, err error) {
	ok, err = readRecord(filepath.Join(runDir, MergeFile), MergeSchema, &m, &m.Schema)
	if !ok || err != nil {
		return Merge{}, false, err
	}
	return m, true, nil
}
