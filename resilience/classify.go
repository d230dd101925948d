package resilience

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Code is a Prisma-style error code, kept so the runbook's vocabulary works.
type Code string

const (
	CodeAuthFailed   Code = "P1000" // authentication failed (or the pooler does not know the tenant/user), not retryable
	CodeUnreachable  Code = "P1001" // can't reach database server (refused, DNS, dial timeout, reset during connect, breaker open)
	CodeTimeout      Code = "P1002" // reached but timed out
	CodeOpTimeout    Code = "P1008" // operation timed out
	CodeDBMissing    Code = "P1003" // the database does not exist, not retryable
	CodeTLS          Code = "P1011" // error opening a TLS connection, not retryable
	CodeConnClosed   Code = "P1017" // server closed the connection
	CodePoolTimeout  Code = "P2024" // timed out acquiring from the pool
	CodeTooManyConns Code = "P2037" // too many database connections opened: a server's or pooler's client cap
	CodeConflict     Code = "P2034" // write conflict / deadlock
)

// Classification is what Classify says about one error.
type Classification struct {
	Retryable  bool
	Code       Code   // "" when the error is not a database-availability error (e.g. 23505)
	Reason     string // short, human, never contains a password
	Connection bool   // connection-class failure (counts towards the breaker)
	NotSent    bool   // provably failed before the statement was sent (safe to retry a write)
	// RolledBack is set for 40001/40P01: the server aborted the whole
	// transaction, so re-running it whole cannot apply anything twice.
	RolledBack bool
	// Canceled is set when the caller's context was canceled: never retried,
	// never reported as P1001, never counted by the breaker.
	Canceled bool
	// NonTransient marks a failure that retrying soon cannot fix: a wrong
	// password, an unknown database, a TLS or configuration error, a pooler
	// that does not know the tenant/user. It is never retried, counts for
	// the breaker like unreachability (Connection), and long-running
	// retriers (the migrator) back off far. Retrying auth failures is what
	// makes Supabase's pooler block a project (ECIRCUITBREAKER).
	NonTransient bool
	// Advice is what the operator should change, for the bot to log once
	// (e.g. AdviceStatementCache); "" when the code says it all.
	Advice string
}

// AdviceStatementCache is the Advice of a prepared-statement conflict
// (42P05, 26000): pgx's statement cache through a pooler in transaction
// mode, whose statements land on other server connections.
const AdviceStatementCache = "the URL points at a pooler in transaction mode (PgBouncer, Supavisor on 6543) " +
	"without pgbouncer=true: add pgbouncer=true to DATABASE_URL, or use the direct connection (port 5432)"

// nonTransient is the classification of a refusal that only a change of
// configuration or credentials can fix. sent is false while connecting.
func nonTransient(code Code, reason string, connecting bool) Classification {
	return Classification{Code: code, Reason: reason, Connection: true, NotSent: connecting, NonTransient: true}
}

// tooManyConns is a refusal by a client cap (the server's max_connections,
// a pooler's max_client_conn or pool_size): other clients leaving frees a
// place, so it is retried; it counts for the breaker, whose fast fails
// stop the bot from adding to the crowd; nothing was sent.
func tooManyConns(reason string) Classification {
	return Classification{Retryable: true, Code: CodeTooManyConns, Reason: reason, Connection: true, NotSent: true}
}

