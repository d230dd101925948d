package resilience

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BreakerSettings configures the circuit breaker.
type BreakerSettings struct {
	Enabled          bool
	FailureThreshold uint          // consecutive connection-class failures (after retries) that open it
	Delay            time.Duration // open -> half-open
	SuccessThreshold uint          // half-open successes to close
}

// Policy holds the retry, timeout, budget and breaker settings.
type Policy struct {
	MaxAttempts    int           // default 3 (1 try + 2 retries)
	BaseDelay      time.Duration // 100ms
	MaxDelay       time.Duration // 2s
	Factor         float64       // 2
	Jitter         bool          // full jitter, default true
	AttemptTimeout time.Duration // 2s; 0 = none
	Budget         time.Duration // 5s overall per call; 0 = none
	Breaker        BreakerSettings
}

// DefaultPolicy returns the documented defaults (see the package doc).
func DefaultPolicy() Policy {
	return Policy{
		MaxAttempts:    3,
		BaseDelay:      100 * time.Millisecond,
		MaxDelay:       2 * time.Second,
		Factor:         2,
		Jitter:         true,
		AttemptTimeout: 2 * time.Second,
		Budget:         5 * time.Second,
		Breaker: BreakerSettings{
			Enabled:          true,
			FailureThreshold: 1,
			// DESIGN.md wants custom prompts back within a second of the
			// database's return; the breaker's delay bounds that. A probe
			// costs one call (often the outbox's flush), once a second.
			Delay:            time.Second,
			SuccessThreshold: 1,
		},
	}
}

// FieldError names the Policy field that failed validation.
type FieldError struct {
	Field string // e.g. "MaxDelay" or "Breaker.Delay"
	Msg   string
}

func (e *FieldError) Error() string { return "resilience: policy " + e.Field + " " + e.Msg }

// WorstCaseCall is the longest one call can take under p: the budget, else
// every attempt's timeout plus the longest delays between them; 0 when p
// bounds a call by neither.
func (p Policy) WorstCaseCall() time.Duration {
	if p.Budget > 0 {
		return p.Budget
	}
	if p.AttemptTimeout <= 0 {
		return 0
	}
	n := time.Duration(max(p.MaxAttempts, 1))
	return n*p.AttemptTimeout + (n-1)*p.MaxDelay
}

// BackoffCeiling is the longest delay after the failed-th attempt (1 for
// the first): min(MaxDelay, BaseDelay*Factor^(failed-1)). With Jitter the
// delay is uniform in [0, ceiling], without it the ceiling itself.
func (p Policy) BackoffCeiling(failed int) time.Duration {
	ceil := float64(p.BaseDelay) * math.Pow(p.Factor, float64(max(failed, 1)-1))
	if ceil > float64(p.MaxDelay) || math.IsNaN(ceil) {
		return p.MaxDelay
	}
	return time.Duration(ceil)
}

// Backoff is the full-jitter exponential delay after the failed-th failed
// attempt: uniform in [0, BackoffCeiling(failed)], or that ceiling without
// Jitter. failsafe-go's own jitter is symmetric around the delay, hence this
// function. Other retriers (the bot's migrator) use it with a Policy of their own.
func (p Policy) Backoff(failed int) time.Duration {
	ceil := p.BackoffCeiling(failed)
	if p.Jitter && ceil >= 1 {
		return time.Duration(rand.Int64N(int64(ceil) + 1))
	}
	return ceil
}

