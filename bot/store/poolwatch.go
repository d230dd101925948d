package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/resilience"
)

// errPoolTimeout is the cause of an acquire context whose own limit
// (pool_timeout) fired, to tell it from the attempt's deadline.
var errPoolTimeout = errors.New("store: pool_timeout exceeded")

// poolWatch follows what a pool's acquires wait on, through pgx's hooks:
// pgxpool returns the same bare deadline error for a pool whose connections
// are all busy and for a connect that hangs, and only the first is pool
// exhaustion (P2024).
type poolWatch struct {
	mu       sync.Mutex
	inFlight map[*connectRec]struct{}
	// closing are the closes under way: each holds its pool slot until
	// it ends (see trackClose).
	closing map[*closeRec]struct{}
	queries atomic.Int64 // queries under way, for the log
	// hungAt is when a connect last ended in a timeout, hungReached whether
	// it had reached the server.
	hungAt      time.Time
	hungReached bool
}

// connectRec is one connect under way.
type connectRec struct {
	start   time.Time
	reached atomic.Bool // its TCP connect completed
}

// closeRec is one connection's close under way.
type closeRec struct{ start time.Time }

// closeWait is how long pgxpool's destructor waits for a connection's
// cleanup before it gives the slot back anyway.
const closeWait = 15 * time.Second

// acquireProbe is one acquire's record, carried in its context: pgxpool
// hands the acquirer's context values to the connect it starts and to its
// liveness check, so the hooks know whose acquire they serve.
type acquireProbe struct {
	start   time.Time
	phase   atomic.Int32               // phaseSlot, phasePing, phaseConnect: the last step the acquire took
	connect atomic.Pointer[connectRec] // its own connect, once it started one
	pingAt  atomic.Int64               // when its first liveness check began (UnixNano), 0 before
}

const (
	phaseSlot int32 = iota
	phasePing
	phaseConnect
)

type (
	probeKey   struct{}
	connectKey struct{}
)

// WatchPool installs on cfg, before pgxpool.NewWithConfig, the hooks that
// tell what a timed-out acquire was waiting for, and returns the Option
// that lets the Store read them. Without it every acquire timeout reads as
// P2024. It needs cfg's connect tracer slot (pgx has one): when a tracer
// is already set it leaves cfg alone and the Store reads P2024 as before.
func WatchPool(cfg *pgxpool.Config) Option {
	cc := cfg.ConnConfig
	if w, ok := cc.Tracer.(*poolWatch); ok {
		return func(s *Store) { s.watch = w } // already watched
	}
	if cc.Tracer != nil {
		return func(*Store) {}
	}
	w := &poolWatch{inFlight: map[*connectRec]struct{}{}, closing: map[*closeRec]struct{}{}}
	cc.Tracer = w
	dial := cc.DialFunc
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if rec, _ := ctx.Value(connectKey{}).(*connectRec); err == nil && rec != nil {
			rec.reached.Store(true)
		}
		return c, err
	}
	shouldPing := cfg.ShouldPing
	if shouldPing == nil {
		// pgxpool's default.
		shouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool { return p.IdleDuration > time.Second }
	}
	cfg.ShouldPing = func(ctx context.Context, p pgxpool.ShouldPingParams) bool {
		ping := shouldPing(ctx, p)
		if probe, _ := ctx.Value(probeKey{}).(*acquireProbe); ping && probe != nil {
			probe.phase.Store(phasePing)
			probe.pingAt.CompareAndSwap(0, time.Now().UnixNano())
		}
		return ping
	}
	beforeClose := cfg.BeforeClose
	cfg.BeforeClose = func(c *pgx.Conn) {
		if beforeClose != nil {
			beforeClose(c)
		}
		w.trackClose(c.PgConn())
	}
	return func(s *Store) { s.watch = w }
}

// trackClose records a connection's close from pgxpool's BeforeClose
// until its cleanup ends. pgxpool's destructor holds the connection's slot
// until then (puddle's destroyAcquiredResource releases the slot after the
// destructor returns; the destructor waits for PgConn.CleanupDone, up to
// closeWait). A connection whose query or liveness check was cut by a
// deadline is closed in the background (pgconn's asyncClose: a cancel
// request on a new connection, then a wait for the server's close, each
// up to 15s): a healthy server ends that in a round trip or two, one that
// stopped answering never does, and its slot stays taken meanwhile.
func (w *poolWatch) trackClose(pc *pgconn.PgConn) {
	rec := &closeRec{start: time.Now()}
	w.mu.Lock()
	w.closing[rec] = struct{}{}
	w.mu.Unlock()
	go func() {
		timer := time.NewTimer(closeWait)
		defer timer.Stop()
		select {
		case <-pc.CleanupDone():
		case <-timer.C:
		}
		w.mu.Lock()
		delete(w.closing, rec)
		w.mu.Unlock()
	}()
}

// TraceQueryStart and TraceQueryEnd count the queries under way, for the
// log of an acquire timeout (pgx's tracer slot is a QueryTracer).
func (w *poolWatch) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	w.queries.Add(1)
	return ctx
}

// TraceQueryEnd: see TraceQueryStart.
func (w *poolWatch) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {
	w.queries.Add(-1)
}

