package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/p1001/p1001/resilience"
)

// Policy is a resilience.Policy in a report. Its JSON is written and read
// through resilience.PolicyVars, so a new knob shows up without a change
// here: one key per variable, DB_RETRY_<KEY> as <key> and DB_BREAKER_<KEY>
// as breaker_<key>, lower-case, durations in milliseconds as <key>_ms, in
// the table's order. That is the p1001.report/v2 and p1001.run/v1 layout
// (max_attempts, base_delay_ms, ..., breaker_success_threshold).
type Policy struct{ resilience.Policy }

// PolicyOf wraps a resilience.Policy.
func PolicyOf(p resilience.Policy) Policy { return Policy{p} }

// policyKey is v's JSON key.
func policyKey(v resilience.PolicyVar) string {
	k := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(v.Env, "DB_RETRY_"), "DB_"))
	if isDuration(v) {
		k += "_ms"
	}
	return k
}

func isDuration(v resilience.PolicyVar) bool {
	_, ok := v.Get(resilience.Policy{}).(time.Duration)
	return ok
}

// MarshalJSON writes one key per policy variable, in the table's order.
func (p Policy) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range resilience.PolicyVars() {
		val := v.Get(p.Policy)
		if d, ok := val.(time.Duration); ok {
			val = ms(d)
		}
		enc, err := json.Marshal(val)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", policyKey(v), err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", policyKey(v), enc)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes, strictly: an unknown key is
// an error, as for the rest of a report read back. A key left out keeps
// the field's zero value.
func (p *Policy) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil { // null
		return nil
	}
	var out resilience.Policy
	for _, v := range resilience.PolicyVars() {
		key := policyKey(v)
		r, ok := raw[key]
		delete(raw, key)
		if !ok || string(r) == "null" {
			continue
		}
		text := string(r)
		if isDuration(v) {
			var f float64
			if err := json.Unmarshal(r, &f); err != nil {
				return fmt.Errorf("policy %s: %w", key, err)
			}
			text = time.Duration(math.Round(f * float64(time.Millisecond))).String()
		}
		if err := v.Set(&out, text); err != nil {
			return fmt.Errorf("policy %s: %s: %w", key, text, err)
		}
	}
	for key := range raw {
		return fmt.Errorf("policy: unknown field %q", key)
	}
	p.Policy = out
	return nil
}
