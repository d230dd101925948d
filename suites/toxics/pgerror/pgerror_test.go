package pgerror_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/toxics/pgerror"
)

// The tests run Toxiproxy's own server in process, with the toxic
// registered as suites/cmd/toxiproxy registers it, in front of a small
// Postgres server (pgproto3), and connect with pgx through it.

func TestMain(m *testing.M) {
	toxics.Register(pgerror.Type, new(pgerror.Toxic))
	m.Run()
}

// TestRefusals: every refusal of the catalog reaches pgx as the
// *pgconn.PgError it names, with and without an SSLRequest first.
func TestRefusals(t *testing.T) {
	st := start(t)
	for _, rf := range scenarios.Refusals() {
		for _, sslmode := range []string{"disable", "prefer"} {
			t.Run(rf.Name+"/sslmode="+sslmode, func(t *testing.T) {
				st.addToxic(t, rf.Name, map[string]any{"severity": rf.Severity, "code": rf.Code, "message": rf.Message})
				_, err := st.connect(t, sslmode)
				assertPgError(t, err, rf.Severity, rf.Code, rf.Message)
			})
		}
	}
}

// TestSSLRequestThenStartup: libpq (psql, most drivers) goes on with the
// startup on the same connection after the server's 'N' to its
// SSLRequest; pgx opens a new one, so TestRefusals alone would not show
// that the 'N' passes.
func TestSSLRequestThenStartup(t *testing.T) {
	st := start(t)
	st.addToxic(t, "refuse", map[string]any{"severity": "FATAL", "code": "XX000", "message": "(EMAXCONN) max client connections reached, limit: 200"})
	conn, err := net.DialTimeout("tcp", st.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.SSLRequest{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	answer := make([]byte, 1)
	if _, err := io.ReadFull(conn, answer); err != nil || answer[0] != 'N' {
		t.Fatalf("answer to the SSLRequest: %q, %v; want the server's N passed on", answer, err)
	}
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "bot", "database": "p1001"}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	msg, err := fe.Receive()
	if err != nil {
		t.Fatalf("answer to the startup: %v", err)
	}
	e, ok := msg.(*pgproto3.ErrorResponse)
	if !ok || e.Severity != "FATAL" || e.Code != "XX000" || e.Message != "(EMAXCONN) max client connections reached, limit: 200" {
		t.Fatalf("answer to the startup: %#v, want the refusal", msg)
	}
	if msg, err := fe.Receive(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("after the refusal: %#v, %v; want the connection closed", msg, err)
	}
}

// TestDefaults: severity and code left out are Supavisor's FATAL XX000.
func TestDefaults(t *testing.T) {
	st := start(t)
	st.addToxic(t, "bare", map[string]any{"message": "(EX) refused"})
	_, err := st.connect(t, "disable")
	assertPgError(t, err, "FATAL", "XX000", "(EX) refused")
}

// TestOpenSessionIsClosed: a connection already in session when the toxic
// is added gets no answer to its next statement and is closed (no
// refusal: the statement reached the server); a new one is refused.
func TestOpenSessionIsClosed(t *testing.T) {
	st := start(t)
	conn, err := st.connect(t, "disable")
	if err != nil {
		t.Fatalf("connect before the toxic: %v", err)
	}
	if err := conn.Ping(t.Context()); err != nil {
		t.Fatalf("ping before the toxic: %v", err)
	}
	st.addToxic(t, "refuse", map[string]any{"message": "(EMAXCONN) max client connections reached, limit: 200"})
	err = conn.Ping(t.Context())
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		t.Fatal("ping in session succeeded with the toxic in place, want the connection closed")
	case errors.As(err, &pgErr):
		t.Fatalf("ping in session got %v, want the connection closed without a server error", pgErr)
	case !conn.IsClosed():
		t.Fatalf("ping in session failed (%v) but the connection is still open", err)
	}
	_, err = st.connect(t, "disable")
	assertPgError(t, err, "FATAL", "XX000", "(EMAXCONN) max client connections reached, limit: 200")
}

// TestRemoved: once the toxic is removed, connections go through again.
func TestRemoved(t *testing.T) {
	st := start(t)
	st.addToxic(t, "refuse", map[string]any{"message": "(ECIRCUITBREAKER) too many authentication failures"})
	if _, err := st.connect(t, "prefer"); err == nil {
		t.Fatal("connect with the toxic in place succeeded")
	}
	if err := st.proxy.RemoveToxic("refuse"); err != nil {
		t.Fatalf("remove toxic: %v", err)
	}
	conn, err := st.connect(t, "prefer")
	if err != nil {
		t.Fatalf("connect after removing the toxic: %v", err)
	}
	if err := conn.Ping(t.Context()); err != nil {
		t.Fatalf("ping after removing the toxic: %v", err)
	}
}

