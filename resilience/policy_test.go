package resilience

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestPolicyFromEnv(t *testing.T) {
	def := DefaultPolicy()
	cases := []struct {
		name    string
		env     map[string]string
		want    func(p *Policy) // applied to the defaults
		errHas  []string        // all must appear in the error
		wantErr bool
	}{
		{name: "empty env keeps defaults", env: map[string]string{}, want: func(*Policy) {}},
		{name: "blank values keep defaults", env: map[string]string{"DB_RETRY_MAX_ATTEMPTS": "  ", "DB_RETRY_BUDGET": ""}, want: func(*Policy) {}},
		{name: "all set", env: map[string]string{
			"DB_RETRY_MAX_ATTEMPTS": "5", "DB_RETRY_BASE_DELAY": "50ms", "DB_RETRY_MAX_DELAY": "1s", "DB_RETRY_FACTOR": "1.5",
			"DB_RETRY_JITTER": "false", "DB_RETRY_ATTEMPT_TIMEOUT": "750ms", "DB_RETRY_BUDGET": "0",
			"DB_BREAKER_ENABLED": "true", "DB_BREAKER_FAILURE_THRESHOLD": "4", "DB_BREAKER_DELAY": "30s", "DB_BREAKER_SUCCESS_THRESHOLD": "2",
		}, want: func(p *Policy) {
			p.MaxAttempts, p.BaseDelay, p.MaxDelay, p.Factor = 5, 50*time.Millisecond, time.Second, 1.5
			p.Jitter, p.AttemptTimeout, p.Budget = false, 750*time.Millisecond, 0
			p.Breaker = BreakerSettings{Enabled: true, FailureThreshold: 4, Delay: 30 * time.Second, SuccessThreshold: 2}
		}},
		{name: "breaker off ignores its zero thresholds", env: map[string]string{"DB_BREAKER_ENABLED": "0", "DB_BREAKER_FAILURE_THRESHOLD": "0"},
			want: func(p *Policy) { p.Breaker.Enabled, p.Breaker.FailureThreshold = false, 0 }},
		{name: "not an integer", env: map[string]string{"DB_RETRY_MAX_ATTEMPTS": "three"}, errHas: []string{"DB_RETRY_MAX_ATTEMPTS", `"three"`}},
		{name: "zero attempts", env: map[string]string{"DB_RETRY_MAX_ATTEMPTS": "0"}, errHas: []string{"DB_RETRY_MAX_ATTEMPTS", ">= 1"}},
		{name: "duration without unit", env: map[string]string{"DB_RETRY_BASE_DELAY": "100"}, errHas: []string{"DB_RETRY_BASE_DELAY", "100ms"}},
		{name: "garbage duration", env: map[string]string{"DB_RETRY_ATTEMPT_TIMEOUT": "soon"}, errHas: []string{"DB_RETRY_ATTEMPT_TIMEOUT", "not a duration"}},
		{name: "negative budget", env: map[string]string{"DB_RETRY_BUDGET": "-1s"}, errHas: []string{"DB_RETRY_BUDGET", ">= 0"}},
		{name: "factor below 1", env: map[string]string{"DB_RETRY_FACTOR": "0.5"}, errHas: []string{"DB_RETRY_FACTOR"}},
		{name: "factor NaN", env: map[string]string{"DB_RETRY_FACTOR": "NaN"}, errHas: []string{"DB_RETRY_FACTOR"}},
		{name: "bad bool", env: map[string]string{"DB_RETRY_JITTER": "maybe"}, errHas: []string{"DB_RETRY_JITTER", `"maybe"`}},
		{name: "max below base, both set", env: map[string]string{"DB_RETRY_BASE_DELAY": "3s", "DB_RETRY_MAX_DELAY": "1s"}, errHas: []string{"DB_RETRY_MAX_DELAY", "BaseDelay"}},
		{name: "base above default max", env: map[string]string{"DB_RETRY_BASE_DELAY": "3s"}, errHas: []string{"DB_RETRY_MAX_DELAY", "default"}},
		{name: "negative threshold", env: map[string]string{"DB_BREAKER_FAILURE_THRESHOLD": "-1"}, errHas: []string{"DB_BREAKER_FAILURE_THRESHOLD"}},
		{name: "zero breaker delay", env: map[string]string{"DB_BREAKER_DELAY": "0s"}, errHas: []string{"DB_BREAKER_DELAY", "> 0"}},
		{name: "zero success threshold", env: map[string]string{"DB_BREAKER_SUCCESS_THRESHOLD": "0"}, errHas: []string{"DB_BREAKER_SUCCESS_THRESHOLD"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PolicyFromEnv(envOf(tc.env))
			if tc.errHas != nil {
				if err == nil {
					t.Fatalf("want an error naming %v, got policy %+v", tc.errHas, got)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := def
			tc.want(&want)
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDefaultPolicyMatchesTheIssue(t *testing.T) {
	p := DefaultPolicy()
	if p.MaxAttempts != 3 || p.BaseDelay != 100*time.Millisecond || p.Factor != 2 || p.MaxDelay != 2*time.Second ||
		!p.Jitter || p.AttemptTimeout != 2*time.Second || p.Budget != 5*time.Second || !p.Breaker.Enabled {
		t.Errorf("defaults drifted: %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

func TestCheckEnvNames(t *testing.T) {
	if err := CheckEnvNames([]string{"PATH=/bin", "DB_RETRY_MAX_ATTEMPTS=3", "DB_BREAKER_DELAY=1s"}); err != nil {
		t.Errorf("known names rejected: %v", err)
	}
	err := CheckEnvNames([]string{"DB_RETRY_MAX_ATTEMPT=3", "DB_BREAKER_TIMEOUT=1s"})
	if err == nil || !strings.Contains(err.Error(), "DB_RETRY_MAX_ATTEMPT,") || !strings.Contains(err.Error(), "DB_BREAKER_TIMEOUT") {
		t.Errorf("typos not named: %v", err)
	}
}

func TestWorstCaseCall(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		want time.Duration
	}{
		{"the budget bounds the call", Policy{MaxAttempts: 3, AttemptTimeout: 2 * time.Second, MaxDelay: 2 * time.Second, Budget: 5 * time.Second}, 5 * time.Second},
		{"no budget: attempts and the delays between them", Policy{MaxAttempts: 3, AttemptTimeout: time.Second, MaxDelay: 100 * time.Millisecond}, 3200 * time.Millisecond},
		{"one attempt has no delay", Policy{MaxAttempts: 1, AttemptTimeout: time.Second, MaxDelay: time.Second}, time.Second},
		{"unbounded", Policy{MaxAttempts: 3}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.WorstCaseCall(); got != tt.want {
				t.Errorf("WorstCaseCall() = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestPolicyVarsCoverPolicy fails when a Policy field has no variable (or
// a variable names no field): the table is the one list of knobs.
func TestPolicyVarsCoverPolicy(t *testing.T) {
	var fields []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			if f.Type.Kind() == reflect.Struct {
				walk(prefix+f.Name+".", f.Type)
				continue
			}
			fields = append(fields, prefix+f.Name)
		}
	}
	walk("", reflect.TypeFor[Policy]())
	var named []string
	for _, v := range PolicyVars() {
		named = append(named, v.Field)
		if !IsPolicyEnv(v.Env) {
			t.Errorf("%s is outside DB_RETRY_*/DB_BREAKER_*: CheckEnvNames would not guard it", v.Env)
		}
	}
	if !slices.Equal(fields, named) {
		t.Errorf("Policy fields %v\nPolicyVars    %v\n(want the same, in the same order)", fields, named)
	}
}

// TestPolicyVarsRoundTrip: what Format writes, Set reads back, for every
// field, so that an environment written from a Policy gives that Policy.
func TestPolicyVarsRoundTrip(t *testing.T) {
	want := Policy{MaxAttempts: 7, BaseDelay: 1500 * time.Microsecond, MaxDelay: 3*time.Second + 1, Factor: 1.1,
		Jitter: false, AttemptTimeout: 0, Budget: 90 * time.Second,
		Breaker: BreakerSettings{Enabled: false, FailureThreshold: 5, Delay: 250 * time.Millisecond, SuccessThreshold: 3}}
	env := map[string]string{}
	got := DefaultPolicy()
	for _, v := range PolicyVars() {
		env[v.Env] = v.Format(want)
		if err := v.Set(&got, env[v.Env]); err != nil {
			t.Errorf("%s: Set(Format) = %v", v.Env, err)
		}
	}
	if got != want {
		t.Errorf("Set(Format(p)) = %+v\nwant %+v", got, want)
	}
	fromEnv, err := PolicyFromEnv(envOf(env))
	if err != nil || fromEnv != want {
		t.Errorf("PolicyFromEnv(%v) = %+v, %v; want %+v", env, fromEnv, err, want)
	}
	// A failed Set leaves the field alone.
	p := DefaultPolicy()
	if err := PolicyVars()[0].Set(&p, "three"); err == nil || p != DefaultPolicy() {
		t.Errorf("Set(\"three\") = %v and changed the policy to %+v", err, p)
	}
}
