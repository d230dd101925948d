//go:build integration

package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/config"
	"github.com/p1001/p1001/bot/internal/httpbench"
)

// BenchmarkPostMessageRealPostgres measures POST /v1/chats/{id}/messages on
// the healthy path through the whole bot (loopback HTTP, handler, retry
// layer, pgxpool, the outbox writing the message log) against
// P1001_TEST_DATABASE_URL, without the spool (memory only) and with it,
// in both SPOOL_FSYNC modes. -cpu sets the client concurrency via
// RunParallel.
func BenchmarkPostMessageRealPostgres(b *testing.B) {
	raw := os.Getenv("P1001_TEST_DATABASE_URL")
	if raw == "" {
		b.Fatal("P1001_TEST_DATABASE_URL is not set")
	}
	for _, spool := range []string{"off", "background", "reply"} {
		b.Run("spool="+spool, func(b *testing.B) {
			vars := map[string]string{"DATABASE_URL": raw, "SPOOL_PATH": "off"}
			if spool != "off" {
				vars["SPOOL_PATH"], vars["SPOOL_FSYNC"] = filepath.Join(b.TempDir(), "spool.db"), spool
			}
			benchPostMessage(b, vars)
		})
	}
}

func benchPostMessage(b *testing.B, vars map[string]string) {
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, nil)
	if err != nil {
		b.Fatal(err)
	}
	rt, err := Build(cfg, NewLogger("text", slog.LevelWarn, io.Discard), "bench")
	if err != nil {
		b.Fatal(err)
	}
	rt.Start()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Stop(ctx); err != nil {
			b.Errorf("stop: %v", err)
		}
	}()
	select {
	case <-rt.Migrated():
	case <-time.After(30 * time.Second):
		b.Fatal("not migrated")
	}
	ctx := context.Background()
	for i := range 100 {
		if _, err := rt.Handler.Handle(ctx, chat.Message{ChatID: fmt.Sprintf("bench-%d", i), Text: "/setprompt You are a pirate. Arr."}); err != nil {
			b.Fatal(err)
		}
	}
	h, err := rt.HTTPHandler()
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	httpbench.Loopback(b, srv.URL, "bench")
}
