package scenarios

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/p1001/p1001/resilience"
)

func mustParse(t *testing.T, lines ...string) Scenario {
	t.Helper()
	s, err := Parse("t.yaml", doc(lines...))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

func TestDefaults(t *testing.T) {
	s := mustParse(t,
		"name: t",
		"description: d.",
		"labels: [fault:latency, fault:restart, fault:pause, fault:partition, fault:kill, fault:bot-restart, path:pooler]",
		"traffic: {chats: 3, rate: 20, duration: 25s}",
		"faults:",
		"  - {at: 1s, for: 2s, type: latency, proxy: pooler, attributes: {latency: 100}}",
		"  - {at: 4s, type: restart, target: postgres}",
		"  - {at: 8s, for: 1s, type: pause}",
		"  - {at: 10s, for: 1s, type: partition}",
		"  - {at: 12s, type: kill}",
		"  - {at: 16s, type: bot-restart}",
		"expect: {effect: degraded}",
	)
	p := resilience.DefaultPolicy()
	checks := []struct {
		name      string
		got, want any
	}{
		{"bot.database", s.Bot.Database, "pooler"},
		{"bot.retry unset", s.Bot.Retry, Retry{}},
		{"bot.breaker unset", s.Bot.Breaker, Breaker{}},
		{"traffic.concurrency", s.Traffic.Concurrency, 3},
		{"traffic.custom_prompts", s.Traffic.CustomPrompts, true},
		{"fault names", []string{s.Faults[0].Name, s.Faults[1].Name, s.Faults[2].Name, s.Faults[3].Name},
			[]string{"latency-0", "restart-1", "pause-2", "partition-3"}},
		{"toxic stream", s.Faults[0].Stream, "downstream"},
		{"toxic toxicity", s.Faults[0].Toxicity, float32(1)},
		{"optional attributes filled in", s.Faults[0].Attributes, map[string]int64{"latency": 100, "jitter": 0}},
		{"restart window", s.Faults[1].For, Duration(3 * time.Second)},
		{"pause target", s.Faults[2].Target, "pgbouncer"},
		{"partition target", s.Faults[3].Target, "bot"},
		{"kill target and window", []any{s.Faults[4].Target, s.Faults[4].For}, []any{"bot", Duration(3 * time.Second)}},
		{"bot-restart target and window", []any{s.Faults[5].Target, s.Faults[5].For}, []any{"bot", Duration(3 * time.Second)}},
		{"no stream on a non-toxic", s.Faults[1].Stream, ""},
		{"no toxicity on a non-toxic", s.Faults[1].Toxicity, float32(0)},
		{"attempts = policy max", s.Expect.AttemptsPerFailedLookup, p.MaxAttempts},
		{"prompt sources", s.Expect.PromptSources, PromptSources{
			Healthy: []string{"custom"}, Fault: []string{"custom", "cached", "default"}, Recovery: []string{"custom"}}},
		{"all_answered", s.Expect.AllAnswered, true},
		{"no_acked_write_lost", s.Expect.NoAckedWriteLost, true},
		{"outbox_drained", s.Expect.OutboxDrained, true},
		{"reply_latency_bound = budget + 1s", s.Expect.ReplyLatencyBound, Duration(p.Budget + time.Second)},
		{"recovery_within", s.Expect.RecoveryWithin, Duration(5 * time.Second)},
		{"min_messages_per_fault", s.Expect.MinMessagesPerFault, 5},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// TestDefaultsFollowThePolicy: the expectations that derive from the
// policy use the scenario's own retry settings.
func TestDefaultsFollowThePolicy(t *testing.T) {
	tests := []struct {
		retry        string
		attempts     int
		latencyBound time.Duration
	}{
		{"{max_attempts: 2}", 2, 6 * time.Second},
		{"{budget: 3s}", 3, 4 * time.Second},
		// no budget: attempts x attempt timeout + (attempts-1) x max delay
		{"{max_attempts: 2, budget: 0s, attempt_timeout: 1s, max_delay: 500ms}", 2, 2*time.Second + 500*time.Millisecond + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.retry, func(t *testing.T) {
			s := mustParse(t, append(header, "bot: {retry: "+tt.retry+"}", outage[0], outage[1], outage[2], outage[3], outage[4], outage[5], degraded[0])...)
			if s.Expect.AttemptsPerFailedLookup != tt.attempts {
				t.Errorf("attempts = %d, want %d", s.Expect.AttemptsPerFailedLookup, tt.attempts)
			}
			if s.Expect.ReplyLatencyBound.D() != tt.latencyBound {
				t.Errorf("reply_latency_bound = %s, want %s", s.Expect.ReplyLatencyBound, tt.latencyBound)
			}
		})
	}
	t.Run("no bound at all needs an explicit one", func(t *testing.T) {
		_, err := Parse("t.yaml", doc(join(header, []string{"bot: {retry: {budget: 0s, attempt_timeout: 0s}}"}, outage, degraded)...))
		if err == nil || !strings.Contains(err.Error(), "t.yaml:12: expect.reply_latency_bound: must be above 0, got 0s (there is no default") {
			t.Fatalf("Parse = %v", err)
		}
	})
}

// TestExplicitValuesKept: a value the file sets is kept even when it is
// the zero value the defaults would replace.
func TestExplicitValuesKept(t *testing.T) {
	s := mustParse(t,
		"name: t",
		"description: d.",
		"labels: [fault:outage, path:pooler]",
		"traffic: {chats: 2, rate: 20, duration: 9s, custom_prompts: false, concurrency: 7}",
		"faults: [{at: 1s, for: 2s, type: outage, proxy: pooler}]",
		"expect:",
		"  effect: degraded",
		"  all_answered: false",
		"  no_acked_write_lost: false",
		"  outbox_drained: false",
		"  attempts_per_failed_lookup: 2",
		"  prompt_sources: {fault: [default]}",
		"  reply_latency_bound: 1500ms",
	)
	e := s.Expect
	if s.Traffic.CustomPrompts || s.Traffic.Concurrency != 7 || e.AllAnswered || e.NoAckedWriteLost || e.OutboxDrained ||
		e.AttemptsPerFailedLookup != 2 || !slices.Equal(e.PromptSources.Fault, []string{"default"}) ||
		!slices.Equal(e.PromptSources.Healthy, []string{"custom"}) || e.ReplyLatencyBound.D() != 1500*time.Millisecond {
		t.Errorf("explicit values not kept: traffic %+v expect %+v", s.Traffic, e)
	}
}

func TestBotEnv(t *testing.T) {
	t.Run("every field", func(t *testing.T) {
		s := mustParse(t, append(header,
			"bot:",
			"  retry: {max_attempts: 4, base_delay: 50ms, max_delay: 1s, factor: 1.5, jitter: false, attempt_timeout: 750ms, budget: 4s}",
			"  breaker: {enabled: true, failure_threshold: 3, delay: 1s, success_threshold: 2}",
			"  prompt_max_staleness: 1m30s",
			"  env: {OUTBOX_CAPACITY: 1000, LOG_LEVEL: debug}",
			outage[0], outage[1], outage[2], outage[3], outage[4], outage[5], degraded[0])...)
		want := map[string]string{
			"DB_RETRY_MAX_ATTEMPTS":        "4",
			"DB_RETRY_BASE_DELAY":          "50ms",
			"DB_RETRY_MAX_DELAY":           "1s",
			"DB_RETRY_FACTOR":              "1.5",
			"DB_RETRY_JITTER":              "false",
			"DB_RETRY_ATTEMPT_TIMEOUT":     "750ms",
			"DB_RETRY_BUDGET":              "4s",
			"DB_BREAKER_ENABLED":           "true",
			"DB_BREAKER_FAILURE_THRESHOLD": "3",
			"DB_BREAKER_DELAY":             "1s",
			"DB_BREAKER_SUCCESS_THRESHOLD": "2",
			"PROMPT_MAX_STALENESS":         "1m30s",
			"OUTBOX_CAPACITY":              "1000",
			"LOG_LEVEL":                    "debug",
		}
		got := s.BotEnv()
		if !maps.Equal(got, want) {
			t.Errorf("BotEnv =\n%v\nwant\n%v", got, want)
		}
		// The bot reads these variables with resilience.PolicyFromEnv:
		// what it reads must be the policy the scenario describes.
		p, err := resilience.PolicyFromEnv(func(k string) (string, bool) { v, ok := got[k]; return v, ok })
		if err != nil {
			t.Fatalf("PolicyFromEnv(BotEnv): %v", err)
		}
		if !reflect.DeepEqual(p, s.Policy()) {
			t.Errorf("PolicyFromEnv(BotEnv) = %+v, want s.Policy() = %+v", p, s.Policy())
		}
		if err := resilience.CheckEnvNames(envList(got)); err != nil {
			t.Errorf("BotEnv has a name resilience does not know: %v", err)
		}
	})
	t.Run("unset fields keep the bot's defaults", func(t *testing.T) {
		s := mustParse(t, append(header, "bot: {retry: {max_attempts: 2}}", outage[0], outage[1], outage[2], outage[3], outage[4], outage[5], degraded[0])...)
		if got, want := s.BotEnv(), map[string]string{"DB_RETRY_MAX_ATTEMPTS": "2"}; !maps.Equal(got, want) {
			t.Errorf("BotEnv = %v, want %v", got, want)
		}
		want := resilience.DefaultPolicy()
		want.MaxAttempts = 2
		if !reflect.DeepEqual(s.Policy(), want) {
			t.Errorf("Policy = %+v, want %+v", s.Policy(), want)
		}
	})
}

func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func TestFaultWindowsAndKinds(t *testing.T) {
	s := mustParse(t,
		"name: t",
		"description: d.",
		"labels: [fault:outage, fault:flapping, fault:latency, fault:jitter, fault:timeout, fault:black_hole, fault:restart, path:pooler]",
		"traffic: {chats: 2, rate: 20, duration: 20s}",
		"faults:",
		"  - {name: late, at: 9s, for: 2s, type: timeout, proxy: direct, attributes: {timeout: 0}}",
		"  - {name: first, at: 1s, for: 2s, type: outage, proxy: pooler, flap: 200ms}",
		"  - {name: restart, at: 4s, type: restart, target: pgbouncer}",
		"  - {name: jitter, at: 8s, for: 5s, type: latency, proxy: pooler, attributes: {latency: 10, jitter: 5}}",
		"expect: {effect: degraded}",
	)
	wantWindows := []Window{
		{"first", 1 * time.Second, 3 * time.Second},
		{"restart", 4 * time.Second, 7 * time.Second},
		{"jitter", 8 * time.Second, 13 * time.Second},
		{"late", 9 * time.Second, 11 * time.Second},
	}
	if got := s.FaultWindows(); !reflect.DeepEqual(got, wantWindows) {
		t.Errorf("FaultWindows =\n%v\nwant\n%v", got, wantWindows)
	}
	wantKinds := []string{"black_hole", "flapping", "jitter", "latency", "outage", "restart", "timeout"}
	if got := s.Kinds(); !slices.Equal(got, wantKinds) {
		t.Errorf("Kinds = %v, want %v", got, wantKinds)
	}
	if got := (Scenario{}).Kinds(); !slices.Equal(got, []string{"none"}) {
		t.Errorf("Kinds of a baseline = %v, want [none]", got)
	}
	// A timeout toxic that closes after a while is no black hole.
	if got := (Scenario{Faults: []Fault{{Type: TypeTimeout, Attributes: map[string]int64{"timeout": 100}}}}).Kinds(); !slices.Equal(got, []string{"timeout"}) {
		t.Errorf("Kinds of a closing timeout = %v", got)
	}
}

func TestValidateHandBuilt(t *testing.T) {
	s := mustParse(t, join(header, outage, degraded)...)
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate(parsed) = %v", err)
	}
	s.Faults = append(s.Faults, Fault{Name: "cut", At: Duration(2 * time.Second), For: Duration(time.Second), Type: TypeOutage, Proxy: ProxyPooler})
	err := s.Validate()
	if err == nil {
		t.Fatal("Validate accepted two overlapping faults with one name")
	}
	for _, w := range []string{
		`t.yaml: faults[1].name: "cut" is also the name of faults[0]`,
		`t.yaml: faults[1]: window [2s, 3s) overlaps faults[0] "cut" [1s, 3s) on proxy pooler`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

func TestDurationText(t *testing.T) {
	b, err := json.Marshal(struct{ D Duration }{Duration(1500 * time.Millisecond)})
	if err != nil || string(b) != `{"D":"1.5s"}` {
		t.Errorf("json = %s, %v", b, err)
	}
	var d Duration
	if err := d.UnmarshalText([]byte("250ms")); err != nil || d.D() != 250*time.Millisecond {
		t.Errorf("UnmarshalText(250ms) = %s, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("250")); err == nil || !strings.Contains(err.Error(), "missing unit") {
		t.Errorf("UnmarshalText(250) = %v, want a missing-unit error", err)
	}
	if err := d.UnmarshalText([]byte("25h")); err == nil {
		t.Error("UnmarshalText(25h) accepted a duration over 24h")
	}
}

// TestCatalogRoundTrip marshals every catalog scenario back to YAML and
// parses it again: nothing is lost, and defaults are stable.
func TestCatalogRoundTrip(t *testing.T) {
	list, err := LoadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		roundTrip(t, s)
	}
}

func roundTrip(t *testing.T, s Scenario) {
	t.Helper()
	out, err := yaml.Marshal(s)
	if err != nil {
		t.Fatalf("%s: Marshal: %v", s.File, err)
	}
	again, err := Parse(s.File, out)
	if err != nil {
		t.Fatalf("%s: Parse(Marshal(s)): %v\n%s", s.File, err, out)
	}
	if !reflect.DeepEqual(s, again) {
		t.Fatalf("%s: round trip changed the scenario:\n%+v\n%+v\n%s", s.File, s, again, out)
	}
}

// TestDocExample keeps the example in docs/scenarios.md valid.
func TestDocExample(t *testing.T) {
	md, err := os.ReadFile("../docs/scenarios.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(md), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/scenarios.md has no yaml example")
	}
	s, err := Parse("outage-pooler.yaml", []byte(example))
	if err != nil {
		t.Fatalf("the documented example does not load: %v", err)
	}
	if len(s.Faults) != 1 || s.Expect.RecoveryWithin.D() != 4*time.Second {
		t.Errorf("example = %+v", s)
	}
}
