package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestDoctorCommand(t *testing.T) {
	down := "postgresql://bot:hunter2secret@" + closedAddr(t) + "/p1001?pgbouncer=true&connection_limit=5&sslmode=disable"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		wantOut string
		wantErr string
	}{
		{name: "nothing to check", args: []string{"doctor"}, env: map[string]string{}, code: 2, wantErr: "DATABASE_URL is not set (or pass -url)"},
		{name: "-migrate without the variable", args: []string{"doctor", "-migrate"}, env: map[string]string{"DATABASE_URL": down}, code: 2, wantErr: "MIGRATE_DATABASE_URL is not set"},
		{name: "-url and -migrate", args: []string{"doctor", "-migrate", "-url", down}, env: map[string]string{}, code: 2, wantErr: "exclude each other"},
		{name: "bad timeout", args: []string{"doctor", "-timeout", "0s"}, env: map[string]string{"DATABASE_URL": down}, code: 2, wantErr: "-timeout must be positive"},
		{name: "bad colour", args: []string{"doctor", "-color", "pink"}, env: map[string]string{"DATABASE_URL": down}, code: 2, wantErr: `-color "pink"`},
		{name: "bad policy variable", args: []string{"doctor"}, env: map[string]string{"DATABASE_URL": down, "DB_RETRY_MAX_ATTEMPTS": "many"}, code: 2, wantErr: "DB_RETRY_MAX_ATTEMPTS"},
		{name: "unparseable URL is a finding", args: []string{"doctor"}, env: map[string]string{"DATABASE_URL": "postgresql://u:hunter2secret@h:6543/d?connection_limt=10"},
			code: 1, wantOut: `unknown parameter(s) "connection_limt"`},
		{name: "database down", args: []string{"doctor", "-timeout", "500ms"}, env: map[string]string{"DATABASE_URL": down},
			code: 1, wantOut: "FAILED at step tcp (P1001)"},
		{name: "-migrate reads MIGRATE_DATABASE_URL", args: []string{"doctor", "-migrate", "-timeout", "500ms"}, env: map[string]string{"MIGRATE_DATABASE_URL": down},
			code: 1, wantOut: "(MIGRATE_DATABASE_URL)"},
		{name: "-url", args: []string{"doctor", "-url", down, "-timeout", "500ms"}, env: map[string]string{},
			code: 1, wantOut: "(-url)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, environ := lookupFrom(tt.env)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, lookup, environ, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stdout %q (want %q), stderr %q (want %q)", stdout.String(), tt.wantOut, stderr.String(), tt.wantErr)
			}
			if strings.Contains(stdout.String()+stderr.String(), "hunter2secret") {
				t.Error("the password was printed")
			}
			if strings.Contains(stdout.String(), "\x1b[") {
				t.Error("colour on a non-terminal")
			}
		})
	}
}

func TestDoctorJSON(t *testing.T) {
	down := "postgresql://bot:hunter2secret@" + closedAddr(t) + "/p1001?sslmode=disable"
	lookup, environ := lookupFrom(map[string]string{"DATABASE_URL": down})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"doctor", "-json", "-timeout", "500ms"}, lookup, environ, strings.NewReader(""), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, stderr %s", code, stderr.String())
	}
	var rep struct {
		Schema     string `json:"schema"`
		Healthy    bool   `json:"healthy"`
		FailedStep string `json:"failed_step"`
		Code       string `json:"code"`
		BoundNS    int64  `json:"bound_ns"`
		Steps      []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if rep.Schema != "p1001.doctor/v1" || rep.Healthy || rep.FailedStep != "tcp" || rep.Code != "P1001" || rep.BoundNS <= 0 || len(rep.Steps) != 8 {
		t.Errorf("report %+v", rep)
	}
	if strings.Contains(stdout.String(), "hunter2secret") {
		t.Error("the password was printed")
	}
}
