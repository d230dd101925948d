package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/config"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/internal/fakepg"
	"github.com/p1001/p1001/resilience"

	"github.com/p1001/p1001/internal/syncbuf"
)

// unreachableConfig points the bot at a loopback port where nothing
// listens, with a fast retry policy.
func unreachableConfig(t *testing.T, extra map[string]string) config.Config {
	t.Helper()
	addr := fakepg.ClosedAddr(t)
	vars := map[string]string{
		"DATABASE_URL":             "postgresql://bot:hunter2secret@" + addr + "/p1001?pgbouncer=true&connection_limit=10&connect_timeout=30",
		"DB_RETRY_BASE_DELAY":      "1ms",
		"DB_RETRY_MAX_DELAY":       "5ms",
		"DB_RETRY_ATTEMPT_TIMEOUT": "1s",
		"DB_BREAKER_ENABLED":       "false",
		"SHUTDOWN_TIMEOUT":         "200ms",
		"OUTBOX_RETRY_MAX_DELAY":   "10ms",
		"SPOOL_PATH":               filepath.Join(t.TempDir(), "spool.db"),
	}
	for k, v := range extra {
		vars[k] = v
	}
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, environ)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func post(t *testing.T, base, chatID, text string) httpapi.MessageResponse {
	t.Helper()
	body, _ := json.Marshal(httpapi.MessageRequest{Text: text})
	resp, err := http.Post(base+"/v1/chats/"+chatID+"/messages", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %q: %d %s", text, resp.StatusCode, b)
	}
	var r httpapi.MessageResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestServeWithTheDatabaseDown is the promise of the whole bot: it starts,
// answers every message in degraded mode, says so on /readyz and in the
// documented log lines, and shuts down cleanly, keeping the message-log
// records it could not store in the spool. The schema never comes: once
// the migrator has failed, each request falls back at once with its code,
// without asking the database (0 attempts).
func TestServeWithTheDatabaseDown(t *testing.T) {
	const budget = 300 * time.Millisecond
	cfg := unreachableConfig(t, map[string]string{"DB_RETRY_BUDGET": budget.String()})
	logs := &syncbuf.Buffer{}
	log := NewLogger("text", slog.LevelInfo, logs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, log, "test", ln) }()

	// The migrator's first attempt is refused at once; until it has
	// failed a request would wait for the schema (bot/store tests that).
	waitForMigrationFailure(t, base)
	start := time.Now()
	r := post(t, base, "c1", "hello")
	// The reply names the server as Prisma's meta does: the URL's host and port.
	want := httpapi.MessageResponse{Reply: "[You are a helpful assistant.] You said: hello", PromptSource: "default", Degraded: true, Attempts: 0, Code: "P1001",
		Meta: cfg.DB.Target().Meta()}
	if r.Meta == nil || want.Meta == nil || *r.Meta != *want.Meta || want.Meta.DatabaseHost != "127.0.0.1" {
		t.Errorf("reply meta = %+v, want %+v", r.Meta, want.Meta)
	}
	r.Meta, want.Meta = nil, nil
	if r != want {
		t.Errorf("reply = %+v, want %+v", r, want)
	}
	start2 := time.Now()
	r = post(t, base, "c1", "/setprompt You are a pirate.")
	if !r.Degraded || !strings.HasPrefix(r.Reply, "Your prompt was NOT saved") {
		t.Errorf("/setprompt with the database down = %+v", r)
	}
	for i, took := range []time.Duration{start2.Sub(start), time.Since(start2)} {
		if took >= budget {
			t.Errorf("reply %d came after %v: once the migrator has failed it must not wait out the budget (%v) for the schema", i+1, took, budget)
		}
	}

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var snap health.Snapshot
	json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if resp.StatusCode != 200 || snap.DB.State != health.StateDown || snap.DB.Migrated || snap.DB.MigrationCode != "P1001" ||
		snap.DB.MigrationCause != "connection refused" || snap.DB.MigrationRetryAt == nil {
		t.Errorf("/readyz = %d %+v; want 200 with the database down, not migrated, and why", resp.StatusCode, snap)
	}

	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{
		`bot_replies_total{degraded="true",prompt_source="default"} 2`,
		`bot_degraded_replies_total{code="P1001"} 2`,
		`bot_outbox_depth 4`,
		`bot_spool_durable 1`,
		`bot_db_up 0`,
		`bot_db_pool_max_conns 10`,
	} {
		if !strings.Contains(string(metricsBody), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the context ended")
	}
	out := logs.String()
	for _, line := range []string{
		`msg="[getCustomPrompt] Database connection error after retries, using fallback prompt" chat=c1 code=P1001 source=default attempts=0 reason="schema not in place yet: the migrations have not finished" error="P1001: Can't reach database server at ` + "`127.0.0.1`:`",
		"schema not in place yet",
		`msg="[MessageHandler] Database connection error, replying in degraded mode" chat=c1 code=P1001`,
		"[Migrate] schema not applied yet, retrying",
		"KEPT in the spool for the next start\" kept=4",
		"[Bot] stopped",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("logs lack %q", line)
		}
	}
	if strings.Contains(out, "hunter2secret") {
		t.Error("the database password reached the logs")
	}
	if strings.Contains(out, "relation") || strings.Contains(out, "DB_ERROR") || strings.Contains(out, "[Prisma Retry]") {
		t.Error("a request reached the database before its schema")
	}
}

