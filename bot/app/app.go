// Package app wires the bot's parts together for `bot serve`, `bot chat`
// and `bot migrate`.
//
// Start order matters for the promise "serve even when the database is
// down": the pool is created without connecting, the HTTP server listens at
// once, and migrations run in the background, retried until they succeed;
// a request that needs the schema waits for it within its budget, then
// falls back (degraded, with the migrator's code), and the outbox holds the
// message log.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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
	// Spool is the outbox's durable copy; nil when SPOOL_PATH=off or it
	// could not be opened.
	Spool   *msglog.Spool
	Handler *chat.Handler

	migrated chan struct{}
	// migrateTried is closed once the migrator's first attempt ended, as
	// a success or a failure: requests waiting for the schema stop then.
	migrateTried chan struct{}
	warm         *warmPool
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

// resetter is the part of *pgxpool.Pool that resetOnBrokenConn needs.
type resetter interface{ Reset() }

// resetOnBrokenConn empties the pool when an attempt finds its connection
// closed under it (P1017), or gets no answer on it at all (P1008 without a
// server error: not a statement_timeout). After a network cut, a pooler
// restart or a peer that vanished every idle connection is as dead as the
// one that failed, and the pool keeps them warm (POOL_MIN_CONNS): the next
// attempts would spend themselves on them, each another P1017 or another
// attempt timeout, instead of reconnecting, and a lookup could give up
// without ever trying a new connection (nor learning that the name no
// longer resolves, or that the server refuses). Connections in use are
// closed when they are released.
func resetOnBrokenConn(pool resetter) resilience.Observer {
	return resilience.ObserverFunc(func(e resilience.Event) {
		if e.Kind != resilience.EventAttemptFailed {
			return
		}
		var answered *pgconn.PgError
		if e.Code == resilience.CodeConnClosed || (e.Code == resilience.CodeOpTimeout && !errors.As(e.Err, &answered)) {
			pool.Reset()
		}
	})
}

// migrateConnectTimeout caps the migrator's connects: it runs outside the
// retry layer, so nothing else bounds a hung handshake.
const migrateConnectTimeout = 10 * time.Second

// Build creates the runtime. It does not touch the database.
func Build(cfg config.Config, log *slog.Logger, version string) (_ *Runtime, err error) {
	rt := &Runtime{Config: cfg, Log: log, Metrics: metrics.New(version), migrated: make(chan struct{}), migrateTried: make(chan struct{})}

	if cfg.DB.CapConnectTimeout(cfg.Retry.AttemptTimeout) {
		log.Info("[Config] connect_timeout capped by the retry policy's attempt timeout",
			"connect_timeout", cfg.DB.Pool.ConnConfig.ConnectTimeout.String(), "attempt_timeout", cfg.Retry.AttemptTimeout.String())
	}
	// Migrations run outside the retry layer: bound their connects too.
	cfg.MigrateDB.CapConnectTimeout(migrateConnectTimeout)

	rt.Spool = openSpool(cfg.SpoolPath, cfg.SpoolFsync, log)
	defer func() {
		if err != nil && rt.Spool != nil {
			rt.Spool.Close()
		}
	}()
	rt.Outbox = msglog.New(msglog.Options{
		Capacity: cfg.OutboxCapacity, BatchSize: cfg.OutboxBatchSize, RetryMaxDelay: cfg.OutboxRetryMaxDelay,
		Permanent: store.IsPermanent, Logger: log,
		Spool: rt.Spool, SpoolMaxBytes: cfg.SpoolMaxBytes,
	})
	rt.Metrics.RegisterOutbox(rt.Outbox)

	// The tracker follows the executor's events, the breaker's state
	// included, so it needs nothing from the executor.
	rt.Tracker = health.New(health.Options{
		OnRecover: rt.Outbox.Kick, // flush the message log as soon as the database answers again
		Meta:      cfg.DB.Target().Meta(),
	})
	rt.Metrics.RegisterHealth(rt.Tracker)

	promObs, err := resilience.NewPrometheusObserver(rt.Metrics.Registry)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	// The store tells a hung connect (P1002/P1001) from a busy pool (P2024).
	watch := store.WatchPool(cfg.DB.Pool)
	// A healthy lookup's query runs unwatched, bounded by its socket's
	// deadline (resilience.QueryDeadlines); after WatchPool, which needs
	// the tracer slot empty.
	resilience.InstallQueryDeadlines(cfg.DB.Pool.ConnConfig)
	// pgxpool connects lazily (MinConns is 0): this succeeds with the
	// database down. warmPool keeps POOL_MIN_CONNS open once it answers.
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg.DB.Pool)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL=%s: %w", cfg.DB.Redacted, err)
	}
	rt.warm = newWarmPool(pgxPool{pool}, cfg.PoolMinConns, cfg.Retry.AttemptTimeout)
	x, err := resilience.New(cfg.Retry,
		resilience.WithTarget(cfg.DB.Target()),
		resilience.WithObserver(resilience.NewSlogObserver(log)),
		resilience.WithObserver(promObs),
		resilience.WithObserver(rt.Tracker),
		resilience.WithObserver(resetOnBrokenConn(pool)),
		resilience.WithObserver(poolerAdvice(log, cfg.DB.PgBouncer)),
		resilience.WithObserver(rt.warm),
	)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("retry policy: %w", err)
	}
	rt.Executor = x
	rt.Pool = pool
	rt.Metrics.RegisterPool(pool)
	// A request that needs the schema waits for the migrator, within one
	// call's budget; past it the reply is degraded with the migrator's code.
	rt.Store = store.New(pool, x, cfg.DB, store.WithSchemaGate(rt.migrated, rt.migrateTried, rt.Tracker.MigrationCause), watch)

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
		ReplyDeadline:   cfg.ReplyDeadline,
		MaxLookups:      cfg.MaxPromptLookups,
		Logger:          log,
		Observer:        rt.Metrics,
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	rt.Metrics.RegisterLookups(rt.Handler)
	return rt, nil
}

