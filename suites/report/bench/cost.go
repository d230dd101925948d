package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Catalog is what the last chaos run's ginkgo.json says about itself.
type Catalog struct {
	Path    string    `json:"path"`
	Started time.Time `json:"started"`
	WallS   float64   `json:"wall_s"`
	// Specs are the It nodes that ran (passed or failed), Passed those
	// that passed.
	Specs       int    `json:"specs"`
	Passed      int    `json:"passed"`
	LabelFilter string `json:"label_filter,omitempty"`
	Succeeded   bool   `json:"succeeded"`
	// Full: no label filter and no focus, so the whole catalog ran.
	Full bool `json:"full"`
}

// ReadCatalog reads a Ginkgo JSON report (--json-report). A missing file
// is (nil, nil): no chaos run to read, which is not an error of the bench.
func ReadCatalog(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the chaos run's report: %w", err)
	}
	return ParseCatalog(path, data)
}

// ReadCatalog fills Catalog from the Ginkgo JSON report at path, or says
// in CatalogNote why there is none, or why it is not the full catalog.
func (c *Cost) ReadCatalog(path string) (err error) {
	if c.Catalog, err = ReadCatalog(path); err != nil {
		return err
	}
	switch cat := c.Catalog; {
	case cat == nil:
		c.CatalogNote = fmt.Sprintf("no chaos run found at %s: run `make chaos` first", path)
	case !cat.Full:
		c.CatalogNote = fmt.Sprintf("the last chaos run used the label filter %q: not the full catalog", cat.LabelFilter)
	}
	return nil
}

// ParseCatalog reads the suite report of a Ginkgo JSON report.
func ParseCatalog(path string, data []byte) (*Catalog, error) {
	var suites []struct {
		SuiteSucceeded bool
		StartTime      time.Time
		RunTime        time.Duration
		SuiteConfig    struct {
			LabelFilter   string
			FocusStrings  []string
			FocusFiles    []string
			ParallelTotal int
		}
		SpecReports []struct {
			LeafNodeType string
			State        string
		}
	}
	if err := json.Unmarshal(data, &suites); err != nil {
		return nil, fmt.Errorf("%s: not a Ginkgo JSON report: %w", path, err)
	}
	if len(suites) != 1 {
		return nil, fmt.Errorf("%s: want one suite, found %d", path, len(suites))
	}
	s := suites[0]
	if s.RunTime <= 0 {
		return nil, fmt.Errorf("%s: RunTime is %d, want a positive duration", path, s.RunTime)
	}
	c := &Catalog{
		Path: path, Started: s.StartTime, WallS: s.RunTime.Seconds(),
		LabelFilter: s.SuiteConfig.LabelFilter, Succeeded: s.SuiteSucceeded,
		Full: s.SuiteConfig.LabelFilter == "" && len(s.SuiteConfig.FocusStrings) == 0 && len(s.SuiteConfig.FocusFiles) == 0,
	}
	for _, r := range s.SpecReports {
		if r.LeafNodeType != "It" {
			continue
		}
		switch r.State {
		case "passed":
			c.Specs++
			c.Passed++
		case "failed", "panicked", "timedout", "interrupted", "aborted":
			c.Specs++
		}
	}
	return c, nil
}
