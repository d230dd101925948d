package resilience

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/jackc/pgx/v5"
)

// OpKind says whether an operation reads or writes.
type OpKind int

const (
	Read OpKind = iota
	Write
)

// Op describes one logical database operation.
type Op struct {
	Name       string // "getCustomPrompt", "setCustomPrompt", ...
	Kind       OpKind
	Idempotent bool // writes: retry even if the statement may have been sent
}

// Result tells how a call went.
type Result struct {
	Attempts int
	Elapsed  time.Duration
}

const (
	stateClosed   = "closed"
	stateOpen     = "open"
	stateHalfOpen = "half-open"
)

type options struct {
	observers Observers
	target    Target
}

// Option configures an Executor.
type Option func(*options)

// WithObserver adds an observer; several can be added.
func WithObserver(o Observer) Option {
	return func(opts *options) {
		if o != nil {
			opts.observers = append(opts.observers, o)
		}
	}
}

// WithTarget sets the server and pool that Errors name (Error.Target): in
// Prisma's messages and in their Meta. Build it from the parsed
// configuration (TargetFromDSN, plus the pool's size and acquire timeout),
// never from a string that holds the password.
func WithTarget(t Target) Option { return func(opts *options) { opts.target = t } }

// Executor runs operations through the policy. It is safe for concurrent
// use; one Executor (and so one breaker) per database.
type Executor struct {
	policy   Policy
	target   Target
	observer Observer                           // nil when there are no observers
	breaker  circuitbreaker.CircuitBreaker[any] // nil when disabled
	// lastFailure is the verdict of the last call that failed the breaker,
	// nil once a call succeeds: an open breaker reports a non-transient
	// cause (P1000, ...) under its own code, since "can't reach" would send
	// the reader after the network instead of the password.
	lastFailure atomic.Pointer[Classification]
	// slot is the attempts' shared deadline context (see attemptctx.go).
	slot atomic.Pointer[attemptSlot]
	// healthy lets a healthy call skip the breaker's lock (see
	// breakerHealthy).
	healthy atomic.Uint64

	stateMu  sync.Mutex
	reported string // the breaker state last reported to the observers
}

// errAttemptTimeout is the cause set on an attempt's context when the
// per-attempt timeout fires, to tell it apart from the caller's deadline.
var errAttemptTimeout = errors.New("resilience: attempt timeout")

// errBudgetSpent is the cause set on an attempt's context when the budget
// cuts it, and a failed call's cause when no attempt finished before the
// budget ran out. It is failsafe-go's timeout error ("timeout exceeded"),
// which enforced the budget before the Executor owned its retry loop, so
// that errors and log lines read as they did.
var errBudgetSpent = timeout.ErrExceeded

// New builds an Executor from a validated policy.
//
// The retry loop is the Executor's own (Do): failsafe-go's retry and
// timeout policies cost about 30 allocations per call, most of a healthy
// call's cost. The breaker is failsafe-go's count-based one, driven by
// hand around whole calls.
func New(p Policy, opts ...Option) (*Executor, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	x := &Executor{policy: p, target: o.target, reported: stateClosed}
	switch len(o.observers) {
	case 0:
	case 1:
		x.observer = o.observers[0]
	default:
		x.observer = o.observers
	}
	if b := p.Breaker; b.Enabled {
		// Consecutive failures (n of the last n): the lock-free healthy
		// path (breakerHealthy) relies on it.
		x.breaker = circuitbreaker.NewBuilder[any]().
			WithFailureThreshold(b.FailureThreshold).
			WithSuccessThreshold(b.SuccessThreshold).
			WithDelay(b.Delay).
			OnStateChanged(func(circuitbreaker.StateChangedEvent) { x.reportBreakerState() }).
			Build()
	}
	return x, nil
}

// Policy returns the policy the Executor was built with.
func (x *Executor) Policy() Policy { return x.policy }

