package doctor

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/p1001/p1001/resilience"
)

// The Prisma codes the retry layer has no use for (neither is an
// availability problem) but a person reading the doctor wants named.
const (
	CodeUnknownDatabase resilience.Code = "P1003" // database does not exist
	CodeTLS             resilience.Code = "P1011" // error opening a TLS connection
)

// verdict is what the doctor says about one error.
type verdict struct {
	code    resilience.Code
	botCode resilience.Code // set when the bot's code differs from code; "none" for no code
	reason  string
	advice  string
}

// verdictOf classifies err with the bot's own Classify and adds the
// runbook's advice. P1003, and P1000 where the pooler's wording hides it
// from Classify, are named here; the code the bot logs is kept in botCode.
func verdictOf(err error) verdict {
	c := resilience.Classify(err)
	v := verdict{code: c.Code, reason: c.Reason}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if r, ok := supavisorRefusal(pgErr.Message); ok {
			v.reason = "Supavisor: " + r.name + " (" + pgErr.Message + ")"
			v.advice = r.advice
			if v.code == "" && r.code != "" {
				v.setCode(r.code)
			}
		} else if pgErr.Message != "" {
			v.reason = c.Reason + ": " + pgErr.Severity + " " + pgErr.Code + " " + pgErr.Message
		}
		switch {
		case unknownDatabase(pgErr):
			v.setCode(CodeUnknownDatabase)
		case authFailed(pgErr):
			v.setCode(resilience.CodeAuthFailed)
		}
	}
	if v.advice == "" {
		v.advice = adviceFor(v.code, c.Reason)
	}
	return v
}

// unknownDatabase: Postgres says 3D000. PgBouncer says "no such database"
// (08P01) for a name it does not route, and passes the server's "database
// ... does not exist" on as 08P01 when its own login to the server fails.
func unknownDatabase(e *pgconn.PgError) bool {
	m := strings.ToLower(e.Message)
	return e.Code == "3D000" || strings.Contains(m, "no such database") ||
		(strings.HasPrefix(e.Code, "08") && strings.HasPrefix(m, "database ") && strings.HasSuffix(m, " does not exist"))
}

// authFailed: PgBouncer 1.18 answers a wrong password (or an unknown user)
// under SCRAM with 08P01 "SASL authentication failed", which Classify reads
// as a connection exception (P1001); Postgres and Supavisor send 28P01.
func authFailed(e *pgconn.PgError) bool {
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "sasl authentication failed") || strings.Contains(m, "password authentication failed")
}

// setCode replaces the code, keeping the bot's in botCode.
func (v *verdict) setCode(code resilience.Code) {
	if v.code == code {
		return
	}
	v.botCode = v.code
	if v.botCode == "" {
		v.botCode = "none"
	}
	v.code = code
}

// asConnectError wraps a network error met by the doctor's own socket the
// way the bot's pgx wraps it while connecting (a *pgconn.ConnectError), so
// Classify judges it as it judges the bot's: a refused dial is P1001, a
// silent server after connecting P1002. It runs pgconn's connect with a
// dialer that returns err; nothing touches the network.
func asConnectError(err error) error {
	cfg, perr := pgconn.ParseConfig("postgres://doctor@127.0.0.1:1/doctor?sslmode=disable")
	if perr != nil {
		return err
	}
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	cfg.DialFunc = func(context.Context, string, string) (net.Conn, error) { return nil, err }
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, cerr := pgconn.ConnectConfig(ctx, cfg); cerr != nil {
		return cerr
	}
	return err
}

// refusal is a Supavisor refusal, recognised by Supavisor's own wording
// (test/integration/proxy_test.exs in supabase/supavisor). Supavisor sends
// them as FATAL XX000 with an "(ECODE)" prefix.
type refusal struct {
	fragments []string // all must appear (lower case)
	name      string
	advice    string
	// code is named when Classify has none for this wording: resilience
	// maps Supavisor's older "Tenant or user not found" to P1000, and the
	// doctor keeps that meaning for the newer "(ENOTFOUND)" text.
	code resilience.Code
}

const tenantAdvice = "The pooler does not know this tenant: on Supabase's pooler the user is postgres.<project-ref> (not postgres), and the host must be your project's region (aws-0-<region>.pooler.supabase.com)."