// PoolerMessages is the one table of poolers' (PgBouncer's, Supavisor's)
// wordings. Classify matches it for messages without a useful SQLSTATE
// (08P01, XX000 or none, or the socket closed after a plain message): the
// first entry whose fragments all appear, case-insensitively, with a
// verdict (Class) wins. The doctor (bot/doctor) names the entries that carry
// Advice in its report, with that advice, so the bot and the doctor read a
// pooler's words the same way.
var PoolerMessages = []PoolerMessage{
	// PgBouncer
	{Fragments: []string{"no more connections allowed"}, Pooler: pgBouncer, Name: "max_client_conn reached",
		Class:  tooManyConns("pooler refused: max_client_conn reached"),
		Advice: "PgBouncer admits no more clients (max_client_conn): lower connection_limit per instance, count your instances (each has its own pool), look for leaked connections, or raise max_client_conn."},
	{Fragments: []string{"server login has been failing"}, Pooler: pgBouncer,
		Class: Classification{Retryable: true, Code: CodeUnreachable, Reason: "pooler cannot log in to the server", Connection: true, NotSent: true}},
	{Fragments: []string{"pgbouncer cannot connect to server"}, Pooler: pgBouncer,
		Class: Classification{Retryable: true, Code: CodeUnreachable, Reason: "pooler cannot connect to the server", Connection: true, NotSent: true}},
	{Fragments: []string{"query_wait_timeout"}, Pooler: pgBouncer,
		Class: Classification{Retryable: true, Code: CodePoolTimeout, Reason: "pooler timed out waiting for a server connection", Connection: true, NotSent: true}},
	{Fragments: []string{"client_login_timeout"}, Pooler: pgBouncer,
		Class: Classification{Retryable: true, Code: CodeTimeout, Reason: "pooler login timed out", Connection: true, NotSent: true}},
	{Fragments: []string{"server conn crashed"}, Pooler: pgBouncer,
		Class: Classification{Retryable: true, Code: CodeConnClosed, Reason: "pooler lost its server connection", Connection: true}},
	{Fragments: []string{"server_idle_timeout"}, Pooler: pgBouncer,
		Class: Classification{Retryable: true, Code: CodeConnClosed, Reason: "pooler closed an idle connection", Connection: true}},
	// Supavisor (its wording: test/integration/proxy_test.exs in
	// supabase/supavisor). It sends its refusals as FATAL XX000 with an
	// "(ECODE)" prefix.
	{Fragments: []string{"unable to check out"}, Pooler: supavisor,
		Class: Classification{Retryable: true, Code: CodePoolTimeout, Reason: "pooler checkout timeout", Connection: true, NotSent: true}},
	{Fragments: []string{"checkout timeout"}, Pooler: supavisor,
		Class: Classification{Retryable: true, Code: CodePoolTimeout, Reason: "pooler checkout timeout", Connection: true, NotSent: true}},
	{Fragments: []string{"max client connections reached"}, Pooler: supavisor, Name: "max client connections reached",
		Class:  tooManyConns("pooler refused: max client connections reached"),
		Advice: "Is the connection pool full? The pooler refuses new clients for this project: lower connection_limit per instance, count your instances (each has its own pool), and look for leaked connections."},
	{Fragments: []string{"max clients reached in session mode"}, Pooler: supavisor, Name: "max clients reached in session mode",
		Class:  tooManyConns("pooler refused: max clients reached in session mode (pool_size)"),
		Advice: "Session mode (the pooler on port 5432) gives each client its own server connection, up to pool_size: use transaction mode (port 6543, pgbouncer=true), as the runbook says."},
	{Fragments: []string{"too many clients already"}, Pooler: supavisor,
		Class: tooManyConns("too many clients")},
	{Fragments: []string{"dbhandler exited"}, Pooler: supavisor,
		Class: Classification{Retryable: true, Code: CodeConnClosed, Reason: "pooler lost its server connection", Connection: true}},
	{Fragments: []string{"db_termination"}, Pooler: supavisor,
		Class: Classification{Retryable: true, Code: CodeConnClosed, Reason: "pooler lost its server connection", Connection: true}},
	// Older Supavisor releases said "Tenant or user not found", newer ones
	// "(ENOTFOUND) tenant/user ... not found".
	{Fragments: []string{"tenant or user not found"}, Pooler: supavisor, Name: "tenant/user not found",
		Class:  nonTransient(CodeAuthFailed, "pooler does not know this tenant/user (check the user name)", true),
		Advice: tenantAdvice},
	{Fragments: []string{"(enotfound)"}, Pooler: supavisor, Name: "tenant/user not found",
		Class:  nonTransient(CodeAuthFailed, "pooler does not know this tenant/user (check the user name)", true),
		Advice: tenantAdvice},
	// ECIRCUITBREAKER: after repeated authentication failures, or repeated
	// failures to reach the database. Both are non-transient for the bot.
	{Fragments: []string{"(ecircuitbreaker)", "too many authentication failures"}, Pooler: supavisor, Name: "too many authentication failures",
		Class:  nonTransient(CodeAuthFailed, "pooler blocks new connections after too many authentication failures", true),
		Advice: "Supavisor blocks new connections after repeated wrong passwords: fix the password (Settings > Database), then wait; every retry with the old one extends the block."},
	{Fragments: []string{"(ecircuitbreaker)"}, Pooler: supavisor, Name: "circuit breaker open",
		Class:  nonTransient(CodeAuthFailed, "pooler blocks new connections after too many authentication failures", true),
		Advice: "Supavisor blocks new connections after repeated failures to reach the database: check that the project is not paused and the database is up, then wait; retries extend the block."},
	{Fragments: []string{"(emaxpoolsreached)"}, Pooler: supavisor, Name: "max pools reached",
		Advice: "Supavisor has reached its pool count for this project: fewer distinct users/databases/search_paths."},
	{Fragments: []string{"(einvaliduserinfo)"}, Pooler: supavisor, Name: "invalid user or database name",
		Advice: "The user or database name has characters the pooler rejects: percent-encode them in the URL."},
	// A login refused by the server and relayed by PgBouncer arrives as
	// 08P01 with the server's words, not as 28P01/3D000: the same
	// non-transient causes, which retrying through the pooler would turn
	// into the authentication storm that gets a project blocked.
	{Fragments: []string{"sasl authentication failed"}, Pooler: pgBouncer, Class: nonTransient(CodeAuthFailed, "authentication failed", true)},
	{Fragments: []string{"password authentication failed"}, Pooler: pgBouncer, Class: nonTransient(CodeAuthFailed, "authentication failed", true)},
	{Fragments: []string{"no such user"}, Pooler: pgBouncer, Class: nonTransient(CodeAuthFailed, "pooler does not know this user", true)},
	{Fragments: []string{"no such database"}, Pooler: pgBouncer, Class: nonTransient(CodeDBMissing, "pooler does not know this database", true)},
	{Fragments: []string{"role \""}, Pooler: pgBouncer, Class: nonTransient(CodeAuthFailed, "role does not exist", true)}, // role "x" does not exist
	{Fragments: []string{"database \""}, Pooler: pgBouncer, Class: nonTransient(CodeDBMissing, "database does not exist", true)},
}

