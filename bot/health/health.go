// Package health tracks what the bot knows about its database, for /readyz
// and metrics, without ever querying it: it listens to the retry layer's
// events (finished calls, the circuit breaker's state) and to the migrator.
// A readiness probe that queried the database would wait (or fail) exactly
// when the bot is designed to keep serving.
package health

import (
	"sync"
	"time"

	"github.com/p1001/p1001/resilience"
)

// DB states.
const (
	StateUnknown = "unknown" // no database call has finished yet
	StateUp      = "up"      // the last finished call reached the server
	StateDown    = "down"    // the last finished call failed for availability
)

// Tracker implements resilience.Observer. It is safe for concurrent use.
type Tracker struct {
	now       func() time.Time
	onRecover func()

	mu        sync.Mutex
	breaker   string // as the last breaker_state_changed event said
	state     string
	since     time.Time
	lastOK    time.Time
	lastFail  time.Time
	lastCode  string
	lastErr   string
	lastMeta  *resilience.Meta
	meta      *resilience.Meta // the retry layer's server (Options.Meta)
	migrated  bool
	migration MigrationFailure // the last failed attempt; zero once migrated
	draining  bool
}

// MigrationFailure is a failed migration attempt, as /readyz shows it.
type MigrationFailure struct {
	// Code is the Prisma code (P1001, P1000, ...), "" for a failure that is
	// not about reaching the database.
	Code string
	// Cause is the short reason (resilience.Classification.Reason).
	Cause string
	// Error is the whole message; it must be redacted.
	Error string
	// Meta is the server the migrator tried (MIGRATE_DATABASE_URL's).
	Meta *resilience.Meta
	// NonTransient: only a change of credentials or configuration fixes it.
	NonTransient bool
	// RetryAt is when the migrator tries again.
	RetryAt time.Time
}

// Options configures a Tracker.
type Options struct {
	// OnRecover is called when a call succeeds after the database was down
	// or unknown (the outbox flushes on it).
	OnRecover func()
	// Meta is the server the observed retry layer calls
	// (resilience.Target.Meta), shown with its failures.
	Meta *resilience.Meta
	Now  func() time.Time
}

// New returns a Tracker in the unknown state.
func New(opts Options) *Tracker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// A breaker starts closed, and a disabled one never reports.
	return &Tracker{now: opts.Now, onRecover: opts.OnRecover, meta: opts.Meta, breaker: "closed", state: StateUnknown, since: opts.Now()}
}

// Observe records the outcome of finished calls and the breaker's state.
func (t *Tracker) Observe(e resilience.Event) {
	switch e.Kind {
	case resilience.EventBreakerStateChanged:
		t.mu.Lock()
		t.breaker = e.State
		t.mu.Unlock()
	case resilience.EventSucceeded, resilience.EventSucceededAfterRetries:
		t.up()
	case resilience.EventGaveUp, resilience.EventRejected:
		if e.Code == "" {
			t.up() // the server answered, with an error of another kind
			return
		}
		msg := ""
		if e.Err != nil {
			msg = resilience.RedactText(e.Err.Error())
		}
		t.down(string(e.Code), msg, t.meta)
	}
}

func (t *Tracker) up() {
	t.mu.Lock()
	recovered := t.state != StateUp
	if recovered {
		t.state, t.since = StateUp, t.now()
	}
	t.lastOK = t.now()
	t.mu.Unlock()
	if recovered && t.onRecover != nil {
		t.onRecover()
	}
}

func (t *Tracker) down(code, msg string, meta *resilience.Meta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != StateDown {
		t.state, t.since = StateDown, t.now()
	}
	t.lastFail, t.lastCode, t.lastErr, t.lastMeta = t.now(), code, msg, meta
}

// MigrationFailed records a failed migration attempt. A coded failure
// (the database could not be reached or refused the bot) also marks the
// database down.
func (t *Tracker) MigrationFailed(f MigrationFailure) {
	t.mu.Lock()
	t.migration = f
	t.mu.Unlock()
	if f.Code != "" {
		t.down(f.Code, f.Error, f.Meta)
	}
}

// MigrationCause is the Prisma code of the last failed migration attempt
// ("" when there was none or it was not about reaching the database) and
// whether that failure is non-transient.
func (t *Tracker) MigrationCause() (code string, nonTransient bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.migration.Code, t.migration.NonTransient
}

// Migrated records that the schema is in place.
func (t *Tracker) Migrated() {
	t.mu.Lock()
	t.migrated, t.migration = true, MigrationFailure{}
	t.mu.Unlock()
	t.up()
}

// Drain marks the bot as shutting down: /readyz turns 503.
func (t *Tracker) Drain() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draining = true
}

// DB is the database part of a Snapshot.
type DB struct {
	State          string    `json:"state"`
	Since          time.Time `json:"since"`
	Migrated       bool      `json:"migrated"`
	MigrationError string    `json:"migration_error,omitempty"`
	// MigrationCode and MigrationCause say why the last migration attempt
	// failed; MigrationNonTransient that retrying soon will not help (a
	// wrong password, ...); MigrationRetryAt when the migrator tries again.
	MigrationCode         string     `json:"migration_code,omitempty"`
	MigrationCause        string     `json:"migration_cause,omitempty"`
	MigrationNonTransient bool       `json:"migration_non_transient,omitempty"`
	MigrationRetryAt      *time.Time `json:"migration_retry_at,omitempty"`
	// MigrationMeta and Meta name the server of the last failed migration
	// attempt and of the last failure (LastCode), as Prisma's meta does.
	MigrationMeta *resilience.Meta `json:"migration_meta,omitempty"`
	Breaker       string           `json:"breaker"`
	LastSuccess   *time.Time       `json:"last_success,omitempty"`
	LastFailure   *time.Time       `json:"last_failure,omitempty"`
	LastCode      string           `json:"last_code,omitempty"`
	LastError     string           `json:"last_error,omitempty"`
	Meta          *resilience.Meta `json:"meta,omitempty"`
}

// Snapshot is the /readyz body.
type Snapshot struct {
	// Status is "ready" (serving, whatever the database does) or "draining".
	Status string `json:"status"`
	DB     DB     `json:"db"`
}

// Snapshot returns the current state.
func (t *Tracker) Snapshot() Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Snapshot{Status: "ready", DB: DB{
		State: t.state, Since: t.since, Migrated: t.migrated,
		MigrationError: t.migration.Error, MigrationCode: t.migration.Code, MigrationCause: t.migration.Cause,
		MigrationNonTransient: t.migration.NonTransient, MigrationMeta: t.migration.Meta,
		Breaker: t.breaker, LastCode: t.lastCode, LastError: t.lastErr, Meta: t.lastMeta,
	}}
	if !t.migration.RetryAt.IsZero() {
		at := t.migration.RetryAt
		s.DB.MigrationRetryAt = &at
	}
	if t.draining {
		s.Status = "draining"
	}
	if !t.lastOK.IsZero() {
		ok := t.lastOK
		s.DB.LastSuccess = &ok
	}
	if !t.lastFail.IsZero() {
		f := t.lastFail
		s.DB.LastFailure = &f
	}
	return s
}