// Older Supavisor releases said "Tenant or user not found".
var refusals = []refusal{
	{[]string{"(enotfound)", "not found"}, "tenant/user not found", tenantAdvice, resilience.CodeAuthFailed},
	{[]string{"tenant or user not found"}, "tenant/user not found", tenantAdvice, resilience.CodeAuthFailed},
	{[]string{"max client connections reached"}, "max client connections reached",
		"Is the connection pool full? The pooler refuses new clients for this project: lower connection_limit per instance, count your instances (each has its own pool), and look for leaked connections.", ""},
	{[]string{"max clients reached in session mode"}, "max clients reached in session mode",
		"Session mode (the pooler on port 5432) gives each client its own server connection, up to pool_size: use transaction mode (port 6543, pgbouncer=true), as the runbook says.", ""},
	{[]string{"(ecircuitbreaker)", "too many authentication failures"}, "too many authentication failures",
		"Supavisor blocks new connections after repeated wrong passwords: fix the password (Settings > Database), then wait; every retry with the old one extends the block.", ""},
	{[]string{"(ecircuitbreaker)"}, "circuit breaker open",
		"Supavisor blocks new connections after repeated failures to reach the database: check that the project is not paused and the database is up, then wait; retries extend the block.", ""},
	{[]string{"(emaxpoolsreached)"}, "max pools reached",
		"Supavisor has reached its pool count for this project: fewer distinct users/databases/search_paths.", ""},
	{[]string{"(einvaliduserinfo)"}, "invalid user or database name",
		"The user or database name has characters the pooler rejects: percent-encode them in the URL.", ""},
}

func supavisorRefusal(msg string) (refusal, bool) {
	m := strings.ToLower(msg)
outer:
	for _, r := range refusals {
		for _, f := range r.fragments {
			if !strings.Contains(m, f) {
				continue outer
			}
		}
		return r, true
	}
	return refusal{}, false
}

// adviceFor is the runbook's advice for a code and reason.
func adviceFor(code resilience.Code, reason string) string {
	switch code {
	case resilience.CodeAuthFailed:
		return "Wrong password or user: copy both from the dashboard again (Supabase's pooler user is postgres.<project-ref>), percent-encode special characters in the password, and do not retry in a loop: poolers lock out repeated failures."
	case CodeUnknownDatabase:
		return "The database in the URL's path does not exist on this server (Supabase's is postgres): check the path after host:port."
	case CodeTLS:
		return "Match sslmode to the server: require needs a server that offers TLS; verify-ca/verify-full need its CA in sslrootcert (Supabase: download the CA from the dashboard)."
	case resilience.CodeTimeout:
		return "Can the network reach the database server? It accepts TCP but does not answer in time: a firewall or security group dropping after the handshake (a black hole), an overloaded server or pooler, or latency above the attempt timeout."
	case resilience.CodePoolTimeout:
		return "Is the connection pool full? Every connection is busy for longer than the pool's timeout: raise connection_limit within what the server allows, or find the slow queries holding connections."
	case resilience.CodeOpTimeout:
		return "Queries take longer than the bot's attempt timeout on this path: look for latency between the bot and the database (region, VPN) or a busy server."
	case resilience.CodeConnClosed:
		return "The server or pooler closes connections: check its logs (restarts, idle timeouts, killed backends)."
	}
	switch {
	case strings.Contains(reason, "refused"):
		return "Is the database server running? Nothing accepts connections at this host and port: the server or pooler is down, or the port is wrong (pooler 6543, direct 5432)."
	case strings.Contains(reason, "DNS"):
		return "Can the network reach the database server? The host name does not resolve here: check the host in the URL (copy it from the dashboard) and this machine's DNS."
	case strings.Contains(reason, "dial timeout"):
		return "Can the network reach the database server? Connection attempts get no answer: a firewall, security group or network ACL drops them, or the host is down."
	case strings.Contains(reason, "unreachable"):
		return "Can the network reach the database server? There is no route to it from here: check this machine's network (VPN, VPC, IPv6)."
	case strings.Contains(reason, "reset"):
		return "Something between here and the server resets connections: a proxy, firewall or pooler that is restarting or refusing this client."
	case strings.Contains(reason, "too many"):
		return "Is the connection pool full? The server has no free connection slots: lower connection_limit, count the instances (each has its own pool), use the pooler (port 6543)."
	case strings.Contains(reason, "closed the connection"):
		return "The server closed the connection while connecting: a pooler or server refusing this client, or restarting; check its logs."
	}
	if code == resilience.CodeUnreachable {
		return "Is the database server running, and can the network reach it? Check both from this machine."
	}
	return ""
}
