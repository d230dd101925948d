package app

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/p1001/p1001/resilience"
)

func TestPoolerAdvice(t *testing.T) {
	missing := func(code string) resilience.Event {
		return resilience.Event{Kind: resilience.EventAttemptFailed, Op: "getCustomPrompt",
			Err: fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: `prepared statement "stmtcache_1" does not exist`})}
	}
	tests := []struct {
		name      string
		pgbouncer bool
		events    []resilience.Event
		want      int // lines logged
	}{
		{"26000 without pgbouncer=true: one line", false, []resilience.Event{missing("26000")}, 1},
		{"42P05 without pgbouncer=true: one line", false, []resilience.Event{missing("42P05")}, 1},
		{"many failures: still one line", false, []resilience.Event{missing("26000"), missing("42P05"), missing("26000")}, 1},
		{"with pgbouncer=true the advice would be wrong", true, []resilience.Event{missing("26000")}, 0},
		{"other SQLSTATEs say nothing", false, []resilience.Event{missing("42P01")}, 0},
		{"a connection error says nothing", false, []resilience.Event{{Kind: resilience.EventAttemptFailed, Err: errors.New("connection refused")}}, 0},
		{"only failed attempts count", false, []resilience.Event{{Kind: resilience.EventGaveUp, Err: missing("26000").Err}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			o := poolerAdvice(slog.New(slog.NewTextHandler(&buf, nil)), tt.pgbouncer)
			for _, e := range tt.events {
				o.Observe(e)
			}
			if got := strings.Count(buf.String(), "add pgbouncer=true to DATABASE_URL"); got != tt.want {
				t.Errorf("%d advice lines, want %d:\n%s", got, tt.want, buf.String())
			}
			if tt.want > 0 && !strings.Contains(buf.String(), "level=WARN") {
				t.Errorf("advice not at WARN:\n%s", buf.String())
			}
		})
	}
}
