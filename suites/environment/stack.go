package environment

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/p1001/p1001/scenarios"
)

// The stack settings the fault recipes change for a window
// (scenarios.Settings). The suite shares one stack across scenarios, so
// each change is made at run time and Restore puts back exactly what
// Impose replaced: the values read before, the role's own password
// verifier, the connections the harness held.

// idleTimeout is what idle_reaping sets PgBouncer's client_idle_timeout
// and server_idle_timeout to. It must stay below the 1 s after which pgx's
// pool pings an idle connection before handing it out (pgxpool's
// ShouldPing default): a connection the pool pings is replaced silently,
// and the bot's query never meets the closed one.
const idleTimeout = "0.2"

// stackChange is what one fault type changed, to be put back.
type stackChange struct {
	// held are connections kept for the window: the admin connection that
	// is the only client PgBouncer still admits (client_limit), the ones
	// holding every Postgres slot (server_limit).
	held []*pgx.Conn
	// pgbouncer maps each PgBouncer setting replaced to its value before.
	pgbouncer map[string]string
	// slots are logins left waiting for their password, each holding a
	// Postgres connection slot (server_limit).
	slots []net.Conn
	// verifier is the role's password verifier before (password_rotation).
	verifier string
	// imposed: Impose ran (Prepare may have run before).
	imposed bool
}

var _ scenarios.Settings = (*Env)(nil)

// Prepare readies, before the traffic, what would make Impose slow: for
// server_limit it takes all free Postgres slots but serverReserve (each
// slot is a backend to start, ~60 ms each on a loaded machine), so that
// Impose takes the last ones within milliseconds. Restore releases them.
func (e *Env) Prepare(ctx context.Context, typ string) (err error) {
	if typ != scenarios.TypeServerLimit {
		return nil
	}
	ch, err := e.change(typ, false)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Restore(context.WithoutCancel(ctx), typ))
		}
	}()
	free, err := e.freeSlots(ctx, ch)
	if err != nil {
		return err
	}
	slots, err := e.holdSlots(ctx, free-serverReserve)
	ch.slots = append(ch.slots, slots...)
	return err
}

// serverReserve is how many Postgres slots Prepare leaves free for the
// healthy phase: the bot's pool (the scenario keeps connection_limit
// small), the probe and the harness's own connection.
const serverReserve = 6

// change returns the record of typ's change, made by Prepare or new;
// imposing marks it imposed (an error when it already is).
func (e *Env) change(typ string, imposing bool) (*stackChange, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stack == nil {
		e.stack = map[string]*stackChange{}
	}
	ch := e.stack[typ]
	if ch == nil {
		ch = &stackChange{pgbouncer: map[string]string{}}
		e.stack[typ] = ch
	}
	if ch.imposed && imposing {
		return nil, fmt.Errorf("%s: already in place", typ)
	}
	ch.imposed = ch.imposed || imposing
	return ch, nil
}

// Impose puts the setting of a fault type in place; on failure it puts
// back what it had changed.
func (e *Env) Impose(ctx context.Context, typ string) (err error) {
	ch, err := e.change(typ, true)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Restore(context.WithoutCancel(ctx), typ))
		}
	}()
	switch typ {
	case scenarios.TypeClientLimit:
		return e.limitClients(ctx, ch)
	case scenarios.TypeIdleReaping:
		return e.setPgBouncer(ctx, ch, nil, map[string]string{"client_idle_timeout": idleTimeout, "server_idle_timeout": idleTimeout})
	case scenarios.TypePasswordRotation:
		return e.rotatePassword(ctx, ch)
	case scenarios.TypeServerLimit:
		return e.fillServer(ctx, ch)
	}
	return fmt.Errorf("no stack setting for fault type %q", typ)
}

