package resilience

import (
	"errors"
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
	AttemptTimeout time.Duration // 2s
	Budget         time.Duration // 5s overall per call; 0 = none
	Breaker        BreakerSettings
}

// DefaultPolicy returns the documented defaults.
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
			FailureThreshold: 5,
			Delay:            10 * time.Second,
			SuccessThreshold: 1,
		},
	}
}

// Validate reports the first invalid field.
func (p Policy) Validate() error {
	// TODO(issue 3)
	return nil
}

// PolicyFromEnv reads DB_RETRY_* and DB_BREAKER_* on top of DefaultPolicy.
func PolicyFromEnv(lookup func(string) (string, bool)) (Policy, error) {
	// TODO(issue 3)
	return DefaultPolicy(), errors.New("resilience: PolicyFromEnv not implemented yet")
}
