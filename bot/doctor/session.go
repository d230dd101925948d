package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// session is the doctor's connection, opened as the bot opens its own.
type session struct {
	conn *pgx.Conn
}

func (s *session) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.conn.Close(ctx)
}

// simple keeps the doctor's own queries valid behind any pooler, whatever
// query mode the URL implies; the pooler step judges that mode separately.
var simple = pgx.QueryExecModeSimpleProtocol

// connConfig is the bot's connection configuration, with the addresses the
// DNS step found (so that a test resolver is honoured).
func (r *run) connConfig() *pgx.ConnConfig {
	cc := r.cfg.Pool.ConnConfig.Copy()
	if len(r.addrs) > 0 {
		addrs := make([]string, len(r.addrs))
		for i, a := range r.addrs {
			addrs[i] = a.String()
		}
		cc.LookupFunc = func(context.Context, string) ([]string, error) { return addrs, nil }
	}
	cc.DialFunc = r.opts.Dial
	return cc
}

// stepStartup logs in with the bot's connect timeout (connect_timeout,
// capped at the attempt timeout): wrong password or user, unknown database,
// the pooler's refusals and a full server show up here.
func (r *run) stepStartup(ctx context.Context, s *Step) bool {
	cc := r.connConfig()
	t0 := time.Now()
	conn, err := pgx.ConnectConfig(ctx, cc)
	took := time.Since(t0)
	if err != nil {
		summary := fmt.Sprintf("the server did not let the bot in (after %s, connect timeout %s)", round(took), cc.ConnectTimeout)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) && isTimeoutErr(err) {
			summary = fmt.Sprintf("no login within %s: the server or pooler accepts TCP but does not finish the handshake", round(took))
		}
		fail(s, err, summary)
		return true
	}
	r.sess = &session{conn: conn}
	pc := conn.PgConn()
	s.Summary = fmt.Sprintf("logged in as %q to %q in %s (server_version %s)", cc.User, cc.Database, round(took), pc.ParameterStatus("server_version"))
	if at := r.opts.Policy.AttemptTimeout; at > 0 && took > at/2 {
		s.Status = Warn
		s.Details = append(s.Details, fmt.Sprintf("a new connection takes %s, more than half the bot's attempt timeout (%s): under load new connections will time out (P1002/P2024)", round(took), at))
	}
	return false
}

func isTimeoutErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err) || pgconn.Timeout(err)
}

