package store

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/internal/fakepg"
	"github.com/p1001/p1001/resilience"
)

// poolAt is a lazy pool on url (nothing is dialled yet), closed after t.
func poolAt(t *testing.T, url string) (*dburl.Config, *pgxpool.Pool) {
	t.Helper()
	cfg, err := dburl.Parse("DATABASE_URL", url)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg.Pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return cfg, pool
}

func fastPolicy() resilience.Policy {
	p := resilience.DefaultPolicy()
	p.BaseDelay, p.MaxDelay = time.Millisecond, 5*time.Millisecond
	p.AttemptTimeout, p.Budget = time.Second, 5*time.Second
	p.Breaker.Enabled = false
	return p
}

// TestUnreachableDatabase runs every operation against a loopback port with
// nothing behind it: each must give up with P1001 after the policy's
// attempts, naming the address and never the password.
func TestUnreachableDatabase(t *testing.T) {
	addr := fakepg.ClosedAddr(t)
	cfg, pool := poolAt(t, "postgresql://bot:hunter2secret@"+addr+"/p1001?pgbouncer=true&connect_timeout=1")
	x, err := resilience.New(fastPolicy(), resilience.WithTarget(cfg.Target()))
	if err != nil {
		t.Fatal(err)
	}
	s := New(pool, x, cfg)
	ctx := context.Background()
	ops := []struct {
		name string
		run  func() (int, error)
	}{
		{OpGetPrompt, func() (int, error) { _, res, err := s.GetPrompt(ctx, "c1"); return res.Attempts, err }},
		{OpSetPrompt, func() (int, error) { res, err := s.SetPrompt(ctx, "c1", "p"); return res.Attempts, err }},
		{OpResetPrompt, func() (int, error) { res, err := s.ResetPrompt(ctx, "c1"); return res.Attempts, err }},
		{OpLogMessages, func() (int, error) {
			return 3, s.WriteLog(ctx, []msglog.Record{{Key: "k", ChatID: "c1", Direction: msglog.Inbound, Text: "t", At: time.Now()}})
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			attempts, err := op.run()
			var re *resilience.Error
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *resilience.Error", err)
			}
			if re.Code != resilience.CodeUnreachable || re.Op != op.name || attempts != 3 || re.Attempts != 3 {
				t.Errorf("code %s op %s attempts %d/%d, want P1001 %s 3", re.Code, re.Op, attempts, re.Attempts, op.name)
			}
			host, port, _ := strings.Cut(addr, ":")
			want := "P1001: Can't reach database server at `" + host + "`:`" + port + "`"
			if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "hunter2secret") {
				t.Errorf("error %q: want prefix %q and no password", err, want)
			}
			if !re.NotSent || !re.Connection {
				t.Errorf("verdict %+v: a refused connection must count as never sent, and as a connection failure", re.Classification)
			}
		})
	}
}

func TestQueriesAreSchemaQualifiedAndParameterized(t *testing.T) {
	tests := []struct {
		url       string
		wantTable string
	}{
		{"postgresql://u:p@h/d", `"chat_prompts"`},
		{"postgresql://u:p@h/d?schema=tenant_1", `"tenant_1"."chat_prompts"`},
	}
	for _, tt := range tests {
		cfg, err := dburl.Parse("DATABASE_URL", tt.url)
		if err != nil {
			t.Fatal(err)
		}
		s := New(nil, nil, cfg)
		for _, q := range []string{s.sqlGet, s.sqlSet, s.sqlReset} {
			if !strings.Contains(q, tt.wantTable) || !strings.Contains(q, "$1") {
				t.Errorf("query %q: want table %s and $1 parameters", q, tt.wantTable)
			}
		}
		if !strings.Contains(s.sqlLog, strings.Replace(tt.wantTable, "chat_prompts", "message_log", 1)) {
			t.Errorf("log query %q not qualified", s.sqlLog)
		}
	}
}

func TestIsPermanent(t *testing.T) {
	wrap := func(err error) error { return &resilience.Error{Op: OpLogMessages, Err: err} }
	tests := []struct {
		err  error
		want bool
	}{
		{wrap(&pgconn.PgError{Code: "23514"}), true}, // check violation
		{wrap(&pgconn.PgError{Code: "22021"}), true}, // bad byte sequence
		{wrap(&pgconn.PgError{Code: "42P01"}), false},
		{wrap(&pgconn.PgError{Code: "57P01"}), false},
		{&resilience.Error{Classification: resilience.Classification{Code: resilience.CodeUnreachable}}, false},
		{context.Canceled, false},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%v) = %t, want %t", tt.err, got, tt.want)
		}
	}
}

