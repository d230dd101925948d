package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/internal/syncbuf"
)

const testToken = "tok-5f1c9a1e3b7d4c2a8e6f0b9d"

func TestServeBeyondLoopbackNeedsAToken(t *testing.T) {
	down := "postgresql://bot:hunter2secret@" + closedAddr(t) + "/p1001"
	base := map[string]string{"DATABASE_URL": down, "MIGRATE_ON_START": "false", "DB_BREAKER_ENABLED": "false",
		"DB_RETRY_MAX_ATTEMPTS": "1", "SHUTDOWN_TIMEOUT": "100ms"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	refusals := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"HTTP_ADDR 0.0.0.0", []string{"serve"}, with("HTTP_ADDR", "0.0.0.0:0")},
		{"HTTP_ADDR every interface", []string{"serve"}, with("HTTP_ADDR", ":0")},
		{"-addr 0.0.0.0 over a loopback HTTP_ADDR", []string{"serve", "-addr", "0.0.0.0:0"}, with("HTTP_ADDR", "127.0.0.1:0")},
	}
	for _, tt := range refusals {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			lookup, environ := lookupFrom(tt.env)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := run(ctx, tt.args, lookup, environ, strings.NewReader(""), &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit code %d, want 2 (a configuration error)\nstderr: %s", code, stderr.String())
			}
			msg := strings.TrimSpace(stderr.String())
			if strings.Count(msg, "\n") != 0 {
				t.Errorf("want one line, got:\n%s", msg)
			}
			for _, want := range []string{"beyond loopback", "set API_TOKEN", "HTTP_ADDR=127.0.0.1:8080", "API_AUTH=none"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the refusal does not say %q: %s", want, msg)
				}
			}
			if strings.Contains(msg, "[Bot] serving") {
				t.Errorf("it served before refusing: %s", msg)
			}
		})
	}

	works := []struct {
		name      string
		env       map[string]string
		token     string // what the client sends
		wantNoTok int    // status without a token
	}{
		{"0.0.0.0 with API_TOKEN", with("HTTP_ADDR", "0.0.0.0:0", "API_TOKEN", testToken), testToken, http.StatusUnauthorized},
		{"0.0.0.0 with API_AUTH=none", with("HTTP_ADDR", "0.0.0.0:0", "API_AUTH", "none"), "", http.StatusOK},
		{"loopback without a token", with("HTTP_ADDR", "127.0.0.1:0"), "", http.StatusOK},
		{"localhost without a token", with("HTTP_ADDR", "localhost:0"), "", http.StatusOK},
	}
	for _, tt := range works {
		t.Run("serves: "+tt.name, func(t *testing.T) {
			tt.env["LOG_FORMAT"] = "json"
			tt.env["LOG_LEVEL"] = "debug"
			stderr := &syncbuf.Buffer{}
			port, stop := serveInBackground(t, tt.env, stderr)
			url := "http://" + net.JoinHostPort("127.0.0.1", port) + "/v1/chats/c1/messages"
			if got := post(t, url, tt.token); got != http.StatusOK {
				t.Errorf("with the token: HTTP %d, want 200", got)
			}
			if got := post(t, url, ""); got != tt.wantNoTok {
				t.Errorf("without a token: HTTP %d, want %d", got, tt.wantNoTok)
			}
			if tt.token != "" {
				if got := post(t, url, tt.token+"x"); got != http.StatusUnauthorized {
					t.Errorf("with a wrong token: HTTP %d, want 401", got)
				}
			}
			if tt.env["API_AUTH"] == "none" && !strings.Contains(stderr.String(), "API_AUTH=none") {
				t.Errorf("no warning about API_AUTH=none in the log:\n%s", stderr.String())
			}
			if c := stop(); c != 0 {
				t.Errorf("exit code %d\n%s", c, stderr.String())
			}
			if strings.Contains(stderr.String(), testToken) || strings.Contains(stderr.String(), "hunter2secret") {
				t.Errorf("the log holds a secret:\n%s", stderr.String())
			}
		})
	}
}

// serveInBackground runs `bot serve` and returns the port it listens on
// (read from its "[Bot] serving" line) and stop, which ends it (as SIGTERM
// does) and returns its exit code.
func serveInBackground(t *testing.T, env map[string]string, stderr *syncbuf.Buffer) (port string, stop func() int) {
	t.Helper()
	lookup, environ := lookupFrom(env)
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve"}, lookup, environ, strings.NewReader(""), &bytes.Buffer{}, stderr)
	}()
	stop = func() int { cancel(); return <-code }
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "[Bot] serving" {
				_, p, err := net.SplitHostPort(line.Addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cancel() })
				return p, stop
			}
		}
		select {
		case c := <-code:
			cancel()
			t.Fatalf("bot serve exited with %d before serving:\n%s", c, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	t.Fatalf("no [Bot] serving line within 10s:\n%s", stderr.String())
	return "", nil
}

func post(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestMetricsOnTheirOwnListener(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgresql://bot:pw@" + closedAddr(t) + "/p1001", "MIGRATE_ON_START": "false",
		"HTTP_ADDR": "0.0.0.0:0", "API_TOKEN": testToken, "METRICS_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json", "SHUTDOWN_TIMEOUT": "100ms"}
	stderr := &syncbuf.Buffer{}
	port, stop := serveInBackground(t, env, stderr)
	var metricsAddr string
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "[Bot] serving /metrics on its own listener" {
			metricsAddr = line.Addr
		}
	}
	if metricsAddr == "" {
		t.Fatalf("no metrics listener in the log:\n%s", stderr.String())
	}
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("http://" + metricsAddr + "/metrics"); got != http.StatusOK {
		t.Errorf("METRICS_ADDR /metrics: HTTP %d", got)
	}
	if got := get("http://127.0.0.1:" + port + "/metrics"); got != http.StatusNotFound {
		t.Errorf("HTTP_ADDR /metrics with METRICS_ADDR set: HTTP %d, want 404", got)
	}
	if got := get("http://127.0.0.1:" + port + "/healthz"); got != http.StatusOK {
		t.Errorf("HTTP_ADDR /healthz: HTTP %d", got)
	}
	if c := stop(); c != 0 {
		t.Errorf("exit code %d\n%s", c, stderr.String())
	}
}
