package resilience

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/internal/fakepg"
)

// connectErr returns the real error of a pgx connect to dsn. cfgHook may
// adjust the parsed config (e.g. the DNS resolver).
func connectErr(t *testing.T, ctx context.Context, dsn string, cfgHook func(*pgx.ConnConfig)) error {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfgHook != nil {
		cfgHook(cfg)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		t.Fatalf("connect to %s unexpectedly succeeded", cfg.Host)
	}
	return err
}

func dsnFor(addr string) string {
	return fmt.Sprintf("postgres://app:%s@%s/appdb?sslmode=disable&default_query_exec_mode=simple_protocol", testPassword, addr)
}

// fakeDSN is f's DSN. It carries a password so tests can check it never
// leaks; the fake speaks the simple protocol only.
func fakeDSN(f *fakepg.Server) string { return dsnFor(f.Addr()) + "&connect_timeout=5" }

const testPassword = "s3cr3t-Pa55word"

// nxdomainResolver is a Go resolver whose "network" is an in-process pipe to
// a fake DNS server answering NXDOMAIN: a real *net.DNSError, no packets.
func nxdomainResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			for {
				var n uint16
				if binary.Read(server, binary.BigEndian, &n) != nil {
					return
				}
				q := make([]byte, n)
				if _, err := io.ReadFull(server, q); err != nil || len(q) < 12 {
					return
				}
				// Header: same ID, QR+RD, RA+NXDOMAIN, 1 question, no records.
				end := 12
				for end < len(q) && q[end] != 0 {
					end += int(q[end]) + 1
				}
				end += 5 // root label + QTYPE + QCLASS
				if end > len(q) {
					return
				}
				resp := append([]byte{q[0], q[1], 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:end]...)
				if binary.Write(server, binary.BigEndian, uint16(len(resp))) != nil {
					return
				}
				if _, err := server.Write(resp); err != nil {
					return
				}
			}
		}()
		return client, nil
	}}
}

// queryErr connects to a fakepg server answering every query with r and returns
// the error of one query.
func queryErr(t *testing.T, ctx context.Context, r fakepg.Reply) error {
	t.Helper()
	f := fakepg.Start(t, &fakepg.Server{Answer: func(string) fakepg.Reply { return r }})
	conn, err := pgx.Connect(context.Background(), fakeDSN(f))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v string
	err = conn.QueryRow(ctx, "select v from t").Scan(&v)
	if err == nil {
		t.Fatal("query unexpectedly succeeded")
	}
	return err
}

func startupErr(t *testing.T, e *pgproto3.ErrorResponse) error {
	t.Helper()
	f := fakepg.Start(t, &fakepg.Server{Login: func() *pgproto3.ErrorResponse { return e }})
	return connectErr(t, context.Background(), fakeDSN(f), nil)
}

// poolAcquireTimeout returns the error of pgxpool.Acquire on a pool of one
// connection that is held busy.
func poolAcquireTimeout(t *testing.T) error {
	t.Helper()
	f := fakepg.Start(t, &fakepg.Server{})
	cfg, err := pgxpool.ParseConfig(fakeDSN(f))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	held, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = pool.Exec(ctx, "select 1")
	if err == nil {
		t.Fatal("acquire on a full pool succeeded")
	}
	return err
}

type classCase struct {
	name string
	err  func(t *testing.T) error
	want Classification
	// reasonHas, when set, must appear in Reason.
	reasonHas string
}

var (
	unreachable = Classification{Retryable: true, Code: CodeUnreachable, Connection: true, NotSent: true}
	authFailed  = Classification{Code: CodeAuthFailed, Connection: true, NotSent: true, NonTransient: true}
	tlsFailed   = Classification{Code: CodeTLS, Connection: true, NotSent: true, NonTransient: true}
	closedConn  = Classification{Retryable: true, Code: CodeConnClosed, Connection: true}
	tooMany     = Classification{Retryable: true, Code: CodeTooManyConns, Connection: true, NotSent: true}
)