// Restore puts back what Impose changed for typ; nothing when it changed
// nothing.
func (e *Env) Restore(ctx context.Context, typ string) error {
	e.mu.Lock()
	ch := e.stack[typ]
	delete(e.stack, typ)
	e.mu.Unlock()
	if ch == nil {
		return nil
	}
	var errs []error
	if len(ch.pgbouncer) > 0 {
		// client_limit's change is undone on the connection it holds: it
		// is the only client PgBouncer admits.
		var admin *pgx.Conn
		if typ == scenarios.TypeClientLimit && len(ch.held) > 0 {
			admin = ch.held[0]
		}
		errs = append(errs, e.setPgBouncer(ctx, &stackChange{}, admin, ch.pgbouncer))
	}
	if ch.verifier != "" {
		// On the connection Impose kept: no new login works until then.
		errs = append(errs, alterPassword(ctx, ch.held[0], e.cfg.User, ch.verifier))
	}
	closeAll(ctx, ch.held)
	for _, c := range ch.slots {
		_ = c.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restore after %s: %w", typ, err)
	}
	return nil
}

// restoreStack restores every setting still in place (ResetFaults).
func (e *Env) restoreStack(ctx context.Context) error {
	e.mu.Lock()
	types := slices.Collect(maps.Keys(e.stack))
	e.mu.Unlock()
	var errs []error
	for _, typ := range types {
		errs = append(errs, e.Restore(ctx, typ))
	}
	return errors.Join(errs...)
}

// limitClients: PgBouncer admits no client beyond the admin connection the
// harness keeps (max_client_conn counts every client, admin ones too), and
// the clients it has of the application database are killed, so that the
// bot must connect again and is refused: "no more connections allowed
// (max_client_conn)".
func (e *Env) limitClients(ctx context.Context, ch *stackChange) error {
	admin, err := e.pgbouncerConn(ctx)
	if err != nil {
		return err
	}
	ch.held = append(ch.held, admin)
	if err := e.setPgBouncer(ctx, ch, admin, map[string]string{"max_client_conn": "1"}); err != nil {
		return err
	}
	clients, err := adminRows(ctx, admin, "SHOW CLIENTS")
	if err != nil {
		return err
	}
	for _, c := range clients {
		if c["database"] == "pgbouncer" {
			continue
		}
		// A client that left between SHOW CLIENTS and its KILL_CLIENT
		// (PgBouncer 1.24: "client not found") is gone already, as wanted.
		if _, err := admin.Exec(ctx, "KILL_CLIENT "+c["id"]); err != nil && !clientGone(err) {
			return fmt.Errorf("pgbouncer KILL_CLIENT: %w", err)
		}
	}
	return nil
}

// clientGone reports whether KILL_CLIENT failed because the client had
// already disconnected.
func clientGone(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Message == "client not found" || strings.Contains(pe.Message, "no such client"))
}

// setPgBouncer SETs each setting on PgBouncer's admin console (on admin,
// or a connection of its own), recording in ch the value it replaces.
func (e *Env) setPgBouncer(ctx context.Context, ch *stackChange, admin *pgx.Conn, settings map[string]string) error {
	if admin == nil {
		c, err := e.pgbouncerConn(ctx)
		if err != nil {
			return err
		}
		defer c.Close(context.WithoutCancel(ctx))
		admin = c
	}
	config, err := adminRows(ctx, admin, "SHOW CONFIG")
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		i := slices.IndexFunc(config, func(r map[string]string) bool { return r["key"] == name })
		if i < 0 {
			return fmt.Errorf("pgbouncer has no setting %s", name)
		}
		if ch.pgbouncer != nil {
			if _, seen := ch.pgbouncer[name]; !seen {
				ch.pgbouncer[name] = config[i]["value"]
			}
		}
		// The admin console takes no parameters; the values are ours.
		if _, err := admin.Exec(ctx, fmt.Sprintf("SET %s = '%s'", name, settings[name])); err != nil {
			return fmt.Errorf("pgbouncer SET %s: %w", name, err)
		}
	}
	return nil
}

