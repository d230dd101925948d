package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/suites/report"
	"github.com/p1001/p1001/suites/report/bench"
)

func TestParseOptionsDefaults(t *testing.T) {
	o, err := ParseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Cap.D() != 15*time.Second || o.Concurrency != 16 || o.BenchCount != 6 || len(o.Outages) != 3 || o.Out != "reports/bench" {
		t.Errorf("defaults %+v", o)
	}
	// A valid run needs at least this much from the defaults.
	if o.Cycles < bench.MinCycles || o.SlowCycles < bench.MinSlowCycles || o.SlowCycles*o.SteadyMessages < bench.MinSteady ||
		o.OverheadRounds < bench.MinOverheadRounds || o.BenchCount < bench.MinMicroRuns {
		t.Errorf("the defaults cannot make a valid run: %+v", o)
	}
	// The runbook's black hole is measured to its end: its cap lies past
	// the longest call the runbook's policy allows.
	worst := botConfigs()[0].Policy.WorstCaseCall()
	if capAt, cycles := o.CapFor(bench.ConfigRunbook, bench.BlackHole); capAt <= worst || cycles < bench.MinSlowCycles {
		t.Errorf("the runbook's black hole gets a cap of %s (the policy's longest call is %s) and %d cycles (want at least %d)",
			capAt, worst, cycles, bench.MinSlowCycles)
	}
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-window", "1500ms"}, "-window"},
		{[]string{"-cap", "0s"}, "-cap"},
		{[]string{"-slow-cap", "-1s"}, "-slow-cap"},
		{[]string{"-cap", "15"}, `invalid value "15" for flag -cap`},
		{[]string{"-latency", "50us"}, "-latency"},
		{[]string{"-benchstat", "golang.org/x/perf/cmd/benchstat"}, "-benchstat"},
		{[]string{"-stamp", "../x"}, "-stamp"},
		{[]string{"-outages", "refused,flood"}, `-outages: outage "flood"`},
		{[]string{"extra"}, `unexpected argument(s) ["extra"]`},
	}
	for _, tt := range tests {
		_, err := ParseOptions(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseOptions(%q) error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

// TestBotConfigs reads each configuration's environment back the way the
// bot reads it, and wants the policy the report shows.
func TestBotConfigs(t *testing.T) {
	configs := botConfigs()
	if len(configs) != 2 || configs[0].Name != bench.ConfigRunbook || configs[1].Name != bench.ConfigP1001 {
		t.Fatalf("configurations %+v", configs)
	}
	runbook := resilience.DefaultPolicy()
	runbook.MaxAttempts, runbook.AttemptTimeout, runbook.Budget, runbook.Breaker.Enabled = 3, 30*time.Second, 0, false
	for i, want := range []resilience.Policy{runbook, resilience.DefaultPolicy()} {
		c := configs[i]
		var environ []string
		for k, v := range c.Env {
			environ = append(environ, k+"="+v)
		}
		if err := resilience.CheckEnvNames(environ); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
		got, err := resilience.PolicyFromEnv(func(k string) (string, bool) { v, ok := c.Env[k]; return v, ok })
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if report.PolicyOf(got) != c.Policy || c.Policy != report.PolicyOf(want) {
			t.Errorf("%s: the bot reads %+v from %v, the report shows %+v, want %+v", c.Name, got, c.Env, c.Policy, want)
		}
	}
	if configs[0].URLParams["connect_timeout"] != "30" {
		t.Errorf("runbook URL parameters %v, want connect_timeout=30", configs[0].URLParams)
	}
	if len(configs[1].Env) != 0 {
		t.Errorf("p1001 sets %v; the shipped defaults need nothing", configs[1].Env)
	}
}
