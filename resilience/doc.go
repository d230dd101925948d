// Package resilience is the retry layer for pgx programs: it classifies
// Postgres and pooler failures, maps them to Prisma-style codes (P1001...),
// retries what is safe to retry with jittered backoff inside a per-call
// budget, and fails fast through a circuit breaker while the database is
// down. Every step is reported to observers (slog lines, Prometheus).
// It depends on pgx, failsafe-go (its circuit breaker; the retry loop is
// the package's own) and the Prometheus client only; it does not import the
// bot.
//
// # Use
//
//	pol, err := resilience.PolicyFromEnv(os.LookupEnv)
//	...
//	prom, err := resilience.NewPrometheusObserver(registry)
//	x, err := resilience.New(pol,
//		resilience.WithTarget(resilience.TargetFromDSN(dsn)), // plus the pool's size and pool_timeout
//		resilience.WithObserver(resilience.NewSlogObserver(logger)),
//		resilience.WithObserver(prom))
//	prompt, _, err := resilience.Query(ctx, x, resilience.Op{Name: "getCustomPrompt"},
//		func(ctx context.Context) (string, error) { ... pool.QueryRow(ctx, ...) ... })
//	var rerr *resilience.Error
//	if errors.As(err, &rerr) && rerr.Code == resilience.CodeUnreachable { ... fallback ... }
//
// fn must use the ctx it is given: it carries the attempt timeout and the
// budget, and it is how a canceled caller stops an attempt. A caller whose
// context cannot be canceled gets a deadline shared with other attempts
// (at most AttemptTimeout/64 late); install QueryDeadlines on the pool's
// ConnConfig so that a read's query then runs unwatched, bounded by its
// socket's read deadline (attemptctx.go says why). fn may run
// several times. Every failed call returns a *Error, whose Error() is the
// code and Prisma's own message for it, word for word (the Prisma 6 engine's
// templates, whose URL parameters the runbook uses): "P1001: Can't reach
// database server at `toxiproxy`:`6543` Please make sure your database
// server is running at `toxiproxy`:`6543`.", P2024 with the pool's real
// pool_timeout and size (Target). It never contains the password, nor the
// cause (Reason) and the attempts, which callers log as attributes of their
// own; Target.Meta names the server as Prisma's meta does, for replies.
// Unwrap gives the pgx error. Its embedded Classification is the
// Executor's verdict on the call (Code, Reason, Connection, NotSent,
// NonTransient, ...), the one the breaker counted: read it from the Error
// rather than classifying the cause again, which cannot know about a
// breaker rejection or a spent budget. Classify of an *Error returns that
// verdict, never Retryable.
//
// # Defaults and environment
//
// PolicyFromEnv starts from DefaultPolicy and reads (an unset or blank
// variable keeps the default; durations use Go syntax such as 250ms or 2s;
// a bad value is an error naming the variable; CheckEnvNames catches typos
// in DB_RETRY_*/DB_BREAKER_* names):
//
//	DB_RETRY_MAX_ATTEMPTS         3      attempts per call, the first included
//	DB_RETRY_BASE_DELAY           100ms  backoff ceiling after the 1st failure
//	DB_RETRY_FACTOR               2      ceiling growth per failure
//	DB_RETRY_MAX_DELAY            2s     cap on the ceiling
//	DB_RETRY_JITTER               true   full jitter: delay uniform in [0, ceiling]
//	DB_RETRY_ATTEMPT_TIMEOUT      2s     deadline of each attempt (0 = none)
//	DB_RETRY_BUDGET               5s     whole call, retries and delays included (0 = none)
//	DB_BREAKER_ENABLED            true
//	DB_BREAKER_FAILURE_THRESHOLD  1      consecutive failed calls that open it
//	DB_BREAKER_DELAY              1s     open -> half-open
//	DB_BREAKER_SUCCESS_THRESHOLD  1      successful probes that close it
//
// So with defaults the delay after failure n is uniform in
// [0, min(2s, 100ms*2^(n-1))]: up to 100ms, then up to 200ms. The attempt
// timeout is a context deadline, so pgx caps a DSN's connect_timeout by it:
// a reply can never wait for connect_timeout=30 three times over.
//
// The budget stops retrying early: a retry whose delay would end past the
// budget is not scheduled, and an attempt still running when the budget
// runs out is canceled (the error names the budget; its code is the last
// finished attempt's, or P1008 when none finished).
//
// # Classification
//
// Classify reads only the error chain. Retryable, with the code:
//
//   - *pgconn.ConnectError without a server verdict: P1001 for refused,
//     reset, closed, DNS failure and dial timeout; P1002 when TCP connected
//     but the startup exchange timed out. All NotSent.
//   - SQLSTATE 08xxx: P1001 while connecting, P1017 after; 57P01 and 57P02
//     likewise; 57P03 and 53300: P1001.
//   - io.EOF, io.ErrUnexpectedEOF, resets, pgconn.ErrConnClosed: P1017.
//   - pgconn.Timeout and net timeouts after connecting: P1008.
//   - A bare context.DeadlineExceeded, which is what pgxpool returns when
//     Acquire waits past the deadline (pgx wraps every deadline it meets on
//     a connection): P2024, NotSent.
//   - 40001 and 40P01: P2034, RolledBack (the whole transaction is re-run).
//   - 57014 (statement_timeout): P1008, not connection-class.
//   - Other pgconn.SafeToRetry errors: P1017, NotSent.
//   - Pooler messages without a useful SQLSTATE (08P01, XX000 or none),
//     matched case-insensitively, see PoolerMessages: PgBouncer's "no more
//     connections allowed", "server login has been failing", "pgbouncer
//     cannot connect to server", "query_wait_timeout", "client_login_timeout",
//     "server conn crashed", "server_idle_timeout"; Supavisor's "Unable to
//     check out process from the pool due to timeout", "checkout timeout",
//     "Max client connections reached", "Too many clients already",
//     "DbHandler exited", "db_termination".
//
// Non-transient (Classification.NonTransient): refusals that only a change
// of configuration or credentials fixes. Never retried, but connection-class,
// so they count for the breaker like unreachability, and the open breaker
// then fails calls fast under their own code (not P1001), naming the cause:
//
//   - 28xxx and Supavisor's "Tenant or user not found": P1000.
//   - 3D000 (the database does not exist): P1003.
//   - TLS: a certificate not accepted (unknown authority, wrong host name),
//     a failed handshake, or a server refusing the TLS that sslmode requires:
//     P1011. With sslmode=prefer a refused TLS try followed by a plain
//     connect is judged by the plain connect.
//
// Retrying them is what makes Supabase's pooler (Supavisor) block every new
// connection of a project ("too many authentication failures").
//
// Not retryable either: 42P05 and 26000 (prepared statements
// behind a transaction pooler; the reason says "use pgbouncer=true", in pgx
// terms default_query_exec_mode=exec or simple_protocol), 23xxx, 42xxx,
// 22xxx and anything unknown (Code ""). A canceled caller context is never
// retried, never P1001 and never counted by the breaker; a caller's own
// deadline is reported as P1008.
//
// pgx also returns ErrConnClosed (which it calls SafeToRetry) when the
// socket died after a statement was flushed, so it is not NotSent.
//
// # Reads and writes
//
// Reads (Op.Kind Read) retry on any retryable error. Writes retry only when
// the error proves nothing was applied: NotSent (failed before sending), or
// RolledBack (40001/40P01), or when Op.Idempotent says a repeat is harmless
// (an upsert). Tx re-runs the whole transaction through the same rule; a
// commit that fails mid-flight is not retried for a plain write.
//
// # Circuit breaker
//
// The breaker (failsafe-go's count-based breaker, driven by hand) counts
// whole calls after their retries, not attempts: a call that gives up with a
// connection-class error (Classification.Connection) is a failure; any other
// outcome in which the server answered, even 23505, is a success. After
// FailureThreshold consecutive failures it opens and every call fails at
// once with P1001 (cause ErrCircuitOpen, Attempts 0) without calling fn, or
// with the last failure's own code when it was non-transient (P1000, ...).
// After Delay the next call is a half-open probe; SuccessThreshold
// successful probes close it, a failed one reopens it. A probe canceled by
// its caller counts as failed so the probe slot is freed. Counting calls
// means one outage costs the first message its retries and the rest fall
// back at once.
//
// # Cost
//
// A healthy call allocates only the attempt's deadline context (the
// context, its timer and its cancel function: 4 allocations, what
// context.WithTimeout costs any caller; 1 when the caller's context cannot
// be canceled, which shares a deadline, see attemptctx.go) and, with the
// breaker on, takes its lock only when the breaker is not closed or its
// last record was a failure (Executor.breakerHealthy); failsafe-go's
// per-call execution, policy executors and closures (31 allocations) are
// not on the call path. pgx watches any
// cancellable context a query is given (7 allocations per query), which a
// bare query with a deadline pays alike. BenchmarkDo_Wrapped against
// BenchmarkDo_BareWithDeadline measures the difference.
//
// # Events
//
// Observers get attempt_failed, retry_scheduled (with the delay), gave_up,
// succeeded, succeeded_after_retries, rejected (breaker open) and
// breaker_state_changed, synchronously. NewSlogObserver prints
// "[Prisma Retry] Attempt 1/3 failed, retrying in 180ms..." with attributes
// op, code, attempt (see its doc for every line), redacting errors with
// RedactText: the runbook's prefix (LogPrefix), so that a grep or an alert
// written from the runbook ("[Prisma Retry] Attempt X/Y failed,
// retrying...") finds the lines; the delay is extra. NewPrometheusObserver registers the db_retry_* metrics on the
// Registerer it is given.
package resilience
