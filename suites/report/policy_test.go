package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/resilience"
)

// TestPolicyJSONLayout pins the policy object of p1001.report/v2 and
// p1001.run/v1: the keys, their order and their units did not change when
// the object came to be written from resilience.PolicyVars.
func TestPolicyJSONLayout(t *testing.T) {
	const want = `{"max_attempts":3,"base_delay_ms":100,"max_delay_ms":2000,"factor":2,"jitter":true,` +
		`"attempt_timeout_ms":2000,"budget_ms":5000,"breaker_enabled":true,"breaker_failure_threshold":1,` +
		`"breaker_delay_ms":1000,"breaker_success_threshold":1}`
	got, err := json.Marshal(PolicyOf(resilience.DefaultPolicy()))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("default policy JSON\n got %s\nwant %s", got, want)
	}
}

func TestPolicyJSONRoundTrip(t *testing.T) {
	p := resilience.Policy{MaxAttempts: 5, BaseDelay: 1500 * time.Microsecond, MaxDelay: 3 * time.Second, Factor: 1.5,
		AttemptTimeout: 750 * time.Millisecond, Breaker: resilience.BreakerSettings{FailureThreshold: 2, Delay: time.Second}}
	b, err := json.MarshalIndent(struct {
		Policy Policy `json:"policy"`
	}{PolicyOf(p)}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Policy Policy `json:"policy"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Policy.Policy != p {
		t.Errorf("round trip of %s\n got %+v\nwant %+v", b, back.Policy.Policy, p)
	}
}

func TestPolicyJSONStrict(t *testing.T) {
	for _, tt := range []struct{ in, err string }{
		{`{"max_attempts":3,"retries":2}`, `unknown field "retries"`},
		{`{"max_attempts":"three"}`, "max_attempts"},
		{`{"base_delay_ms":"soon"}`, "base_delay_ms"},
		{`[1]`, "cannot unmarshal"},
	} {
		var p Policy
		if err := json.Unmarshal([]byte(tt.in), &p); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Unmarshal(%s) = %v, want an error containing %q", tt.in, err, tt.err)
		}
	}
}
