//go:build integration

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/bot/httpapi"
)

// TestIntegrationBinaryRoundTrip builds the static binary, runs `bot serve`
// against P1001_TEST_DATABASE_URL (give it the pooler URL with
// pgbouncer=true to test the PgBouncer path), round-trips a custom prompt
// over HTTP, and stops it with SIGTERM: it must exit 0 with the message log
// flushed to the database.
func TestIntegrationBinaryRoundTrip(t *testing.T) {
	dbURL := os.Getenv("P1001_TEST_DATABASE_URL")
	if dbURL == "" {
		t.Fatal("P1001_TEST_DATABASE_URL is not set; the integration tag needs a database")
	}
	bin := filepath.Join(t.TempDir(), "bot")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	base := "http://" + addr

	var logs lockedBuffer
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"DATABASE_URL=" + dbURL, "HTTP_ADDR=" + addr, "LOG_FORMAT=json"} // nothing else: as in a scratch image
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("bot logs:\n%s", logs.String())
		}
	})

	// Ready means migrated.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var snap health.Snapshot
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&snap)
			resp.Body.Close()
		}
		if snap.DB.Migrated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not migrated within 30s: %+v %v", snap, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	chat := "it-" + rand.Text()[:10]
	send := func(text string) httpapi.MessageResponse {
		t.Helper()
		body, _ := json.Marshal(httpapi.MessageRequest{Text: text})
		resp, err := http.Post(base+"/v1/chats/"+chat+"/messages", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r httpapi.MessageResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST %q: %d %v", text, resp.StatusCode, err)
		}
		return r
	}
	steps := []struct {
		text string
		want httpapi.MessageResponse
	}{
		{"hello", httpapi.MessageResponse{Reply: "[You are a helpful assistant.] You said: hello", PromptSource: "default", Attempts: 1}},
		{"/setprompt You are a pirate. Arr.", httpapi.MessageResponse{Reply: "Saved. I'll answer as: You are a pirate.", PromptSource: "custom", Attempts: 1, Command: "/setprompt"}},
		{"hello", httpapi.MessageResponse{Reply: "[You are a pirate.] You said: hello", PromptSource: "custom", Attempts: 1}},
		{"/prompt", httpapi.MessageResponse{Reply: "Custom prompt: You are a pirate. Arr.", PromptSource: "custom", Attempts: 1, Command: "/prompt"}},
	}
	for i, s := range steps {
		if got := send(s.text); got != s.want {
			t.Errorf("step %d %q:\n got %+v\nwant %+v", i, s.text, got, s.want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("bot exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bot did not exit within 20s of SIGTERM")
	}
	for _, want := range []string{`"msg":"[Bot] serving"`, `"pgbouncer":`, `"msg":"[Bot] stopped"`, `"outbox_lost":0`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s", want)
		}
	}
	cfg, err := dburl.Parse("P1001_TEST_DATABASE_URL", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if pw := cfg.Pool.ConnConfig.Password; pw != "" && strings.Contains(logs.String(), pw) {
		t.Error("the database password reached the logs")
	}

	// The stored state, read independently.
	conn, err := pgx.ConnectConfig(context.Background(), cfg.Pool.ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var prompt string
	if err := conn.QueryRow(context.Background(), `SELECT prompt FROM chat_prompts WHERE chat_id = $1`, chat).Scan(&prompt); err != nil || prompt != "You are a pirate. Arr." {
		t.Errorf("stored prompt = %q, %v", prompt, err)
	}
	var rows int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM message_log WHERE chat_id = $1`, chat).Scan(&rows); err != nil || rows != 2*len(steps) {
		t.Errorf("message_log rows = %d, %v; want %d", rows, err, 2*len(steps))
	}
}