// stepPooler finds out whether a pooler is in front and in which mode, and
// whether the query mode the URL implies is safe there.
//
// A pooler answers the startup with its own cancel key, so the backend pid
// Postgres reports differs from the one the connection was given. Its mode
// shows with a session SET: in transaction mode it does not survive to the
// next transaction of this client (another server connection runs it), or
// it leaks into another client's transaction (which got the same server
// connection).
func (r *run) stepPooler(ctx context.Context, s *Step) bool {
	a := r.sess.conn
	var pid int32
	var port int32
	if err := a.QueryRow(ctx, "SELECT pg_backend_pid(), coalesce(inet_server_port(), 0)", simple).Scan(&pid, &port); err != nil {
		fail(s, err, "SELECT pg_backend_pid() failed")
		return false
	}
	mode := r.cfg.Pool.ConnConfig.DefaultQueryExecMode
	safe := mode == pgx.QueryExecModeExec || mode == pgx.QueryExecModeSimpleProtocol
	if uint32(pid) == a.PgConn().PID() {
		r.poolMode = "none"
		s.Status = Warn
		s.Summary = fmt.Sprintf("no pooler: this is Postgres itself (backend pid %d; it listens on port %d)", pid, port)
		s.Details = append(s.Details, "the runbook: use the pooler (port 6543, pgbouncer=true) and never the direct connection in production")
		return false
	}
	b, err := pgx.ConnectConfig(ctx, r.connConfig())
	if err != nil {
		s.Status = Warn
		s.Summary = "a pooler is in front (its cancel key is its own); its mode is unknown: a second connection failed"
		v := verdictOf(err)
		s.Details = append(s.Details, fmt.Sprintf("second connection: %s %s", v.code, v.reason))
		return false
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = b.Close(cctx)
	}()
	// Which server connection each transaction gets is the pooler's choice
	// (PgBouncer: the last one released), so a probe that shows nothing is
	// tried again with a new marker before the doctor calls it session mode.
	var leaked, lost bool
	for try := 0; try < 3 && err == nil && !leaked && !lost; try++ {
		leaked, lost, err = probeTransactionMode(ctx, a, b, randomHex())
	}
	if err != nil {
		s.Status = Warn
		s.Summary = "a pooler is in front; its mode is unknown: " + err.Error()
		return false
	}
	if !leaked && !lost {
		r.poolMode = "session"
		s.Summary = fmt.Sprintf("a pooler in session mode (a session SET survives; Postgres listens on %d)", port)
		s.Details = append(s.Details, "session mode holds one server connection per client: the runbook uses transaction mode (port 6543) so that many instances share few server connections")
		s.Status = Warn
		return false
	}
	r.poolMode = "transaction"
	how := "did not survive to this client's next transaction"
	if leaked {
		how = "showed up in another client's transaction"
	}
	s.Summary = fmt.Sprintf("a pooler in transaction mode (a session SET %s); query mode %s", how, mode)
	if !safe {
		s.Status = Fail
		s.Reason = fmt.Sprintf("query mode %s keeps named prepared statements on the server connection; in transaction mode the next statement may run on another one: \"prepared statement ... does not exist\" (26000) or \"already exists\" (42P05)", mode)
		s.Advice = "Add pgbouncer=true to the URL, as the runbook says: the bot then sends each query in one round trip without named statements (query mode exec)."
		return false
	}
	s.Details = append(s.Details, fmt.Sprintf("query mode %s sends each query in one round trip with no named statement: safe in transaction mode", mode))
	return false
}