func TestMigrationsAreEmbedded(t *testing.T) {
	names, err := fs.Glob(Migrations(), "*.sql")
	if err != nil || len(names) == 0 || names[0] != "00001_init.sql" {
		t.Fatalf("embedded migrations = %v, %v", names, err)
	}
	b, _ := fs.ReadFile(Migrations(), names[0])
	for _, want := range []string{"-- +goose Up", "chat_prompts", "message_log", "record_key"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", names[0], want)
		}
	}
}

func TestSchemaThroughPgBouncerNeedsDirectURL(t *testing.T) {
	cfg, err := dburl.Parse("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/d?pgbouncer=true&schema=s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(context.Background(), cfg, nil); !errors.Is(err, ErrSchemaNeedsDirect) {
		t.Errorf("Migrate = %v, want ErrSchemaNeedsDirect", err)
	}
}

// TestSchemaGate: before the migrations ran, the prompt operations wait
// for them within one call's budget, then fail with the migrator's code and
// 0 attempts, never touching the database; once the schema is in place
// they go to the database; a non-transient migrator failure fails them at
// once.
func TestSchemaGate(t *testing.T) {
	cfg, pool := poolAt(t, "postgresql://bot:pw@"+fakepg.ClosedAddr(t)+"/p1001?connect_timeout=1")
	p := fastPolicy()
	p.Budget = 200 * time.Millisecond
	x, err := resilience.New(p, resilience.WithTarget(cfg.Target()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		code         string
		nonTransient bool
		openAfter    time.Duration // 0: never
		failAfter    time.Duration // the migrator's first attempt fails with code then; 0: never
		wantCode     resilience.Code
		wantAttempts int
		minWait      time.Duration
		maxWait      time.Duration
	}{
		{"never migrated, no failure yet: P1001 after the budget", "", false, 0, 0, resilience.CodeUnreachable, 0, p.Budget, time.Second},
		{"the migrator failed (P1002): at once, its code", "P1002", false, 0, 0, resilience.CodeTimeout, 0, 0, 50 * time.Millisecond},
		{"wrong password: at once, P1000", "P1000", true, 0, 0, resilience.CodeAuthFailed, 0, 0, 50 * time.Millisecond},
		{"migrated while waiting: the database is asked", "", false, 50 * time.Millisecond, 0, resilience.CodeUnreachable, 3, 50 * time.Millisecond, time.Second},
		// A request that came before the migrator's first failure stops
		// waiting at that failure, not at the end of the budget.
		{"the migrator fails while waiting: then, its code", "P1000", true, 0, 50 * time.Millisecond, resilience.CodeAuthFailed, 0, 50 * time.Millisecond, p.Budget - 50*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, settled := make(chan struct{}), make(chan struct{})
			if tt.openAfter > 0 {
				time.AfterFunc(tt.openAfter, func() { close(ready); close(settled) })
			}
			var failed atomic.Bool
			failed.Store(tt.failAfter == 0)
			if tt.failAfter > 0 {
				time.AfterFunc(tt.failAfter, func() { failed.Store(true); close(settled) })
			}
			cause := func() (string, bool) {
				if !failed.Load() {
					return "", false
				}
				return tt.code, tt.nonTransient
			}
			s := New(pool, x, cfg, WithSchemaGate(ready, settled, cause))
			start := time.Now()
			res, err := s.SetPrompt(context.Background(), "c1", "p")
			attempts := res.Attempts
			took := time.Since(start)
			var re *resilience.Error
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *resilience.Error", err)
			}
			if re.Code != tt.wantCode || attempts != tt.wantAttempts || re.Op != OpSetPrompt {
				t.Errorf("code %s, %d attempts, op %s; want %s, %d, %s", re.Code, attempts, re.Op, tt.wantCode, tt.wantAttempts, OpSetPrompt)
			}
			if (tt.wantAttempts == 0) != errors.Is(err, ErrSchemaPending) {
				t.Errorf("err %v: ErrSchemaPending is the cause exactly when the database was not asked", err)
			}
			if tt.wantAttempts == 0 && (!re.NotSent || !re.Connection || re.NonTransient != tt.nonTransient) {
				t.Errorf("verdict %+v: the database was not asked (NotSent), for the migrator's failure (Connection, NonTransient %t)",
					re.Classification, tt.nonTransient)
			}
			if took < tt.minWait || took > tt.maxWait {
				t.Errorf("took %v, want within [%v, %v]", took, tt.minWait, tt.maxWait)
			}
		})
	}

	t.Run("the caller's context ends the wait", func(t *testing.T) {
		s := New(pool, x, cfg, WithSchemaGate(make(chan struct{}), make(chan struct{}), func() (string, bool) { return "", false }))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, _, err := s.GetPrompt(ctx, "c1")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the caller's deadline", err)
		}
	})
}
