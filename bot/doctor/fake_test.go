package doctor

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// server is an in-process stand-in for Postgres or a pooler, enough for the
// doctor's connections: SSLRequest ('N'), a scripted startup (login or
// error), and simple queries answered by a script.
type server struct {
	ln net.Listener
	// login returns the startup's error, nil to let the client in.
	login func() *pgproto3.ErrorResponse
	// pid is the cancel key's process id sent at login.
	pid uint32
	// answer scripts a simple query; nil rows with no error is "SELECT 0".
	answer func(sql string) result
	// perConn, when set, makes each connection's own answer script (its
	// own session state), as Postgres or a session-mode pooler keeps it.
	perConn func() func(sql string) result
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

// result is one query's answer: each row's text values, their type OIDs.
type result struct {
	oids  []uint32
	rows  [][]string
	err   *pgproto3.ErrorResponse
	delay time.Duration
	tag   string
}

const (
	oidInt4 = 23
	oidText = 25
	oidBool = 16
)

func fatal(code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg}
}

func newServer(t *testing.T, login func() *pgproto3.ErrorResponse, answer func(string) result) *server {
	t.Helper()
	return start(t, &server{login: login, answer: answer})
}

// newSessionServer gives each connection its own script from perConn.
func newSessionServer(t *testing.T, perConn func() func(string) result) *server {
	t.Helper()
	return start(t, &server{perConn: perConn})
}

func start(t *testing.T, s *server) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.pid = ln, 4242
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *server) port() string {
	_, p, _ := net.SplitHostPort(s.ln.Addr().String())
	return p
}

func (s *server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.serve(c)
		}()
	}
}

func (s *server) serve(c net.Conn) {
	be := pgproto3.NewBackend(c, c)
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		if _, ok := msg.(*pgproto3.SSLRequest); ok {
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		if _, ok := msg.(*pgproto3.StartupMessage); !ok {
			return
		}
		break
	}
	if s.login != nil {
		if e := s.login(); e != nil {
			be.Send(e)
			_ = be.Flush()
			return
		}
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "15.8"})
	be.Send(&pgproto3.ParameterStatus{Name: "standard_conforming_strings", Value: "on"})
	be.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: s.pid, SecretKey: []byte{1, 2, 3, 4}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	answer := s.answer
	if s.perConn != nil {
		answer = s.perConn()
	}
	tx := byte('I')
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		q, ok := msg.(*pgproto3.Query)
		if !ok {
			return // Terminate, or a protocol the doctor does not use
		}
		sql := strings.TrimSpace(q.String)
		var r result
		switch upper := strings.ToUpper(sql); {
		case strings.HasPrefix(upper, "BEGIN"):
			r, tx = result{tag: "BEGIN"}, 'T'
		case strings.HasPrefix(upper, "ROLLBACK"), strings.HasPrefix(upper, "COMMIT"):
			r, tx = result{tag: "ROLLBACK"}, 'I'
		default:
			if answer != nil {
				r = answer(sql)
			}
		}
		time.Sleep(r.delay)
		switch {
		case r.err != nil:
			be.Send(r.err)
		default:
			if r.tag == "" {
				fields := make([]pgproto3.FieldDescription, len(r.oids))
				for i, oid := range r.oids {
					fields[i] = pgproto3.FieldDescription{Name: []byte("c"), DataTypeOID: oid, DataTypeSize: -1, TypeModifier: -1}
				}
				be.Send(&pgproto3.RowDescription{Fields: fields})
				for _, row := range r.rows {
					vals := make([][]byte, len(row))
					for i, v := range row {
						vals[i] = []byte(v)
					}
					be.Send(&pgproto3.DataRow{Values: vals})
				}
				r.tag = "SELECT " + strconv.Itoa(len(r.rows))
			}
			be.Send(&pgproto3.CommandComplete{CommandTag: []byte(r.tag)})
		}
		be.Send(&pgproto3.ReadyForQuery{TxStatus: tx})
		if be.Flush() != nil {
			return
		}
	}
}

// postgres answers the doctor's queries as Postgres itself would: the
// backend pid is the cancel key's, a session SET survives.
func postgresAnswers(pid int, used, maxConns int) func(string) result {
	var mu sync.Mutex
	marker := ""
	return func(sql string) result {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(sql, "SET p1001.doctor_marker = "):
			marker = strings.Trim(strings.TrimPrefix(sql, "SET p1001.doctor_marker = "), "'")
			return result{tag: "SET"}
		case strings.Contains(sql, "pg_backend_pid"):
			return result{oids: []uint32{oidInt4, oidInt4}, rows: [][]string{{itoa(pid), "5432"}}}
		case strings.Contains(sql, "current_setting('p1001.doctor_marker'"):
			return result{oids: []uint32{oidText}, rows: [][]string{{marker}}}
		case strings.Contains(sql, "pg_stat_activity"):
			return result{oids: []uint32{oidInt4, oidInt4, oidInt4, oidBool, oidInt4, oidInt4},
				rows: [][]string{{itoa(used), itoa(maxConns), "3", "f", "-1", "1"}}}
		case sql == "SELECT 1":
			return result{oids: []uint32{oidInt4}, rows: [][]string{{"1"}}}
		}
		return result{err: &pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601", Message: "fake: unexpected " + sql}}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
