//go:build integration

package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/resilience"
)

// testURL is the database the integration tests use. With the tag set, a
// missing variable is a failure: a silent skip would pass without testing.
func testURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("P1001_TEST_DATABASE_URL")
	if u == "" {
		t.Fatal("P1001_TEST_DATABASE_URL is not set; the integration tag needs a database " +
			"(e.g. postgresql://user:pw@127.0.0.1:6543/db?pgbouncer=true)")
	}
	return u
}

// withParams sets (or replaces) query parameters of raw.
func withParams(t *testing.T, raw string, params string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	extra, err := url.ParseQuery(params)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

type env struct {
	cfg   *dburl.Config
	pool  *pgxpool.Pool
	store *Store
}

func open(t *testing.T, raw string, policy resilience.Policy) *env {
	t.Helper()
	cfg, err := dburl.Parse("P1001_TEST_DATABASE_URL", raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := Migrate(ctx, cfg, nil); err != nil {
		t.Fatalf("migrate %s: %v", cfg.Redacted, err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg.Pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	x, err := resilience.New(policy, resilience.WithTarget(cfg.Target()))
	if err != nil {
		t.Fatal(err)
	}
	return &env{cfg: cfg, pool: pool, store: New(pool, x, cfg)}
}

func uniqueChat(prefix string) string { return prefix + "-" + rand.Text()[:10] }

func TestIntegrationMigrateIsIdempotent(t *testing.T) {
	e := open(t, testURL(t), fastPolicy())
	applied, err := Migrate(context.Background(), e.cfg, nil)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, err %v; want nothing", applied, err)
	}
	st, err := Status(context.Background(), e.cfg, nil)
	if err != nil || len(st) == 0 || !st[0].Applied {
		t.Fatalf("Status = %+v, %v", st, err)
	}
}

// freshDatabase creates an empty database next to the test one and returns
// its URL; it is dropped when the test ends.
func freshDatabase(t *testing.T) string {
	t.Helper()
	raw := testURL(t)
	cfg, err := dburl.Parse("P1001_TEST_DATABASE_URL", raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgxpool.NewWithConfig(ctx, cfg.Pool)
	if err != nil {
		t.Fatal(err)
	}
	name := "p1001_it_" + strings.ToLower(rand.Text()[:8])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestIntegrationConcurrentMigrationsApplyOnce(t *testing.T) {
	cfg, err := dburl.Parse("P1001_TEST_DATABASE_URL", freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res, err := Migrate(ctx, cfg, nil)
			if err != nil {
				t.Errorf("concurrent Migrate: %v", err)
			}
			mu.Lock()
			applied += len(res)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if want := 1; applied != want {
		t.Errorf("migrations applied %d times in total across 4 concurrent runs, want %d", applied, want)
	}
}

func TestIntegrationPromptRoundTrip(t *testing.T) {
	e := open(t, testURL(t), fastPolicy())
	ctx := context.Background()
	chat := uniqueChat("rt")
	steps := []struct {
		name      string
		run       func() error
		wantFound bool
		want      string
	}{
		{"unset", func() error { return nil }, false, ""},
		{"set", func() error { _, err := e.store.SetPrompt(ctx, chat, "You are a pirate. 'quotes' and $1"); return err }, true, "You are a pirate. 'quotes' and $1"},
		{"overwrite", func() error { _, err := e.store.SetPrompt(ctx, chat, "Ünïcödé persona 🏴‍☠️"); return err }, true, "Ünïcödé persona 🏴‍☠️"},
		{"reset", func() error { _, err := e.store.ResetPrompt(ctx, chat); return err }, false, ""},
		{"reset again is a no-op", func() error { _, err := e.store.ResetPrompt(ctx, chat); return err }, false, ""},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, res, err := e.store.GetPrompt(ctx, chat)
		if err != nil || got.Found != s.wantFound || got.Text != s.want || res.Attempts != 1 {
			t.Errorf("%s: GetPrompt = %q, %t, %d, %v; want %q, %t, 1 attempt", s.name, got.Text, got.Found, res.Attempts, err, s.want, s.wantFound)
		}
	}
}

func TestIntegrationWriteLogKeepsOrderAndIsIdempotent(t *testing.T) {
	e := open(t, testURL(t), fastPolicy())
	ctx := context.Background()
	chat := uniqueChat("log")
	var recs []msglog.Record
	at := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 50 {
		dir, src := msglog.Inbound, ""
		if i%2 == 1 {
			dir, src = msglog.Outbound, "cached"
		}
		recs = append(recs, msglog.Record{Key: fmt.Sprintf("%s-%03d", chat, i), ChatID: chat, Direction: dir,
			Text: fmt.Sprintf("message %d", i), PromptSource: src, Degraded: src == "cached", At: at.Add(-time.Duration(i) * time.Second)})
	}
	if err := e.store.WriteLog(ctx, recs[:30]); err != nil {
		t.Fatal(err)
	}
	// A re-sent batch overlapping the first one (an ambiguous failure) adds only the new records.
	if err := e.store.WriteLog(ctx, recs[20:]); err != nil {
		t.Fatal(err)
	}
	rows, err := e.pool.Query(ctx, `SELECT record_key, direction, body, coalesce(prompt_source, ''), degraded, sent_at FROM message_log WHERE chat_id = $1 ORDER BY id`, chat)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var key, dir, body, src string
		var degraded bool
		var sent time.Time
		if err := rows.Scan(&key, &dir, &body, &src, &degraded, &sent); err != nil {
			t.Fatal(err)
		}
		w := recs[i]
		if key != w.Key || dir != string(w.Direction) || body != w.Text || src != w.PromptSource || degraded != w.Degraded || !sent.Equal(w.At) {
			t.Errorf("row %d = %s %s %q %q %t %v, want %+v", i, key, dir, body, src, degraded, sent, w)
		}
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(recs) {
		t.Errorf("%d rows, want %d", i, len(recs))
	}
}

func TestIntegrationBadRecordIsPermanent(t *testing.T) {
	e := open(t, testURL(t), fastPolicy())
	err := e.store.WriteLog(context.Background(), []msglog.Record{{Key: uniqueChat("bad"), ChatID: "c", Direction: "sideways", Text: "t", At: time.Now()}})
	if err == nil || !IsPermanent(err) {
		t.Fatalf("WriteLog with a bad direction = %v; want a permanent error", err)
	}
}

func TestIntegrationPoolTimeoutIsP2024(t *testing.T) {
	p := fastPolicy()
	p.MaxAttempts = 2
	e := open(t, withParams(t, testURL(t), "connection_limit=1&pool_timeout=0.2"), p)
	ctx := context.Background()
	held, err := e.pool.Acquire(ctx) // the only connection
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	_, res, err := e.store.GetPrompt(ctx, "c")
	var re *resilience.Error
	if !errors.As(err, &re) || re.Code != resilience.CodePoolTimeout || res.Attempts != 2 {
		t.Fatalf("GetPrompt with the pool exhausted = %v (attempts %d); want P2024 after 2 attempts", err, res.Attempts)
	}
}

func TestIntegrationSocketTimeoutBoundsAQuery(t *testing.T) {
	p := fastPolicy()
	p.MaxAttempts = 1
	e := open(t, withParams(t, testURL(t), "socket_timeout=0.2"), p)
	err := e.store.withConn(context.Background(), func(ctx context.Context, conn *pgxpool.Conn) error {
		_, err := conn.Exec(ctx, "SELECT pg_sleep(5)")
		return err
	})
	if err == nil || !resilience.Classify(err).Retryable {
		t.Fatalf("a 5s query under socket_timeout=0.2 = %v; want a retryable timeout", err)
	}
}

func TestIntegrationSchemaParameter(t *testing.T) {
	raw := testURL(t)
	schema := "p1001_it_" + strings.ToLower(rand.Text()[:6])
	cfg, err := dburl.Parse("P1001_TEST_DATABASE_URL", withParams(t, raw, "schema="+schema))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PgBouncer {
		if _, err := Migrate(context.Background(), cfg, nil); !errors.Is(err, ErrSchemaNeedsDirect) {
			t.Fatalf("Migrate through PgBouncer with schema = %v, want ErrSchemaNeedsDirect", err)
		}
		return
	}
	e := open(t, withParams(t, raw, "schema="+schema), fastPolicy())
	t.Cleanup(func() {
		e.pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	})
	if _, err := e.store.SetPrompt(context.Background(), "c", "in schema"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+schema+`.chat_prompts`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in %s.chat_prompts = %d, %v; want 1", schema, n, err)
	}
}
