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
	"sync"
	"testing"
	"time"

	"github.com/p1001/p1001/bot/config"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/resilience"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// unreachableConfig points the bot at a loopback port where nothing
// listens, with a fast retry policy.
func unreachableConfig(t *testing.T, extra map[string]string) config.Config {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
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
// records it could not store in the spool.
func TestServeWithTheDatabaseDown(t *testing.T) {
	cfg := unreachableConfig(t, nil)
	logs := &syncBuffer{}
	log := NewLogger("text", slog.LevelInfo, logs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, log, "test", ln) }()

	r := post(t, base, "c1", "hello")
	want := httpapi.MessageResponse{Reply: "[You are a helpful assistant.] You said: hello", PromptSource: "default", Degraded: true, Attempts: 3, Code: "P1001"}
	if r != want {
		t.Errorf("reply = %+v, want %+v", r, want)
	}
	r = post(t, base, "c1", "/setprompt You are a pirate.")
	if !r.Degraded || !strings.HasPrefix(r.Reply, "Your prompt was NOT saved") {
		t.Errorf("/setprompt with the database down = %+v", r)
	}

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var snap health.Snapshot
	json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if resp.StatusCode != 200 || snap.DB.State != health.StateDown || snap.DB.Migrated {
		t.Errorf("/readyz = %d %+v; want 200 with the database down and not migrated", resp.StatusCode, snap)
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
		`db_retry_giveups_total{code="P1001",op="getCustomPrompt"} 1`,
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
		"[DB Retry] Attempt 1/3 failed, retrying in",
		`msg="[getCustomPrompt] Database connection error after retries, using fallback prompt" chat=c1 code=P1001 source=default attempts=3 error="P1001: Can't reach database server at 127.0.0.1:`,
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
		buf := &syncBuffer{}
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
	cfg := unreachableConfig(t, map[string]string{"DEFAULT_PROMPT": "You are the console bot."})
	in := strings.NewReader("hello\n\n/help\n" + "\x00bad\n" + "/quit\nnever read\n")
	var out bytes.Buffer
	err := Chat(context.Background(), cfg, NewLogger("text", slog.LevelError, io.Discard), "test", "me", in, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`chatting as "me"`,
		"bot> [You are the console bot.] You said: hello\n     (prompt_source=default attempts=3 degraded code=P1001)",
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
	if !strings.Contains(msg, "P1001: Can't reach database server at 127.0.0.1:") || strings.Contains(msg, "hunter2secret") || !strings.Contains(msg, "bot:xxxxx@") {
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
		{"timeout leaves it", resilience.Event{Kind: resilience.EventAttemptFailed, Code: resilience.CodeOpTimeout}, 0},
		{"a give-up is not an attempt", resilience.Event{Kind: resilience.EventGaveUp, Code: resilience.CodeConnClosed}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := &countingPool{}
			resetOnBrokenConn(func() resetter { return pool }).Observe(tt.event)
			if pool.resets != tt.want {
				t.Errorf("%d resets, want %d", pool.resets, tt.want)
			}
		})
	}
	// Before the pool exists the observer must not panic.
	resetOnBrokenConn(func() resetter { return nil }).Observe(resilience.Event{Kind: resilience.EventAttemptFailed, Code: resilience.CodeConnClosed})
}
