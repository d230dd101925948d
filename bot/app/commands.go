package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/config"
	"github.com/p1001/p1001/bot/store"
	"github.com/p1001/p1001/resilience"
)

// Serve runs the HTTP server on ln until ctx is done, then shuts down
// gracefully: /readyz turns 503, in-flight requests finish, the outbox is
// flushed (or its remainder logged as lost) and the pool is closed, all
// within SHUTDOWN_TIMEOUT.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, version string, ln net.Listener) error {
	rt, err := Build(cfg, log, version)
	if err != nil {
		return err
	}
	h, err := rt.HTTPHandler()
	if err != nil {
		rt.Pool.Close()
		if rt.Spool != nil {
			rt.Spool.Close()
		}
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeBound(cfg),
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	stopMetrics, err := serveMetrics(cfg, rt.Metrics.Handler(), log)
	if err != nil {
		rt.Pool.Close()
		return err
	}
	defer stopMetrics()
	rt.Start()
	log.Info("[Bot] serving",
		"addr", ln.Addr().String(), "version", version, "database", cfg.DB.Redacted, "pgbouncer", cfg.DB.PgBouncer,
		"max_attempts", cfg.Retry.MaxAttempts, "attempt_timeout", cfg.Retry.AttemptTimeout.String(), "budget", cfg.Retry.Budget.String(),
		"breaker", cfg.Retry.Breaker.Enabled, "responder", cfg.Responder, "telegram", cfg.Telegram != nil,
		"api_token", cfg.APIToken != "", "metrics_addr", cfg.MetricsAddr)
	warnUnauthenticated(cfg, log)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = rt.Stop(stopCtx)
		return fmt.Errorf("http server: %w", err)
	}

	log.Info("[Bot] shutting down", "timeout", cfg.ShutdownTimeout.String())
	rt.Tracker.Drain()
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		log.Warn("[Bot] in-flight requests cut off at the shutdown timeout", "error", err.Error())
	}
	stopErr := rt.Stop(stopCtx)
	if stopErr != nil && !isLost(stopErr) {
		return stopErr
	}
	st := rt.Outbox.Stats()
	log.Info("[Bot] stopped", "outbox_flushed", st.Flushed, "outbox_kept", st.Kept, "outbox_lost", st.Lost, "outbox_dropped", st.DroppedOverflow)
	return nil
}

// Chat is a console REPL on the same handler as the HTTP API: each line is
// a message (commands included) for chatID, answered with its prompt
// source. "/quit" or end of input ends it.
func Chat(ctx context.Context, cfg config.Config, log *slog.Logger, version, chatID string, in io.Reader, out io.Writer) error {
	rt, err := Build(cfg, log, version)
	if err != nil {
		return err
	}
	rt.Start()
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = rt.Stop(stopCtx)
	}()

	fmt.Fprintf(out, "%s: chatting as %q. Type /help for commands, /quit to leave.\n", version, chatID)
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 64<<10), 4*cfg.MaxMessageChars+1024)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	for {
		fmt.Fprint(out, "you> ")
		var line string
		select {
		case <-ctx.Done():
			fmt.Fprintln(out)
			return nil
		case err := <-readErr:
			fmt.Fprintln(out)
			if err != nil {
				return fmt.Errorf("reading input: %w", err)
			}
			return nil
		case line = <-lines:
		}
		line = strings.TrimSpace(line)
		switch line {
		case "":
			continue
		case "/quit", "/exit":
			return nil
		}
		reply, err := rt.Handler.Handle(ctx, chat.Message{ChatID: chatID, Text: line})
		var bad *chat.InputError
		switch {
		case errors.As(err, &bad):
			fmt.Fprintf(out, "error: %v\n", bad)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		meta := fmt.Sprintf("prompt_source=%s attempts=%d", reply.PromptSource, reply.Attempts)
		if reply.Degraded {
			meta += " degraded code=" + reply.Code
			if m := reply.Meta; m != nil {
				meta += " at " + net.JoinHostPort(m.DatabaseHost, strconv.Itoa(m.DatabasePort))
			}
		}
		fmt.Fprintf(out, "bot> %s\n     (%s)\n", reply.Text, meta)
	}
}

// Migrate applies the embedded migrations once (MIGRATE_DATABASE_URL, else
// DATABASE_URL), or with status prints which are applied.
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger, status bool, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	db := cfg.MigrateDB
	db.CapConnectTimeout(migrateConnectTimeout)
	if status {
		st, err := store.Status(ctx, db, log)
		if err != nil {
			return fmt.Errorf("%s (database %s)", describe(err, resilience.Classify(err), db), db.Redacted)
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(out, "%-30s %s\n", s.Name, state)
		}
		return nil
	}
	applied, err := store.Migrate(ctx, db, log)
	if err != nil {
		return fmt.Errorf("%s (database %s)", describe(err, resilience.Classify(err), db), db.Redacted)
	}
	if len(applied) == 0 {
		fmt.Fprintln(out, "schema up to date")
	}
	for _, a := range applied {
		fmt.Fprintf(out, "applied %s (%s)\n", a.Name, a.Duration.Round(time.Millisecond))
	}
	return nil
}
