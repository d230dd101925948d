package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
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
	if o.Cap != 15*time.Second || o.Concurrency != 16 || o.BenchCount != 6 || len(o.Outages) != 3 || o.Out != "reports/bench" {
		t.Errorf("defaults %+v", o)
	}
	// A valid run needs at least this much from the defaults.
	if o.Cycles < bench.MinCycles || o.SlowCycles < bench.MinCycles || o.SlowCycles*o.SteadyMessages < bench.MinSteady ||
		o.OverheadRounds < bench.MinOverheadRounds || o.BenchCount < bench.MinMicroRuns {
		t.Errorf("the defaults cannot make a valid run: %+v", o)
	}
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-window", "1500ms"}, "-window"},
		{[]string{"-cap", "0s"}, "-cap"},
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

func TestPolicyOfTheTwoConfigurations(t *testing.T) {
	configs := botConfigs()
	if len(configs) != 2 || configs[0].Name != bench.ConfigRunbook || configs[1].Name != bench.ConfigP1001 {
		t.Fatalf("configurations %+v", configs)
	}
	runbook, err := policyOf(configs[0].Env)
	if err != nil {
		t.Fatal(err)
	}
	rp := resilience.DefaultPolicy()
	rp.AttemptTimeout, rp.Budget, rp.Breaker.Enabled = 30*time.Second, 0, false
	if want := report.PolicyOf(rp); runbook != want {
		t.Errorf("runbook policy %+v, want %+v (3 attempts of up to connect_timeout=30 s, no budget, no breaker)", runbook, want)
	}
	if configs[0].URLParams["connect_timeout"] != "30" {
		t.Errorf("runbook URL parameters %v, want connect_timeout=30", configs[0].URLParams)
	}
	p1001, err := policyOf(configs[1].Env)
	if err != nil {
		t.Fatal(err)
	}
	if want := report.PolicyOf(resilience.DefaultPolicy()); p1001 != want {
		t.Errorf("p1001 policy %+v, want the shipped defaults %+v", p1001, want)
	}
	if len(configs[1].Env) != 0 {
		t.Errorf("p1001 sets %v; the shipped defaults need nothing", configs[1].Env)
	}
}

func TestPolicyOfRejectsBadEnv(t *testing.T) {
	for env, want := range map[string]string{
		"DB_RETRY_MAX_ATTEMPT":  "DB_RETRY_MAX_ATTEMPT",
		"DB_RETRY_BUDGET=5":     "DB_RETRY_BUDGET",
		"DB_BREAKER_ENABLED=no": "DB_BREAKER_ENABLED",
	} {
		k, v, _ := strings.Cut(env, "=")
		if v == "" {
			v = "3"
		}
		if _, err := policyOf(map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("policyOf(%s=%s) error %v, want one naming %s", k, v, err, want)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bench")
	r := sampleReport()
	var out bytes.Buffer
	if err := write(r, dir, []string{"pw-secret/@#", botToken}, &out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, r.Stamp+".md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), string(md)) || !strings.Contains(out.String(), r.Stamp+".json") {
		t.Errorf("stdout is not the markdown followed by where it is: %.200q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, r.Stamp+".json")); err != nil {
		t.Error(err)
	}
}

// sampleReport is enough of a report for write (bench's own tests render
// full ones): two configurations and an image.
func sampleReport() *bench.Report {
	return &bench.Report{Schema: bench.Schema, Stamp: "20261126T100000Z",
		Images:  []bench.Image{{Role: "postgres", Name: "p1001/postgres:15"}},
		Configs: []bench.BotConfig{{Name: bench.ConfigRunbook, Env: map[string]string{}}, {Name: bench.ConfigP1001, Env: map[string]string{}}}}
}

const botToken = "p1001-0123456789abcdef0123456789abcdef"

func TestWriteRefusesThePassword(t *testing.T) {
	tests := []struct {
		name   string
		inject func(r *bench.Report)
	}{
		{"as typed", func(r *bench.Report) { r.Configs[1].Env["NOTE"] = "pw-secret/@#" }},
		{"escaped in a URL", func(r *bench.Report) {
			r.Configs[0].DatabaseURL = "postgresql://p1001:pw-secret%2F%40%23@toxiproxy:6543/p1001"
		}},
		{"in an image name", func(r *bench.Report) { r.Images[0].Name = "pw-secret/@#" }},
		{"a bot's API token", func(r *bench.Report) { r.Configs[0].Env["NOTE"] = "sent Bearer " + botToken }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := sampleReport()
			tt.inject(r)
			err := write(r, dir, []string{"pw-secret/@#", botToken}, io.Discard)
			if err == nil || strings.Contains(err.Error(), "pw-secret") || strings.Contains(err.Error(), botToken) {
				t.Fatalf("write error %v, want a refusal that does not repeat the password", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files written despite the password: %v", entries)
			}
		})
	}
}
