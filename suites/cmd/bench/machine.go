package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/p1001/p1001/suites/report/bench"
)

// thisMachine describes the machine the bench runs on.
func thisMachine() bench.Machine {
	m := bench.Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, LoadBefore: loadAverage()}
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo") // none: no CPU model
	for line := range strings.Lines(string(cpuinfo)) {
		if key, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(key) == "model name" {
			m.CPU = strings.TrimSpace(value)
			break
		}
	}
	return m
}

// loadAverage is the 1-minute load average, 0 where /proc has none.
func loadAverage() float64 {
	data, _ := os.ReadFile("/proc/loadavg")
	first, _, _ := strings.Cut(string(data), " ")
	v, _ := strconv.ParseFloat(first, 64)
	return v
}
