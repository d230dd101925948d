package scenarios

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/p1001/p1001/resilience"
)

// TestPolicyFieldsMatchResilience ties bot.retry and bot.breaker to
// resilience.PolicyVars both ways: a knob the bot reads that no scenario
// can set fails, and so does a scenario field that sets no knob.
func TestPolicyFieldsMatchResilience(t *testing.T) {
	var fromTable []string
	for _, v := range resilience.PolicyVars() {
		f, path := Bot{}.typedField(v)
		fromTable = append(fromTable, path)
		switch {
		case !f.IsValid():
			t.Errorf("%s (Policy.%s) has no scenario field %s: add it to Retry or Breaker", v.Env, v.Field, path)
		case f.Kind() != reflect.Pointer:
			t.Errorf("%s is a %s, want a pointer (nil keeps the bot's default)", path, f.Type())
		}
	}
	var fromYAML []string
	for section, typ := range map[string]reflect.Type{"retry": reflect.TypeFor[Retry](), "breaker": reflect.TypeFor[Breaker]()} {
		for f := range typ.Fields() {
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			fromYAML = append(fromYAML, "bot."+section+"."+key)
		}
	}
	slices.Sort(fromTable)
	slices.Sort(fromYAML)
	if !slices.Equal(fromTable, fromYAML) {
		t.Errorf("resilience.PolicyVars give %v\nRetry and Breaker have   %v", fromTable, fromYAML)
	}
}

// TestPolicyFieldNamesTheYAMLPath: validation errors on a policy field
// point at the field's YAML path, and say whether the file set it.
func TestPolicyFieldNamesTheYAMLPath(t *testing.T) {
	n := 2
	s := Scenario{Bot: Bot{Breaker: Breaker{FailureThreshold: &n}}}
	for _, tt := range []struct {
		field, path string
		set         bool
	}{
		{"MaxAttempts", "bot.retry.max_attempts", false},
		{"Breaker.FailureThreshold", "bot.breaker.failure_threshold", true},
		{"Breaker.Delay", "bot.breaker.delay", false},
		{"NoSuchField", "bot.retry", false},
	} {
		if path, set := s.policyField(tt.field); path != tt.path || set != tt.set {
			t.Errorf("policyField(%s) = %s, %t; want %s, %t", tt.field, path, set, tt.path, tt.set)
		}
	}
}
