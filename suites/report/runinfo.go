package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/p1001/p1001/resilience"
)

// RunInfoFile is the name of the run's environment record in a run dir.
const RunInfoFile = "run.json"

// RunInfoSchema versions run.json.
const RunInfoSchema = "p1001.run/v1"

// RunInfo is the environment a chaos run ran in: what the suite knows at
// BeforeSuite time and writes to run.json, and what report.json repeats
// under "environment". It carries no DSN and no password.
type RunInfo struct {
	Schema string `json:"schema"`
	// RunID is P1001_RUN_ID (the reports/<run> name), or "adhoc".
	RunID string `json:"run_id"`
	// Started is when the suite started (wall clock, UTC).
	Started time.Time `json:"started"`
	// Target names the bot under test: its target file's name (targets/,
	// make chaos TARGET=); "" in runs from before targets: p1001's own.
	Target string `json:"target,omitempty"`
	// Stack is "existing" for a stack the harness did not start (make
	// chaos STACK=existing); "" for its own.
	Stack string `json:"stack,omitempty"`
	// NotPlayable maps each catalog scenario this stack cannot play to
	// why (an existing stack: faults that need the Docker API, ...); they
	// are skipped by name, and not selected.
	NotPlayable map[string]string `json:"not_playable,omitempty"`
	// Images are the container images the stack ran, by role (postgres,
	// pgbouncer, toxiproxy, bot).
	Images []Image `json:"images"`
	// Policy is resilience.DefaultPolicy(): what every scenario runs with
	// unless it overrides a field (report.json has each scenario's own).
	Policy Policy `json:"policy"`
	// GoVersion is the Go toolchain that built the suite (runtime.Version).
	GoVersion string `json:"go_version"`
	// GinkgoVersion is the Ginkgo library the suite ran with.
	GinkgoVersion string `json:"ginkgo_version,omitempty"`
	// OS and Arch are runtime.GOOS and runtime.GOARCH; Cores is
	// runtime.NumCPU() of the machine that ran the suite.
	OS    string `json:"os"`
	Arch  string `json:"arch"`
	Cores int    `json:"cores"`
	// LabelFilter is the Ginkgo label filter of the run ("" = everything).
	LabelFilter string `json:"label_filter,omitempty"`
	// Shard is the slice of the catalog the run played (make chaos
	// SHARD=i/n), "" for the whole catalog.
	Shard string `json:"shard,omitempty"`
	// Processes is how many Ginkgo processes ran the specs side by side,
	// each with its own stack (make chaos PROCS=N).
	Processes int `json:"processes,omitempty"`
	// StartTimesMS is how long each part of the stack took to be ready
	// (process 1's stack, when several ran).
	StartTimesMS map[string]float64 `json:"start_times_ms,omitempty"`
}

// Image is one container image of the stack.
type Image struct {
	Role string `json:"role"`
	// Name is the image reference as run ("p1001/postgres:15").
	Name string `json:"name"`
	// Version is the reference's tag ("15"); "" when it has none.
	Version string `json:"version"`
}

// NewImage splits an image reference into name and version (its tag).
func NewImage(role, ref string) Image {
	name, _, _ := strings.Cut(ref, "@") // name[:tag]@sha256:...
	version := ""
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		version = name[i+1:]
	}
	return Image{Role: role, Name: ref, Version: version}
}

// NewRunInfo fills what this process knows by itself: Go version, OS,
// cores, the default policy, the start time. The suite adds the images,
// the Ginkgo version, the label filter and the start times.
func NewRunInfo(runID string, started time.Time) RunInfo {
	return RunInfo{
		Schema:    RunInfoSchema,
		RunID:     runID,
		Started:   started.UTC(),
		Policy:    PolicyOf(resilience.DefaultPolicy()),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		Cores:     runtime.NumCPU(),
	}
}

// WriteRunInfo writes runDir/run.json unless it exists already (a re-run
// of the report, or a later --repeat of the suite, keeps the first
// record). It reports whether it wrote the file.
func WriteRunInfo(runDir string, info RunInfo) (bool, error) {
	if info.Schema == "" {
		info.Schema = RunInfoSchema
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", RunInfoFile, err)
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return false, fmt.Errorf("write %s: %w", RunInfoFile, err)
	}
	path := filepath.Join(runDir, RunInfoFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

// ReadRunInfo reads runDir/run.json. A missing file is not an error: ok is
// false. A file of another schema is.
func ReadRunInfo(runDir string) (info RunInfo, ok bool, err error) {
	ok, err = readRecord(filepath.Join(runDir, RunInfoFile), RunInfoSchema, &info, &info.Schema)
	if !ok || err != nil {
		return RunInfo{}, false, err
	}
	return info, true, nil
}

// readRecord decodes the JSON file at path strictly (no unknown field)
// into v and wants *schema, decoded with it, to be want. A missing file is
// not an error: ok is false.
func readRecord(path, want string, v any, schema *string) (ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if *schema != want {
		return false, fmt.Errorf("read %s: field schema is %q, want %q", path, *schema, want)
	}
	return true, nil
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