// waitForMigrationFailure returns once /readyz names the migrator's
// failure (migration_code), failing the test after 10 s.
func waitForMigrationFailure(t *testing.T, base string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var snap health.Snapshot
		err = json.NewDecoder(resp.Body).Decode(&snap)
		resp.Body.Close()
		if err == nil && snap.DB.MigrationCode != "" {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("/readyz never named a migration failure: %+v", snap.DB)
		}
	}
}

// TestShutdownDuringAnOutageKeepsTheSpool: with the database gone and the
// default 15 s SHUTDOWN_TIMEOUT, shutting down takes well under 2 s, the
// records stay in the spool, logged as kept, and the next start replays
// them.
func TestShutdownDuringAnOutageKeepsTheSpool(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "spool.db")
	cfg := unreachableConfig(t, map[string]string{
		"SPOOL_PATH": spool, "SHUTDOWN_TIMEOUT": "15s", "DB_BREAKER_ENABLED": "true", "OUTBOX_RETRY_MAX_DELAY": "2s",
	})
	serve := func(t *testing.T, work func(base string)) (took time.Duration, logs string) {
		t.Helper()
		buf := &syncbuf.Buffer{}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, cfg, NewLogger("text", slog.LevelInfo, buf), "test", ln) }()
		work("http://" + ln.Addr().String())
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v, want a clean shutdown", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Serve did not return")
		}
		return time.Since(start), buf.String()
	}
	metric := func(t *testing.T, base, want string) {
		t.Helper()
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	took, logs := serve(t, func(base string) {
		for i := range 20 {
			post(t, base, "c1", fmt.Sprintf("message %d", i))
		}
		metric(t, base, "bot_outbox_depth 40")
	})
	t.Logf("shutdown with the database down took %s", took)
	if took > 2*time.Second {
		t.Errorf("shutdown took %s, want at most 2s", took)
	}
	if !strings.Contains(logs, `KEPT in the spool for the next start" kept=40`) || strings.Contains(logs, "message-log records lost") {
		t.Errorf("logs lack the 40 records kept, or call some lost:\n%s", logs)
	}
	if !strings.Contains(logs, "outbox_kept=40 outbox_lost=0") {
		t.Errorf("[Bot] stopped does not count 40 kept:\n%s", logs)
	}

	_, logs = serve(t, func(base string) {
		metric(t, base, "bot_outbox_replayed_total 40")
		metric(t, base, "bot_outbox_depth 40")
	})
	if !strings.Contains(logs, "[Spool] replaying message-log records left by the last run\" records=40") {
		t.Errorf("the replay is not logged:\n%s", logs)
	}
}