// rotatePassword sets the role's password to one nobody knows (a random
// SCRAM verifier: no password in clear goes anywhere) and ends the bot's
// sessions, so that it must log in again. The old verifier is kept to be
// put back as it was.
func (e *Env) rotatePassword(ctx context.Context, ch *stackChange) error {
	// Kept for Restore: with the password changed, no new login works.
	c, err := pgx.Connect(ctx, e.DSNs().HostPostgres)
	if err != nil {
		return fmt.Errorf("password_rotation: connect: %w", err)
	}
	ch.held = append(ch.held, c)
	var verifier string
	if err := c.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", e.cfg.User).Scan(&verifier); err != nil {
		return fmt.Errorf("read the role's password verifier: %w", err)
	}
	random := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	if err := alterPassword(ctx, c, e.cfg.User, fmt.Sprintf("SCRAM-SHA-256$4096:%s$%s:%s", random(16), random(32), random(32))); err != nil {
		return err
	}
	ch.verifier = verifier
	_, err = e.endBotSessions(ctx, c)
	return err
}

func alterPassword(ctx context.Context, c *pgx.Conn, role, verifier string) error {
	// ALTER ROLE takes no parameters: a quoted literal of a verifier.
	sql := fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", pgx.Identifier{role}.Sanitize(), strings.ReplaceAll(verifier, "'", "''"))
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("alter the role's password: %w", err)
	}
	return nil
}

// fillServer takes every free connection slot of Postgres with logins of
// the harness that never finish, then ends the bot's sessions and takes
// the slots they freed, until none of the bot's sessions is left: the bot
// connects again and gets "sorry, too many clients already" (53300), what
// a low max_connections gives. max_connections itself needs a restart,
// which the shared stack cannot afford mid-suite.
func (e *Env) fillServer(ctx context.Context, ch *stackChange) error {
	const rounds = 10
	for range rounds {
		free, err := e.freeSlots(ctx, ch)
		if err != nil {
			return err
		}
		slots, err := e.holdSlots(ctx, free+1)
		ch.slots = append(ch.slots, slots...)
		if err != nil {
			return err
		}
		ended, err := e.endBotSessions(ctx, ch.held[0])
		if err != nil {
			return err
		}
		if ended == 0 && len(slots) <= free {
			return nil // full, and none of the bot's sessions left
		}
		// The ended sessions free their slots once gone: count then.
		if err := e.waitBotSessionsGone(ctx, ch.held[0]); err != nil {
			return err
		}
	}
	return fmt.Errorf("server_limit: the bot kept a session after %d rounds", rounds)
}

// freeSlots counts the free Postgres connection slots on the harness's
// admin connection (ch.held[0], opened the first time).
func (e *Env) freeSlots(ctx context.Context, ch *stackChange) (int, error) {
	if len(ch.held) == 0 {
		admin, err := pgx.Connect(ctx, e.DSNs().HostPostgres)
		if err != nil {
			return 0, fmt.Errorf("server_limit: connect: %w", err)
		}
		ch.held = append(ch.held, admin)
	}
	var free int
	if err := ch.held[0].QueryRow(ctx, `SELECT current_setting('max_connections')::int - count(*)
		FROM pg_stat_activity WHERE backend_type = 'client backend'`).Scan(&free); err != nil {
		return 0, fmt.Errorf("server_limit: count the slots: %w", err)
	}
	// A login still authenticating holds its slot but is not yet in
	// pg_stat_activity: ours are known.
	return free - len(ch.slots), nil
}

// holdSlots starts up to n logins to postgres, 16 at a time, and returns
// those that took a connection slot. A backend takes its slot before it
// authenticates, and then waits for the password up to
// authentication_timeout (1 min): a login that sends its startup message
// and never answers the challenge holds a slot without a password, at the
// cost of a fork. Refusals for want of a slot (53300) are expected.
func (e *Env) holdSlots(ctx context.Context, n int) ([]net.Conn, error) {
	u, err := url.Parse(e.DSNs().HostPostgres)
	if err != nil {
		return nil, fmt.Errorf("server_limit: %w", err)
	}
	var (
		mu    sync.Mutex
		held  []net.Conn
		errs  []error
		wg    sync.WaitGroup
		limit = make(chan struct{}, 128)
	)
	for range n {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			c, err := holdSlot(ctx, u.Host, e.cfg.User, e.cfg.Database)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				held = append(held, c)
			case !errors.Is(err, errNoSlot):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return held, fmt.Errorf("server_limit: %w", err)
	}
	return held, nil
}