const (
	pgBouncer = "PgBouncer"
	supavisor = "Supavisor"

	tenantAdvice = "The pooler does not know this tenant: on Supabase's pooler the user is postgres.<project-ref> (not postgres), and the host must be your project's region (aws-0-<region>.pooler.supabase.com)."
)

// PoolerMessage is one wording of a pooler.
type PoolerMessage struct {
	// Fragments must all appear in the message (lower case).
	Fragments []string
	// Pooler is who says it ("PgBouncer", "Supavisor").
	Pooler string
	// Class is Classify's verdict. The zero Classification leaves the
	// message to its SQLSTATE: the entry only names it for a person.
	Class Classification
	// Name and Advice are for a person (the doctor): what the pooler
	// means, in short, and what to do about it. Advice is "" when the
	// advice for Class.Code says it all.
	Name   string
	Advice string
}

// Matches reports whether msg (any case) holds every fragment.
func (pm PoolerMessage) Matches(msg string) bool { return pm.matchesLower(strings.ToLower(msg)) }

func (pm PoolerMessage) matchesLower(msg string) bool {
	for _, f := range pm.Fragments {
		if !strings.Contains(msg, f) {
			return false
		}
	}
	return len(pm.Fragments) > 0
}

// Classify tells whether err is worth retrying and which Prisma code it maps to.
// It reads the error chain only (SQLSTATEs, pgx/net error types, pooler
// messages); it never calls the database and never panics.
func Classify(err error) Classification {
	if err == nil {
		return Classification{}
	}
	var done *Error
	if errors.As(err, &done) {
		// Already went through an Executor: its verdict, which may differ
		// from its cause's (a breaker rejection, a spent budget), but not
		// retryable: the policy's attempts are spent.
		c := done.Classification
		c.Retryable = false
		return c
	}
	// A caller's cancellation beats everything else: pgx wraps it in a
	// ConnectError or a timeout error, and it must never look like an outage.
	if errors.Is(err, context.Canceled) {
		return Classification{Reason: "canceled by caller", Canceled: true}
	}
	var acq *AcquireTimeoutError
	if errors.As(err, &acq) {
		return acq.classify()
	}
	var ce *pgconn.ConnectError
	connecting := errors.As(err, &ce)

	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if c, ok := classifySQLState(pgErr, connecting); ok {
			return c
		}
	}
	if c, ok := classifyMessage(err, pgErr); ok {
		return c
	}
	if pgErr != nil {
		return classifySQLClass(pgErr, connecting)
	}
	if connecting {
		if c, ok := classifyTLS(err); ok {
			return c
		}
		return classifyConnect(err)
	}
	return classifyTransport(err)
}

