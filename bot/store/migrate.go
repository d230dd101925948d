package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/p1001/p1001/bot/dburl"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded migration files.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// ErrSchemaNeedsDirect is returned when the URL names a schema and goes
// through PgBouncer: the migration session needs search_path, which
// PgBouncer does not accept as a startup parameter.
var ErrSchemaNeedsDirect = errors.New("schema= with pgbouncer=true: set MIGRATE_DATABASE_URL to a direct (non-pooler) URL for migrations")

// MigrationResult is one applied migration.
type MigrationResult struct {
	Name     string
	Duration time.Duration
}

// Migrate applies the pending embedded migrations with goose.
//
// Locking uses goose's table locker (a row in goose_lock with a lease), not
// a session advisory lock: an advisory lock belongs to a server session,
// which PgBouncer in transaction mode hands to other clients between
// transactions. Each migration runs in its own transaction, so Migrate
// works through the pooler URL; MIGRATE_DATABASE_URL may still point it at a
// direct connection. Applying twice is a no-op.
func Migrate(ctx context.Context, cfg *dburl.Config, log *slog.Logger) ([]MigrationResult, error) {
	p, db, err := provider(ctx, cfg, log, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	results, err := p.Up(ctx)
	applied := make([]MigrationResult, 0, len(results))
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, MigrationResult{Name: r.Source.Path, Duration: r.Duration})
		}
	}
	if err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// MigrationStatus is the state of one embedded migration.
type MigrationStatus struct {
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// Status reports which embedded migrations are applied.
func Status(ctx context.Context, cfg *dburl.Config, log *slog.Logger) ([]MigrationStatus, error) {
	p, db, err := provider(ctx, cfg, log, false)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, len(st))
	for i, s := range st {
		out[i] = MigrationStatus{Name: s.Source.Path, Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt}
	}
	return out, nil
}

func provider(ctx context.Context, cfg *dburl.Config, log *slog.Logger, locking bool) (*goose.Provider, *sql.DB, error) {
	if cfg.Schema != "" && cfg.PgBouncer {
		return nil, nil, ErrSchemaNeedsDirect
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := stdlib.OpenDB(*cfg.Pool.ConnConfig.Copy())
	// The table locker's heartbeat runs beside the migration.
	db.SetMaxOpenConns(3)
	db.SetConnMaxIdleTime(time.Minute)
	if cfg.Schema != "" {
		if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{cfg.Schema}.Sanitize()); err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("migrate: create schema: %w", err)
		}
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithSlog(log)}
	if locking {
		locker, err := lock.NewPostgresTableLocker(
			lock.WithTableLockTimeout(500*time.Millisecond, 20), // give up after ~10s; the caller retries
			lock.WithTableUnlockTimeout(500*time.Millisecond, 10),
			lock.WithTableLogger(log),
		)
		if err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("migrate: locker: %w", err)
		}
		opts = append(opts, goose.WithLocker(locker))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, Migrations(), opts...)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	return p, db, nil
}
