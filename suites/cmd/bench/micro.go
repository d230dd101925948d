package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/p1001/p1001/suites/report/bench"
)

// runMicro runs the Go micro-benchmarks of resilience/ count times each
// and puts their output through benchstat (a module path@version, run
// with `go run`, so that go.mod needs no tool line for it).
func runMicro(ctx context.Context, count int, benchstat string) (*bench.MicroResult, error) {
	args := []string{"test", "-run=^$", "-bench=.", "-count=" + strconv.Itoa(count), "./resilience/"}
	res := &bench.MicroResult{Command: "go " + strings.Join(args, " "), Count: count,
		BenchstatCommand: "go run " + benchstat + " <output>"}
	out, err := runGo(ctx, "", args...)
	if err != nil {
		return nil, err
	}
	res.Raw = out
	if res.Benchmarks, err = bench.ParseGoBench(out); err != nil {
		return nil, err
	}
	// benchstat labels its column with the file's name, as given.
	dir, err := os.MkdirTemp("", "p1001-bench-")
	if err == nil {
		defer os.RemoveAll(dir)
		err = os.WriteFile(filepath.Join(dir, "resilience"), []byte(out), 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("benchstat input: %w", err)
	}
	table, err := runGo(ctx, dir, "run", benchstat, "resilience")
	res.Benchstat = strings.TrimRight(table, "\n")
	return res, err
}

// runGo runs the go command in dir ("" for this one).
func runGo(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	var stdout, stderr bytes.Buffer
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}
