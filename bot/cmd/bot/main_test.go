package main

import (
	"bytes"
	"context"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func lookupFrom(m map[string]string) (func(string) (string, bool), []string) {
	var environ []string
	for k, v := range m {
		environ = append(environ, k+"="+v)
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }, environ
}

// with returns a copy of env with key set to value.
func with(env map[string]string, key, value string) map[string]string {
	out := maps.Clone(env)
	out[key] = value
	return out
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestRun(t *testing.T) {
	down := "postgresql://bot:hunter2secret@" + closedAddr(t) + "/p1001?pgbouncer=true"
	fast := map[string]string{"DATABASE_URL": down, "DB_RETRY_BASE_DELAY": "1ms", "DB_RETRY_MAX_DELAY": "2ms", "DB_BREAKER_ENABLED": "false", "SHUTDOWN_TIMEOUT": "100ms",
		"SPOOL_PATH": filepath.Join(t.TempDir(), "spool.db")}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		stdin      string
		code       int
		wantOut    string
		wantErr    string
		notInStdio string
	}{
		{name: "no command", args: nil, code: 2, wantErr: "usage: bot <command>"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, wantErr: `unknown command "frobnicate"`},
		{name: "version", args: []string{"version"}, code: 0, wantOut: "p1001 bot dev"},
		{name: "help", args: []string{"help"}, code: 0, wantOut: "migrate [-status]"},
		{name: "bad flag", args: []string{"serve", "-port", "1"}, env: fast, code: 2, wantErr: "flag provided but not defined: -port"},
		{name: "stray argument", args: []string{"migrate", "now"}, env: fast, code: 2, wantErr: "unexpected arguments"},
		{name: "missing DATABASE_URL", args: []string{"serve"}, env: map[string]string{}, code: 2, wantErr: "DATABASE_URL is not set"},
		{name: "unknown URL parameter", args: []string{"serve"}, env: map[string]string{"DATABASE_URL": "postgresql://u:hunter2secret@h:6543/d?pgbouncer=true&connection_limt=10"},
			code: 2, wantErr: `unknown parameter(s) "connection_limt"`, notInStdio: "hunter2secret"},
		{name: "migrate with the database down", args: []string{"migrate"}, env: fast, code: 1,
			wantErr: "P1001: Can't reach database server at `127.0.0.1`:`", notInStdio: "hunter2secret"},
		// The schema never comes: the lookup waits one budget for it, then
		// falls back without asking the database.
		{name: "chat with the database down", args: []string{"chat", "-chat", "c9"}, env: with(fast, "DB_RETRY_BUDGET", "200ms"), stdin: "hi\n", code: 0,
			wantOut: "(prompt_source=default attempts=0 degraded code=P1001 at 127.0.0.1:", notInStdio: "hunter2secret"},
		{name: "chat with the database down and the schema taken as in place", args: []string{"chat", "-chat", "c9"},
			env: with(fast, "MIGRATE_ON_START", "false"), stdin: "hi\n", code: 0,
			wantOut: "(prompt_source=default attempts=3 degraded code=P1001 at 127.0.0.1:", notInStdio: "hunter2secret"},
		{name: "serve on a busy address", args: []string{"serve", "-addr", "256.0.0.1:1"}, env: fast, code: 1, wantErr: "cannot listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, environ := lookupFrom(tt.env)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, lookup, environ, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantOut, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr.String())
			}
			if tt.notInStdio != "" && strings.Contains(stdout.String()+stderr.String(), tt.notInStdio) {
				t.Errorf("output contains %q", tt.notInStdio)
			}
		})
	}
}
