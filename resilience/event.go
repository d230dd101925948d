package resilience

import (
	"context"
	"log/slog"
	"time"
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
	// EventRejected: the breaker was open, fn was not called (Code P1001).
	EventRejected EventKind = "rejected"
)

// Event is one thing that happened during a call.
//
// Attempt is the attempt that failed (attempt_failed, retry_scheduled) or the
// number of attempts made (gave_up, succeeded*). Delay is the backoff chosen
// before the next attempt (retry_scheduled only). Elapsed is the time since
// the call started.
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

// Observer receives events. It is called synchronously on the caller's
// goroutine (breaker events on the goroutine that caused the change), from
// many goroutines at once, so it must be fast and concurrency safe.
type Observer interface{ Observe(Event) }

// Observers fans an event out to each observer.
type Observers []Observer

// Observe implements Observer.
func (os Observers) Observe(e Event) {
	for _, o := range os {
		if o != nil {
			o.Observe(e)
		}
	}
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe implements Observer.
func (f ObserverFunc) Observe(e Event) { f(e) }

// LogPrefix starts every line NewSlogObserver logs: the runbook's own
// prefix, so an operator's grep or alert written from the runbook
// ("[Prisma Retry] Attempt X/Y failed, retrying...") finds the bot's lines.
const LogPrefix = "[Prisma Retry] "

type slogObserver struct{ l *slog.Logger }

// NewSlogObserver logs events with slog. The lines, by kind:
//
//	retry_scheduled          WARN  "[Prisma Retry] Attempt 1/3 failed, retrying in 180ms..."
//	gave_up (with a code)    ERROR "[Prisma Retry] Giving up after 3/3 attempts"
//	gave_up (no code)        DEBUG "[Prisma Retry] Not retrying: not an availability error"
//	succeeded_after_retries  INFO  "[Prisma Retry] Succeeded on attempt 2/3"
//	breaker_state_changed    WARN  "[Prisma Retry] Circuit breaker open" (or half-open, closed)
//	rejected                 DEBUG "[Prisma Retry] Circuit breaker open, failing fast"
//	attempt_failed           DEBUG "[Prisma Retry] Attempt 3/3 failed"
//	succeeded                not logged
//
// Attributes: op, code, attempt, and where they apply max_attempts,
// delay_ms, elapsed_ms, state and err (redacted with RedactText).
func NewSlogObserver(l *slog.Logger) Observer {
	if l == nil {
		l = slog.Default()
	}
	return slogObserver{l}
}

func (o slogObserver) Observe(e Event) {
	ctx := context.Background()
	var errAttr slog.Attr
	if e.Err != nil {
		errAttr = slog.String("err", RedactText(e.Err.Error()))
	}
	base := []slog.Attr{slog.String("op", e.Op), slog.String("code", string(e.Code)), slog.Int("attempt", e.Attempt)}
	switch e.Kind {
	case EventRetryScheduled:
		o.l.LogAttrs(ctx, slog.LevelWarn,
			LogPrefix+"Attempt "+itoa(e.Attempt)+"/"+itoa(e.MaxAttempts)+" failed, retrying in "+e.Delay.Round(time.Millisecond).String()+"...",
			append(base, slog.Int("max_attempts", e.MaxAttempts), slog.Int64("delay_ms", e.Delay.Milliseconds()), errAttr)...)
	case EventGaveUp:
		if e.Code == "" {
			o.l.LogAttrs(ctx, slog.LevelDebug, LogPrefix+"Not retrying: not an availability error", append(base, errAttr)...)
			return
		}
		o.l.LogAttrs(ctx, slog.LevelError, LogPrefix+"Giving up after "+itoa(e.Attempt)+"/"+itoa(e.MaxAttempts)+" attempts",
			append(base, slog.Int("max_attempts", e.MaxAttempts), slog.Int64("elapsed_ms", e.Elapsed.Milliseconds()), errAttr)...)
	case EventSucceededAfterRetries:
		o.l.LogAttrs(ctx, slog.LevelInfo, LogPrefix+"Succeeded on attempt "+itoa(e.Attempt)+"/"+itoa(e.MaxAttempts),
			append(base, slog.Int64("elapsed_ms", e.Elapsed.Milliseconds()))...)
	case EventBreakerStateChanged:
		o.l.LogAttrs(ctx, slog.LevelWarn, LogPrefix+"Circuit breaker "+e.State, slog.String("state", e.State))
	case EventRejected:
		o.l.LogAttrs(ctx, slog.LevelDebug, LogPrefix+"Circuit breaker open, failing fast", base...)
	case EventAttemptFailed:
		o.l.LogAttrs(ctx, slog.LevelDebug, LogPrefix+"Attempt "+itoa(e.Attempt)+"/"+itoa(e.MaxAttempts)+" failed",
			append(base, errAttr)...)
	}
}
