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
	res := &bench.MicroResult{Command: "go " + strings.Join(args, " "), Count: count}
	out, err := runGo(ctx, args...)
	if err != nil {
		return nil, err
	}
	res.Raw = out
	if res.Benchmarks, err = bench.ParseGoBench(out); err != nil {
		return nil, err
	}

	// benchstat labels its column with the file's name.
	dir, err := os.MkdirTemp("", "p1001-bench-")
	if err != nil {
		return nil, fmt.Errorf("benchstat input: %w", err)
	}
	defer os.RemoveAll(dir)
	input := filepath.Join(dir, "resilience")
	if err := os.WriteFile(input, []byte(out), 0o600); err != nil {
		return nil, fmt.Errorf("benchstat input: %w", err)
	}
	res.BenchstatCommand = "go run " + benchstat + " <output>"
	table, err := runGo(ctx, "run", benchstat, input)
	if err != nil {
		return nil, err
	}
	res.Benchstat = strings.TrimRight(strings.ReplaceAll(table, dir+string(filepath.Separator), ""), "\n")
	return res, nil
}

func runGo(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}
