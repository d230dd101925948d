package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const ginkgoReport = `[{
  "SuiteDescription": "chaos",
  "SuiteSucceeded": false,
  "StartTime": "2026-11-26T09:43:59.278812551Z",
  "RunTime": 145399404303,
  "SuiteConfig": {"LabelFilter": "%s", "FocusStrings": null},
  "SpecReports": [
    {"LeafNodeType": "BeforeSuite", "State": "passed"},
    {"LeafNodeType": "It", "State": "passed"},
    {"LeafNodeType": "It", "State": "passed"},
    {"LeafNodeType": "It", "State": "failed"},
    {"LeafNodeType": "It", "State": "skipped"},
    {"LeafNodeType": "DeferCleanup (Suite)", "State": "passed"}
  ]
}]`

func TestParseCatalog(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		full   bool
	}{
		{"the full catalog", "", true},
		{"a label filter", "smoke", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCatalog("ginkgo.json", []byte(strings.Replace(ginkgoReport, "%s", tt.filter, 1)))
			if err != nil {
				t.Fatal(err)
			}
			want := Catalog{
				Path: "ginkgo.json", Started: time.Date(2026, 11, 26, 9, 43, 59, 278812551, time.UTC), WallS: 145.399404303,
				Specs: 3, Passed: 2, LabelFilter: tt.filter, Succeeded: false, Full: tt.full,
			}
			if !c.Started.Equal(want.Started) {
				t.Errorf("started %v, want %v", c.Started, want.Started)
			}
			c.Started = want.Started
			if *c != want {
				t.Errorf("catalog %+v, want %+v", *c, want)
			}
		})
	}
}

func TestParseCatalogErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"not JSON", "<html>", "not a Ginkgo JSON report"},
		{"two suites", `[{"RunTime": 1}, {"RunTime": 1}]`, "want one suite, found 2"},
		{"no run time", `[{"SuiteSucceeded": true}]`, "RunTime is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalog("x/ginkgo.json", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "x/ginkgo.json") {
				t.Errorf("error %v, want one naming the file and containing %q", err, tt.want)
			}
		})
	}
}

func TestReadCatalog(t *testing.T) {
	dir := t.TempDir()
	if c, err := ReadCatalog(filepath.Join(dir, "missing.json")); c != nil || err != nil {
		t.Errorf("a missing report gave %+v, %v; want nil, nil", c, err)
	}
	path := filepath.Join(dir, "ginkgo.json")
	if err := os.WriteFile(path, []byte(strings.Replace(ginkgoReport, "%s", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ReadCatalog(path)
	if err != nil || c == nil || c.Specs != 3 {
		t.Errorf("ReadCatalog = %+v, %v", c, err)
	}
}