var errNoSlot = errors.New("no connection slot left")

// holdSlot sends a startup message and returns the connection once the
// server asks for the password: it holds a slot then.
func holdSlot(ctx context.Context, addr, user, database string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": user, "database": database}})
	if err = fe.Flush(); err == nil {
		var msg pgproto3.BackendMessage
		if msg, err = fe.Receive(); err == nil {
			switch m := msg.(type) {
			case *pgproto3.AuthenticationSASL, *pgproto3.AuthenticationMD5Password, *pgproto3.AuthenticationCleartextPassword:
				_ = c.SetDeadline(time.Time{})
				return c, nil
			case *pgproto3.ErrorResponse:
				if m.Code == "53300" {
					err = errNoSlot
				} else {
					err = fmt.Errorf("login: %s (SQLSTATE %s)", m.Message, m.Code)
				}
			default:
				err = fmt.Errorf("login: unexpected %T", msg)
			}
		}
	}
	c.Close()
	return nil, err
}

// endBotSessions ends every session that came through Toxiproxy (the
// bot's direct path, and the probes of that path) and says how many.
func (e *Env) endBotSessions(ctx context.Context, c *pgx.Conn) (int, error) {
	ip, err := e.ToxiproxyIP(ctx)
	if err != nil {
		return 0, fmt.Errorf("toxiproxy's address: %w", err)
	}
	var n int
	err = c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND client_addr = $1::inet AND pid <> pg_backend_pid()`, ip).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("end the bot's sessions: %w", err)
	}
	return n, nil
}

// waitBotSessionsGone waits until no session that came through Toxiproxy
// is left in pg_stat_activity.
func (e *Env) waitBotSessionsGone(ctx context.Context, c *pgx.Conn) error {
	ip, err := e.ToxiproxyIP(ctx)
	if err != nil {
		return fmt.Errorf("toxiproxy's address: %w", err)
	}
	for {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND client_addr = $1::inet`, ip).Scan(&n); err != nil {
			return fmt.Errorf("count the bot's sessions: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// pgbouncerConn connects to PgBouncer's admin console, from the host
// through its own mapped port (not through Toxiproxy).
func (e *Env) pgbouncerConn(ctx context.Context) (*pgx.Conn, error) {
	host, err := e.PgBouncer.Host(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer admin console: %w", err)
	}
	port, err := e.PgBouncer.MappedPort(ctx, strconv.Itoa(PortPgBouncer)+"/tcp")
	if err != nil {
		return nil, fmt.Errorf("pgbouncer admin console: %w", err)
	}
	u, err := url.Parse(e.dsn(host, port.Num(), "default_query_exec_mode=simple_protocol&sslmode=disable"))
	if err != nil {
		return nil, err
	}
	u.Path = "/pgbouncer"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("connect to the pgbouncer admin console: %w", err)
	}
	return conn, nil
}

// adminRows runs a SHOW command on the admin console and returns its rows
// by column name, as text.
func adminRows(ctx context.Context, c *pgx.Conn, show string) ([]map[string]string, error) {
	rows, err := c.Query(ctx, show)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer %s: %w", show, err)
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("pgbouncer %s: %w", show, err)
		}
		row := map[string]string{}
		for i, fd := range rows.FieldDescriptions() {
			if vals[i] != nil {
				row[fd.Name] = fmt.Sprint(vals[i])
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgbouncer %s: %w", show, err)
	}
	return out, nil
}

func closeAll(ctx context.Context, conns []*pgx.Conn) {
	for _, c := range conns {
		_ = c.Close(context.WithoutCancel(ctx))
	}
}
