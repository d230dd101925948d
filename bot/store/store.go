// Package store is the bot's Postgres store on pgxpool: per-chat custom
// prompts and the message log. Every query is parameterized and runs through
// the resilience Executor, so it is retried, bounded and counted; the
// migrations that create the tables are embedded (see Migrate).
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/resilience"
)

// Operation names, as they appear in logs and metrics.
const (
	OpGetPrompt   = "getCustomPrompt"
	OpSetPrompt   = "setCustomPrompt"
	OpResetPrompt = "resetCustomPrompt"
	OpLogMessages = "logMessages"
)

// Store implements chat.Store and msglog.Writer.
type Store struct {
	pool           *pgxpool.Pool
	x              *resilience.Executor
	acquireTimeout time.Duration
	queryTimeout   time.Duration
	schema         *schemaGate // nil: the schema is assumed in place
	watch          *poolWatch  // nil: acquire timeouts read as P2024 (see WatchPool)

	sqlGet, sqlSet, sqlReset, sqlLog string
}

// Option configures a Store.
type Option func(*Store)

// schemaGate holds the prompt operations back until the migrations ran.
type schemaGate struct {
	ready   <-chan struct{}
	settled <-chan struct{}
	cause   func() (code string, nonTransient bool)
}

// ErrSchemaPending is the cause of a call that gave up waiting for the
// schema: the database was never asked.
var ErrSchemaPending = errors.New("schema not in place yet: the migrations have not finished")

// WithSchemaGate makes the prompt operations wait until ready is closed
// (the migrations ran), for at most one call's budget
// (resilience.Policy.WorstCaseCall) or until ctx ends. Past the budget they
// fail without touching the database, as a *resilience.Error with the
// migrator's last code (cause(); P1001 when it has none yet), cause
// ErrSchemaPending and 0 attempts: the bot's own migration is not a
// database error ("relation does not exist") the user should see. Once the
// migrator's first attempt has ended (settled is closed) without the
// schema, the database is away or refuses us, and waiting could only delay
// a fallback: they fail at once, also those already waiting.
func WithSchemaGate(ready, settled <-chan struct{}, cause func() (code string, nonTransient bool)) Option {
	return func(s *Store) { s.schema = &schemaGate{ready: ready, settled: settled, cause: cause} }
}

// New returns a Store on pool. cfg supplies the Prisma pool_timeout,
// socket_timeout and schema.
func New(pool *pgxpool.Pool, x *resilience.Executor, cfg *dburl.Config, opts ...Option) *Store {
	prompts := cfg.QualifiedTable("chat_prompts")
	log := cfg.QualifiedTable("message_log")
	s := &Store{
		pool:           pool,
		x:              x,
		acquireTimeout: cfg.AcquireTimeout,
		queryTimeout:   cfg.QueryTimeout,
		sqlGet:         `SELECT prompt FROM ` + prompts + ` WHERE chat_id = $1`,
		sqlSet: `INSERT INTO ` + prompts + ` (chat_id, prompt, updated_at) VALUES ($1, $2, now())
			ON CONFLICT (chat_id) DO UPDATE SET prompt = EXCLUDED.prompt, updated_at = now()`,
		sqlReset: `DELETE FROM ` + prompts + ` WHERE chat_id = $1`,
		// One statement per batch; ORDER BY ord keeps the identity column in
		// the outbox's order. ON CONFLICT makes a re-sent batch harmless.
		sqlLog: `INSERT INTO ` + log + ` (record_key, chat_id, direction, body, prompt_source, degraded, command, sent_at)
			SELECT k, c, d, b, NULLIF(p, ''), g, NULLIF(m, ''), t
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::timestamptz[])
				WITH ORDINALITY AS r(k, c, d, b, p, g, m, t, ord)
			ORDER BY ord
			ON CONFLICT (record_key) DO NOTHING`,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// awaitSchema returns once the schema is in place, or fails op as described
// in WithSchemaGate.
func (s *Store) awaitSchema(ctx context.Context, op string) error {
	if s.schema == nil {
		return nil
	}
	select {
	case <-s.schema.ready:
		return nil
	default:
	}
	// Wait only while the migrator's first attempt is under way: once it
	// failed, the database is known to be away (or to refuse us), and a
	// reply that waited for it would only be a slow fallback; a bot
	// restarted during an outage answers at once.
	if code, _ := s.schema.cause(); code == "" {
		var expired <-chan time.Time
		if d := s.x.Policy().WorstCaseCall(); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-s.schema.ready:
			return nil
		case <-s.schema.settled:
			select {
			case <-s.schema.ready:
				return nil
			default:
			}
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for the schema: %w", op, ctx.Err())
		case <-expired:
		}
	}
	code, nonTransient := s.schema.cause()
	if code == "" {
		code = string(resilience.CodeUnreachable)
	}
	// The verdict: the database was not asked, so nothing was sent; it
	// stands for the migrator's connection failure.
	return &resilience.Error{Classification: resilience.Classification{Code: resilience.Code(code), Reason: ErrSchemaPending.Error(),
		Retryable: !nonTransient, Connection: true, NotSent: true, NonTransient: nonTransient},
		Op: op, Target: s.x.Target(), Err: ErrSchemaPending}
}

// withConn runs fn on a pooled connection, applying pool_timeout to the
// acquire and socket_timeout to fn. An acquire that runs out of time is a
// *resilience.AcquireTimeoutError (see acquire): P2024 when the pool's
// connections were busy or pool_timeout fired, P1002/P1001 when it waited
// on a connect that hung.
func (s *Store) withConn(ctx context.Context, fn func(ctx context.Context, conn *pgxpool.Conn) error) error {
	conn, err := s.acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if s.queryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.queryTimeout)
		defer cancel()
	}
	err = fn(ctx, conn)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "25006" {
		// The server behind this connection is read-only (the old primary
		// after a failover): closed, it is not handed out again, and the
		// retry connects anew, to the new primary once DNS has moved.
		_ = conn.Conn().Close(ctx)
	}
	return err
}

