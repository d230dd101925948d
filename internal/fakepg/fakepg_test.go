package fakepg_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/p1001/p1001/internal/fakepg"
)

func connect(t *testing.T, s *fakepg.Server) (*pgx.Conn, error) {
	t.Helper()
	return pgx.Connect(context.Background(),
		"postgres://app:pw@"+s.Addr()+"/db?sslmode=disable&default_query_exec_mode=simple_protocol&connect_timeout=5")
}

// TestServerSpeaksToPgx: a login, a scripted result, a transaction with a
// failed statement, a refused login, and the counters.
func TestServerSpeaksToPgx(t *testing.T) {
	s := fakepg.Start(t, &fakepg.Server{Answer: func(sql string) fakepg.Reply {
		switch sql {
		case "select name":
			return fakepg.Text("a", "b")
		case "select n":
			return fakepg.Reply{Columns: []uint32{fakepg.OIDInt4}, Rows: [][]string{{"7"}}}
		}
		return fakepg.Reply{Err: fakepg.Error("40001", "could not serialize")}
	}})
	conn, err := connect(t, s)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ctx := context.Background()
	rows, err := conn.Query(ctx, "select name")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) != 2 || names[1] != "b" {
		t.Errorf("text rows = %v, %v", names, err)
	}
	var n int32
	if err := conn.QueryRow(ctx, "select n").Scan(&n); err != nil || n != 7 {
		t.Errorf("int4 = %d, %v", n, err)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "update t")
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "40001" {
		t.Errorf("transaction = %v, want 40001", err)
	}
	if err := conn.Ping(ctx); err != nil {
		t.Errorf("ping after the rollback: %v", err)
	}
	if s.Sessions.Load() != 1 || s.Queries.Load() < 5 {
		t.Errorf("sessions %d, queries %d", s.Sessions.Load(), s.Queries.Load())
	}

	refusing := fakepg.Start(t, &fakepg.Server{Login: func() *pgproto3.ErrorResponse { return fakepg.Fatal("28P01", "password authentication failed") }})
	if _, err := connect(t, refusing); !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Errorf("refused login = %v, want 28P01", err)
	}
}

// TestSessionsKeepTheirOwnScript: each connection gets its own Answer.
func TestSessionsKeepTheirOwnScript(t *testing.T) {
	s := fakepg.Start(t, &fakepg.Server{Session: func() func(string) fakepg.Reply {
		calls := 0
		return func(string) fakepg.Reply { calls++; return fakepg.Text(string(rune('0' + calls))) }
	}})
	for range 2 {
		conn, err := connect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := conn.QueryRow(context.Background(), "select calls").Scan(&got); err != nil || got != "1" {
			t.Errorf("a new session's first answer = %q, %v; want 1", got, err)
		}
		conn.Close(context.Background())
	}
}

// TestListenersFailAsNetworksDo: refused, reset, closed and silent.
func TestListenersFailAsNetworksDo(t *testing.T) {
	if _, err := net.Dial("tcp", fakepg.ClosedAddr(t)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed address: %v, want refused", err)
	}
	read := func(addr string, hello bool) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if hello {
			c.Write([]byte("hello"))
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	if err := read(fakepg.Reset(t), false); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset: %v", err)
	}
	if err := read(fakepg.ResetAfterHello(t), true); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset after hello: %v", err)
	}
	if err := read(fakepg.CloseAfterHello(t), true); !errors.Is(err, io.EOF) {
		t.Errorf("close after hello: %v, want EOF", err)
	}
	c, err := net.Dial("tcp", fakepg.Silent(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("silent: %v, want a timeout", err)
	}
}
