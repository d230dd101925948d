// Package fakepg is a test helper: in-process servers on 127.0.0.1 that
// speak just enough of the PostgreSQL wire protocol (pgproto3, from pgx) for
// pgx in simple-protocol mode, and listeners that fail the way networks do.
// They let tests get real pgx errors, and drive the bot and the doctor,
// without a database.
//
// A Server answers the startup (a scripted login error, or the login and
// its parameters), BEGIN, COMMIT, ROLLBACK and empty queries as Postgres
// does, and every other simple query from a script. Everything it starts
// ends with the test: the listener, each connection and each goroutine.
package fakepg

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Type OIDs for Reply.Columns.
const (
	OIDBool uint32 = 16
	OIDInt4 uint32 = 23
	OIDText uint32 = 25
)

// Reply is the scripted answer to one simple query.
type Reply struct {
	// Columns are the result's type OIDs; nil is one text column.
	Columns []uint32
	// Rows are the text values of each row.
	Rows [][]string
	// Tag is the CommandComplete tag; "" is "SELECT <rows>". A reply with a
	// tag and no rows has no row description ("SET", "INSERT 0 1").
	Tag string
	// Err is sent instead of a result.
	Err *pgproto3.ErrorResponse
	// Delay holds the answer back (a slow server); the test's end cuts it.
	Delay time.Duration
	// Hang never answers: the client must give up.
	Hang bool
	// Close drops the connection instead of answering.
	Close bool
}

// Text is a result of one text column, a row per value.
func Text(values ...string) Reply {
	r := Reply{Rows: make([][]string, len(values))}
	for i, v := range values {
		r.Rows[i] = []string{v}
	}
	return r
}

// Error is an ERROR response with SQLSTATE code.
func Error(code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg}
}

// Fatal is a FATAL response with SQLSTATE code, as a refused login gets.
func Fatal(code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg}
}

// Server is a fake Postgres (or pooler). Set the script fields, then Start.
type Server struct {
	// Login answers each startup: a nil result (or a nil Login) lets the
	// client in; an error response refuses it.
	Login func() *pgproto3.ErrorResponse
	// Answer scripts the queries; nil answers every one with no rows.
	Answer func(sql string) Reply
	// Session, when set, gives each connection its own Answer, so that
	// session state (a SET) lives per connection, as on Postgres.
	Session func() func(sql string) Reply
	// PID is the backend pid of the cancel key; 0 is 4242.
	PID uint32
	// Version is the server_version parameter; "" is "17.0".
	Version string

	// Stall, once set, leaves every later message of an open connection
	// unanswered (a black hole on connections already in): the client
	// must give up. A Terminate still closes the connection, so that the
	// client's close does not wait for its own timeout.
	Stall atomic.Bool

	// Sessions counts the startups received (login attempts).
	Sessions atomic.Int64
	// Queries counts the simple queries received.
	Queries atomic.Int64

	t     testing.TB
	ln    net.Listener
	conns tracker
}

// Start serves s on a loopback port until the test ends.
func Start(t testing.TB, s *Server) *Server {
	t.Helper()
	s.t = t
	if s.PID == 0 {
		s.PID = 4242
	}
	if s.Version == "" {
		s.Version = "17.0"
	}
	s.ln = s.conns.listen(t, s.serve)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the server's port.
func (s *Server) Port() string {
	_, p, _ := net.SplitHostPort(s.Addr())
	return p
}

func (s *Server) serve(c net.Conn) {
	be := pgproto3.NewBackend(c, c)
	if !s.startup(c, be) {
		return
	}
	answer := s.Answer
	if s.Session != nil {
		answer = s.Session()
	}
	tx := byte('I')
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		if s.Stall.Load() {
			if _, ok := msg.(*pgproto3.Terminate); ok {
				return
			}
			continue
		}
		var sql string
		switch m := msg.(type) {
		case *pgproto3.Query:
			sql = strings.TrimSpace(m.String)
		case *pgproto3.Terminate:
			return
		default:
			s.t.Errorf("fakepg: unexpected message %T (only the simple protocol is spoken)", msg)
			return
		}
		s.Queries.Add(1)
		var r Reply
		switch lower := strings.ToLower(sql); {
		case strings.HasPrefix(lower, "begin"):
			r, tx = Reply{Tag: "BEGIN"}, 'T'
		case strings.HasPrefix(lower, "commit"):
			r = Reply{Tag: "COMMIT"}
			if tx == 'E' {
				r.Tag = "ROLLBACK"
			}
			tx = 'I'
		case strings.HasPrefix(lower, "rollback"):
			r, tx = Reply{Tag: "ROLLBACK"}, 'I'
		case strings.HasPrefix(lower, "--") || lower == "" || lower == ";":
			be.Send(&pgproto3.EmptyQueryResponse{})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: tx})
			if be.Flush() != nil {
				return
			}
			continue
		default:
			if answer != nil {
				r = answer(sql)
			}
		}
		if r.Delay > 0 && !s.conns.wait(r.Delay) {
			return
		}
		switch {
		case r.Hang:
			_, _ = io.Copy(io.Discard, c) // until the client or the test's end closes it
			return
		case r.Close:
			return
		case r.Err != nil:
			if tx == 'T' {
				tx = 'E'
			}
			be.Send(r.Err)
		default:
			sendResult(be, r)
		}
		be.Send(&pgproto3.ReadyForQuery{TxStatus: tx})
		if err := be.Flush(); err != nil && !errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// startup answers SSL and GSS requests with 'N' (no encryption), then the
