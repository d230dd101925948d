package resilience

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/p1001/p1001/internal/fakepg"
)

// The healthy-path overhead of the wrapper: the same fn bare, bare with the
// attempt's deadline, and through Do with the default policy (budget,
// attempt deadline, breaker on).

func trivial(context.Context) error { return nil }

func BenchmarkDo_Bare(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := trivial(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// The floor of the wrapped call: what the attempt's deadline alone costs
// (a context and its timer), which any caller with a timeout pays.
func BenchmarkDo_BareWithDeadline(b *testing.B) {
	timeout := DefaultPolicy().AttemptTimeout
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := trivial(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDo_Wrapped(b *testing.B) {
	x, err := New(DefaultPolicy())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	op := Op{Name: "bench"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Do(ctx, op, trivial); err != nil {
			b.Fatal(err)
		}
	}
}

// A real simple-protocol query over loopback to the in-process fake server,
// through the tracer the bot installs (QueryDeadlines).
func benchConn(b *testing.B) *pgx.Conn {
	f := fakepg.Start(b, &fakepg.Server{Answer: func(string) fakepg.Reply { return fakepg.Text("be nice") }})
	cc, err := pgx.ParseConfig(fakeDSN(f))
	if err != nil {
		b.Fatal(err)
	}
	// As the bot's pool: every variant's query passes through the tracer.
	InstallQueryDeadlines(cc)
	conn, err := pgx.ConnectConfig(context.Background(), cc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func selectPrompt(conn *pgx.Conn) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		var s string
		err := conn.QueryRow(ctx, "select v from prompts").Scan(&s)
		return s, err
	}
}

func BenchmarkQuery_Bare(b *testing.B) {
	q := selectPrompt(benchConn(b))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := q(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQuery_Wrapped(b *testing.B) {
	q := selectPrompt(benchConn(b))
	x, err := New(DefaultPolicy())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	op := Op{Name: "getCustomPrompt"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Query(ctx, x, op, q); err != nil {
			b.Fatal(err)
		}
	}
}

// Bare, but with the per-attempt deadline the wrapper adds: pgx watches any
// cancellable context, so this isolates the wrapper's own cost on a query.
func BenchmarkQuery_BareWithDeadline(b *testing.B) {
	q := selectPrompt(benchConn(b))
	timeout := DefaultPolicy().AttemptTimeout
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err := q(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}