// Validate reports the first invalid field as a *FieldError.
func (p Policy) Validate() error {
	switch {
	case p.MaxAttempts < 1:
		return &FieldError{"MaxAttempts", fmt.Sprintf("must be >= 1, got %d", p.MaxAttempts)}
	case p.BaseDelay < 0:
		return &FieldError{"BaseDelay", fmt.Sprintf("must be >= 0, got %s", p.BaseDelay)}
	case p.MaxDelay < p.BaseDelay:
		return &FieldError{"MaxDelay", fmt.Sprintf("must be >= BaseDelay (%s), got %s", p.BaseDelay, p.MaxDelay)}
	case !(p.Factor >= 1) || p.Factor > 1000: // also rejects NaN
		return &FieldError{"Factor", fmt.Sprintf("must be between 1 and 1000, got %g", p.Factor)}
	case p.AttemptTimeout < 0:
		return &FieldError{"AttemptTimeout", fmt.Sprintf("must be >= 0 (0 = none), got %s", p.AttemptTimeout)}
	case p.Budget < 0:
		return &FieldError{"Budget", fmt.Sprintf("must be >= 0 (0 = none), got %s", p.Budget)}
	}
	if b := p.Breaker; b.Enabled {
		switch {
		case b.FailureThreshold < 1:
			return &FieldError{"Breaker.FailureThreshold", "must be >= 1 when the breaker is enabled, got 0"}
		case b.Delay <= 0:
			return &FieldError{"Breaker.Delay", fmt.Sprintf("must be > 0 when the breaker is enabled, got %s", b.Delay)}
		case b.SuccessThreshold < 1:
			return &FieldError{"Breaker.SuccessThreshold", "must be >= 1 when the breaker is enabled, got 0"}
		}
	}
	return nil
}

// PolicyVar binds one environment variable to one Policy field. The
// table of them (PolicyVars) is the one definition of the policy's knobs:
// the bot reads its environment through it, and the harness writes the
// bot's environment and renders reports from it. A new knob is a Policy
// field plus one entry here.
type PolicyVar struct {
	Env   string // the variable, e.g. DB_RETRY_MAX_ATTEMPTS
	Field string // the Policy field it sets, as FieldError names it: MaxAttempts, Breaker.Delay
	// Set parses v into p's field; on error p is left as it was. Durations
	// are in Go syntax ("250ms"), the rest as strconv writes them.
	Set func(p *Policy, v string) error
	// Get returns the field's value: an int, uint, float64, bool or
	// time.Duration.
	Get func(p Policy) any
}

