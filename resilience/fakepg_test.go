package resilience

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// fakePG is an in-process server on 127.0.0.1 speaking just enough of the
// PostgreSQL protocol for pgx in simple-protocol mode: the startup exchange
// (or a scripted startup error) and simple queries with scripted replies.
// It lets tests get real pgx errors without a database.
type fakePG struct {
	t        testing.TB
	ln       net.Listener
	startup  func() *pgproto3.ErrorResponse // nil reply = accept the login
	query    func(sql string) reply
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
	queries  atomic.Int64
	sessions atomic.Int64
}

// reply is the scripted answer to one simple query.
type reply struct {
	rows  []string // one text column
	tag   string   // CommandComplete tag; defaults to "SELECT n"
	err   *pgproto3.ErrorResponse
	hang  bool // never answer; the client must give up
	close bool // drop the connection instead of answering
}

func pgErr(code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg}
}

func fatalErr(code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg}
}

func newFakePG(t testing.TB, startup func() *pgproto3.ErrorResponse, query func(sql string) reply) *fakePG {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePG{t: t, ln: ln, startup: startup, query: query}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *fakePG) addr() string { return f.ln.Addr().String() }

// dsn carries a password so tests can check it never leaks.
func (f *fakePG) dsn() string {
	return fmt.Sprintf("postgres://app:%s@%s/appdb?sslmode=disable&default_query_exec_mode=simple_protocol&connect_timeout=5", testPassword, f.addr())
}

const testPassword = "s3cr3t-Pa55word"

func (f *fakePG) close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakePG) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			f.session(c)
		}()
	}
}

func (f *fakePG) session(c net.Conn) {
	be := pgproto3.NewBackend(c, c)
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		return
	}
	switch msg.(type) {
	case *pgproto3.CancelRequest:
		return // pgx cancels a query on a fresh connection; nothing to do
	case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
		return // tests use sslmode=disable
	}
	f.sessions.Add(1)
	if f.startup != nil {
		if e := f.startup(); e != nil {
			be.Send(e)
			be.Flush()
			return
		}
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for _, kv := range [][2]string{{"server_version", "17.0"}, {"client_encoding", "UTF8"}, {"standard_conforming_strings", "on"}, {"DateStyle", "ISO, MDY"}} {
		be.Send(&pgproto3.ParameterStatus{Name: kv[0], Value: kv[1]})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	tx := byte('I')
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		var sql string
		switch m := msg.(type) {
		case *pgproto3.Query:
			sql = m.String
		case *pgproto3.Terminate:
			return
		default:
			f.t.Errorf("fakePG: unexpected message %T (tests use simple protocol)", msg)
			return
		}
		f.queries.Add(1)
		lower := strings.ToLower(strings.TrimSpace(sql))
		var r reply
		switch {
		case strings.HasPrefix(lower, "begin"):
			r, tx = reply{tag: "BEGIN"}, 'T'
		case strings.HasPrefix(lower, "commit"):
			r = reply{tag: "COMMIT"}
			if tx == 'E' {
				r.tag = "ROLLBACK"
			}
			tx = 'I'
		case strings.HasPrefix(lower, "rollback"):
			r, tx = reply{tag: "ROLLBACK"}, 'I'
		case strings.HasPrefix(lower, "--") || lower == "" || lower == ";":
			be.Send(&pgproto3.EmptyQueryResponse{})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: tx})
			if be.Flush() != nil {
				return
			}
			continue
		default:
			if f.query != nil {
				r = f.query(sql)
			}
		}
		switch {
		case r.hang:
			_, _ = io.Copy(io.Discard, c) // until the client or cleanup closes it
			return
		case r.close:
			return
		case r.err != nil:
			if tx == 'T' {
				tx = 'E'
			}
			be.Send(r.err)
		default:
			if r.tag == "" || r.rows != nil {
				be.Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("v"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}})
				for _, row := range r.rows {
					be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte(row)}})
				}
			}
			tag := r.tag
			if tag == "" {
				tag = fmt.Sprintf("SELECT %d", len(r.rows))
			}
			be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
		}
		be.Send(&pgproto3.ReadyForQuery{TxStatus: tx})
		if err := be.Flush(); err != nil && !errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// resetListener accepts and immediately resets every connection (SO_LINGER 0).
func resetListener(t *testing.T) string {
	t.Helper()
	return acceptLoop(t, func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
}

// closeListener accepts every connection, reads the client's first
// message and closes cleanly (FIN). Closing with that message still unread
// would make the kernel send a reset instead, whenever it has arrived.
func closeListener(t *testing.T) string {
	t.Helper()
	return acceptLoop(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = c.Read(make([]byte, 1024))
		c.Close()
	})
}

// silentListener completes TCP handshakes (the kernel does) but never answers.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func acceptLoop(t *testing.T, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}