// GetPrompt reads the chat's custom prompt; Found is false when it has none.
func (s *Store) GetPrompt(ctx context.Context, chatID string) (chat.StoredPrompt, resilience.Result, error) {
	if err := s.awaitSchema(ctx, OpGetPrompt); err != nil {
		return chat.StoredPrompt{}, resilience.Result{}, err
	}
	return resilience.Query(ctx, s.x, resilience.Op{Name: OpGetPrompt, Kind: resilience.Read},
		func(ctx context.Context) (chat.StoredPrompt, error) {
			var p chat.StoredPrompt
			err := s.withConn(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
				return conn.QueryRow(ctx, s.sqlGet, chatID).Scan(&p.Text)
			})
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return chat.StoredPrompt{}, nil
			case err != nil:
				return chat.StoredPrompt{}, err
			}
			p.Found = true
			return p, nil
		})
}

// SetPrompt upserts the chat's custom prompt. An upsert is idempotent, so
// the retry layer may repeat it even after an ambiguous failure.
func (s *Store) SetPrompt(ctx context.Context, chatID, prompt string) (resilience.Result, error) {
	if err := s.awaitSchema(ctx, OpSetPrompt); err != nil {
		return resilience.Result{}, err
	}
	return s.x.Do(ctx, resilience.Op{Name: OpSetPrompt, Kind: resilience.Write, Idempotent: true},
		func(ctx context.Context) error {
			return s.withConn(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
				_, err := conn.Exec(ctx, s.sqlSet, chatID, prompt)
				return err
			})
		})
}

// ResetPrompt deletes the chat's custom prompt (idempotent).
func (s *Store) ResetPrompt(ctx context.Context, chatID string) (resilience.Result, error) {
	if err := s.awaitSchema(ctx, OpResetPrompt); err != nil {
		return resilience.Result{}, err
	}
	return s.x.Do(ctx, resilience.Op{Name: OpResetPrompt, Kind: resilience.Write, Idempotent: true},
		func(ctx context.Context) error {
			return s.withConn(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
				_, err := conn.Exec(ctx, s.sqlReset, chatID)
				return err
			})
		})
}

// WriteLog inserts a batch of message-log records in one statement, in
// order. Records whose key is already stored are skipped, which makes the
// write idempotent.
func (s *Store) WriteLog(ctx context.Context, recs []msglog.Record) error {
	if len(recs) == 0 {
		return nil
	}
	n := len(recs)
	keys, chats, dirs, bodies, sources, cmds := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	degraded, at := make([]bool, n), make([]time.Time, n)
	for i, r := range recs {
		keys[i], chats[i], dirs[i], bodies[i], sources[i], cmds[i] = r.Key, r.ChatID, string(r.Direction), r.Text, r.PromptSource, r.Command
		degraded[i], at[i] = r.Degraded, r.At
	}
	_, err := s.x.Do(ctx, resilience.Op{Name: OpLogMessages, Kind: resilience.Write, Idempotent: true},
		func(ctx context.Context) error {
			return s.withConn(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
				_, err := conn.Exec(ctx, s.sqlLog, keys, chats, dirs, bodies, sources, degraded, cmds, at)
				return err
			})
		})
	return err
}

// IsPermanent reports a failed write that retrying cannot fix: the server
// refused the data itself (SQLSTATE class 22, data exception, or 23,
// integrity violation). The outbox uses it to drop a poisoned record instead
// of blocking behind it; every other failure keeps the record queued.
func IsPermanent(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
}