// Format writes v's field of p in the syntax Set reads.
func (v PolicyVar) Format(p Policy) string {
	switch x := v.Get(p).(type) {
	case time.Duration:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// policyVar builds the entry for the field that field points to.
func policyVar[T any](env, name string, field func(*Policy) *T, parse func(string) (T, error)) PolicyVar {
	return PolicyVar{
		Env: env, Field: name,
		Set: func(p *Policy, v string) error {
			x, err := parse(v)
			if err == nil {
				*field(p) = x
			}
			return err
		},
		Get: func(p Policy) any { return *field(&p) },
	}
}

// policyVars is in Policy's field order, which reports keep.
var policyVars = []PolicyVar{
	policyVar("DB_RETRY_MAX_ATTEMPTS", "MaxAttempts", func(p *Policy) *int { return &p.MaxAttempts }, parseInt),
	policyVar("DB_RETRY_BASE_DELAY", "BaseDelay", func(p *Policy) *time.Duration { return &p.BaseDelay }, parseDuration),
	policyVar("DB_RETRY_MAX_DELAY", "MaxDelay", func(p *Policy) *time.Duration { return &p.MaxDelay }, parseDuration),
	policyVar("DB_RETRY_FACTOR", "Factor", func(p *Policy) *float64 { return &p.Factor }, parseFloat),
	policyVar("DB_RETRY_JITTER", "Jitter", func(p *Policy) *bool { return &p.Jitter }, strconv.ParseBool),
	policyVar("DB_RETRY_ATTEMPT_TIMEOUT", "AttemptTimeout", func(p *Policy) *time.Duration { return &p.AttemptTimeout }, parseDuration),
	policyVar("DB_RETRY_BUDGET", "Budget", func(p *Policy) *time.Duration { return &p.Budget }, parseDuration),
	policyVar("DB_BREAKER_ENABLED", "Breaker.Enabled", func(p *Policy) *bool { return &p.Breaker.Enabled }, strconv.ParseBool),
	policyVar("DB_BREAKER_FAILURE_THRESHOLD", "Breaker.FailureThreshold", func(p *Policy) *uint { return &p.Breaker.FailureThreshold }, parseUint),
	policyVar("DB_BREAKER_DELAY", "Breaker.Delay", func(p *Policy) *time.Duration { return &p.Breaker.Delay }, parseDuration),
	policyVar("DB_BREAKER_SUCCESS_THRESHOLD", "Breaker.SuccessThreshold", func(p *Policy) *uint { return &p.Breaker.SuccessThreshold }, parseUint),
}

// PolicyVars returns the policy's environment table, in Policy's field
// order.
func PolicyVars() []PolicyVar { return slices.Clone(policyVars) }

// IsPolicyEnv reports whether name is in the policy's namespace
// (DB_RETRY_*, DB_BREAKER_*), known or not.
func IsPolicyEnv(name string) bool {
	return strings.HasPrefix(name, "DB_RETRY_") || strings.HasPrefix(name, "DB_BREAKER_")
}

// EnvVarNames lists the variables PolicyFromEnv reads.
func EnvVarNames() []string {
	names := make([]string, len(policyVars))
	for i, v := range policyVars {
		names[i] = v.Env
	}
	return names
}

// PolicyFromEnv reads DB_RETRY_MAX_ATTEMPTS, DB_RETRY_BASE_DELAY, DB_RETRY_MAX_DELAY, DB_RETRY_FACTOR,
// DB_RETRY_JITTER, DB_RETRY_ATTEMPT_TIMEOUT, DB_RETRY_BUDGET, DB_BREAKER_ENABLED, DB_BREAKER_FAILURE_THRESHOLD,
// DB_BREAKER_DELAY, DB_BREAKER_SUCCESS_THRESHOLD on top of DefaultPolicy; errors name the variable.
// Durations use Go syntax ("250ms", "2s"); an unset or blank variable keeps the default.
// lookup is usually os.LookupEnv.
func PolicyFromEnv(lookup func(string) (string, bool)) (Policy, error) {
	p := DefaultPolicy()
	set := make(map[string]string) // field -> variable, to name it in validation errors
	for _, pv := range policyVars {
		raw, ok := lookup(pv.Env)
		v := strings.TrimSpace(raw)
		if !ok || v == "" {
			continue
		}
		if err := pv.Set(&p, v); err != nil {
			return DefaultPolicy(), fmt.Errorf("%s=%q: %w", pv.Env, raw, unwrapParse(err))
		}
		set[pv.Field] = pv.Env
	}
	if err := p.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			name := set[fe.Field]
			if name == "" {
				// The field kept its default; blame the variable that made it invalid.
				name = envNameOf(fe.Field) + " (not set, default used)"
			}
			return DefaultPolicy(), fmt.Errorf("%s: %s", name, fe.Msg)
		}
		return DefaultPolicy(), err
	}
	return p, nil
}

// CheckEnvNames returns an error naming every DB_RETRY_* or DB_BREAKER_*
// variable in environ (os.Environ() form) that PolicyFromEnv does not know,
// so a typo is not silently ignored.
func CheckEnvNames(environ []string) error {
	known := EnvVarNames()
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if IsPolicyEnv(name) && !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown variable(s) %s; known: %s", strings.Join(unknown, ", "), strings.Join(EnvVarNames(), ", "))
	}
	return nil
}

func envNameOf(field string) string {
	for _, pv := range policyVars {
		if pv.Field == field {
			return pv.Env
		}
	}
	return field
}

func parseInt(v string) (int, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	return int(n), err
}

func parseFloat(v string) (float64, error) { return strconv.ParseFloat(v, 64) }

func parseUint(v string) (uint, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	return uint(n), err
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		if _, numErr := strconv.ParseFloat(v, 64); numErr == nil && v != "0" {
			return 0, fmt.Errorf("missing unit, write e.g. %sms or %ss", v, v)
		}
		return 0, errors.New("not a duration (use e.g. 250ms, 2s)")
	}
	return d, nil
}

// unwrapParse drops strconv's echo of the input, which the caller already quotes.
func unwrapParse(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}