// TestDelay: the refusal comes after delay ms, not before.
func TestDelay(t *testing.T) {
	st := start(t)
	const delay = 300 * time.Millisecond
	st.addToxic(t, "slow", map[string]any{"message": "(ENOTFOUND) tenant/user x.y not found", "delay": delay.Milliseconds()})
	begin := time.Now()
	_, err := st.connect(t, "disable")
	took := time.Since(begin)
	assertPgError(t, err, "FATAL", "XX000", "(ENOTFOUND) tenant/user x.y not found")
	if took < delay {
		t.Errorf("refused after %s, want at least the delay %s", took, delay)
	}
}

// TestRemovedDuringDelay: a refusal held back when the toxic is removed
// is never sent; the server's own answer goes through.
func TestRemovedDuringDelay(t *testing.T) {
	st := start(t)
	st.addToxic(t, "held", map[string]any{"message": "(EMAXCONN) max client connections reached, limit: 200", "delay": 10_000})
	type result struct {
		conn *pgx.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		host, port, _ := net.SplitHostPort(st.addr)
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://bot@%s:%s/p1001?sslmode=disable", host, port))
		done <- result{conn, err}
	}()
	// Once the server has answered the startup, the toxic holds the
	// answer (for 10s): remove it then.
	select {
	case <-st.answered:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never answered the startup")
	}
	select {
	case r := <-done:
		t.Fatalf("connect returned while the refusal was held back: %v", r.err)
	default:
	}
	if err := st.proxy.RemoveToxic("held"); err != nil {
		t.Fatalf("remove toxic: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("connect after the toxic was removed mid-delay: %v", r.err)
	}
	defer r.conn.Close(context.Background())
	if err := r.conn.Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func assertPgError(t *testing.T, err error, severity, code, message string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("connect: got %v, want a *pgconn.PgError %s %s %q", err, severity, code, message)
	}
	if pgErr.Severity != severity || pgErr.Code != code || pgErr.Message != message {
		t.Errorf("PgError: got %s %s %q, want %s %s %q", pgErr.Severity, pgErr.Code, pgErr.Message, severity, code, message)
	}
}

// stack is one in-process Toxiproxy with a proxy "pg" in front of a fake
// Postgres server.
type stack struct {
	proxy    *toxiclient.Proxy
	addr     string        // the proxy's listen address
	answered chan struct{} // a startup answered by the server
}

func start(t *testing.T) *stack {
	t.Helper()
	answered := make(chan struct{}, 64)
	backend := fakePostgres(t, answered)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	api := httptest.NewServer(srv.Routes())
	t.Cleanup(api.Close)
	t.Cleanup(func() { _ = srv.Collection.Clear() })
	proxy, err := toxiclient.NewClient(api.URL).CreateProxy("pg", "127.0.0.1:0", backend)
	if err != nil {
		t.Fatalf("create proxy: %v", err)
	}
	return &stack{proxy: proxy, addr: proxy.Listen, answered: answered}
}

func (st *stack) addToxic(t *testing.T, name string, attrs map[string]any) {
	t.Helper()
	if _, err := st.proxy.AddToxic(name, pgerror.Type, "downstream", 1, attrs); err != nil {
		t.Fatalf("add toxic: %v", err)
	}
	t.Cleanup(func() { _ = st.proxy.RemoveToxic(name) })
}

func (st *stack) connect(t *testing.T, sslmode string) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	host, port, _ := net.SplitHostPort(st.addr)
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://bot@%s:%s/p1001?sslmode=%s", host, port, sslmode))
	if err == nil {
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
	}
	return conn, err
}

// fakePostgres serves the startup (declining SSL, trusting every login)
// and answers every simple query with an empty result, enough for pgx's
// Connect and Ping; it signals each startup it answered on answered. It
// returns its address.
func fakePostgres(t *testing.T, answered chan<- struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				// The toxic hangs up on the client, and Toxiproxy then on
				// this server, often mid-message: only other errors count.
				if err := serve(c, answered); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
					t.Errorf("fake postgres: %v", err)
				}
			})
		}
	})
	return ln.Addr().String()
}

func serve(c net.Conn, answered chan<- struct{}) error {
	be := pgproto3.NewBackend(c, c)
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return err
		}
		switch msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return err
			}
			continue
		case *pgproto3.StartupMessage:
		case *pgproto3.CancelRequest:
			return nil // pgx cancels a query whose connection broke: nothing to cancel here
		default:
			return fmt.Errorf("unexpected startup message %T", msg)
		}
		break
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := be.Flush(); err != nil {
		return err
	}
	select {
	case answered <- struct{}{}:
	default: // nobody waits for it
	}
	for {
		msg, err := be.Receive()
		if err != nil {
			return err
		}
		switch msg.(type) {
		case *pgproto3.Query:
			be.Send(&pgproto3.EmptyQueryResponse{})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if err := be.Flush(); err != nil {
				return err
			}
		case *pgproto3.Terminate:
			return nil
		default:
			return fmt.Errorf("unexpected message %T", msg)
		}
	}
}
