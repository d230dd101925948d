package resilience

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/p1001/p1001/internal/fakepg"
)

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Observe(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) of(kind EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// shortPolicy keeps tests fast: tiny delays, no breaker unless a test wants one.
func shortPolicy() Policy {
	p := DefaultPolicy()
	p.BaseDelay = time.Millisecond
	p.MaxDelay = 4 * time.Millisecond
	p.AttemptTimeout = time.Second
	p.Budget = 5 * time.Second
	p.Breaker.Enabled = false
	return p
}

func newExec(t *testing.T, p Policy, opts ...Option) (*Executor, *recorder) {
	t.Helper()
	rec := &recorder{}
	x, err := New(p, append([]Option{WithObserver(rec), WithTarget(Target{Host: "toxiproxy", Port: 6543})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return x, rec
}

// refusedErr is one real connect-refused error, reused by fakes of fn.
func refusedErr(t *testing.T) error {
	t.Helper()
	return connectErr(t, context.Background(), dsnFor(fakepg.ClosedAddr(t)), nil)
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %T: %v", err, err)
	}
	return e
}

func TestDoAttemptsAndGiveUp(t *testing.T) {
	refused := refusedErr(t)
	x, rec := newExec(t, shortPolicy())
	var calls atomic.Int32
	res, err := x.Do(context.Background(), Op{Name: "getCustomPrompt"}, func(context.Context) error {
		calls.Add(1)
		return refused
	})
	e := asError(t, err)
	if calls.Load() != 3 || res.Attempts != 3 || e.Attempts != 3 {
		t.Errorf("calls=%d res.Attempts=%d e.Attempts=%d, want 3", calls.Load(), res.Attempts, e.Attempts)
	}
	if e.Code != CodeUnreachable || e.Op != "getCustomPrompt" {
		t.Errorf("got %+v", e)
	}
	if e.Target != (Target{Host: "toxiproxy", Port: 6543}) || !strings.HasPrefix(err.Error(), "P1001: Can't reach database server at `toxiproxy`:`6543`") {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errors.Is(err, refused) {
		t.Error("cause lost: errors.Is(err, cause) is false")
	}
	if n := len(rec.of(EventAttemptFailed)); n != 3 {
		t.Errorf("attempt_failed events = %d, want 3", n)
	}
	if n := len(rec.of(EventRetryScheduled)); n != 2 {
		t.Errorf("retry_scheduled events = %d, want 2", n)
	}
	if g := rec.of(EventGaveUp); len(g) != 1 || g[0].Code != CodeUnreachable || g[0].Attempt != 3 || g[0].Op != "getCustomPrompt" {
		t.Errorf("gave_up events = %+v", g)
	}
}

func TestDoSucceedsAfterRetries(t *testing.T) {
	refused := refusedErr(t)
	x, rec := newExec(t, shortPolicy())
	var calls atomic.Int32
	v, res, err := Query(context.Background(), x, Op{Name: "getCustomPrompt"}, func(context.Context) (string, error) {
		if calls.Add(1) < 3 {
			return "", refused
		}
		return "prompt", nil
	})
	if err != nil || v != "prompt" || res.Attempts != 3 {
		t.Fatalf("Query = %q, %+v, %v", v, res, err)
	}
	if s := rec.of(EventSucceededAfterRetries); len(s) != 1 || s[0].Attempt != 3 {
		t.Errorf("succeeded_after_retries = %+v", s)
	}
}

func TestDoHealthyPathSingleAttempt(t *testing.T) {
	x, rec := newExec(t, DefaultPolicy())
	res, err := x.Do(context.Background(), Op{Name: "ok"}, func(context.Context) error { return nil })
	if err != nil || res.Attempts != 1 {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if s := rec.of(EventSucceeded); len(s) != 1 {
		t.Errorf("succeeded events = %+v", s)
	}
}

func TestDoNonRetryableStopsAtOnce(t *testing.T) {
	x, rec := newExec(t, shortPolicy())
	dup := queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("23505", "duplicate key value violates unique constraint")})
	var calls atomic.Int32
	_, err := x.Do(context.Background(), Op{Name: "insert", Kind: Write}, func(context.Context) error {
		calls.Add(1)
		return dup
	})
	e := asError(t, err)
	if calls.Load() != 1 || e.Code != "" {
		t.Errorf("calls=%d code=%q, want 1 call and no code", calls.Load(), e.Code)
	}
	if len(rec.of(EventRetryScheduled)) != 0 {
		t.Error("a unique violation was retried")
	}
}

func TestWriteRetryRule(t *testing.T) {
	refused := refusedErr(t) // NotSent
	closedMidQuery := queryErr(t, context.Background(), fakepg.Reply{Close: true})
	conflict := queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("40001", "could not serialize access")})
	cases := []struct {
		name string
		op   Op
		err  error
		want int32
	}{
		{"read, connection closed mid-query", Op{Kind: Read}, closedMidQuery, 3},
		{"write, connection closed mid-query", Op{Kind: Write}, closedMidQuery, 1},
		{"idempotent write, connection closed mid-query", Op{Kind: Write, Idempotent: true}, closedMidQuery, 3},
		{"write, refused before sending", Op{Kind: Write}, refused, 3},
		{"write, serialization failure rolled back", Op{Kind: Write}, conflict, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, _ := newExec(t, shortPolicy())
			var calls atomic.Int32
			_, err := x.Do(context.Background(), tc.op, func(context.Context) error {
				calls.Add(1)
				return tc.err
			})
			if err == nil || calls.Load() != tc.want {
				t.Errorf("calls = %d, want %d (err %v)", calls.Load(), tc.want, err)
			}
		})
	}
}