// classCases are real errors (from pgx against fake servers, and from the
// net package) with the verdict Classify must give.
func classCases() []classCase {
	return []classCase{
		// *pgconn.ConnectError from real dials.
		{name: "connect refused (closed port)", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), dsnFor(fakepg.ClosedAddr(t)), nil)
		}, want: unreachable, reasonHas: "refused"},
		{name: "connect reset by listener", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), dsnFor(fakepg.Reset(t)), nil)
		}, want: unreachable},
		{name: "connect closed by listener (EOF)", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), dsnFor(fakepg.CloseAfterHello(t)), nil)
		}, want: unreachable, reasonHas: "closed"},
		{name: "listener never answers, connect timeout", err: func(t *testing.T) error {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			return connectErr(t, ctx, dsnFor(fakepg.Silent(t)), nil)
		}, want: Classification{Retryable: true, Code: CodeTimeout, Connection: true, NotSent: true}, reasonHas: "timed out"},
		{name: "listener never answers, connect_timeout in DSN", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), dsnFor(fakepg.Silent(t))+"&connect_timeout=1", nil)
		}, want: Classification{Retryable: true, Code: CodeTimeout, Connection: true, NotSent: true}},
		{name: "DNS failure for .invalid", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), dsnFor("db.p1001.invalid:5432"), func(c *pgx.ConnConfig) {
				c.LookupFunc = nxdomainResolver().LookupHost
			})
		}, want: unreachable, reasonHas: "DNS"},
		{name: "auth failed 28P01", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("28P01", `password authentication failed for user "app"`))
		}, want: authFailed},
		{name: "auth failed 28000 (pg_hba)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("28000", `no pg_hba.conf entry for host`))
		}, want: authFailed},
		{name: "unknown database 3D000", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("3D000", `database "appdb" does not exist`))
		}, want: Classification{Code: CodeDBMissing, Connection: true, NotSent: true, NonTransient: true}, reasonHas: "does not exist"},
		// TLS: a certificate or sslmode problem, not an outage.
		{name: "sslmode=require, server refuses TLS", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), tlsDSN(tlsListener(t, nil), "require"), nil)
		}, want: tlsFailed, reasonHas: "refused TLS"},
		{name: "sslmode=verify-full, certificate of an unknown authority", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), tlsDSN(tlsListener(t, selfSigned(t)), "verify-full"), nil)
		}, want: tlsFailed, reasonHas: "certificate"},
		{name: "sslmode=prefer, TLS refused then the plain connect fails: not TLS", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), tlsDSN(tlsListener(t, nil), "prefer"), nil)
		}, want: unreachable},
		{name: "starting up 57P03", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("57P03", "the database system is starting up"))
		}, want: unreachable},
		{name: "sslmode=prefer, TCP up and no answer, then the plain fallback: reached (P1002)", err: func(t *testing.T) error {
			return connectErr(t, context.Background(), "postgres://app:"+testPassword+"@"+fakepg.Silent(t)+"/appdb?sslmode=prefer&connect_timeout=1", nil)
		}, want: Classification{Retryable: true, Code: CodeTimeout, Connection: true, NotSent: true}, reasonHas: "handshake"},
		// Refusals by a client cap, in their current words (Supavisor's
		// from test/integration/proxy_test.exs in supabase/supavisor): P2037.
		{name: "too many connections 53300", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("53300", "sorry, too many clients already"))
		}, want: tooMany, reasonHas: "max_connections"},
		{name: "reserved connection slots 53300", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("53300", "remaining connection slots are reserved for non-replication superuser connections"))
		}, want: tooMany},
		{name: "supavisor EMAXCONN (XX000)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("XX000", "(EMAXCONN) max client connections reached, limit: 200"))
		}, want: tooMany, reasonHas: "max client connections"},
		{name: "supavisor EMAXCONNSESSION (XX000)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("XX000", "(EMAXCONNSESSION) max clients reached in session mode - max clients are limited to pool_size: 15"))
		}, want: tooMany, reasonHas: "session mode"},
		{name: "supavisor ECHECKOUTTIMEOUT at query (XX000)", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Fatal("XX000", "(ECHECKOUTTIMEOUT) unable to check out connection from the pool after 15000ms")})
		}, want: Classification{Retryable: true, Code: CodePoolTimeout, Connection: true, NotSent: true}},
		{name: "supavisor ECHECKOUTTIMEOUT at connect, session mode (XX000)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("XX000", "(ECHECKOUTTIMEOUT) unable to check out connection from the pool after 15000ms"))
		}, want: Classification{Retryable: true, Code: CodePoolTimeout, Connection: true, NotSent: true}},
		{name: "25006 read-only transaction after a failover", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("25006", "cannot execute INSERT in a read-only transaction")})
		}, want: Classification{Retryable: true, Code: CodeUnreachable, Connection: true, RolledBack: true}, reasonHas: "read-only"},
		{name: "08004 rejected at connect", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("08004", "server rejected the connection"))
		}, want: unreachable},
		{name: "57P01 at connect", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("57P01", "terminating connection due to administrator command"))
		}, want: unreachable},
		// Pooler messages without a useful SQLSTATE.
		{name: "pgbouncer max_client_conn (08P01)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("08P01", "no more connections allowed (max_client_conn)"))
		}, want: tooMany, reasonHas: "max_client_conn"},
		{name: "pgbouncer server_login_retry (no SQLSTATE)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("", "server login has been failing, try again later (server_login_retry)"))
		}, want: unreachable},
		{name: "pgbouncer query_wait_timeout", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Fatal("08P01", "query_wait_timeout")})
		}, want: Classification{Retryable: true, Code: CodePoolTimeout, Connection: true, NotSent: true}},
		{name: "supavisor checkout timeout (XX000)", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Fatal("XX000", "Unable to check out process from the pool due to timeout")})
		}, want: Classification{Retryable: true, Code: CodePoolTimeout, Connection: true, NotSent: true}},
		{name: "supavisor max clients (XX000)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("XX000", "Max client connections reached"))
		}, want: tooMany},
		{name: "supavisor unknown tenant", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("XX000", "Tenant or user not found"))
		}, want: authFailed},
		{name: "supavisor unknown tenant, current text (XX000)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("XX000", "(ENOTFOUND) tenant/user postgres.nonexistent_tenant not found"))
		}, want: authFailed},
		{name: "supavisor auth circuit breaker (XX000)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("XX000", "(ECIRCUITBREAKER) too many authentication failures, new connections are temporarily blocked"))
		}, want: authFailed},
		{name: "pgbouncer relays a wrong password (08P01)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("08P01", "SASL authentication failed"))
		}, want: authFailed},
		{name: "pgbouncer relays password authentication failed (08P01)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("08P01", `password authentication failed for user "bot"`))
		}, want: authFailed},
		{name: "pgbouncer unknown user (08P01)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("08P01", "no such user"))
		}, want: authFailed},
		{name: "pgbouncer relays an unknown role (08P01)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("08P01", `role "ghost" does not exist`))
		}, want: authFailed},
		{name: "pgbouncer unknown database (08P01)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("08P01", "no such database: nope"))
		}, want: Classification{Code: CodeDBMissing, Connection: true, NotSent: true, NonTransient: true}},
		{name: "pgbouncer relays database does not exist (08P01)", err: func(t *testing.T) error {
			return startupErr(t, fakepg.Fatal("08P01", `database "nope" does not exist`))
		}, want: Classification{Code: CodeDBMissing, Connection: true, NotSent: true, NonTransient: true}},
		// SQLSTATEs after connecting.
		{name: "08006 during query", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Fatal("08006", "connection failure")})
		}, want: closedConn},
		{name: "57P01 during query", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Fatal("57P01", "terminating connection due to administrator command")})
		}, want: closedConn},
		{name: "57P02 during query", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Fatal("57P02", "terminating connection because of crash of another server process")})
		}, want: closedConn},
		{name: "40001 serialization failure", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("40001", "could not serialize access due to concurrent update")})
		}, want: Classification{Retryable: true, Code: CodeConflict, RolledBack: true}},
		{name: "40P01 deadlock", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("40P01", "deadlock detected")})
		}, want: Classification{Retryable: true, Code: CodeConflict, RolledBack: true}},
		{name: "42P05 prepared statement exists (pooler)", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("42P05", `prepared statement "stmtcache_1" already exists`)})
		}, want: Classification{Advice: AdviceStatementCache}, reasonHas: "use pgbouncer=true"},
		{name: "26000 prepared statement missing (pooler)", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("26000", `prepared statement "stmtcache_1" does not exist`)})
		}, want: Classification{Advice: AdviceStatementCache}, reasonHas: "use pgbouncer=true"},
		{name: "23505 unique violation", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("23505", "duplicate key value violates unique constraint")})
		}, want: Classification{}},
		{name: "42601 syntax error", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("42601", "syntax error")})
		}, want: Classification{}},
		{name: "22P02 invalid input", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Err: fakepg.Error("22P02", "invalid input syntax for type integer")})
		}, want: Classification{}},
		// Transport failures after connecting.
		{name: "server closes mid-query (unexpected EOF)", err: func(t *testing.T) error {
			return queryErr(t, context.Background(), fakepg.Reply{Close: true})
		}, want: closedConn},
		{name: "query times out (pgconn.Timeout)", err: func(t *testing.T) error {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err := queryErr(t, ctx, fakepg.Reply{Hang: true})
			if !pgconn.Timeout(err) {
				t.Errorf("expected pgconn.Timeout, got %v", err)
			}
			return err
		}, want: Classification{Retryable: true, Code: CodeOpTimeout, Connection: true}},
		{name: "use of a closed conn (ErrConnClosed, SafeToRetry)", err: func(t *testing.T) error {
			f := fakepg.Start(t, &fakepg.Server{})
			conn, err := pgx.Connect(context.Background(), fakeDSN(f))
			if err != nil {
				t.Fatal(err)
			}
			conn.Close(context.Background())
			_, err = conn.Exec(context.Background(), "select 1")
			if !pgconn.SafeToRetry(err) || !errors.Is(err, pgconn.ErrConnClosed) {
				t.Errorf("expected a SafeToRetry ErrConnClosed, got %v", err)
			}
			return err
		}, want: closedConn}, // not NotSent: pgx also says ErrConnClosed after a flushed statement
		{name: "pool acquire timeout", err: poolAcquireTimeout,
			want: Classification{Retryable: true, Code: CodePoolTimeout, Connection: true, NotSent: true}},
		// Bare net and io errors.
		{name: "net dial refused", err: func(t *testing.T) error {
			_, err := net.Dial("tcp", fakepg.ClosedAddr(t))
			return err
		}, want: unreachable},
		{name: "net read reset", err: func(t *testing.T) error {
			c, err := net.Dial("tcp", fakepg.Reset(t))
			if err != nil {
				return err // a reset can already hit the dial
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(make([]byte, 1))
			return err
		}, want: closedConn},
		{name: "net read timeout", err: func(t *testing.T) error {
			c, err := net.Dial("tcp", fakepg.Silent(t))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err = c.Read(make([]byte, 1))
			return err
		}, want: Classification{Retryable: true, Code: CodeOpTimeout, Connection: true}},
		{name: "io.EOF", err: func(*testing.T) error { return fmt.Errorf("read: %w", io.EOF) }, want: closedConn},
		{name: "io.ErrUnexpectedEOF", err: func(*testing.T) error { return io.ErrUnexpectedEOF }, want: closedConn},
		// The caller's own cancellation.
		{name: "caller cancels during query", err: func(t *testing.T) error {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return queryErr(t, ctx, fakepg.Reply{Hang: true})
		}, want: Classification{Canceled: true}},
		{name: "caller cancels during connect", err: func(t *testing.T) error {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return connectErr(t, ctx, dsnFor(fakepg.Silent(t)), nil)
		}, want: Classification{Canceled: true}},
		{name: "caller context already canceled", err: func(t *testing.T) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return connectErr(t, ctx, dsnFor(fakepg.ClosedAddr(t)), nil)
		}, want: Classification{Canceled: true}},
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range classCases() {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			got := Classify(err)
			reason := got.Reason
			got.Reason = ""
			if got != tc.want {
				t.Errorf("Classify(%v)\n got %+v\nwant %+v", err, got, tc.want)
			}
			if reason == "" {
				t.Errorf("empty reason for %v", err)
			}
			if tc.reasonHas != "" && !strings.Contains(reason, tc.reasonHas) {
				t.Errorf("reason %q lacks %q", reason, tc.reasonHas)
			}
			if strings.Contains(reason, testPassword) {
				t.Errorf("reason leaks the password: %q", reason)
			}
			if tc.want.Canceled && got.Code == CodeUnreachable {
				t.Errorf("caller cancellation reported as P1001")
			}
			// Wrapping must not change the verdict.
			wrapped := Classify(fmt.Errorf("getCustomPrompt: %w", err))
			wrapped.Reason = ""
			if wrapped != got {
				t.Errorf("wrapped verdict %+v differs from %+v", wrapped, got)
			}
			// The Executor's *Error carries the same verdict, and
			// Classify reads it back from there.
			got.Reason = reason
			e := oneAttempt(t, err)
			if e.Classification != got {
				t.Errorf("the Executor's verdict %+v differs from Classify's %+v", e.Classification, got)
			}
			checkAgrees(t, e)
		})
	}
}