// classifyTLS recognises a connect that failed in its TLS handshake or
// because the server refused TLS that the URL's sslmode requires: a
// certificate or configuration problem that no retry fixes. pgx joins the
// errors of every host and fallback it tried (sslmode=prefer tries TLS,
// then plain), so it counts only when each of them is a TLS failure.
func classifyTLS(err error) (Classification, bool) {
	parts := []error{err}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			parts = j.Unwrap()
			break
		}
	}
	var c Classification
	for _, p := range parts {
		pc, ok := tlsFailure(p)
		if !ok {
			return Classification{}, false
		}
		c = pc
	}
	return c, true
}

func tlsFailure(err error) (Classification, bool) {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return nonTransient(CodeTLS, "TLS certificate not accepted (check sslmode and sslrootcert)", true), true
	case errors.As(err, &record), errors.As(err, &alert):
		return nonTransient(CodeTLS, "TLS handshake failed (check sslmode)", true), true
	case strings.Contains(strings.ToLower(err.Error()), "server refused tls connection"):
		// pgconn's plain error when sslmode=require meets a server without TLS.
		return nonTransient(CodeTLS, "server refused TLS, which sslmode requires", true), true
	}
	return Classification{}, false
}

// classifySQLState handles the SQLSTATEs whose meaning does not depend on
// the message text.
func classifySQLState(e *pgconn.PgError, connecting bool) (Classification, bool) {
	switch code := e.Code; {
	case code == "28000" || code == "28P01":
		return nonTransient(CodeAuthFailed, "authentication failed", connecting), true
	case strings.HasPrefix(code, "28"):
		return nonTransient(CodeAuthFailed, "invalid authorization", connecting), true
	case code == "3D000":
		return nonTransient(CodeDBMissing, "database does not exist", connecting), true
	case code == "40001":
		return Classification{Retryable: true, Code: CodeConflict, Reason: "serialization failure", RolledBack: true}, true
	case code == "40P01":
		return Classification{Retryable: true, Code: CodeConflict, Reason: "deadlock detected", RolledBack: true}, true
	case code == "42P05" || code == "26000":
		// Retrying cannot help: every connection of the pooler may hold a
		// statement of that name, or lack it. Not the database's outage.
		return Classification{Reason: "prepared statement conflict behind a transaction pooler: use pgbouncer=true (in pgx: default_query_exec_mode=exec or simple_protocol)",
			Advice: AdviceStatementCache}, true
	case code == "57P01":
		return connOrClosed(connecting, "server shutting down (admin command)"), true
	case code == "57P02":
		return connOrClosed(connecting, "server crashed"), true
	case code == "57P03":
		return Classification{Retryable: true, Code: CodeUnreachable, Reason: "server cannot accept connections now (starting up or shutting down)", Connection: true, NotSent: true}, true
	case code == "53300":
		// "too many clients already", "remaining connection slots are reserved ...".
		c := tooManyConns("server refused: too many connections (max_connections)")
		c.NotSent = connecting
		return c, true
	case code == "25006":
		// A write on a server that is read-only: a replica, or the old
		// primary after a failover. A new connection reaches the new
		// primary once DNS has moved, the pooled one never will: Connection,
		// so the breaker counts it and the store drops that connection. The
		// server refused the statement, so nothing was applied.
		return Classification{Retryable: true, Code: CodeUnreachable, Reason: "server is read-only (a replica, or the old primary after a failover)",
			Connection: true, NotSent: connecting, RolledBack: true}, true
	case code == "57014":
		return Classification{Retryable: true, Code: CodeOpTimeout, Reason: "statement canceled (statement_timeout)"}, true
	case strings.HasPrefix(code, "23"):
		return Classification{Reason: "integrity constraint violation"}, true
	case strings.HasPrefix(code, "42"):
		return Classification{Reason: "syntax error or access rule violation"}, true
	case strings.HasPrefix(code, "22"):
		return Classification{Reason: "data exception"}, true
	}
	return Classification{}, false
}

// classifySQLClass handles what is left once the pooler messages had their
// chance: class 08 and everything unknown.
func classifySQLClass(e *pgconn.PgError, connecting bool) Classification {
	if strings.HasPrefix(e.Code, "08") {
		return connOrClosed(connecting, "connection exception")
	}
	if connecting {
		// The server answered the handshake with an error we do not know:
		// not an outage, and retrying will not change it.
		return Classification{Reason: "server rejected the connection"}
	}
	return Classification{Reason: "database error"}
}

// connOrClosed picks P1001 for a failure while connecting (nothing was sent)
// and P1017 once the connection was up.
func connOrClosed(connecting bool, reason string) Classification {
	if connecting {
		return Classification{Retryable: true, Code: CodeUnreachable, Reason: reason, Connection: true, NotSent: true}
	}
	return Classification{Retryable: true, Code: CodeConnClosed, Reason: reason, Connection: true}
}

