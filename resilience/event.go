package resilience

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// EventKind names an observer event.
type EventKind string

const (
	EventAttemptFailed         EventKind = "attempt_failed"
	EventRetryScheduled        EventKind = "retry_scheduled"
	EventGaveUp                EventKind = "gave_up"
	EventSucceededAfterRetries EventKind = "succeeded_after_retries"
	EventBreakerStateChanged   EventKind = "breaker_state_changed"
	EventSucceeded             EventKind = "succeeded"
)

// Event is one thing that happened during a call.
type Event struct {
	Kind        EventKind
	Op          string
	Attempt     int
	MaxAttempts int
	Delay       time.Duration
	Code        Code
	Err         error  // may be nil; observers must redact when printing
	State       string // breaker: "closed" | "open" | "half-open"
	Elapsed     time.Duration
}

// Observer receives events.
type Observer interface{ Observe(Event) }

// Observers fans an event out to each observer.
type Observers []Observer

func (os Observers) Observe(e Event) {
	for _, o := range os {
		o.Observe(e)
	}
}

// NewSlogObserver logs events as the documented "[DB Retry] ..." lines.
func NewSlogObserver(l *slog.Logger) Observer {
	// TODO(issue 3)
	return Observers(nil)
}

// NewPrometheusObserver registers metrics on reg and records events.
func NewPrometheusObserver(reg prometheus.Registerer) (Observer, error) {
	// TODO(issue 3)
	return Observers(nil), nil
}