// probeTransactionMode runs the SET probe on two connections. a sets the
// marker outside a transaction; b holds a transaction open (taking a server
// connection, likely the one a just used) and reads it; a reads it again.
func probeTransactionMode(ctx context.Context, a, b *pgx.Conn, marker string) (leaked, lost bool, err error) {
	const guc = "p1001.doctor_marker"
	if _, err := a.Exec(ctx, "SET "+guc+" = '"+marker+"'", simple); err != nil {
		return false, false, fmt.Errorf("SET failed: %w", err)
	}
	tx, err := b.Begin(ctx)
	if err != nil {
		return false, false, fmt.Errorf("BEGIN failed: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var inB, inA string
	if err := tx.QueryRow(ctx, "SELECT coalesce(current_setting('"+guc+"', true), '')", simple).Scan(&inB); err != nil {
		return false, false, fmt.Errorf("read in a second transaction: %w", err)
	}
	if err := a.QueryRow(ctx, "SELECT coalesce(current_setting('"+guc+"', true), '')", simple).Scan(&inA); err != nil {
		return false, false, fmt.Errorf("read back: %w", err)
	}
	return inB == marker, inA != marker, nil
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stepCapacity compares the connections in use with max_connections.
func (r *run) stepCapacity(ctx context.Context, s *Step) bool {
	const q = `SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int,
  current_setting('max_connections')::int,
  current_setting('superuser_reserved_connections')::int,
  coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false),
  coalesce((SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user), -1),
  (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user)::int`
	var used, maxConns, reserved, roleLimit, mine int
	var super bool
	if err := r.sess.conn.QueryRow(ctx, q, simple).Scan(&used, &maxConns, &reserved, &super, &roleLimit, &mine); err != nil {
		s.Status = Warn
		v := verdictOf(err)
		s.Summary = "could not see the connections in use: " + v.reason
		s.Details = append(s.Details, "pg_stat_activity and max_connections need a role that may read them; ask for pg_monitor, or look in the provider's dashboard")
		return false
	}
	limit := int(r.cfg.Pool.MaxConns)
	avail := maxConns - reserved
	if super {
		avail = maxConns
	}
	free := avail - used
	s.Summary = fmt.Sprintf("%d of %d connections in use (%d reserved for superusers), %d free for this role; the bot's pool is %d", used, maxConns, reserved, max(free, 0), limit)
	if roleLimit >= 0 {
		s.Details = append(s.Details, fmt.Sprintf("role %q may hold %d connections (CONNECTION LIMIT), holds %d", r.cfg.Pool.ConnConfig.User, roleLimit, mine))
		if roleLimit-mine < free {
			free = roleLimit - mine
		}
	}
	switch r.poolMode {
	case "transaction", "session":
		s.Details = append(s.Details, "behind a pooler these are the pooler's server connections, not its clients; the pooler's own limits (max_client_conn, pool size) show only on its admin console or dashboard")
	}
	switch {
	case free <= 0:
		// What the bot gets when it opens one more connection.
		v := verdictOf(&pgconn.PgError{Severity: "FATAL", Code: "53300", Message: "sorry, too many clients already"})
		s.Status, s.Code, s.Reason, s.Advice = Fail, v.code, "no free connection slot: "+v.reason, v.advice
	case free < limit:
		s.Status = Warn
		s.Details = append(s.Details, fmt.Sprintf("only %d free, fewer than connection_limit=%d: the pool cannot grow to its size", free, limit))
	case used*5 >= maxConns*4:
		s.Status = Warn
		s.Details = append(s.Details, "more than 80% of max_connections in use")
	}
	return false
}

// stepLatency times round trips of SELECT 1 and holds them against the
// bot's attempt timeout and budget.
func (r *run) stepLatency(ctx context.Context, s *Step) bool {
	p := r.opts.Policy
	var took []time.Duration
	for i := 0; i < r.opts.Rounds; i++ {
		qctx, cancel := ctx, context.CancelFunc(func() {})
		if p.AttemptTimeout > 0 {
			qctx, cancel = context.WithTimeout(ctx, p.AttemptTimeout)
		}
		t0 := time.Now()
		var one int
		err := r.sess.conn.QueryRow(qctx, "SELECT 1", simple).Scan(&one)
		d := time.Since(t0)
		cancel()
		if err != nil {
			if ctx.Err() != nil && len(took) > 0 {
				s.Status = Warn
				s.Details = append(s.Details, fmt.Sprintf("the step's time ran out after %d of %d round trips", len(took), r.opts.Rounds))
				break
			}
			fail(s, err, fmt.Sprintf("round trip %d of %d failed after %s (attempt timeout %s)", i+1, r.opts.Rounds, round(d), p.AttemptTimeout))
			return true
		}
		took = append(took, d)
	}
	slices.Sort(took)
	p50, p99, mx := quantile(took, 0.50), quantile(took, 0.99), took[len(took)-1]
	s.Summary = fmt.Sprintf("%d x SELECT 1: p50 %s, p99 %s, max %s; attempt timeout %s, budget %s", len(took), round(p50), round(p99), round(mx), p.AttemptTimeout, p.Budget)
	if p.AttemptTimeout > 0 && p99 > p.AttemptTimeout/2 {
		s.Status = Warn
		s.Details = append(s.Details, fmt.Sprintf("p99 is more than half the attempt timeout (%s): slow queries on this path will time out (P1008) and be retried", p.AttemptTimeout))
	}
	if p.Budget > 0 && time.Duration(max(p.MaxAttempts, 1))*p99 > p.Budget {
		s.Status = Warn
		s.Details = append(s.Details, fmt.Sprintf("%d attempts at p99 exceed the budget (%s)", p.MaxAttempts, p.Budget))
	}
	return false
}

// quantile is the nearest-rank quantile of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}