func TestChatREPL(t *testing.T) {
	// MIGRATE_ON_START=false: the schema is taken as in place, so the
	// lookup goes to the (unreachable) database and retries.
	cfg := unreachableConfig(t, map[string]string{"DEFAULT_PROMPT": "You are the console bot.", "MIGRATE_ON_START": "false"})
	in := strings.NewReader("hello\n\n/help\n" + "\x00bad\n" + "/quit\nnever read\n")
	var out bytes.Buffer
	err := Chat(context.Background(), cfg, NewLogger("text", slog.LevelError, io.Discard), "test", "me", in, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`chatting as "me"`,
		"bot> [You are the console bot.] You said: hello\n     (prompt_source=default attempts=3 degraded code=P1001 at 127.0.0.1:",
		"bot> Commands:",
		"error: text: must not contain NUL characters",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("REPL output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "never read") {
		t.Error("input after /quit was handled")
	}
}

func TestMigrateCommandReportsP1001WithoutThePassword(t *testing.T) {
	cfg := unreachableConfig(t, nil)
	err := Migrate(context.Background(), cfg, NewLogger("text", slog.LevelError, io.Discard), false, io.Discard)
	if err == nil {
		t.Fatal("Migrate against a closed port succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "P1001: Can't reach database server at `127.0.0.1`:`") || strings.Contains(msg, "hunter2secret") || !strings.Contains(msg, "bot:xxxxx@") {
		t.Errorf("error = %q; want P1001 with the address and the URL redacted", msg)
	}
}

func TestWriteBound(t *testing.T) {
	cfg := unreachableConfig(t, map[string]string{"DB_RETRY_BUDGET": "5s", "RESPONDER": "openai", "OPENAI_TIMEOUT": "7s"})
	if got := writeBound(cfg); got != 22*time.Second {
		t.Errorf("writeBound = %v, want 5s budget + 7s responder + 10s margin", got)
	}
}

type countingPool struct{ resets int }

func (c *countingPool) Reset() { c.resets++ }

func TestResetOnBrokenConn(t *testing.T) {
	tests := []struct {
		name  string
		event resilience.Event
		want  int
	}{
		{"closed connection resets the pool", resilience.Event{Kind: resilience.EventAttemptFailed, Code: resilience.CodeConnClosed}, 1},
		{"refused connect leaves it", resilience.Event{Kind: resilience.EventAttemptFailed, Code: resilience.CodeUnreachable}, 0},
		{"no answer on a connection resets the pool", resilience.Event{Kind: resilience.EventAttemptFailed, Code: resilience.CodeOpTimeout, Err: context.DeadlineExceeded}, 1},
		{"a statement_timeout (the server answered) leaves it", resilience.Event{Kind: resilience.EventAttemptFailed, Code: resilience.CodeOpTimeout,
			Err: fmt.Errorf("query: %w", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"})}, 0},
		{"a pool wait (P2024) leaves it", resilience.Event{Kind: resilience.EventAttemptFailed, Code: resilience.CodePoolTimeout}, 0},
		{"a give-up is not an attempt", resilience.Event{Kind: resilience.EventGaveUp, Code: resilience.CodeConnClosed}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := &countingPool{}
			resetOnBrokenConn(pool).Observe(tt.event)
			if pool.resets != tt.want {
				t.Errorf("%d resets, want %d", pool.resets, tt.want)
			}
		})
	}
}

// TestConnectTimeoutCapsAreIndependent: without MIGRATE_DATABASE_URL the
// migrations use DATABASE_URL too, but they get their own connect cap
// (migrateConnectTimeout), not the message path's attempt timeout.
func TestConnectTimeoutCapsAreIndependent(t *testing.T) {
	tests := []struct {
		name    string
		extra   map[string]string
		db, mig time.Duration
	}{
		{"one URL for both", nil, time.Second, migrateConnectTimeout},
		{"a migration URL of its own", map[string]string{"MIGRATE_DATABASE_URL": "postgresql://bot:pw@127.0.0.1:1/p1001?connect_timeout=30"},
			time.Second, migrateConnectTimeout},
		{"a migration URL with a shorter timeout keeps it", map[string]string{"MIGRATE_DATABASE_URL": "postgresql://bot:pw@127.0.0.1:1/p1001?connect_timeout=3"},
			time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := unreachableConfig(t, tt.extra) // connect_timeout=30, DB_RETRY_ATTEMPT_TIMEOUT=1s
			rt, err := Build(cfg, NewLogger("text", slog.LevelError, io.Discard), "test")
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Pool.Close()
			if got := rt.Config.DB.Pool.ConnConfig.ConnectTimeout; got != tt.db {
				t.Errorf("DATABASE_URL connect timeout = %v, want %v (the attempt timeout)", got, tt.db)
			}
			if got := rt.Config.MigrateDB.Pool.ConnConfig.ConnectTimeout; got != tt.mig {
				t.Errorf("migration connect timeout = %v, want %v", got, tt.mig)
			}
		})
	}
}

// newAuthRefuser is a Postgres server that refuses every login with 28P01;
// its Sessions count the logins it was asked for.
func newAuthRefuser(t *testing.T) *fakepg.Server {
	t.Helper()
	return fakepg.Start(t, &fakepg.Server{Login: func() *pgproto3.ErrorResponse {
		return fakepg.Fatal("28P01", `password authentication failed for user "bot"`)
	}})
}

// TestWrongPasswordIsNotAStorm: a wrong password is asked once, then the
// breaker keeps the message path off the server; every reply says P1000.
func TestWrongPasswordIsNotAStorm(t *testing.T) {
	srv := newAuthRefuser(t)
	cfg := unreachableConfig(t, map[string]string{
		"DATABASE_URL":       "postgresql://bot:hunter2secret@" + srv.Addr() + "/p1001?pgbouncer=true",
		"MIGRATE_ON_START":   "false", // the message path alone
		"DB_BREAKER_ENABLED": "true",
		"DB_BREAKER_DELAY":   "10s",
	})
	rt, err := Build(cfg, NewLogger("text", slog.LevelError, io.Discard), "test")
	if err != nil {
		t.Fatal(err)
	}
	rt.Start()
	defer stopWithin(t, rt, time.Second)
	for i := range 50 {
		r, err := rt.Handler.Handle(context.Background(), chat.Message{ChatID: "c1", Text: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Degraded || r.Code != "P1000" || r.Attempts > 1 {
			t.Fatalf("reply %d = %+v; want degraded P1000 after at most one attempt", i, r)
		}
	}
	if n := srv.Sessions.Load(); n != 1 {
		t.Errorf("the server was asked for %d logins by 50 messages, want 1", n)
	}
	// /readyz follows the breaker from the executor's events.
	if got := rt.Tracker.Snapshot().DB.Breaker; got != "open" || got != rt.Executor.BreakerState() {
		t.Errorf("/readyz breaker %q, executor %q; want both open", got, rt.Executor.BreakerState())
	}
}

// TestMigratorBacksOffNonTransientFailures: the migrator logs a wrong
// password once (not on every attempt), /readyz shows the cause, and the
// requests that wait for the schema never ask the server themselves.
func TestMigratorBacksOffNonTransientFailures(t *testing.T) {
	srv := newAuthRefuser(t)
	cfg := unreachableConfig(t, map[string]string{
		"DATABASE_URL":    "postgresql://bot:hunter2secret@" + srv.Addr() + "/p1001?pgbouncer=true",
		"DB_RETRY_BUDGET": "200ms",
	})
	logs := &syncbuf.Buffer{}
	rt, err := Build(cfg, NewLogger("text", slog.LevelInfo, logs), "test")
	if err != nil {
		t.Fatal(err)
	}
	rt.Start()
	defer stopWithin(t, rt, time.Second)
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		r, err := rt.Handler.Handle(context.Background(), chat.Message{ChatID: "c1", Text: "/setprompt You are a pirate."})
		if err != nil {
			t.Fatal(err)
		}
		if r.Code == "P1001" && srv.Sessions.Load() == 0 {
			continue // the migrator's first attempt has not finished yet
		}
		if !r.Degraded || r.Code != "P1000" || r.Attempts != 0 || !strings.HasPrefix(r.Text, "Your prompt was NOT saved") {
			t.Fatalf("/setprompt before the schema = %+v; want NOT saved, P1000, 0 attempts", r)
		}
		time.Sleep(20 * time.Millisecond) // a steady trickle; the replies come at once
	}
	// Waits of at least 0.5 s, then 1 s, then 2 s: at most 3 attempts in
	// 2.5 s (the transient backoff, from 125 ms, would allow 5).
	if n := srv.Sessions.Load(); n < 1 || n > 3 {
		t.Errorf("%d logins in 2.5 s; want 1 to 3", n)
	}
	if n := strings.Count(logs.String(), "[Migrate] schema not applied yet"); n != 1 {
		t.Errorf("the unchanged cause was logged %d times, want once:\n%s", n, logs.String())
	}
	snap := rt.Tracker.Snapshot()
	if snap.DB.MigrationCode != "P1000" || !snap.DB.MigrationNonTransient || snap.DB.MigrationCause != "authentication failed" ||
		snap.DB.MigrationRetryAt == nil || snap.DB.LastCode != "P1000" {
		t.Errorf("/readyz does not show the cause: %+v", snap.DB)
	}
	if strings.Contains(logs.String(), "hunter2secret") {
		t.Error("the password reached the logs")
	}
}

// stopWithin stops rt; the outbox cannot drain into a refusing server, so
// the flush gets d.
func stopWithin(t *testing.T, rt *Runtime, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	rt.Stop(ctx)
}

func TestMigrateDelay(t *testing.T) {
	tests := []struct {
		failures     int
		nonTransient bool
		lo, hi       time.Duration
	}{
		{1, false, 125 * time.Millisecond, 250 * time.Millisecond},
		{3, false, 500 * time.Millisecond, time.Second},
		{10, false, 500 * time.Millisecond, time.Second},
		{1, true, 500 * time.Millisecond, time.Second},
		{4, true, 4 * time.Second, 8 * time.Second},
		{7, true, 30 * time.Second, time.Minute},
		{50, true, 30 * time.Second, time.Minute},
	}
	for _, tt := range tests {
		for range 100 {
			if d := migrateDelay(tt.failures, tt.nonTransient); d < tt.lo || d > tt.hi {
				t.Fatalf("migrateDelay(%d, %v) = %v, want within [%v, %v]", tt.failures, tt.nonTransient, d, tt.lo, tt.hi)
			}
		}
	}
}