// oneAttempt runs a call that fails with err through an Executor of one
// attempt, and returns its *Error.
func oneAttempt(t *testing.T, err error) *Error {
	t.Helper()
	p := DefaultPolicy()
	p.MaxAttempts, p.Budget, p.AttemptTimeout, p.Breaker.Enabled = 1, 0, 0, false
	x, xerr := New(p)
	if xerr != nil {
		t.Fatal(xerr)
	}
	_, err = x.Do(context.Background(), Op{Name: "op"}, func(context.Context) error { return err })
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %T: %v", err, err)
	}
	return e
}

// checkAgrees fails unless Classify, given the Executor's *Error (wrapped
// or not), returns the verdict the Error carries. Retryable aside: the
// Executor already spent the attempts, so Classify never asks for more.
func checkAgrees(t *testing.T, e *Error) {
	t.Helper()
	want := e.Classification
	want.Retryable = false
	for _, err := range []error{e, fmt.Errorf("getCustomPrompt: %w", e)} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v)\n got %+v\nwant %+v (the Executor's verdict)", err, got, want)
		}
	}
}

// TestEveryCodeHasAClassifyCase: every Code constant declared in
// classify.go has a case above, so the Executor/Classify agreement is
// checked for each code, including one added later.
func TestEveryCodeHasAClassifyCase(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "classify.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[Code]bool{"": false}
	for _, tc := range classCases() {
		covered[tc.want.Code] = true
	}
	var declared []Code
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, val := range v.Values {
				lit, ok := val.(*ast.BasicLit)
				if !ok {
					t.Fatalf("Code constant with a non-literal value: %v", val)
				}
				code, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				declared = append(declared, Code(code))
			}
		}
	}
	if len(declared) < 9 {
		t.Fatalf("found %d Code constants in classify.go, want at least 9: did the declaration move?", len(declared))
	}
	declared = append(declared, "") // not an availability error
	for _, c := range declared {
		if !covered[c] {
			t.Errorf("no Classify case gives code %q", c)
		}
	}
}

