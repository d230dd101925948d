package resilience

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"

	"github.com/p1001/p1001/internal/fakepg"
)

type testKey struct{}

// queryCtxs records whether each query pgx ran had a Done channel (pgx
// watches exactly those). It runs after QueryDeadlines, so it sees the
// context the query ran on.
type queryCtxs struct {
	mu      sync.Mutex
	watched []bool
}

func (q *queryCtxs) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.watched = append(q.watched, ctx.Done() != nil)
	return ctx
}

func (*queryCtxs) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (q *queryCtxs) last(t *testing.T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.watched) == 0 {
		t.Fatal("no query ran")
	}
	return q.watched[len(q.watched)-1]
}

// deadlineConn is a connection to f with QueryDeadlines and rec installed.
func deadlineConn(t *testing.T, f *fakepg.Server, rec *queryCtxs) *pgx.Conn {
	t.Helper()
	cc, err := pgx.ParseConfig(fakeDSN(f))
	if err != nil {
		t.Fatal(err)
	}
	InstallQueryDeadlines(cc)
	cc.Tracer = multitracer.New(cc.Tracer, rec)
	conn, err := pgx.ConnectConfig(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestQueryDeadlines(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name        string
		parent      context.Context
		kind        OpKind
		derive      func(context.Context) context.Context // the query's context from the attempt's; nil: the attempt's own
		wantWatched bool
	}{
		{"a read of a caller that cannot cancel runs unwatched", context.WithoutCancel(canceled), Read, nil, false},
		{"a read's query on values added to the attempt's context runs unwatched", context.Background(), Read,
			func(ctx context.Context) context.Context { return context.WithValue(ctx, testKey{}, 1) }, false},
		{"a read of a cancelable caller is watched", canceled, Read, nil, true},
		{"a write is watched (the server gets a cancel request)", context.Background(), Write, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fakepg.Start(t, &fakepg.Server{Answer: func(string) fakepg.Reply { return fakepg.Text("be nice") }})
			rec := &queryCtxs{}
			conn := deadlineConn(t, f, rec)
			x, _ := newExec(t, shortPolicy())
			var attemptCtx context.Context
			_, err := x.Do(tc.parent, Op{Name: "q", Kind: tc.kind}, func(ctx context.Context) error {
				attemptCtx = ctx
				if tc.derive != nil {
					ctx = tc.derive(ctx)
				}
				_, err := conn.Exec(ctx, "select 1")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.last(t); got != tc.wantWatched {
				t.Errorf("query watched = %v, want %v", got, tc.wantWatched)
			}
			// The socket's deadline is cleared with the query's end: a
			// query after the attempt's deadline still runs.
			<-attemptCtx.Done()
			if _, err := conn.Exec(context.Background(), "select 1"); err != nil {
				t.Errorf("query after the attempt's deadline: %v", err)
			}
		})
	}
}

// A server that stops answering an unwatched read is cut at the attempt's
// deadline by the socket's read deadline, with pgx's timeout verdict.
func TestUnwatchedReadIsCutAtTheAttemptDeadline(t *testing.T) {
	f := fakepg.Start(t, &fakepg.Server{Answer: func(string) fakepg.Reply { return fakepg.Reply{Hang: true} }})
	rec := &queryCtxs{}
	conn := deadlineConn(t, f, rec)
	p := shortPolicy()
	p.MaxAttempts = 1
	p.AttemptTimeout = 100 * time.Millisecond
	x, _ := newExec(t, p)
	type outcome struct {
		err     error
		elapsed time.Duration
	}
	done := make(chan outcome, 1)
	go func() {
		start := time.Now()
		_, err := x.Do(context.Background(), Op{Name: "r"}, func(ctx context.Context) error {
			_, err := conn.Exec(ctx, "select pg_sleep(60)")
			return err
		})
		done <- outcome{err, time.Since(start)}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(10 * time.Second): // a guard, far past the deadline: nothing cut the query
		t.Fatal("the hung read was not cut")
	}
	if rec.last(t) {
		t.Error("the read was watched; want unwatched, bounded by the socket's deadline")
	}
	e := asError(t, o.err)
	if e.Code != CodeOpTimeout || !strings.Contains(e.Reason, "attempt timed out after 100ms") {
		t.Errorf("code=%s reason=%q, want P1008, attempt timed out", e.Code, e.Reason)
	}
	if o.elapsed < p.AttemptTimeout {
		t.Errorf("cut after %s, before the attempt timeout %s", o.elapsed, p.AttemptTimeout)
	}
}

// An attempt's shared deadline is the attempt timeout past its start, plus
// at most a slot's width; the budget's last attempt keeps an exact one.
func TestAttemptDeadline(t *testing.T) {
	p := DefaultPolicy()
	x, _ := newExec(t, p)
	width := p.AttemptTimeout / slotsPerTimeout
	for range 3 {
		start := time.Now()
		var d time.Time
		_, err := x.Do(context.Background(), Op{Name: "q"}, func(ctx context.Context) error {
			d, _ = ctx.Deadline()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if lo, hi := start.Add(p.AttemptTimeout), time.Now().Add(p.AttemptTimeout+width); d.Before(lo) || d.After(hi) {
			t.Errorf("deadline %s past the start, want within [%s, %s]", d.Sub(start), lo.Sub(start), hi.Sub(start))
		}
	}
	// Derived contexts end with the attempt's, and say why.
	p.AttemptTimeout = 20 * time.Millisecond
	x, _ = newExec(t, p)
	_, err := x.Do(context.Background(), Op{Name: "q"}, func(ctx context.Context) error {
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		<-child.Done()
		if c := context.Cause(child); c != errAttemptTimeout {
			t.Errorf("cause %v, want errAttemptTimeout", c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
