//go:build integration

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/bot/httpapi"

	"github.com/p1001/p1001/internal/syncbuf"
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
	bin := buildBot(t)
	b := startBot(t, bin, "DATABASE_URL="+dbURL, "SPOOL_PATH="+filepath.Join(t.TempDir(), "spool.db"))
	b.waitMigrated(t)
	cmd, logs, exited := b.cmd, b.logs, b.exited

	chat := "it-" + rand.Text()[:10]
	send := func(text string) httpapi.MessageResponse { t.Helper(); return b.send(t, chat, text) }
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

// buildBot builds the static binary once per test.
func buildBot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bot")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runningBot is `bot serve` as a child process.
type runningBot struct {
	base   string
	cmd    *exec.Cmd
	logs   *syncbuf.Buffer
	exited chan error
}

// startBot runs `bot serve` with env (and nothing else: as in a scratch
// image) on a free loopback port and waits for /healthz.
func startBot(t *testing.T, bin string, env ...string) *runningBot {
	t.Helper()
	addr := closedAddr(t) // free now, for the bot to listen on
	b := &runningBot{base: "http://" + addr, logs: &syncbuf.Buffer{}, exited: make(chan error, 1)}
	b.cmd = exec.Command(bin, "serve")
	b.cmd.Env = append([]string{"HTTP_ADDR=" + addr, "LOG_FORMAT=json"}, env...)
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.exited <- b.cmd.Wait() }()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			b.cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("bot logs:\n%s", b.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(b.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMigrated waits until /readyz says the schema is in place.
func (b *runningBot) waitMigrated(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var snap health.Snapshot
		resp, err := http.Get(b.base + "/readyz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&snap)
			resp.Body.Close()
		}
		if snap.DB.Migrated {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not migrated within 30s: %+v %v", snap, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *runningBot) send(t *testing.T, chat, text string) httpapi.MessageResponse {
	t.Helper()
	body, _ := json.Marshal(httpapi.MessageRequest{Text: text})
	resp, err := http.Post(b.base+"/v1/chats/"+chat+"/messages", "application/json", bytes.NewReader(body))
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

// cutProxy forwards loopback connections to target until cut, which closes
// the listener and every connection: the database goes away under a bot
// that has already migrated.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestIntegrationOutageThenKillOrTerm starts the bot through a proxy to the
// database, lets it migrate, cuts the proxy, answers 20 messages, ends the
// bot with SIGKILL or SIGTERM, and starts it again with the database back
// and the same spool: the 20 inbound messages and their 20 replies are in
// message_log, once each. SIGTERM must end the bot within 2 s (without the
// spool it waited for the whole 15 s SHUTDOWN_TIMEOUT) and log the records
// as kept.
func TestIntegrationOutageThenKillOrTerm(t *testing.T) {
	dbURL := os.Getenv("P1001_TEST_DATABASE_URL")
	if dbURL == "" {
		t.Fatal("P1001_TEST_DATABASE_URL is not set; the integration tag needs a database")
	}
	cfg, err := dburl.Parse("P1001_TEST_DATABASE_URL", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBot(t)

	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			spool := "SPOOL_PATH=" + filepath.Join(t.TempDir(), "spool.db")
			chat := "kill-" + rand.Text()[:10]
			proxy := newCutProxy(t, cfg.Addr)
			u, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			u.Host = proxy.addr()
			b := startBot(t, bin, "DATABASE_URL="+u.String(), spool)
			b.waitMigrated(t)
			proxy.cut()
			for i := range 20 {
				if r := b.send(t, chat, fmt.Sprintf("message %02d", i)); !r.Degraded {
					t.Fatalf("reply %d not degraded with the database away: %+v", i, r)
				}
			}
			start := time.Now()
			if err := b.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var exitErr error
			select {
			case exitErr = <-b.exited:
			case <-time.After(20 * time.Second):
				t.Fatalf("bot did not exit within 20s of %s", sig)
			}
			took := time.Since(start)
			if sig == syscall.SIGTERM {
				t.Logf("SIGTERM during the outage: exited after %s", took)
				if exitErr != nil || took > 2*time.Second {
					t.Errorf("SIGTERM: exit %v after %s, want 0 within 2s", exitErr, took)
				}
				logs := b.logs.String()
				if !strings.Contains(logs, `KEPT in the spool for the next start","kept":40`) || strings.Contains(logs, "records lost") {
					t.Errorf("logs do not say 40 records kept, or say some were lost")
				}
			}

			b2 := startBot(t, bin, "DATABASE_URL="+dbURL, spool)
			conn, err := pgx.ConnectConfig(context.Background(), cfg.Pool.ConnConfig)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var in, out, distinct int
			deadline := time.Now().Add(30 * time.Second)
			for {
				err := conn.QueryRow(context.Background(),
					`SELECT count(*) FILTER (WHERE direction = 'in'), count(*) FILTER (WHERE direction = 'out'),
					        count(DISTINCT body) FILTER (WHERE direction = 'in')
					   FROM message_log WHERE chat_id = $1`, chat).Scan(&in, &out, &distinct)
				if err != nil {
					t.Fatal(err)
				}
				if in >= 20 && out >= 20 || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("after %s and a restart: %d of 20 inbound messages in message_log (%d distinct), %d replies", sig, in, distinct, out)
			if in != 20 || distinct != 20 || out != 20 {
				t.Errorf("message_log holds %d inbound (%d distinct) and %d replies, want 20, 20 and 20", in, distinct, out)
			}
			if !strings.Contains(b2.logs.String(), `"msg":"[Spool] replaying message-log records left by the last run","records":40`) {
				t.Errorf("the restarted bot did not log replaying 40 records")
			}
		})
	}
}