func TestClassifyNilAndExecutorError(t *testing.T) {
	if got := Classify(nil); got != (Classification{}) {
		t.Errorf("Classify(nil) = %+v", got)
	}
	e := &Error{Classification: unreachable, Err: io.EOF}
	e.Reason = "connection refused"
	got := Classify(fmt.Errorf("outer: %w", e))
	if got.Retryable || got.Code != CodeUnreachable || !got.Connection || !got.NotSent || got.Reason != e.Reason {
		t.Errorf("an *Error must keep its verdict and not be retried again, got %+v", got)
	}
}

// tlsDSN is dsnFor with another sslmode.
func tlsDSN(addr, mode string) string {
	return strings.Replace(dsnFor(addr), "sslmode=disable", "sslmode="+mode, 1)
}

// tlsListener answers each SSLRequest: 'N' (no TLS) when cert is nil, then
// closes; else 'S' and a TLS handshake with cert.
func tlsListener(t *testing.T, cert *tls.Certificate) string {
	t.Helper()
	return fakepg.AcceptLoop(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 8)); err != nil { // SSLRequest
			return
		}
		if cert == nil {
			c.Write([]byte{'N'})
			return
		}
		c.Write([]byte{'S'})
		tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}}).Handshake()
	})
}

// selfSigned is a certificate no system root vouches for.
func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	defer srv.Close()
	cert := srv.TLS.Certificates[0]
	return &cert
}

// TestPoolerMessagesAreWellFormed: a fragment with a capital letter never
// matches, an entry without a verdict or advice serves nobody, and one
// with advice needs a name for the doctor to show.
func TestPoolerMessagesAreWellFormed(t *testing.T) {
	for i, pm := range PoolerMessages {
		if len(pm.Fragments) == 0 || pm.Pooler == "" {
			t.Errorf("entry %d %+v: no fragment or no pooler", i, pm)
		}
		for _, f := range pm.Fragments {
			if f == "" || f != strings.ToLower(f) {
				t.Errorf("entry %d: fragment %q must be non-empty lower case", i, f)
			}
			if !pm.Matches(strings.ToUpper(f)) && len(pm.Fragments) == 1 {
				t.Errorf("entry %d does not match its own fragment %q", i, f)
			}
		}
		if pm.Class == (Classification{}) && pm.Advice == "" {
			t.Errorf("entry %d %v has neither a verdict nor advice", i, pm.Fragments)
		}
		if pm.Advice != "" && pm.Name == "" {
			t.Errorf("entry %d %v has advice but no name", i, pm.Fragments)
		}
	}
}