func classifyMessage(err error, pgErr *pgconn.PgError) (Classification, bool) {
	var msg string
	if pgErr != nil {
		// Only generic SQLSTATEs are worth a message match; the others were
		// handled above or mean what they say.
		switch {
		case pgErr.Code == "", pgErr.Code == "XX000", pgErr.Code == "58000", strings.HasPrefix(pgErr.Code, "08"):
		default:
			return Classification{}, false
		}
		msg = pgErr.Message
	} else {
		msg = err.Error()
	}
	msg = strings.ToLower(msg)
	for _, pm := range PoolerMessages {
		if pm.Class != (Classification{}) && pm.matchesLower(msg) {
			return pm.Class, true
		}
	}
	return Classification{}, false
}

// onlyDialErrors reports whether every host and fallback pgx tried failed
// in its dial. pgconn replaces a dial's timeout with its own timeout error
// (the net.OpError is gone) but keeps its words, "dial error: timeout:
// ...". One that got further (sslmode=prefer: "tls error", then the plain
// fallback's dial ran out of the time left) reached the server.
func onlyDialErrors(err error) bool {
	parts := []error{err}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			parts = j.Unwrap()
			break
		}
	}
	for _, p := range parts {
		// The genuine case: the connect's deadline, and no socket error
		// left in the chain (an error handed to pgconn by a DialFunc of
		// one's own keeps its own words and types).
		var op *net.OpError
		if !strings.Contains(p.Error(), "dial error") || !errors.Is(p, context.DeadlineExceeded) || errors.As(p, &op) {
			return false
		}
	}
	return true
}

const (
	reasonDialTimeout      = "dial timeout"
	reasonHandshakeTimeout = "server reached but the handshake timed out"
)

// classifyConnect handles a *pgconn.ConnectError without a server error: the
// statement was never sent, so every case is NotSent.
func classifyConnect(err error) Classification {
	c := Classification{Code: CodeUnreachable, Connection: true, NotSent: true, Retryable: true}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	dialing := errors.As(err, &opErr) && opErr.Op == "dial" || onlyDialErrors(err)
	switch {
	case errors.As(err, &dnsErr):
		c.Reason = "DNS lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		c.Reason = "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		c.Reason = "connection reset during connect"
	case isTimeout(err) && dialing:
		c.Reason = reasonDialTimeout
	case isTimeout(err):
		// TCP connected, then the startup/auth exchange did not finish in time.
		c.Code, c.Reason = CodeTimeout, reasonHandshakeTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.Reason = "server closed the connection during connect"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		c.Reason = "host unreachable"
	default:
		c.Reason = "connect failed"
	}
	return c
}

// classifyTransport handles errors after connecting, and bare net/io errors.
func classifyTransport(err error) Classification {
	safe := pgconn.SafeToRetry(err)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return Classification{Retryable: true, Code: CodeUnreachable, Reason: "DNS lookup failed", Connection: true, NotSent: true}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Classification{Retryable: true, Code: CodeUnreachable, Reason: "connection refused", Connection: true, NotSent: true}
	case pgconn.Timeout(err):
		return Classification{Retryable: true, Code: CodeOpTimeout, Reason: "operation timed out", Connection: true, NotSent: safe}
	case isBareDeadline(err):
		// pgxpool returns the bare context error when Acquire waits past the
		// deadline; pgconn wraps every deadline it meets on a connection.
		// Counts for the breaker: when connects hang, pgxpool callers only
		// ever see this.
		return Classification{Retryable: true, Code: CodePoolTimeout, Reason: "timed out acquiring a connection from the pool", Connection: true, NotSent: true}
	case errors.Is(err, pgconn.ErrConnClosed):
		// pgx calls this SafeToRetry, but it also returns it when its reader
		// saw the socket die after the statement was flushed (seen with the
		// fake server), so a write must not trust it.
		return Classification{Retryable: true, Code: CodeConnClosed, Reason: "connection closed", Connection: true}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return Classification{Retryable: true, Code: CodeConnClosed, Reason: "server closed the connection", Connection: true, NotSent: safe}
	case isTimeout(err):
		return Classification{Retryable: true, Code: CodeOpTimeout, Reason: "network timeout", Connection: true, NotSent: safe}
	case safe:
		return Classification{Retryable: true, Code: CodeConnClosed, Reason: "connection unusable before the statement was sent", Connection: true, NotSent: true}
	}
	return Classification{Reason: "not a database availability error"}
}

