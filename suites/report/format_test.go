package report

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/onsi/gomega/format"
)

// TestFormatErrorHidesConnectConfig: a failed connect's error carries its
// Config, password included; Gomega's default formatting prints it, the
// registered FormatError does not.
func TestFormatErrorHidesConnectConfig(t *testing.T) {
	const password = "pw-Sup3rSecret"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed port: the connect is refused
	_, err = pgx.Connect(context.Background(), "postgres://bot:"+password+"@"+addr+"/db?connect_timeout=2")
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *pgconn.ConnectError, got %v", err)
	}
	if !strings.Contains(format.Object(err, 0), password) {
		t.Fatal("Gomega's default formatting no longer shows the password: this test proves nothing")
	}
	key := format.RegisterCustomFormatter(FormatError)
	defer format.UnregisterCustomFormatter(key)
	got := format.Object(err, 0)
	if strings.Contains(got, password) {
		t.Errorf("formatted error shows the password: %s", got)
	}
	if !strings.Contains(got, "*pgconn.ConnectError") || !strings.Contains(got, "failed to connect") {
		t.Errorf("formatted error lost its type or message: %s", got)
	}
	if _, ok := FormatError("not an error"); ok {
		t.Error("FormatError claimed a string")
	}
}

// TestTruncateKeepsSecretsMasked: a cut through a masked secret still reads
// as masked, so a report whose failure message is cut there is written
// (checkRedacted once refused a whole run's report for "token: x…").
func TestTruncateKeepsSecretsMasked(t *testing.T) {
	msg := redact("status 401: missing API token: send the header Authorization: Bearer <token>")
	for n := 1; n < len([]rune(msg)); n++ {
		got := truncate(msg, n)
		if err := checkRedacted("report.md", []byte(got)); err != nil {
			t.Fatalf("truncate(%q, %d) = %q: %v", msg, n, got, err)
		}
	}
}