// TraceConnectStart implements pgx.ConnectTracer.
func (w *poolWatch) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	rec := &connectRec{start: time.Now()}
	w.mu.Lock()
	w.inFlight[rec] = struct{}{}
	w.mu.Unlock()
	if probe, _ := ctx.Value(probeKey{}).(*acquireProbe); probe != nil {
		probe.connect.Store(rec)
		probe.phase.Store(phaseConnect)
	}
	return context.WithValue(ctx, connectKey{}, rec)
}

// TraceConnectEnd implements pgx.ConnectTracer.
func (w *poolWatch) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	rec, _ := ctx.Value(connectKey{}).(*connectRec)
	if rec == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.inFlight, rec)
	if isTimeout(data.Err) {
		w.hungAt, w.hungReached = time.Now(), rec.reached.Load()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && (pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout())
}

// acquire takes a connection from the pool within pool_timeout (when set)
// and ctx. A wait that runs out of time returns a
// *resilience.AcquireTimeoutError saying what it was waiting for.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	// A pool_timeout past ctx's deadline could not fire first: no timer
	// (the attempt's deadline ends the wait, as it would end this one's).
	if d, ok := ctx.Deadline(); s.acquireTimeout > 0 && (!ok || time.Until(d) > s.acquireTimeout) {
		actx, cancel = context.WithTimeoutCause(ctx, s.acquireTimeout, errPoolTimeout)
	}
	defer cancel()
	var probe *acquireProbe
	if s.watch != nil {
		probe = &acquireProbe{start: time.Now()}
		actx = context.WithValue(actx, probeKey{}, probe)
	}
	conn, err := s.pool.Acquire(actx)
	if err == nil {
		return conn, nil
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
		return nil, err // the connect's own error, or not a timeout: Classify reads it
	}
	st := s.pool.Stat()
	e := &resilience.AcquireTimeoutError{Wait: s.watch.waitOf(probe), MaxConns: st.MaxConns(), Err: err,
		Pool: fmt.Sprintf("pool: %d acquired, %d connecting, %d idle of %d%s", st.AcquiredConns(), st.ConstructingConns(), st.IdleConns(), st.MaxConns(), s.watch.state(probe))}
	if context.Cause(actx) == errPoolTimeout {
		e.PoolTimeout = s.acquireTimeout
	}
	return nil, e
}

// state is what the watch sees of the pool, for the log: the times are
// from the acquire's start.
func (w *poolWatch) state(probe *acquireProbe) string {
	if w == nil || probe == nil {
		return ""
	}
	since := func(t time.Time) string { return t.Sub(probe.start).Round(time.Millisecond).String() }
	own := ""
	if at := probe.pingAt.Load(); at != 0 {
		own = "; its ping at +" + since(time.Unix(0, at))
	}
	if c := probe.connect.Load(); c != nil {
		own += fmt.Sprintf("; its connect at +%s (TCP up %v)", since(c.start), c.reached.Load())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var connects, closes []string
	for rec := range w.inFlight {
		connects = append(connects, "+"+since(rec.start))
	}
	for rec := range w.closing {
		closes = append(closes, "+"+since(rec.start))
	}
	return fmt.Sprintf("%s; connects begun %v; closes begun %v; %d queries in flight; gave up at +%s",
		own, connects, closes, w.queries.Load(), since(time.Now()))
}

// waitOf says what the acquire of probe waited on when its time ran out:
// its own connect when that began no later than halfway through the wait,
// or its own liveness check when that began no later than halfway (or is
// its last step); else, waiting for a slot, other
// acquires' connects when one of them timed out during the wait, or is
// still under way and began no later than halfway through it; else
// connections being closed, when one began closing no later than halfway
// and has not finished (a close is a round trip or two: one that lasts
// half a wait is stuck on a peer that stopped answering, and holds its
// slot); else connections in use. The connect timeout is capped to the attempt
// timeout, and a healthy handshake takes a few round trips, a small part
// of it: one unanswered for half a wait has hung (or is too slow for any
// attempt to succeed, which P1002 says too). Younger connects only began
// when a slot came free late in the wait.
func (w *poolWatch) waitOf(probe *acquireProbe) resilience.PoolWait {
	if w == nil || probe == nil {
		return resilience.WaitUnknown
	}
	halfway := probe.start.Add(time.Since(probe.start) / 2)
	switch probe.phase.Load() {
	case phaseConnect:
		if own := probe.connect.Load(); !own.start.After(halfway) {
			if own.reached.Load() {
				return resilience.WaitHandshake
			}
			return resilience.WaitDial
		}
		// Begun late: the wait's first half went to a ping (below) or
		// to a slot.
	case phasePing:
		return resilience.WaitPing
	}
	if at := probe.pingAt.Load(); at != 0 && !time.Unix(0, at).After(halfway) {
		// A ping that hung to the deadline can lose pgxpool's race with it
		// (both end together; the ping's error may win): pgxpool then
		// destroys the connection and starts a connect in the wait's last
		// instant, which is not what the wait was spent on.
		return resilience.WaitPing
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	hung, reached := false, false
	for rec := range w.inFlight {
		if !rec.start.After(halfway) {
			hung = true
			reached = reached || rec.reached.Load()
		}
	}
	if !w.hungAt.Before(probe.start) {
		hung = true
		reached = reached || w.hungReached
	}
	stuck := false
	for rec := range w.closing {
		stuck = stuck || !rec.start.After(halfway)
	}
	switch {
	case hung && reached:
		return resilience.WaitHandshake
	case hung:
		return resilience.WaitDial
	case stuck:
		return resilience.WaitClosing
	}
	return resilience.WaitSlot
}