// Target is the server and pool its Errors name (WithTarget), for errors
// made outside a call that must name them the same way.
func (x *Executor) Target() Target { return x.target }

// BreakerState is "closed", "open" or "half-open" ("closed" when disabled).
// An open breaker turns half-open lazily, on the first call after its delay.
func (x *Executor) BreakerState() string {
	if x.breaker == nil {
		return stateClosed
	}
	return stateName(x.breaker.State())
}

// reportBreakerState tells the observers the breaker's state, so that they
// can follow it from events alone (the health tracker does). failsafe-go
// calls the listener after releasing its lock, so two transitions close
// together could be reported out of order; reading the state under stateMu
// and skipping repeats makes the last report always the current state. In
// the usual case each transition is reported once, with its new state.
func (x *Executor) reportBreakerState() {
	x.stateMu.Lock()
	defer x.stateMu.Unlock()
	s := stateName(x.breaker.State())
	if s == x.reported {
		return
	}
	x.reported = s
	if x.observer != nil {
		x.observer.Observe(Event{Kind: EventBreakerStateChanged, State: s, Code: CodeUnreachable})
	}
}

// The breaker's healthy path takes no lock. Measured on a real round trip
// (a loopback Postgres, the overhead harness), the breaker's two locked
// calls per healthy call (TryAcquirePermit, RecordSuccess) cost about
// 0.5 % of the query. While the breaker is closed and its newest record
// is a success, both are no-ops for its decisions: a closed breaker
// grants every permit, and its failure threshold counts consecutive
// failures (WithFailureThreshold: n of the last n), which one more
// success after a success does not change. Only failsafe-go's execution
// metrics, which nothing reads, miss those calls.
//
// Executor.healthy says when that holds: bit healthyBit is set only then;
// the bits above count failures being recorded (healthyInflight) and
// failures recorded (healthyGen). A failure clears the bit before it is
// recorded; a success sets it only if no failure was being or got
// recorded since it read the word (a compare-and-swap on that word), and
// the breaker was closed after its own record.
const (
	healthyBit          = 1
	healthyInflight     = 1 << 1                       // 20 bits: failures being recorded
	healthyGen          = 1 << 21                      // failures recorded
	healthyInflightMask = healthyGen - healthyInflight // bits 1..20
)

// breakerHealthy returns the word to keep when the breaker is closed and
// its newest record a success (0 otherwise).
func (x *Executor) breakerHealthy() uint64 {
	if h := x.healthy.Load(); h&healthyBit != 0 {
		return h
	}
	return 0
}

// recordSuccess records a success unless the breaker stayed healthy since
// word (breakerHealthy at the call's start, 0 if it was not).
func (x *Executor) recordSuccess(word uint64) {
	h := x.healthy.Load()
	if word != 0 && h == word {
		return
	}
	x.breaker.RecordSuccess()
	if h&(healthyBit|healthyInflightMask) == 0 && x.breaker.IsClosed() {
		x.healthy.CompareAndSwap(h, h|healthyBit)
	}
}

// recordFailure records a failure, clearing the healthy bit first.
func (x *Executor) recordFailure() {
	x.updateHealthy(healthyInflight)
	x.breaker.RecordFailure()
	x.updateHealthy(healthyGen - healthyInflight)
}

// updateHealthy adds delta to the word and clears the healthy bit.
func (x *Executor) updateHealthy(delta uint64) {
	for {
		h := x.healthy.Load()
		if x.healthy.CompareAndSwap(h, (h+delta)&^healthyBit) {
			return
		}
	}
}

func stateName(s circuitbreaker.State) string {
	switch s {
	case circuitbreaker.OpenState:
		return stateOpen
	case circuitbreaker.HalfOpenState:
		return stateHalfOpen
	}
	return stateClosed
}

