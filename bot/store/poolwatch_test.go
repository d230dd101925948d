package store

import (
	"context"
	"errors"
	"io"
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
	x, err := resilience.New(p, resilience.WithTarget(cfg.Target()))
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
		// blackHole puts a proxy between the pool and the server, for
		// hold to turn into a black hole.
		blackHole bool
		// hold runs before the lookups: it takes or readies connections.
		hold      func(t *testing.T, pool *pgxpool.Pool, srv testServer)
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
		{name: "black hole on open connections: slots held while the hung ones close are not exhaustion (P1008)",
			server: fake, params: "&connection_limit=2", tweak: simpleProtocol, blackHole: true,
			hold: hangOpenConns, lookups: 1, want: resilience.CodeOpTimeout, reasonHas: "being closed"},
		{name: "black hole: the liveness check hangs, then the connect begun after it: P1008, not P2024",
			server: fake, params: "&connection_limit=2", blackHole: true,
			tweak: func(c *pgxpool.Config) {
				simpleProtocol(c)
				c.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return true }
				// The ping gives up past the wait's halfway point, and
				// pgxpool opens a new connection for the rest of it: the
				// narrated black hole, where the ping's error and the
				// deadline arrive together and the error wins the race.
				c.PingTimeout = attempt * 6 / 10
			},
			hold: idleThenDark, lookups: 1, want: resilience.CodeOpTimeout, reasonHas: "liveness check"},
		{name: "pool_timeout fires while hung connections close: P2024, Prisma's pool_timeout",
			server: fake, params: "&connection_limit=2&pool_timeout=0.1", tweak: simpleProtocol, blackHole: true,
			hold: hangOpenConns, lookups: 1, want: resilience.CodePoolTimeout, reasonHas: "pool_timeout"},
		{name: "pool_timeout fires on a busy pool: P2024",
			server: fake, params: "&connection_limit=1&pool_timeout=0.1",
			hold: holdAll, lookups: 1, want: resilience.CodePoolTimeout, reasonHas: "pool_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, f := tc.server(t)
			srv := testServer{f: f}
			if tc.blackHole {
				srv.hole = newBlackHole(t, addr)
				addr = srv.hole.addr
			}
			url := "postgresql://bot:secret@" + addr + "/p1001?sslmode=disable" + tc.params
			s, pool := watchedStore(t, url, oneAttempt(attempt), tc.tweak)
			if srv.hole != nil {
				// Before pool.Close, which waits (up to 15s) for the
				// hung connections' closes.
				t.Cleanup(srv.hole.cut)
			}
			if tc.hold != nil {
				tc.hold(t, pool, srv)
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

// testServer is what a case's hold may act on.
type testServer struct {
	f    *fakepg.Server
	hole *blackHole // nil without a proxy
}

func simpleProtocol(c *pgxpool.Config) {
	c.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol // all the fake speaks
}

// hangOpenConns opens every connection of the pool, turns the proxy into a
// black hole, and runs a query on each that times out, as the bot's
// queries do when a pooler stops answering: pgx closes such a connection
// in the background (a cancel request, then a wait for the server's close,
// up to 15s), and pgxpool keeps its slot until that ends. Only that holds
// the slots afterwards: the bot's own load holds none.
func hangOpenConns(t *testing.T, pool *pgxpool.Pool, srv testServer) {
	t.Helper()
	conns := make([]*pgxpool.Conn, pool.Config().MaxConns)
	for i := range conns {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	srv.hole.on()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			defer c.Release()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
				t.Error("a query answered through the black hole")
			}
		})
	}
	wg.Wait()
}

// idleThenDark opens one connection, returns it to the pool idle, and turns
// the proxy into a black hole.
func idleThenDark(t *testing.T, pool *pgxpool.Pool, srv testServer) {
	t.Helper()
	c, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	srv.hole.on()
}

// blackHole is a TCP proxy that, once on, accepts and forwards upstream as
// before but passes nothing back, and never closes a client's side: the
// Toxiproxy timeout toxic with timeout 0 on the downstream, as the chaos
// catalog plays it. (fakepg.Server.Stall still honours Terminate, so pgx's
// close of a hung connection would end at once there.)
type blackHole struct {
	addr     string
	upstream string
	mu       sync.Mutex
	dark     bool
	clients  []net.Conn
}

func newBlackHole(t *testing.T, upstream string) *blackHole {
	h := &blackHole{upstream: upstream}
	h.addr = fakepg.AcceptLoop(t, h.serve)
	return h
}

func (h *blackHole) on() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dark = true
}

func (h *blackHole) isDark() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dark
}

// cut closes every client connection, ending the closes that wait on them.
func (h *blackHole) cut() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.clients {
		c.Close()
	}
}

func (h *blackHole) serve(c net.Conn) {
	h.mu.Lock()
	h.clients = append(h.clients, c)
	h.mu.Unlock()
	u, err := net.Dial("tcp", h.upstream)
	if err != nil {
		return
	}
	defer u.Close()
	go func() {
		_, _ = io.Copy(u, c) // upstream passes, as through the toxic
		u.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := u.Read(buf)
		if err != nil {
			break
		}
		if !h.isDark() {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	if h.isDark() {
		_, _ = io.Copy(io.Discard, c) // the server's close does not pass either
	}
}

// holdAll takes every connection of the pool for the rest of the test.
func holdAll(t *testing.T, pool *pgxpool.Pool, _ testServer) {
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
