package app

import (
	"errors"
	"log/slog"
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

// poolerAdvice logs LinePreparedThroughPooler once per runtime, at the
// first failed attempt the retry layer classifies as a prepared-statement
// conflict (resilience.AdviceStatementCache: SQLSTATE 26000 or 42P05),
// when the URL did not say pgbouncer=true (with it, pgx sends no named
// statements, so the advice would be wrong). Once, because the cause is
// the configuration: each failure's own line already says DB_ERROR.
func poolerAdvice(log *slog.Logger, pgbouncer bool) resilience.Observer {
	var once sync.Once
	return resilience.ObserverFunc(func(e resilience.Event) {
		if pgbouncer || e.Kind != resilience.EventAttemptFailed || e.Err == nil {
			return
		}
		if resilience.Classify(e.Err).Advice != resilience.AdviceStatementCache {
			return
		}
		var pgErr *pgconn.PgError
		sqlstate := ""
		if errors.As(e.Err, &pgErr) {
			sqlstate = pgErr.Code
		}
		once.Do(func() {
			log.Warn(LinePreparedThroughPooler, "op", e.Op, "sqlstate", sqlstate)
		})
	})
}