func isTimeout(err error) bool {
	var ne net.Error
	return (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
}

// isBareDeadline is a context.DeadlineExceeded that no connection-level
// wrapper (pgconn timeout, socket error) explains.
func isBareDeadline(err error) bool {
	var opErr *net.OpError
	return errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err) && !errors.As(err, &opErr)
}

// PoolWait is what a pool acquire that ran out of time was waiting for.
type PoolWait int

const (
	// WaitUnknown: the pool was not watched; read as WaitSlot.
	WaitUnknown PoolWait = iota
	// WaitSlot: every connection was in use by the bot's own queries (P2024).
	WaitSlot
	// WaitHandshake: a new connection reached the server (TCP up) and the
	// startup/auth exchange got no answer in time (P1002).
	WaitHandshake
	// WaitDial: a new connection's TCP connect did not complete (P1001).
	WaitDial
	// WaitPing: the liveness check pgxpool runs on a connection idle for a
	// while got no answer: an open connection that stopped answering (P1008).
	WaitPing
	// WaitClosing: the slots were held by connections being closed after
	// they stopped answering (pgxpool frees a slot only when its close
	// ends, up to 15s for a peer that never answers): not the bot's load
	// but, as for WaitPing, open connections that stopped answering (P1008).
	WaitClosing
)

var poolWaitNames = [...]string{"unknown", "slot", "handshake", "dial", "ping", "closing"}

func (w PoolWait) String() string {
	if w < 0 || int(w) >= len(poolWaitNames) {
		return "PoolWait(?)"
	}
	return poolWaitNames[w]
}

// AcquireTimeoutError is a pool acquire that ran out of time, with what it
// was waiting for. pgxpool returns the bare context error both when every
// connection is busy and when the connect it waits on hangs (its connect
// timeout, capped to the attempt timeout, fires together with the acquire
// deadline), so the pool's user (bot/store) watches the pool and says which.
// A hung handshake is a dead server or pooler, not pool exhaustion:
// reporting it as P2024 sends the operator to raise connection_limit.
type AcquireTimeoutError struct {
	Wait PoolWait
	// PoolTimeout is set when the pool's own limit (Prisma's pool_timeout)
	// ended the wait, before the attempt's deadline: that is P2024 by
	// Prisma's definition, whatever the wait was for.
	PoolTimeout time.Duration
	// MaxConns is the pool's limit (connection_limit), for the reason text.
	MaxConns int32
	// Pool is the pool's state when the wait ended, for the log: what
	// held the slots ("" when unknown).
	Pool string
	Err  error // the context's error
}

func (e *AcquireTimeoutError) Error() string {
	pool := ""
	if e.Pool != "" {
		pool = "; " + e.Pool
	}
	return "timed out acquiring a connection (waiting for " + e.Wait.String() + pool + "): " + e.Err.Error()
}

func (e *AcquireTimeoutError) Unwrap() error { return e.Err }

func (e *AcquireTimeoutError) classify() Classification {
	// Nothing was sent in any case: the statement needs the connection.
	c := Classification{Retryable: true, Connection: true, NotSent: true}
	switch {
	case e.PoolTimeout > 0:
		c.Code, c.Reason = CodePoolTimeout, "pool_timeout ("+e.PoolTimeout.String()+") exceeded waiting for a pooled connection"
		switch e.Wait {
		case WaitHandshake, WaitDial:
			c.Reason += " (a new connection was still connecting)"
		case WaitClosing:
			c.Reason += " (connections that stopped answering were still being closed)"
		}
	case e.Wait == WaitHandshake:
		// The words of the connect's own timeout, which can win the race.
		c.Code, c.Reason = CodeTimeout, reasonHandshakeTimeout
	case e.Wait == WaitDial:
		c.Code, c.Reason = CodeUnreachable, reasonDialTimeout
	case e.Wait == WaitPing:
		c.Code, c.Reason = CodeOpTimeout, "an idle pooled connection did not answer its liveness check"
	case e.Wait == WaitClosing:
		c.Code, c.Reason = CodeOpTimeout, "timed out acquiring a connection: the pool's connections stopped answering and were still being closed"
	default:
		c.Code, c.Reason = CodePoolTimeout, "timed out acquiring a connection from the pool"
		if e.MaxConns > 0 && e.Wait == WaitSlot {
			c.Reason = "timed out acquiring a connection from the pool: all " + itoa(int(e.MaxConns)) + " in use"
		}
	}
	return c
}