// call is the state of one Do. It lives on Do's stack: nothing keeps a
// pointer to it, which is what keeps a healthy call down to the attempt
// context's allocations.
type call struct {
	x        *Executor
	op       Op
	parent   context.Context
	start    time.Time
	attempts int
	progress *Progress      // the caller's, from ctx (WithProgress); nil when none
	last     Classification // of the last attempt that ran to its end
	lastErr  error
	budget   bool   // stopped because the budget was spent
	permit   bool   // holds a breaker permit that finish must give back
	healthy  uint64 // the breaker's healthy word when the permit was taken without its lock, else 0
}

func (c *call) emit(e Event) {
	if c.x.observer == nil {
		return
	}
	e.Op = c.op.Name
	e.MaxAttempts = c.x.policy.MaxAttempts
	e.Elapsed = time.Since(c.start)
	c.x.observer.Observe(e)
}

// Do runs fn through the policy: fn gets a context bounded by the attempt
// timeout and the call's budget and must honour it. Reads are retried on any
// retryable error; writes only when the error proves nothing was applied
// (NotSent, or RolledBack for 40001/40P01) or op.Idempotent is set. Every
// failure is returned as *Error.
func (x *Executor) Do(ctx context.Context, op Op, fn func(ctx context.Context) error) (Result, error) {
	c := call{x: x, op: op, parent: ctx, start: time.Now(), progress: progressOf(ctx)}
	if err := ctx.Err(); err != nil {
		return c.finish(err)
	}
	if x.breaker != nil {
		if c.healthy = x.breakerHealthy(); c.healthy != 0 {
			c.permit = true // a closed breaker's permit, granted without its lock
		} else if c.permit = x.breaker.TryAcquirePermit(); !c.permit {
			// fn was not called, so nothing was sent.
			v := Classification{Retryable: true, Code: CodeUnreachable, Reason: "circuit breaker open, failing fast", Connection: true, NotSent: true}
			if last := x.lastFailure.Load(); last != nil && last.NonTransient {
				v = Classification{Code: last.Code, Reason: "circuit breaker open after " + last.Reason + ", failing fast",
					Connection: true, NotSent: true, NonTransient: true}
			}
			c.emit(Event{Kind: EventRejected, Code: v.Code, Err: ErrCircuitOpen})
			return Result{Elapsed: time.Since(c.start)}, &Error{Classification: v, Op: op.Name, Target: x.target,
				Err: ErrCircuitOpen, Elapsed: time.Since(c.start)}
		}
	}
	return c.finish(c.run(fn))
}

// run is the retry loop: attempts, the read/write rule, the backoff between
// attempts and the budget. It returns nil, the error to report (finish turns
// it into *Error), or the caller's ctx.Err() once the caller gave up.
func (c *call) run(fn func(ctx context.Context) error) error {
	p := &c.x.policy
	for {
		if c.attempts > 0 && p.Budget > 0 && time.Since(c.start) >= p.Budget {
			// The next attempt could not start inside the budget.
			c.budget = true
			if c.lastErr != nil {
				return c.lastErr
			}
			return errBudgetSpent
		}
		c.attempts++
		if c.progress != nil {
			c.progress.n.Add(1)
		}
		timedOut, err := c.attempt(fn)
		if err == nil {
			return nil
		}

		var cl Classification
		switch {
		case c.parent.Err() != nil:
			cl = callerCanceled(c.parent)
		case p.Budget > 0 && time.Since(c.start) >= p.Budget:
			// The budget cut this attempt (its timer fires only then) or
			// ran out while it ran. Its error says nothing new about the
			// server: finish keeps the previous attempt's verdict and
			// error, else reports the budget's own, never the cut
			// attempt's "context canceled", which reads as the caller's.
			c.budget = true
			c.emit(Event{Kind: EventAttemptFailed, Attempt: c.attempts, Code: CodeOpTimeout, Err: err})
			return errBudgetSpent
		case timedOut:
			cl = Classify(err)
			if cl.Code == "" || cl.Canceled {
				cl = Classification{Retryable: true, Code: CodeOpTimeout, Connection: true}
			}
			cl.Reason = "attempt timed out after " + p.AttemptTimeout.String() + ": " + orDefault(cl.Reason, "operation timed out")
		default:
			cl = Classify(err)
		}
		c.last, c.lastErr = cl, err
		c.emit(Event{Kind: EventAttemptFailed, Attempt: c.attempts, Code: cl.Code, Err: err})
		if perr := c.parent.Err(); perr != nil {
			return perr
		}
		if !c.mayRetry(cl) || c.attempts >= p.MaxAttempts {
			return err
		}
		delay := c.x.backoff(c.attempts)
		if p.Budget > 0 && time.Since(c.start)+delay >= p.Budget {
			c.budget = true // the next attempt could not start inside the budget
			return err
		}
		c.emit(Event{Kind: EventRetryScheduled, Attempt: c.attempts, Delay: delay, Code: cl.Code, Err: err})
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-c.parent.Done():
				t.Stop()
			}
		}
		if perr := c.parent.Err(); perr != nil {
			return perr
		}
	}
}