// startup message with the scripted refusal or a login. It reports whether
// the client is in.
func (s *Server) startup(c net.Conn, be *pgproto3.Backend) bool {
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return false
		}
		switch msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return false
			}
			continue
		case *pgproto3.StartupMessage:
		default:
			return false // a CancelRequest: pgx cancels a query on a fresh connection; nothing to do
		}
		break
	}
	s.Sessions.Add(1)
	if s.Login != nil {
		if e := s.Login(); e != nil {
			be.Send(e)
			_ = be.Flush()
			return false
		}
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for _, kv := range [][2]string{{"server_version", s.Version}, {"client_encoding", "UTF8"},
		{"standard_conforming_strings", "on"}, {"DateStyle", "ISO, MDY"}} {
		be.Send(&pgproto3.ParameterStatus{Name: kv[0], Value: kv[1]})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: s.PID, SecretKey: []byte{1, 2, 3, 4}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return be.Flush() == nil
}

func sendResult(be *pgproto3.Backend, r Reply) {
	if r.Tag == "" || r.Rows != nil {
		cols := r.Columns
		if cols == nil {
			cols = []uint32{OIDText}
		}
		fields := make([]pgproto3.FieldDescription, len(cols))
		for i, oid := range cols {
			fields[i] = pgproto3.FieldDescription{Name: []byte("c" + strconv.Itoa(i+1)), DataTypeOID: oid, DataTypeSize: -1, TypeModifier: -1}
		}
		be.Send(&pgproto3.RowDescription{Fields: fields})
		for _, row := range r.Rows {
			vals := make([][]byte, len(row))
			for i, v := range row {
				vals[i] = []byte(v)
			}
			be.Send(&pgproto3.DataRow{Values: vals})
		}
	}
	tag := r.Tag
	if tag == "" {
		tag = "SELECT " + strconv.Itoa(len(r.Rows))
	}
	be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
}

// ClosedAddr is a loopback host:port where nothing listens.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Silent is a listener that completes TCP handshakes (the kernel does) and
// never answers: a black hole after connecting.
func Silent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// Reset is a listener that resets every connection (SO_LINGER 0) as soon
// as it is accepted.
func Reset(t testing.TB) string {
	t.Helper()
	return AcceptLoop(t, resetConn)
}

// ResetAfterHello is a listener that reads the client's first message, then
// resets the connection: the client meets the reset reading its answer.
func ResetAfterHello(t testing.TB) string {
	t.Helper()
	return AcceptLoop(t, func(c net.Conn) {
		readHello(c)
		resetConn(c)
	})
}

// CloseAfterHello is a listener that reads the client's first message,
// then closes cleanly (FIN). Closing with that message still unread would
// make the kernel send a reset instead, whenever it has arrived.
func CloseAfterHello(t testing.TB) string {
	t.Helper()
	return AcceptLoop(t, func(c net.Conn) {
		readHello(c)
		c.Close()
	})
}

func readHello(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = c.Read(make([]byte, 1024))
}

func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// AcceptLoop serves each connection to a loopback listener with handle, on
// its own goroutine, until the test ends; it returns the host:port. At the
// end the listener and every connection still open are closed, and the
// handlers waited for.
func AcceptLoop(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	var tr tracker
	return tr.listen(t, handle).Addr().String()
}

// tracker owns a listener's connections and goroutines.
type tracker struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool          // the test has ended
	done   chan struct{} // closed at the test's end
}

// listen accepts on a loopback port, serving each connection with handle
// (which need not close it), until the test ends.
func (tr *tracker) listen(t testing.TB, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr.done = make(chan struct{})
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.mu.Lock()
			if tr.closed { // accepted just as the test ended
				tr.mu.Unlock()
				c.Close()
				return
			}
			tr.conns = append(tr.conns, c)
			tr.wg.Add(1)
			tr.mu.Unlock()
			go func() {
				defer tr.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		close(tr.done)
		ln.Close()
		tr.mu.Lock()
		tr.closed = true
		for _, c := range tr.conns {
			c.Close()
		}
		tr.mu.Unlock()
		tr.wg.Wait()
	})
	return ln
}

// wait sleeps for d, or until the test ends; it reports whether d passed.
func (tr *tracker) wait(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-tr.done:
		return false
	}
}
