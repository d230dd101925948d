package resilience

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
)

// A healthy read's attempt costs no timer, no context of its own to watch
// and no goroutine. Measured on a real round trip (make bench's overhead,
// and a loopback Postgres), a per-attempt context.WithDeadline cost about
// 1.5 % of a 200–350 µs query and pgx watching it (pgconn registers a
// context.AfterFunc per query on any context with a Done channel) another
// 2.5–3 %, far more than their CPU time: both allocate and touch shared
// state right after the goroutine wakes from the network wait, with cold
// caches. So, when the caller's context cannot be canceled (the bot's
// lookups run detached) and the budget does not cut the attempt:
//   - attempts share a deadline context per slot of time (attemptSlot):
//     one timer per slot, not per attempt; the deadline is the attempt
//     timeout plus at most one slot width (under 1/64 of it);
//   - a read's query runs on a context without a Done channel, its
//     socket's read deadline set to the same deadline (QueryDeadlines, a
//     pgx tracer): pgx does not watch it, and a server that stops
//     answering is cut at the deadline as pgx's own handler would cut it
//     (pgconn's default handler sets the socket's deadline on cancel).
// The acquire, the connect and the liveness check still see a context
// that ends at the deadline.

// slotsPerTimeout is how many shared deadline contexts an attempt timeout
// spans: the most an attempt's deadline can exceed the timeout is
// timeout/slotsPerTimeout (31 ms of 2 s).
const slotsPerTimeout = 64

// attemptSlot is a deadline context shared by the attempts that start
// within one slot width: its deadline is at least the attempt timeout
// past each of their starts.
type attemptSlot struct {
	ctx      context.Context
	cancel   context.CancelFunc // never called early: the timer ends ctx
	deadline time.Time
}

// slotFor returns a shared deadline context whose deadline lies in
// [now+timeout, now+timeout+timeout/slotsPerTimeout].
func (x *Executor) slotFor(now time.Time, timeout time.Duration) *attemptSlot {
	width := timeout / slotsPerTimeout
	earliest := now.Add(timeout)
	if s := x.slot.Load(); s != nil && !s.deadline.Before(earliest) && s.deadline.Sub(earliest) <= width {
		return s
	}
	d := earliest.Add(width)
	// Nothing but its timer ends the slot's context: it is shared.
	ctx, cancel := context.WithDeadlineCause(context.Background(), d, errAttemptTimeout)
	s := &attemptSlot{ctx: ctx, cancel: cancel, deadline: d}
	x.slot.Store(s) // a racing attempt's slot may be replaced: both are valid
	return s
}

// attemptCtx is a shared-deadline attempt: its values are the caller's,
// its deadline, Done and Err the slot's. Value answers the slot's own
// (context's internal cancelCtx key among them) when the caller has none,
// so that contexts derived from it register with the slot's cancelCtx
// (no goroutine) and context.Cause reads errAttemptTimeout.
type attemptCtx struct {
	context.Context // the caller's; Done is nil
	slot            *attemptSlot
	read            bool // its queries may run unwatched (QueryDeadlines)
}

type attemptKey struct{}

func (a *attemptCtx) Deadline() (time.Time, bool) { return a.slot.deadline, true }
func (a *attemptCtx) Done() <-chan struct{}       { return a.slot.ctx.Done() }
func (a *attemptCtx) Err() error                  { return a.slot.ctx.Err() }
func (a *attemptCtx) Value(key any) any {
	if key == (attemptKey{}) {
		return a
	}
	if v := a.Context.Value(key); v != nil {
		return v
	}
	return a.slot.ctx.Value(key)
}

// timedOut says whether an attempt on a ended by its deadline.
func (a *attemptCtx) timedOut() bool { return !time.Now().Before(a.slot.deadline) }

// unwatched is a query's context with no Done channel (pgx then does not
// watch it); the socket's read deadline bounds the query instead.
type unwatched struct{ context.Context }

func (unwatched) Deadline() (time.Time, bool) { return time.Time{}, false }
func (unwatched) Done() <-chan struct{}       { return nil }
func (unwatched) Err() error                  { return nil }

// unwatchedAttempt is unwatched for the attempt's own context, the usual
// case: a struct of one pointer, so returning it as a context.Context
// allocates nothing (unwatched{ctx} allocates its interface per query).
type unwatchedAttempt struct{ *attemptCtx }

func (unwatchedAttempt) Deadline() (time.Time, bool) { return time.Time{}, false }
func (unwatchedAttempt) Done() <-chan struct{}       { return nil }
func (unwatchedAttempt) Err() error                  { return nil }

// QueryDeadlines is a pgx.QueryTracer: a query run on a read attempt's
// context (Do with a Read op whose caller's context cannot be canceled)
// runs unwatched, bounded by a read deadline on its connection's socket at
// the attempt's deadline, cleared when the query ends. Any other query is
// left alone. Install it with InstallQueryDeadlines.
type QueryDeadlines struct{}

// TraceQueryStart implements pgx.QueryTracer.
func (QueryDeadlines) TraceQueryStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	a, _ := ctx.Value(attemptKey{}).(*attemptCtx)
	// Only the attempt's own context (or values on it): a context derived
	// with a deadline or cancel of its own must be watched.
	if a == nil || !a.read || ctx.Done() != a.Done() || ctx.Err() != nil {
		return ctx
	}
	if err := conn.PgConn().Conn().SetReadDeadline(a.slot.deadline); err != nil {
		return ctx
	}
	if ctx == context.Context(a) {
		return unwatchedAttempt{a}
	}
	return unwatched{ctx}
}

// TraceQueryEnd implements pgx.QueryTracer.
func (QueryDeadlines) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, _ pgx.TraceQueryEndData) {
	switch ctx.(type) {
	case unwatched, unwatchedAttempt:
		_ = conn.PgConn().Conn().SetReadDeadline(time.Time{}) // a closed connection has none to clear
	}
}

// InstallQueryDeadlines adds QueryDeadlines to cc's tracer, after the one
// already set (so that the query runs on its context).
func InstallQueryDeadlines(cc *pgx.ConnConfig) {
	switch t := cc.Tracer.(type) {
	case nil:
		cc.Tracer = QueryDeadlines{}
	case QueryDeadlines:
	default:
		cc.Tracer = multitracer.New(t, QueryDeadlines{})
	}
}
