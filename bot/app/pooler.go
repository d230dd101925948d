package app

import (
	"errors"
	"log/slog"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/p1001/p1001/resilience"
)

// LinePreparedThroughPooler is the one line the bot logs when a statement
// fails because named prepared statements do not survive a transaction
// pooler (PgBouncer in transaction mode, Supavisor on 6543) and the URL
// lacks pgbouncer=true: every reply is degraded (DB_ERROR) until the
// operator fixes the URL, and the line says how.
const LinePreparedThroughPooler = "[Config] Prepared statements fail through a transaction pooler: add pgbouncer=true to DATABASE_URL, or use the direct (non-pooler) URL"

// preparedStatementStates are the SQLSTATEs of a named prepared statement
// that a transaction pooler lost or mixed up: 26000 "prepared statement
// ... does not exist" (prepared on another server connection), 42P05
// "prepared statement ... already exists" (another client prepared the
// same name on this one).
var preparedStatementStates = []string{"26000", "42P05"}

// poolerAdvice logs LinePreparedThroughPooler once per runtime, at the
// first failed attempt with one of preparedStatementStates, when the URL
// did not say pgbouncer=true (with it, pgx sends no named statements, so
// the advice would be wrong). Once, because the cause is the
// configuration: each failure's own line already says DB_ERROR.
func poolerAdvice(log *slog.Logger, pgbouncer bool) resilience.Observer {
	var once sync.Once
	return resilience.ObserverFunc(func(e resilience.Event) {
		if pgbouncer || e.Kind != resilience.EventAttemptFailed {
			return
		}
		var pgErr *pgconn.PgError
		if !errors.As(e.Err, &pgErr) || !slices.Contains(preparedStatementStates, pgErr.Code) {
			return
		}
		once.Do(func() {
			log.Warn(LinePreparedThroughPooler, "op", e.Op, "sqlstate", pgErr.Code)
		})
	})
}