func TestDelaysWithinJitterBounds(t *testing.T) {
	refused := refusedErr(t)
	p := shortPolicy()
	p.MaxAttempts = 6
	p.BaseDelay = 10 * time.Millisecond
	p.MaxDelay = 40 * time.Millisecond
	p.Factor = 2
	for _, jitter := range []bool{true, false} {
		p.Jitter = jitter
		x, rec := newExec(t, p)
		var mu sync.Mutex
		var starts, ends []time.Time
		_, err := x.Do(context.Background(), Op{Name: "r"}, func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			starts = append(starts, time.Now())
			ends = append(ends, time.Now())
			return refused
		})
		if err == nil {
			t.Fatal("expected failure")
		}
		sched := rec.of(EventRetryScheduled)
		if len(sched) != 5 {
			t.Fatalf("jitter=%v: %d retries scheduled, want 5", jitter, len(sched))
		}
		for i, e := range sched {
			ceil := min(p.MaxDelay, p.BaseDelay<<i) // 10, 20, 40, 40, 40ms
			if e.Attempt != i+1 {
				t.Errorf("event %d: attempt %d", i, e.Attempt)
			}
			if e.Delay < 0 || e.Delay > ceil {
				t.Errorf("jitter=%v retry %d: delay %v outside [0, %v]", jitter, i+1, e.Delay, ceil)
			}
			if !jitter && e.Delay != ceil {
				t.Errorf("no jitter, retry %d: delay %v, want %v", i+1, e.Delay, ceil)
			}
			// The sleep really happened: timers never fire early.
			if gap := starts[i+1].Sub(ends[i]); gap < e.Delay {
				t.Errorf("retry %d started %v after the failure, before its delay %v", i+1, gap, e.Delay)
			}
		}
	}
}

