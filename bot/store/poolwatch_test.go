package store

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/internal/fakepg"
	"github.com/p1001/p1001/resilience"
)

// watchedStore is a Store on url built as the bot builds it: connect_timeout
// capped to the attempt timeout, the pool watched. tweak may change the pool
// configuration first.
func watchedStore(t *testing.T, url string, p resilience.Policy, tweak func(*pgxpool.Config)) (*Store, *pgxpool.Pool) {
	t.Helper()
	cfg, err := dburl.Parse("DATABASE_URL", url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.CapConnectTimeout(p.AttemptTimeout)
	if tweak != nil {
		tweak(cfg.Pool)
	}
	watch := WatchPool(cfg.Pool)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg.Pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	x, err := resilience.New(p, resilience.WithAddr(cfg.Addr))
	if err != nil {
		t.Fatal(err)
	}
	return New(pool, x, cfg, watch), pool
}

func oneAttempt(attempt time.Duration) resilience.Policy {
	p := fastPolicy()
	p.MaxAttempts, p.AttemptTimeout = 1, attempt
	return p
}

// hangingDial never completes a TCP connect: a SYN that no one answers.
func hangingDial(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded} // as net.Dialer says it
}

// TestAcquireTimeoutSaysWhatItWaitedFor: pgxpool gives the same bare
// deadline for an exhausted pool and for a connect that hangs; the store
// tells them apart, so a dead pooler is not reported as P2024 (which sends
// the operator to raise connection_limit) and true exhaustion still is.
func TestAcquireTimeoutSaysWhatItWaitedFor(t *testing.T) {
	const attempt = 300 * time.Millisecond
	cases := []struct {
		name string
		// server starts what the URL points at: a fake server (f) or a
		// bare listener (f nil).
		server func(t testing.TB) (addr string, f *fakepg.Server)
		params string
		tweak  func(*pgxpool.Config)
		// hold runs before the lookups: it takes or readies connections.
		hold      func(t *testing.T, pool *pgxpool.Pool, f *fakepg.Server)
		lookups   int
		want      resilience.Code
		reasonHas string
	}{
		{name: "black hole after TCP connect: P1002, not P2024",
			server: silent, lookups: 3, want: resilience.CodeTimeout, reasonHas: "handshake timed out"},
		{name: "black hole, waiters behind the hung connect (connection_limit=1): P1002",
			server: silent, params: "&connection_limit=1", lookups: 4, want: resilience.CodeTimeout, reasonHas: "handshake timed out"},
		{name: "TCP connect that never completes: P1001",
			server: silent, tweak: func(c *pgxpool.Config) { c.ConnConfig.DialFunc = hangingDial },
			lookups: 2, want: resilience.CodeUnreachable, reasonHas: "dial timeout"},
		{name: "pool exhausted by the bot's own queries: P2024",
			server: fake, params: "&connection_limit=1",
			hold: holdAll, lookups: 2, want: resilience.CodePoolTimeout, reasonHas: "all 1 in use"},
		{name: "pool_timeout fires while a connect hangs: P2024, Prisma's pool_timeout",
			server: silent, params: "&pool_timeout=0.1", lookups: 2, want: resilience.CodePoolTimeout, reasonHas: "pool_timeout"},
		{name: "pool_timeout fires on a busy pool: P2024",
			server: fake, params: "&connection_limit=1&pool_timeout=0.1",
			hold: holdAll, lookups: 1, want: resilience.CodePoolTimeout, reasonHas: "pool_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, f := tc.server(t)
			url := "postgresql://bot:secret@" + addr + "/p1001?sslmode=disable" + tc.params
			s, pool := watchedStore(t, url, oneAttempt(attempt), tc.tweak)
			if tc.hold != nil {
				tc.hold(t, pool, f)
			}
			errs := make([]error, tc.lookups)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() { _, _, errs[i] = s.GetPrompt(context.Background(), "c") })
			}
			wg.Wait()
			for i, err := range errs {
				var re *resilience.Error
				if !errors.As(err, &re) {
					t.Fatalf("lookup %d: err = %v, want *resilience.Error", i, err)
				}
				if re.Code != tc.want || !strings.Contains(re.Reason, tc.reasonHas) || !re.Retryable || !re.NotSent || !re.Connection {
					t.Errorf("lookup %d: %v (retryable %v, not sent %v, connection %v); want %s, reason with %q, retryable, not sent, connection",
						i, err, re.Retryable, re.NotSent, re.Connection, tc.want, tc.reasonHas)
				}
			}
		})
	}
}

func silent(t testing.TB) (string, *fakepg.Server) { return fakepg.Silent(t), nil }

func fake(t testing.TB) (string, *fakepg.Server) {
	f := fakepg.Start(t, &fakepg.Server{})
	return f.Addr(), f
}

// holdAll takes every connection of the pool for the rest of the test.
func holdAll(t *testing.T, pool *pgxpool.Pool, _ *fakepg.Server) {
	t.Helper()
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Release)
	}
}

// TestReadOnlyConnectionIsDropped: after a failover the pooled connection
// still reaches the old primary, now read-only (25006); the store closes
// it, so the retry opens a new connection instead of failing on it again.
func TestReadOnlyConnectionIsDropped(t *testing.T) {
	var writes atomic.Int32
	f := fakepg.Start(t, &fakepg.Server{Answer: func(sql string) fakepg.Reply {
		if strings.HasPrefix(sql, "INSERT") && writes.Add(1) == 1 {
			return fakepg.Reply{Err: fakepg.Error("25006", "cannot execute INSERT in a read-only transaction")}
		}
		return fakepg.Reply{Tag: "INSERT 0 1"}
	}})
	p := fastPolicy()
	p.MaxAttempts = 2
	s, _ := watchedStore(t, "postgresql://bot:secret@"+f.Addr()+"/p1001?sslmode=disable&connection_limit=1", p,
		func(c *pgxpool.Config) { c.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol }) // all the fake speaks
	res, err := s.SetPrompt(context.Background(), "c", "be brief")
	if err != nil || res.Attempts != 2 {
		t.Fatalf("SetPrompt after a read-only refusal = %v after %d attempts; want success on the 2nd", err, res.Attempts)
	}
	if n := f.Sessions.Load(); n != 2 {
		t.Errorf("%d logins; want 2: the read-only connection must not be used again", n)
	}
}