// attempt runs fn once under the attempt timeout (a context deadline, so
// that pgx sees it and caps connect_timeout by it, and the classifier still
// gets pgx's real error) and the rest of the budget (a cancellation, as
// failsafe-go's timeout did). While the budget outlasts the attempt's
// deadline, which is always so for a first attempt under sane settings,
// the deadline alone does and one context is all a healthy call allocates.
// When the caller's context cannot be canceled (the bot's detached
// lookups), that deadline is a shared one (attemptctx.go): no timer per
// attempt, and a read's query may run unwatched (QueryDeadlines).
//
// timedOut says whether the attempt's own timeout cut it.
func (c *call) attempt(fn func(ctx context.Context) error) (timedOut bool, err error) {
	p := &c.x.policy
	ctx := c.parent
	// The first attempt starts with the call (one clock read fewer on the
	// healthy path, where clock reads are a good part of the cost).
	now := c.start
	if c.attempts > 1 {
		now = time.Now()
	}
	if t := p.AttemptTimeout; t > 0 && ctx.Done() == nil &&
		(p.Budget <= 0 || p.Budget-now.Sub(c.start) > t+t/slotsPerTimeout) {
		// A caller that cannot cancel, an attempt the budget does not cut:
		// a shared deadline (attemptctx.go).
		a := &attemptCtx{Context: ctx, slot: c.x.slotFor(now, t), read: c.op.Kind == Read}
		err = fn(a)
		return err != nil && a.timedOut(), err
	}
	if p.Budget > 0 {
		left := p.Budget - now.Sub(c.start)
		if p.AttemptTimeout <= 0 || left <= p.AttemptTimeout {
			var cancel context.CancelCauseFunc
			ctx, cancel = context.WithCancelCause(ctx)
			t := time.AfterFunc(left, func() { cancel(errBudgetSpent) })
			defer func() { t.Stop(); cancel(nil) }()
		}
	}
	if t := p.AttemptTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, now.Add(t), errAttemptTimeout)
		defer cancel()
	}
	err = fn(ctx)
	return err != nil && context.Cause(ctx) == errAttemptTimeout, err
}

// mayRetry applies the read/write rule.
func (c *call) mayRetry(cl Classification) bool {
	if !cl.Retryable || cl.Canceled {
		return false
	}
	return c.op.Kind == Read || c.op.Idempotent || cl.NotSent || cl.RolledBack
}

// backoff is the policy's delay after the failed-th attempt.
func (x *Executor) backoff(failed int) time.Duration { return x.policy.Backoff(failed) }

func callerCanceled(ctx context.Context) Classification {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Classification{Code: CodeOpTimeout, Reason: "caller's deadline exceeded", Canceled: true}
	}
	return Classification{Reason: "canceled by caller", Canceled: true}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// finish turns the outcome into Result and *Error, feeds the breaker and