// Full jitter means uniform over [0, ceiling], not a band around it.
func TestBackoffIsFullJitter(t *testing.T) {
	p := DefaultPolicy()
	x, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for range 2000 {
		d := x.backoff(2) // ceiling 200ms
		if d < 0 || d > 200*time.Millisecond {
			t.Fatalf("delay %v outside [0, 200ms]", d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > 50*time.Millisecond || hi < 150*time.Millisecond {
		t.Errorf("2000 draws span only [%v, %v] of [0, 200ms]", lo, hi)
	}
	if got := x.backoff(30); got > p.MaxDelay {
		t.Errorf("backoff(30) = %v above the cap %v", got, p.MaxDelay)
	}
}

func TestBudgetStopsRetriesEarly(t *testing.T) {
	refused := refusedErr(t)
	p := shortPolicy()
	p.MaxAttempts = 50
	p.BaseDelay = 20 * time.Millisecond
	p.MaxDelay = 20 * time.Millisecond
	p.Jitter = false
	p.Budget = 150 * time.Millisecond
	x, _ := newExec(t, p)
	var calls atomic.Int32
	res, err := x.Do(context.Background(), Op{Name: "r"}, func(context.Context) error {
		calls.Add(1)
		return refused
	})
	e := asError(t, err)
	// 150ms of budget fits at most 8 attempts 20ms apart.
	if n := calls.Load(); n < 2 || n > 8 {
		t.Errorf("calls = %d, want 2..8 within the budget", n)
	}
	if res.Elapsed > 150*time.Millisecond+time.Second {
		t.Errorf("elapsed %v far beyond the 150ms budget", res.Elapsed)
	}
	if e.Code != CodeUnreachable || !strings.Contains(e.Reason, "budget") {
		t.Errorf("got code %s reason %q, want P1001 naming the budget", e.Code, e.Reason)
	}
}

func TestBudgetCutsAHangingAttempt(t *testing.T) {
	p := shortPolicy()
	p.AttemptTimeout = 0 // only the budget bounds the attempt
	p.Budget = 80 * time.Millisecond
	x, _ := newExec(t, p)
	f := fakepg.Start(t, &fakepg.Server{Answer: func(string) fakepg.Reply { return fakepg.Reply{Hang: true} }})
	conn, err := pgx.Connect(context.Background(), fakeDSN(f))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	res, err := x.Do(context.Background(), Op{Name: "r"}, func(ctx context.Context) error {
		_, err := conn.Exec(ctx, "select pg_sleep(60)")
		return err
	})
	e := asError(t, err)
	if res.Attempts != 1 || e.Code != CodeOpTimeout || !strings.Contains(e.Reason, "budget") {
		t.Errorf("attempts=%d code=%s reason=%q, want 1 attempt, P1008, budget", res.Attempts, e.Code, e.Reason)
	}
	if !strings.HasPrefix(e.Error(), "P1008: Operations timed out after ") {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	p := shortPolicy()
	p.AttemptTimeout = 50 * time.Millisecond
	x, _ := newExec(t, p)
	f := fakepg.Start(t, &fakepg.Server{Answer: func(string) fakepg.Reply { return fakepg.Reply{Hang: true} }})
	var calls atomic.Int32
	res, err := x.Do(context.Background(), Op{Name: "r"}, func(ctx context.Context) error {
		calls.Add(1)
		// The attempt's deadline is for the hung query: a connect slowed by
		// a loaded machine must not be what it cuts (that is P1002).
		conn, err := pgx.Connect(context.WithoutCancel(ctx), fakeDSN(f))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, "select pg_sleep(60)")
		return err
	})
	e := asError(t, err)
	if calls.Load() != 3 || res.Attempts != 3 || e.Code != CodeOpTimeout || !strings.Contains(e.Reason, "attempt timed out") {
		t.Errorf("calls=%d code=%s reason=%q, want 3 timed-out attempts with P1008", calls.Load(), e.Code, e.Reason)
	}
}

func TestCanceledContextStopsAtOnce(t *testing.T) {
	refused := refusedErr(t)
	p := shortPolicy()
	p.BaseDelay, p.MaxDelay, p.Jitter = 10*time.Second, 10*time.Second, false
	p.Budget = 0
	p.Breaker = DefaultPolicy().Breaker
	p.Breaker.FailureThreshold = 1

	t.Run("during backoff", func(t *testing.T) {
		x, rec := newExec(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int32
		done := make(chan struct{})
		var res Result
		var err error
		go func() {
			defer close(done)
			res, err = x.Do(ctx, Op{Name: "r"}, func(context.Context) error {
				calls.Add(1)
				return refused
			})
		}()
		for len(rec.of(EventRetryScheduled)) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second): // the pending delay is 10s
			t.Fatal("Do did not return after cancel")
		}
		checkCanceled(t, x, res, err, calls.Load())
	})
	t.Run("during an attempt", func(t *testing.T) {
		x, _ := newExec(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		var calls atomic.Int32
		res, err := x.Do(ctx, Op{Name: "r"}, func(ctx context.Context) error {
			calls.Add(1)
			return connectErr(t, ctx, dsnFor(fakepg.Silent(t)), nil)
		})
		checkCanceled(t, x, res, err, calls.Load())
	})
	t.Run("before the call", func(t *testing.T) {
		x, _ := newExec(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var calls atomic.Int32
		res, err := x.Do(ctx, Op{Name: "r"}, func(context.Context) error { calls.Add(1); return nil })
		if calls.Load() != 0 || res.Attempts != 0 {
			t.Errorf("fn ran %d times on a canceled context", calls.Load())
		}
		checkCanceled(t, x, res, err, 0)
	})
}

func checkCanceled(t *testing.T, x *Executor, res Result, err error, calls int32) {
	t.Helper()
	e := asError(t, err)
	if calls > 1 || res.Attempts > 1 {
		t.Errorf("calls=%d attempts=%d after cancel, want at most 1", calls, res.Attempts)
	}
	if e.Code == CodeUnreachable || !errors.Is(err, context.Canceled) {
		t.Errorf("code %q, errors.Is(Canceled)=%v: a cancel must not be P1001 and must keep context.Canceled", e.Code, errors.Is(err, context.Canceled))
	}
	if st := x.BreakerState(); st != "closed" {
		t.Errorf("breaker %s after a canceled call, want closed (threshold 1)", st)
	}
}

func breakerPolicy() Policy {
	p := shortPolicy()
	p.MaxAttempts = 2
	p.Breaker = BreakerSettings{Enabled: true, FailureThreshold: 2, Delay: 100 * time.Millisecond, SuccessThreshold: 1}
	return p
}

func TestBreakerOpensFailsFastAndCloses(t *testing.T) {
	refused := refusedErr(t)
	x, rec := newExec(t, breakerPolicy())
	var calls atomic.Int32
	fail := func(context.Context) error { calls.Add(1); return refused }
	for i := range 2 {
		if _, err := x.Do(context.Background(), Op{Name: "r"}, fail); err == nil {
			t.Fatal("expected failure")
		}
		if want := []string{"closed", "open"}[i]; x.BreakerState() != want {
			t.Errorf("after %d failed calls breaker is %s, want %s", i+1, x.BreakerState(), want)
		}
	}
	before := calls.Load()
	start := time.Now()
	res, err := x.Do(context.Background(), Op{Name: "r"}, fail)
	e := asError(t, err)
	if calls.Load() != before {
		t.Error("open breaker called fn")
	}
	if e.Code != CodeUnreachable || !errors.Is(err, ErrCircuitOpen) || res.Attempts != 0 {
		t.Errorf("open breaker: code=%s attempts=%d err=%v", e.Code, res.Attempts, err)
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Errorf("fail-fast took %v", time.Since(start))
	}
	if len(rec.of(EventRejected)) != 1 {
		t.Errorf("rejected events: %+v", rec.of(EventRejected))
	}

	time.Sleep(150 * time.Millisecond) // > Delay: the next call is the half-open probe
	if _, err := x.Do(context.Background(), Op{Name: "r"}, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("probe failed: %v", err)
	}
	if x.BreakerState() != "closed" {
		t.Errorf("breaker %s after a successful probe", x.BreakerState())
	}
	var states []string
	for _, e := range rec.of(EventBreakerStateChanged) {
		states = append(states, e.State)
	}
	if strings.Join(states, ",") != "open,half-open,closed" {
		t.Errorf("state changes %v, want open,half-open,closed", states)
	}
}

func TestBreakerFailedProbeReopens(t *testing.T) {
	refused := refusedErr(t)
	x, _ := newExec(t, breakerPolicy())
	fail := func(context.Context) error { return refused }
	x.Do(context.Background(), Op{}, fail)
	x.Do(context.Background(), Op{}, fail)
	time.Sleep(150 * time.Millisecond)
	var calls atomic.Int32
	x.Do(context.Background(), Op{}, func(context.Context) error { calls.Add(1); return refused })
	if calls.Load() == 0 {
		t.Fatal("half-open breaker did not let the probe through")
	}
	if x.BreakerState() != "open" {
		t.Errorf("breaker %s after a failed probe, want open", x.BreakerState())
	}
}

func TestBreakerIgnoresNonConnectionErrors(t *testing.T) {
	dup := queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("23505", "duplicate key")})
	x, _ := newExec(t, breakerPolicy())
	for range 5 {
		x.Do(context.Background(), Op{}, func(context.Context) error { return dup })
	}
	if x.BreakerState() != "closed" {
		t.Errorf("breaker %s after unique violations", x.BreakerState())
	}
}

func TestTxRerunsWholeTransactionOnConflict(t *testing.T) {
	var updates atomic.Int32
	conflicts := int32(1)
	f := fakepg.Start(t, &fakepg.Server{Answer: func(sql string) fakepg.Reply {
		if strings.HasPrefix(sql, "update") {
			if updates.Add(1) <= conflicts {
				return fakepg.Reply{Err: fakepg.Error("40001", "could not serialize access due to concurrent update")}
			}
			return fakepg.Reply{Tag: "UPDATE 1"}
		}
		return fakepg.Text("1")
	}})
	conn, err := pgx.Connect(context.Background(), fakeDSN(f))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	x, _ := newExec(t, shortPolicy())
	var runs atomic.Int32
	body := func(ctx context.Context, tx pgx.Tx) error {
		runs.Add(1)
		var v string
		if err := tx.QueryRow(ctx, "select v from prompts").Scan(&v); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "update prompts set v = 'x'")
		return err
	}
	res, err := x.Tx(context.Background(), conn, Op{Name: "setCustomPrompt", Kind: Write}, body)
	if err != nil || res.Attempts != 2 || runs.Load() != 2 {
		t.Fatalf("Tx: attempts=%d runs=%d err=%v, want the whole tx twice", res.Attempts, runs.Load(), err)
	}

	conflicts = 1 << 30 // always conflict now
	updates.Store(0)
	runs.Store(0)
	_, err = x.Tx(context.Background(), conn, Op{Name: "setCustomPrompt", Kind: Write}, body)
	e := asError(t, err)
	if e.Code != CodeConflict || runs.Load() != 3 || !strings.HasPrefix(err.Error(), "P2034: Transaction failed due to a write conflict or a deadlock") {
		t.Errorf("exhausted Tx: code=%s runs=%d err=%q", e.Code, runs.Load(), err)
	}
}

func TestQueryAgainstFakeServer(t *testing.T) {
	f := fakepg.Start(t, &fakepg.Server{Answer: func(string) fakepg.Reply { return fakepg.Text("be nice") }})
	conn, err := pgx.Connect(context.Background(), fakeDSN(f))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	x, _ := newExec(t, DefaultPolicy())
	v, res, err := Query(context.Background(), x, Op{Name: "getCustomPrompt"}, func(ctx context.Context) (string, error) {
		var s string
		err := conn.QueryRow(ctx, "select v from prompts").Scan(&s)
		return s, err
	})
	if err != nil || v != "be nice" || res.Attempts != 1 {
		t.Errorf("Query = %q, %+v, %v", v, res, err)
	}
}

func TestNewRejectsInvalidPolicy(t *testing.T) {
	p := DefaultPolicy()
	p.MaxAttempts = 0
	if _, err := New(p); err == nil || !strings.Contains(err.Error(), "MaxAttempts") {
		t.Errorf("New with MaxAttempts 0: %v", err)
	}
}

func TestCallerDeadlineIsP1008NotCounted(t *testing.T) {
	p := shortPolicy()
	p.Breaker = BreakerSettings{Enabled: true, FailureThreshold: 1, Delay: time.Minute, SuccessThreshold: 1}
	x, _ := newExec(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var calls atomic.Int32
	_, err := x.Do(ctx, Op{Name: "r"}, func(ctx context.Context) error {
		calls.Add(1)
		return connectErr(t, ctx, dsnFor(fakepg.Silent(t)), nil)
	})
	e := asError(t, err)
	if e.Code != CodeOpTimeout || calls.Load() != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("code=%s calls=%d err=%v, want one attempt ending in P1008", e.Code, calls.Load(), err)
	}
	if x.BreakerState() != "closed" {
		t.Errorf("breaker %s: the caller's deadline must not count", x.BreakerState())
	}
}

// TestNonTransientFailuresAreTriedOnceAndOpenTheBreaker: a wrong password
// is tried once (never retried), counts for the breaker, and the open
// breaker fails the next calls fast under the password's code, not P1001,
// until a call succeeds.
func TestNonTransientFailuresAreTriedOnceAndOpenTheBreaker(t *testing.T) {
	authErr := startupErr(t, fakepg.Fatal("28P01", `password authentication failed for user "app"`))
	p := breakerPolicy()
	p.MaxAttempts = 3
	p.Breaker.FailureThreshold = 1
	x, rec := newExec(t, p)
	var calls atomic.Int32
	fail := func(context.Context) error { calls.Add(1); return authErr }

	res, err := x.Do(context.Background(), Op{Name: "getCustomPrompt"}, fail)
	if e := asError(t, err); e.Code != CodeAuthFailed || res.Attempts != 1 || calls.Load() != 1 {
		t.Fatalf("first call: code %s, %d attempts, %d calls; want P1000 after exactly one attempt", e.Code, res.Attempts, calls.Load())
	}
	if len(rec.of(EventRetryScheduled)) != 0 {
		t.Error("a wrong password was retried")
	}
	if x.BreakerState() != "open" {
		t.Fatalf("breaker %s after a wrong password, want open", x.BreakerState())
	}
	for range 10 {
		res, err := x.Do(context.Background(), Op{Name: "getCustomPrompt"}, fail)
		e := asError(t, err)
		if e.Code != CodeAuthFailed || res.Attempts != 0 || !errors.Is(err, ErrCircuitOpen) || !strings.Contains(e.Reason, "authentication failed") {
			t.Fatalf("open breaker: code %s, %d attempts, reason %q; want P1000, 0 attempts, naming the cause", e.Code, res.Attempts, e.Reason)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("the open breaker let %d more connects through", calls.Load()-1)
	}
	for _, e := range rec.of(EventRejected) {
		if e.Code != CodeAuthFailed {
			t.Errorf("rejected event code %s, want P1000", e.Code)
		}
	}

	// A success clears the cause: a later outage fails fast as P1001 again.
	time.Sleep(150 * time.Millisecond)
	if _, err := x.Do(context.Background(), Op{}, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	refused := refusedErr(t)
	x.Do(context.Background(), Op{}, func(context.Context) error { return refused })
	if _, err := x.Do(context.Background(), Op{}, fail); asError(t, err).Code != CodeUnreachable {
		t.Errorf("after an outage the open breaker says %s, want P1001", asError(t, err).Code)
	}
}

// TestErrorCarriesTheVerdict: on every way a call can fail, the *Error
// carries the Executor's verdict, the one the breaker was fed, and
// Classify reads the same verdict back from it. Paths where the verdict is
// the Executor's own (a breaker rejection, a spent budget, an attempt or a
// caller timeout) say whether anything was sent and whether it counts as a
// connection failure.
func TestErrorCarriesTheVerdict(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	authErr := &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"}
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	fail := func(err error) func(context.Context) error { return func(context.Context) error { return err } }
	policy := func(edit func(*Policy)) Policy {
		p := shortPolicy()
		p.Budget, p.AttemptTimeout = 0, 0
		if edit != nil {
			edit(&p)
		}
		return p
	}
	withBreaker := func(p *Policy) {
		p.Breaker = BreakerSettings{Enabled: true, FailureThreshold: 1, Delay: time.Minute, SuccessThreshold: 1}
	}
	tests := []struct {
		name string
		p    Policy
		// before runs first on the same Executor (to open its breaker).
		before  func(context.Context) error
		op      Op
		fn      func(context.Context) error
		timeout time.Duration // the caller's deadline; 0: none
		want    Classification
		attempt int
	}{
		{name: "gave up on a refused server", p: policy(nil), fn: fail(refused),
			want: Classification{Retryable: true, Code: CodeUnreachable, Connection: true, NotSent: true}, attempt: 3},
		{name: "a write cut after it was sent", p: policy(nil), op: Op{Kind: Write}, fn: fail(io.ErrUnexpectedEOF),
			want: Classification{Retryable: true, Code: CodeConnClosed, Connection: true}, attempt: 1},
		{name: "not an availability error", p: policy(nil), fn: fail(&pgconn.PgError{Code: "23505"}), attempt: 1},
		{name: "breaker open: failing fast, nothing sent", p: policy(withBreaker), before: fail(refused), fn: fail(refused),
			want: Classification{Retryable: true, Code: CodeUnreachable, Connection: true, NotSent: true}},
		{name: "breaker open after a wrong password: its code, non-transient", p: policy(withBreaker), before: fail(authErr), fn: fail(authErr),
			want: Classification{Code: CodeAuthFailed, Connection: true, NotSent: true, NonTransient: true}},
		{name: "budget spent before any attempt finished", p: policy(func(p *Policy) { p.Budget = 30 * time.Millisecond }), fn: hang,
			want: Classification{Code: CodeOpTimeout, Connection: true}, attempt: 1},
		{name: "budget spent inside the attempt's timeout", p: policy(func(p *Policy) { p.Budget, p.AttemptTimeout = 30*time.Millisecond, time.Minute }), fn: hang,
			want: Classification{Code: CodeOpTimeout, Connection: true}, attempt: 1},
		{name: "every attempt timed out", p: policy(func(p *Policy) { p.AttemptTimeout, p.MaxAttempts = 10*time.Millisecond, 2 }), fn: hang,
			want: Classification{Retryable: true, Code: CodePoolTimeout, Connection: true, NotSent: true}, attempt: 2},
		{name: "the caller's deadline", p: policy(nil), fn: hang, timeout: 20 * time.Millisecond,
			want: Classification{Code: CodeOpTimeout, Canceled: true}, attempt: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, _ := newExec(t, tt.p)
			if tt.before != nil {
				x.Do(context.Background(), Op{}, tt.before)
			}
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := x.Do(ctx, tt.op, tt.fn)
			e := asError(t, err)
			got := e.Classification
			if got.Reason == "" && got.Code != "" {
				t.Errorf("verdict %+v has no reason", got)
			}
			got.Reason = ""
			if got != tt.want || e.Attempts != tt.attempt {
				t.Errorf("verdict %+v after %d attempts\nwant    %+v after %d", got, e.Attempts, tt.want, tt.attempt)
			}
			// Only the caller's cancel may read as one: a budget that cuts
			// an attempt cancels its context, but the cause is the budget's.
			if !tt.want.Canceled && errors.Is(err, context.Canceled) {
				t.Errorf("errors.Is(err, context.Canceled) on %v: reads as the caller's cancel", err)
			}
			checkAgrees(t, e)
		})
	}
}

// TestBudgetCutsALaterAttempt: once less budget is left than an attempt's
// timeout, the budget cuts that attempt (a cancel, under the attempt's own
// deadline); the call then reports the last finished attempt's verdict and
// error, naming the budget. The first attempt fails at once and the
// backoff takes 100ms, so the second starts with at most 300ms of the
// budget left, less than its 350ms timeout; it may start up to 300ms late
// on a loaded machine and still be the budget's to cut.
func TestBudgetCutsALaterAttempt(t *testing.T) {
	refused := refusedErr(t)
	p := shortPolicy()
	p.BaseDelay, p.MaxDelay, p.Jitter = 100*time.Millisecond, 100*time.Millisecond, false
	p.AttemptTimeout = 350 * time.Millisecond
	p.Budget = 400 * time.Millisecond
	x, rec := newExec(t, p)
	var second error
	var secondDeadline bool
	res, err := x.Do(context.Background(), Op{Name: "r"}, func(ctx context.Context) error {
		if second != nil {
			t.Error("a third attempt ran")
		}
		if len(rec.of(EventAttemptFailed)) == 0 {
			return refused
		}
		_, secondDeadline = ctx.Deadline()
		<-ctx.Done()
		second = ctx.Err()
		return second
	})
	e := asError(t, err)
	if res.Attempts != 2 || e.Code != CodeUnreachable || !strings.HasPrefix(e.Reason, "budget 400ms spent; last attempt: ") || !errors.Is(err, refused) {
		t.Errorf("attempts=%d code=%s reason=%q cause=%v, want 2 attempts, the first's P1001 and cause, naming the budget", res.Attempts, e.Code, e.Reason, e.Err)
	}
	if second != context.Canceled || !secondDeadline {
		t.Errorf("second attempt: ctx.Err() %v, deadline set %v; want canceled by the budget under its own deadline", second, secondDeadline)
	}
	failed := rec.of(EventAttemptFailed)
	if len(failed) != 2 || failed[0].Code != CodeUnreachable || failed[1].Code != CodeOpTimeout {
		t.Errorf("attempt_failed events %+v, want P1001 then P1008 (cut by the budget)", failed)
	}
	if res.Elapsed < p.Budget || res.Elapsed > p.Budget+time.Second {
		t.Errorf("elapsed %v, want the 400ms budget (plus scheduling)", res.Elapsed)
	}
}

// TestHealthyCallAllocations: a healthy call allocates the attempt's
// deadline context (the context, its timer and cancel function) and
// nothing else. Allocations are exact, unlike times; BenchmarkDo_Wrapped
// measures the time.
func TestHealthyCallAllocations(t *testing.T) {
	x, err := New(DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op := Op{Name: "bench"}
	do := func() {
		if _, err := x.Do(ctx, op, trivial); err != nil {
			t.Fatal(err)
		}
	}
	bare := testing.AllocsPerRun(100, func() {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		trivial(actx)
		cancel()
	})
	if got := testing.AllocsPerRun(100, do); got > bare+1 || got > 5 {
		t.Errorf("a healthy Do allocates %v times; a bare deadline context %v; want at most 5, and one above the context", got, bare)
	}
}

// TestSuccessAsTheCallGivesUp: an attempt that succeeds in the instant its
// caller or the budget gives up counts as the success it was (a write that
// committed is reported committed), with one attempt and a succeeded event.
func TestSuccessAsTheCallGivesUp(t *testing.T) {
	tests := []struct {
		name string
		p    func(*Policy)
		// fn is the attempt; cancel is the caller's.
		fn func(ctx context.Context, cancel context.CancelFunc) error
	}{
		{name: "the caller canceled", fn: func(_ context.Context, cancel context.CancelFunc) error {
			cancel()
			return nil
		}},
		{name: "the budget ran out", p: func(p *Policy) { p.Budget = 20 * time.Millisecond },
			fn: func(ctx context.Context, _ context.CancelFunc) error {
				<-ctx.Done()
				return nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := shortPolicy()
			if tt.p != nil {
				tt.p(&p)
			}
			x, rec := newExec(t, p)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := x.Do(ctx, Op{Name: "w", Kind: Write}, func(actx context.Context) error { return tt.fn(actx, cancel) })
			if err != nil || res.Attempts != 1 || len(rec.of(EventSucceeded)) != 1 {
				t.Errorf("Do = %+v, %v, %d succeeded events; want the attempt's success", res, err, len(rec.of(EventSucceeded)))
			}
		})
	}
}

// FuzzExecutor drives the retry loop with arbitrary sequences of attempt
// outcomes and checks it against a model of the policy: how many attempts
// run (the read/write rule, MaxAttempts), which events are emitted, and
// that the returned *Error agrees with its events and with Classify.
func FuzzExecutor(f *testing.F) {
	outcomes := []error{
		nil,
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, // retryable, NotSent
		io.ErrUnexpectedEOF,                               // retryable, maybe sent
		&pgconn.PgError{Code: "23505"},                    // not retryable
		&pgconn.PgError{Code: "40001"},                    // retryable, RolledBack
		&pgconn.PgError{Severity: "FATAL", Code: "28P01"}, // non-transient
	}
	f.Add([]byte{1, 1, 0}, uint8(0), uint8(3), false)
	f.Add([]byte{2, 2, 2}, uint8(1), uint8(3), true)
	f.Add([]byte{4, 1, 2, 0}, uint8(2), uint8(5), true)
	f.Add([]byte{5}, uint8(0), uint8(3), true)
	f.Add([]byte{}, uint8(1), uint8(1), false)
	f.Add([]byte{2, 1, 0}, uint8(0), uint8(0x83), true)
	f.Fuzz(func(t *testing.T, seq []byte, kind, maxAttempts uint8, breaker bool) {
		p := shortPolicy()
		p.BaseDelay, p.MaxDelay, p.Jitter = 0, 0, false
		p.AttemptTimeout, p.Budget = 0, 0
		if maxAttempts&0x80 != 0 {
			// Attempts on the shared deadline (a caller that cannot
			// cancel), which no outcome here reaches.
			p.AttemptTimeout = time.Minute
		}
		p.MaxAttempts = 1 + int(maxAttempts%5)
		p.Breaker = BreakerSettings{Enabled: breaker, FailureThreshold: 1, Delay: time.Minute, SuccessThreshold: 1}
		op := []Op{{Name: "r"}, {Name: "w", Kind: Write}, {Name: "u", Kind: Write, Idempotent: true}}[kind%3]
		outcome := func(i int) error { // the i-th attempt's error (0-based)
			if len(seq) == 0 {
				return nil
			}
			return outcomes[int(seq[i%len(seq)])%len(outcomes)]
		}

		// The model: attempts until one succeeds, one may not be retried, or
		// MaxAttempts ran.
		wantAttempts, wantOK := 0, false
		for i := range p.MaxAttempts {
			wantAttempts = i + 1
			err := outcome(i)
			if err == nil {
				wantOK = true
				break
			}
			cl := Classify(err)
			if !cl.Retryable || cl.Canceled || !(op.Kind == Read || op.Idempotent || cl.NotSent || cl.RolledBack) {
				break
			}
		}

		x, rec := newExec(t, p)
		calls := 0
		res, err := x.Do(context.Background(), op, func(context.Context) error {
			calls++
			return outcome(calls - 1)
		})
		if calls != wantAttempts || res.Attempts != wantAttempts || (err == nil) != wantOK {
			t.Fatalf("calls=%d attempts=%d err=%v; the model says %d attempts, success %v", calls, res.Attempts, err, wantAttempts, wantOK)
		}
		failed, retried := len(rec.of(EventAttemptFailed)), len(rec.of(EventRetryScheduled))
		if wantOK {
			if failed != wantAttempts-1 || retried != wantAttempts-1 {
				t.Fatalf("success after %d attempts: %d attempt_failed, %d retry_scheduled", wantAttempts, failed, retried)
			}
			kind := EventSucceeded
			if wantAttempts > 1 {
				kind = EventSucceededAfterRetries
			}
			if s := rec.of(kind); len(s) != 1 || s[0].Attempt != wantAttempts {
				t.Fatalf("%s events %+v", kind, s)
			}
			return
		}
		e := asError(t, err)
		if failed != wantAttempts || retried != wantAttempts-1 || e.Attempts != wantAttempts {
			t.Fatalf("failure after %d attempts: %d attempt_failed, %d retry_scheduled, Error.Attempts %d", wantAttempts, failed, retried, e.Attempts)
		}
		last := outcome(wantAttempts - 1)
		if g := rec.of(EventGaveUp); len(g) != 1 || g[0].Code != e.Code || g[0].Attempt != wantAttempts || !errors.Is(err, last) {
			t.Fatalf("gave_up events %+v, Error %v (code %s), last attempt's error %v", g, e, e.Code, last)
		}
		if want := Classify(last).Code; e.Code != want {
			t.Fatalf("Error code %s, the last attempt's %s", e.Code, want)
		}
		for i, s := range rec.of(EventRetryScheduled) {
			if s.Attempt != i+1 || s.Delay != 0 {
				t.Fatalf("retry_scheduled %d: %+v", i, s)
			}
		}
		if breaker && e.Connection != (x.BreakerState() == stateOpen) {
			t.Fatalf("breaker %s after a failure with Connection=%v", x.BreakerState(), e.Connection)
		}
		checkAgrees(t, e)
	})
}

// TestProgressCountsAttemptsAsTheyStart: a caller that stops waiting (the
// bot's reply deadline) reads the attempts started so far, while the call
// is still running, and the count ends equal to the Result's.
func TestProgressCountsAttemptsAsTheyStart(t *testing.T) {
	refused := refusedErr(t)
	x, _ := newExec(t, shortPolicy())
	var p Progress
	ctx := WithProgress(context.Background(), &p)
	var seen []int
	res, _ := x.Do(ctx, Op{Name: "getCustomPrompt"}, func(context.Context) error {
		seen = append(seen, p.Attempts())
		return refused
	})
	if want := []int{1, 2, 3}; !slices.Equal(seen, want) || res.Attempts != 3 || p.Attempts() != 3 {
		t.Errorf("attempts seen inside = %v (want %v), Result %d, Progress %d", seen, want, res.Attempts, p.Attempts())
	}
	// Without a Progress in the context nothing is counted anywhere.
	if _, err := x.Do(context.Background(), Op{Name: "getCustomPrompt"}, func(context.Context) error { return nil }); err != nil || p.Attempts() != 3 {
		t.Errorf("a call without the Progress changed it: %d, %v", p.Attempts(), err)
	}
}

// The breaker's lock-free healthy path (breakerHealthy) must keep its
// decisions: a success between failures breaks their run, however the
// calls before it went.
func TestBreakerHealthyPathCountsConsecutiveFailures(t *testing.T) {
	refused := refusedErr(t)
	outcome := map[rune]error{'s': nil, 'f': refused, 'u': &pgconn.PgError{Code: "23505"}} // u: the server answered
	for _, tc := range []struct {
		calls string // one outcome per call (every attempt of it)
		want  string
	}{
		{"ssfsf", "closed"},
		{"ssff", "open"},
		{"sfsf", "closed"},
		{"sfuf", "closed"},
		{"fsssff", "open"},
		{"sfssf", "closed"},
	} {
		t.Run(tc.calls, func(t *testing.T) {
			x, _ := newExec(t, breakerPolicy())
			for _, o := range tc.calls {
				x.Do(context.Background(), Op{Name: "r"}, func(context.Context) error { return outcome[o] })
			}
			if st := x.BreakerState(); st != tc.want {
				t.Errorf("breaker %s, want %s", st, tc.want)
			}
		})
	}
}

// A call that started while the breaker was healthy and succeeds after
// another call's failure still records its success: the failure run is
// broken, and one more failure does not open the breaker (threshold 2).
func TestBreakerHealthySuccessAfterAFailureIsRecorded(t *testing.T) {
	refused := refusedErr(t)
	x, _ := newExec(t, breakerPolicy())
	ok := func(context.Context) error { return nil }
	fail := func(context.Context) error { return refused }
	x.Do(context.Background(), Op{Name: "r"}, ok) // healthy from here
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := x.Do(context.Background(), Op{Name: "r"}, func(context.Context) error {
			close(started)
			<-release
			return nil
		})
		done <- err
	}()
	<-started
	x.Do(context.Background(), Op{Name: "r"}, fail)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	x.Do(context.Background(), Op{Name: "r"}, fail)
	if st := x.BreakerState(); st != "closed" {
		t.Errorf("breaker %s after failure, success, failure; want closed (threshold 2)", st)
	}
}

// A half-open breaker that needs two successes to close is never taken
// for healthy after the first: the second call asks for its permit and
// records its success, which closes the breaker.
func TestBreakerHalfOpenIsNotHealthy(t *testing.T) {
	refused := refusedErr(t)
	p := breakerPolicy()
	p.Breaker = BreakerSettings{Enabled: true, FailureThreshold: 1, Delay: 10 * time.Millisecond, SuccessThreshold: 2}
	x, _ := newExec(t, p)
	ok := func(context.Context) error { return nil }
	x.Do(context.Background(), Op{Name: "r"}, ok)
	x.Do(context.Background(), Op{Name: "r"}, func(context.Context) error { return refused })
	// The first call past the delay is the first probe.
	for guard := time.Now().Add(10 * time.Second); ; {
		_, err := x.Do(context.Background(), Op{Name: "r"}, ok)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrCircuitOpen) || time.Now().After(guard) {
			t.Fatalf("probe: %v", err)
		}
		runtime.Gosched()
	}
	if st := x.BreakerState(); st != "half-open" {
		t.Fatalf("breaker %s after one successful probe, want half-open (2 needed)", st)
	}
	if _, err := x.Do(context.Background(), Op{Name: "r"}, ok); err != nil {
		t.Fatal(err)
	}
	if st := x.BreakerState(); st != "closed" {
		t.Errorf("breaker %s after two successful probes, want closed", st)
	}
}