// openSpool opens the spool at path ("" means none). A spool that cannot be
// had does not stop the bot: it runs with the message log in memory, and
// says so.
func openSpool(path string, fsync msglog.Fsync, log *slog.Logger) *msglog.Spool {
	if path == "" {
		log.Info("[Spool] off (SPOOL_PATH=off): message-log records are held in memory only, a crash loses them")
		return nil
	}
	sp, err := msglog.OpenSpool(path, fsync, log)
	if err != nil {
		log.Error("[Spool] cannot open the spool: message-log records are held in memory only, a crash loses them",
			"path", path, "error", err.Error())
		return nil
	}
	return sp
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
		close(rt.migrateTried)
	}
	rt.wg.Go(func() { rt.Outbox.Run(ctx, rt.Store, rt.migrated) })
}

// Migrated is closed once the schema is in place.
func (rt *Runtime) Migrated() <-chan struct{} { return rt.migrated }

// migrateDelay is the migrator's wait after its failures-th consecutive
// failure of one kind: "equal jitter", uniform in [ceiling/2, ceiling],
// with the ceiling doubling (resilience.Policy.Backoff without jitter), so
// bots started together spread out and none comes back sooner than half
// the ceiling. While the database is unreachable the ceiling stays short
// (250 ms to 1 s), so the schema follows the database's return within a
// second: until then the schema gate fails requests at once. A non-transient failure (wrong password, unknown database, TLS)
// backs off from 1 s to about a minute: retrying it is what makes
// Supabase's pooler block a project for too many authentication failures.
func migrateDelay(failures int, nonTransient bool) time.Duration {
	p := resilience.Policy{BaseDelay: 250 * time.Millisecond, Factor: 2, MaxDelay: time.Second}
	if nonTransient {
		p.BaseDelay, p.MaxDelay = time.Second, time.Minute
	}
	ceiling := p.Backoff(failures)
	return ceiling/2 + rand.N(ceiling/2+1)
}

// migrateUntilDone applies the migrations, retrying with backoff until they
// succeed or ctx ends. It logs when the cause of failure changes, not on
// every attempt; /readyz shows the current cause.
func (rt *Runtime) migrateUntilDone(ctx context.Context) {
	var (
		lastCause string
		failures  int // consecutive failures of the same kind
		lastKind  bool
	)
	tried := sync.OnceFunc(func() { close(rt.migrateTried) })
	defer tried()
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
		c := resilience.Classify(err)
		if c.NonTransient != lastKind {
			failures = 0
		}
		failures++
		lastKind = c.NonTransient
		delay := migrateDelay(failures, c.NonTransient)
		msg := describe(err, c, rt.Config.MigrateDB)
		f := health.MigrationFailure{Code: string(c.Code), Cause: c.Reason, Error: msg,
			NonTransient: c.NonTransient, RetryAt: time.Now().Add(delay)}
		if c.Code != "" {
			f.Meta = rt.Config.MigrateDB.Target().Meta()
		}
		rt.Tracker.MigrationFailed(f)
		tried() // after the cause is known: the waiting requests read it
		cause := string(c.Code) + " " + c.Reason
		if c.Code == "" {
			cause = msg // unclassified: the message is the only way to tell two apart
		}
		level := slog.LevelDebug
		if cause != lastCause {
			level, lastCause = slog.LevelWarn, cause
		}
		rt.Log.Log(ctx, level, "[Migrate] schema not applied yet, retrying", "attempt", attempt, "code", string(c.Code),
			"non_transient", c.NonTransient, "retry_in", delay.Round(time.Millisecond).String(), "reason", c.Reason, "error", msg)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
	}
}

// describe formats a database error met outside the Executor, whose
// classification is c, the same way the Executor does (Prisma's message:
// "P1001: Can't reach database server at `host`:`port` ..."), with any DSN
// password redacted.
func describe(err error, c resilience.Classification, db *dburl.Config) string {
	if c.Code == "" {
		return resilience.RedactText(err.Error())
	}
	e := &resilience.Error{Classification: c, Op: "migrate", Target: db.Target(), Err: err}
	return resilience.RedactText(e.Error())
}

// Stop ends the background work, flushes the outbox within ctx (logging
// what is kept in the spool, or lost without one), closes the spool and
// the pool.
func (rt *Runtime) Stop(ctx context.Context) error {
	if rt.cancel != nil {
		rt.cancel()
	}
	rt.wg.Wait()
	rt.warm.Wait()
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
	if rt.Spool != nil {
		if cerr := rt.Spool.Close(); cerr != nil {
			rt.Log.Warn("[Spool] closing the spool", "error", cerr.Error())
		}
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