// emits the closing event.
func (c *call) finish(err error) (Result, error) {
	res := Result{Attempts: c.attempts, Elapsed: time.Since(c.start)}
	var b circuitbreaker.CircuitBreaker[any]
	if c.permit {
		b = c.x.breaker
	}
	if err == nil {
		if b != nil {
			c.x.recordSuccess(c.healthy)
			if c.x.lastFailure.Load() != nil { // no shared write on every healthy call
				c.x.lastFailure.Store(nil)
			}
		}
		kind := EventSucceeded
		if c.attempts > 1 {
			kind = EventSucceededAfterRetries
		}
		c.emit(Event{Kind: kind, Attempt: c.attempts})
		return res, nil
	}

	final, cause := c.last, err
	switch {
	case c.parent.Err() != nil:
		final = callerCanceled(c.parent)
		if !errors.Is(err, c.parent.Err()) {
			cause = errors.Join(c.parent.Err(), err)
		}
	case c.budget:
		if c.lastErr != nil {
			cause = c.lastErr
		}
		if final.Code == "" {
			// No attempt finished with a verdict: the server did not answer in time.
			final = Classification{Code: CodeOpTimeout, Connection: true}
		}
		final.Reason = "budget " + c.x.policy.Budget.String() + " spent" + prefixed(final.Reason)
	}
	if c.attempts == 0 {
		final.NotSent = true // fn never ran
	}

	if b != nil {
		switch {
		case final.Canceled:
			// A canceled probe proved nothing; fail it so the half-open
			// permit is released (closed state needs no bookkeeping).
			if b.IsHalfOpen() {
				c.x.recordFailure()
			}
		case final.Connection:
			// Non-transient refusals (P1000, P1003, P1011) count too: each
			// call would open one more connection that fails the same way.
			c.x.recordFailure()
			c.x.lastFailure.Store(&final)
		default:
			c.x.recordSuccess(0) // the server answered (e.g. 23505)
			c.x.lastFailure.Store(nil)
		}
	}
	e := &Error{Classification: final, Op: c.op.Name, Target: c.x.target, Attempts: c.attempts, Err: cause, Elapsed: res.Elapsed}
	c.emit(Event{Kind: EventGaveUp, Attempt: c.attempts, Code: final.Code, Err: cause})
	return res, e
}

func prefixed(reason string) string {
	if reason == "" {
		return ""
	}
	return "; last attempt: " + reason
}

// Query runs fn through the policy and returns its value.
func Query[T any](ctx context.Context, x *Executor, op Op, fn func(ctx context.Context) (T, error)) (T, Result, error) {
	var out T
	res, err := x.Do(ctx, op, func(ctx context.Context) error {
		v, err := fn(ctx)
		if err == nil {
			out = v
		}
		return err
	})
	if err != nil {
		var zero T
		return zero, res, err
	}
	return out, res, nil
}

// TxBeginner is satisfied by *pgxpool.Pool and *pgx.Conn.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Tx runs fn in a transaction begun on db, re-running the whole transaction on 40001/40P01.
// fn must only use tx and ctx; it may run several times. A commit that fails
// mid-flight is not retried for a non-idempotent write, since it may have
// committed.
func (x *Executor) Tx(ctx context.Context, db TxBeginner, op Op, fn func(ctx context.Context, tx pgx.Tx) error) (Result, error) {
	return x.TxWithOptions(ctx, db, pgx.TxOptions{}, op, fn)
}

// TxWithOptions is Tx with explicit transaction options (isolation level...).
func (x *Executor) TxWithOptions(ctx context.Context, db TxBeginner, opts pgx.TxOptions, op Op, fn func(ctx context.Context, tx pgx.Tx) error) (Result, error) {
	return x.Do(ctx, op, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, db, opts, func(tx pgx.Tx) error { return fn(ctx, tx) })
	})
}
