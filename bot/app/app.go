// Package app wires the bot's parts together for `bot serve`, `bot chat`
// and `bot migrate`.
//
// Start order matters for the promise "serve even when the database is
// down": the pool is created without connecting, the HTTP server listens at
// once, and migrations run in the background, retried until they succeed;
// until then replies fall back to the default prompt and the outbox holds
// the message log.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/config"
	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/bot/metrics"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/bot/responder"
	"github.com/p1001/p1001/bot/store"
	"github.com/p1001/p1001/bot/telegram"
	"github.com/p1001/p1001/resilience"
)

// NewLogger returns the bot's slog logger on w.
func NewLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Runtime is the bot minus its transports: database, retry layer, handler,
// outbox, health and metrics.
type Runtime struct {
	Config   config.Config
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	Tracker  *health.Tracker
	Executor *resilience.Executor
	Pool     *pgxpool.Pool
	Store    *store.Store
	Outbox   *msglog.Outbox
	Handler  *chat.Handler

	migrated chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// resetter is the part of *pgxpool.Pool that resetOnBrokenConn needs.
type resetter interface{ Reset() }

// resetOnBrokenConn empties the pool when an attempt finds its connection
// closed under it (P1017). After a network cut or a pooler restart every
// idle connection is as dead as the one that failed, and the next
// attempts would spend themselves on them, each another P1017, instead of
// reconnecting: a lookup could give up without ever trying a new
// connection. Connections in use are closed when they are released.
func resetOnBrokenConn(pool func() resetter) resilience.Observer {
	return resilience.ObserverFunc(func(e resilience.Event) {
		if e.Kind != resilience.EventAttemptFailed || e.Code != resilience.CodeConnClosed {
			return
		}
		if p := pool(); p != nil {
			p.Reset()
		}
	})
}

// Build creates the runtime. It does not touch the database.
func Build(cfg config.Config, log *slog.Logger, version string) (*Runtime, error) {
	rt := &Runtime{Config: cfg, Log: log, Metrics: metrics.New(version), migrated: make(chan struct{})}

	if cfg.DB.CapConnectTimeout(cfg.Retry.AttemptTimeout) {
		log.Info("[Config] connect_timeout capped by the retry policy's attempt timeout",
			"connect_timeout", cfg.DB.Pool.ConnConfig.ConnectTimeout.String(), "attempt_timeout", cfg.Retry.AttemptTimeout.String())
	}
	// Migrations run outside the retry layer: bound their connects too.
	cfg.MigrateDB.CapConnectTimeout(10 * time.Second)

	rt.Outbox = msglog.New(msglog.Options{
		Capacity: cfg.OutboxCapacity, BatchSize: cfg.OutboxBatchSize, RetryMaxDelay: cfg.OutboxRetryMaxDelay,
		Permanent: store.IsPermanent, Logger: log,
	})
	rt.Metrics.RegisterOutbox(rt.Outbox)

	var breaker func() string
	rt.Tracker = health.New(health.Options{
		Breaker:   func() string { return breaker() },
		OnRecover: rt.Outbox.Kick, // flush the message log as soon as the database answers again
	})
	rt.Metrics.RegisterHealth(rt.Tracker)

	promObs, err := resilience.NewPrometheusObserver(rt.Metrics.Registry)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var pool *pgxpool.Pool // set below; the executor's observers need it
	x, err := resilience.New(cfg.Retry,
		resilience.WithAddr(cfg.DB.Addr),
		resilience.WithObserver(resilience.NewSlogObserver(log)),
		resilience.WithObserver(promObs),
		resilience.WithObserver(rt.Tracker),
		resilience.WithObserver(resetOnBrokenConn(func() resetter {
			if pool == nil { // a nil *pgxpool.Pool is not a nil resetter
				return nil
			}
			return pool
		})),
	)
	if err != nil {
		return nil, fmt.Errorf("retry policy: %w", err)
	}
	rt.Executor = x
	breaker = x.BreakerState

	// pgxpool connects lazily (MinConns is 0): this succeeds with the database down.
	pool, err = pgxpool.NewWithConfig(context.Background(), cfg.DB.Pool)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL=%s: %w", cfg.DB.Redacted, err)
	}
	rt.Pool = pool
	rt.Metrics.RegisterPool(pool)
	rt.Store = store.New(pool, x, cfg.DB)

	var resp responder.Responder = responder.Template{}
	if cfg.Responder == "openai" {
		resp, err = responder.NewOpenAI(cfg.OpenAI, log, rt.Metrics.ResponderFallback)
		if err != nil {
			pool.Close()
			return nil, err
		}
	}
	rt.Handler, err = chat.New(rt.Store, resp, rt.Outbox, chat.Options{
		DefaultPrompt:   cfg.DefaultPrompt,
		MaxStaleness:    cfg.PromptMaxStaleness,
		CacheSize:       cfg.PromptCacheSize,
		MaxMessageRunes: cfg.MaxMessageChars,
		MaxPromptRunes:  cfg.MaxPromptChars,
		Logger:          log,
		Observer:        rt.Metrics,
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return rt, nil
}

// Start runs the migrator (when MIGRATE_ON_START) and the outbox writer in
// the background until Stop.
func (rt *Runtime) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	if rt.Config.MigrateOnStart {
		rt.wg.Go(func() { rt.migrateUntilDone(ctx) })
	} else {
		rt.Tracker.Migrated()
		close(rt.migrated)
	}
	rt.wg.Go(func() { rt.Outbox.Run(ctx, rt.Store, rt.migrated) })
}

// Migrated is closed once the schema is in place.
func (rt *Runtime) Migrated() <-chan struct{} { return rt.migrated }

// migrateUntilDone applies the migrations, retrying with capped backoff
// until they succeed or ctx ends.
func (rt *Runtime) migrateUntilDone(ctx context.Context) {
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		applied, err := store.Migrate(actx, rt.Config.MigrateDB, rt.Log)
		cancel()
		if err == nil {
			names := make([]string, len(applied))
			for i, a := range applied {
				names[i] = a.Name
			}
			rt.Log.Info("[Migrate] schema ready", "applied", names, "attempts", attempt)
			rt.Tracker.Migrated()
			close(rt.migrated)
			return
		}
		if ctx.Err() != nil {
			return
		}
		msg := describe(err, rt.Config.MigrateDB)
		code := resilience.Classify(err).Code
		rt.Tracker.MigrationFailed(string(code), msg)
		rt.Log.Warn("[Migrate] schema not applied yet, retrying", "attempt", attempt, "code", string(code), "retry_in", delay.String(), "error", msg)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// describe formats a database error outside the Executor the same way the
// Executor does ("P1001: Can't reach database server at host:port"), with
// any DSN password redacted.
func describe(err error, db *dburl.Config) string {
	c := resilience.Classify(err)
	if c.Code == "" {
		return resilience.RedactText(err.Error())
	}
	e := &resilience.Error{Code: c.Code, Op: "migrate", Addr: db.Addr, Reason: c.Reason, Err: err}
	return resilience.RedactText(e.Error())
}

// Stop ends the background work, flushes the outbox within ctx (logging
// what is lost) and closes the pool.
func (rt *Runtime) Stop(ctx context.Context) error {
	if rt.cancel != nil {
		rt.cancel()
	}
	rt.wg.Wait()
	var err error
	select {
	case <-rt.migrated:
		err = rt.Outbox.Drain(ctx, rt.Store)
	default:
		// No schema, no flush: drain with a done context to count the loss.
		done, cancel := context.WithCancel(ctx)
		cancel()
		err = rt.Outbox.Drain(done, rt.Store)
	}
	rt.Pool.Close()
	return err
}

// HTTPHandler is the bot's HTTP API, with the Telegram webhook when
// configured.
func (rt *Runtime) HTTPHandler() (http.Handler, error) {
	opts := httpapi.Options{
		MaxBodyBytes: rt.Config.MaxBodyBytes,
		Ready:        rt.Tracker.Snapshot,
		Metrics:      rt.Metrics.Handler(),
		Instrument:   rt.Metrics.Instrument,
		APIToken:     rt.Config.APIToken,
		Unauthorized: rt.Metrics.Unauthorized,
		Logger:       rt.Log,
	}
	if rt.Config.MetricsAddr != "" {
		opts.Metrics = nil // served on its own listener (serveMetrics)
	}
	if tg := rt.Config.Telegram; tg != nil {
		wh, err := telegram.New(*tg, rt.Handler, rt.Log, rt.Metrics.TelegramUpdate)
		if err != nil {
			return nil, err
		}
		opts.Telegram = wh
	}
	return httpapi.New(rt.Handler, opts), nil
}

// writeBound is how long one request may take: the database budget (or
// every attempt at its timeout), the responder, and a margin.
func writeBound(cfg config.Config) time.Duration {
	p := cfg.Retry
	db := p.Budget
	if db <= 0 {
		db = time.Duration(p.MaxAttempts) * (p.AttemptTimeout + p.MaxDelay)
	}
	var resp time.Duration
	if cfg.Responder == "openai" {
		resp = cfg.OpenAI.Timeout
	}
	if cfg.Telegram != nil {
		resp += cfg.Telegram.Timeout
	}
	return db + resp + 10*time.Second
}

// isLost tells a lossy shutdown apart from a failed one.
func isLost(err error) bool { return errors.Is(err, msglog.ErrLost) }
