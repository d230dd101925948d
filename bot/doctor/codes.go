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

// verdict is what the doctor says about one error.
type verdict struct {
	code    resilience.Code
	botCode resilience.Code // set when the bot's code differs from code; "none" for no code
	reason  string
	advice  string
}

// verdictOf classifies err with the bot's own Classify and adds the
// runbook's advice. A pooler's refusal is named from the bot's table of
// pooler wordings (resilience.PoolerMessages), with its advice.
func verdictOf(err error) verdict {
	c := resilience.Classify(err)
	v := verdict{code: c.Code, reason: c.Reason}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pm, ok := poolerRefusal(pgErr.Message); ok {
			v.reason = pm.Pooler + ": " + pm.Name + " (" + pgErr.Message + ")"
			v.advice = pm.Advice
			if v.code == "" && pm.Class.Code != "" {
				v.setCode(pm.Class.Code)
			}
		} else if pgErr.Message != "" {
			v.reason = c.Reason + ": " + pgErr.Severity + " " + pgErr.Code + " " + pgErr.Message
		}
	}
	if v.advice == "" {
		v.advice = adviceFor(v.code, c.Reason)
	}
	return v
}

// poolerRefusal is the first pooler wording in msg that comes with advice.
func poolerRefusal(msg string) (resilience.PoolerMessage, bool) {
	for _, pm := range resilience.PoolerMessages {
		if pm.Advice != "" && pm.Matches(msg) {
			return pm, true
		}
	}
	return resilience.PoolerMessage{}, false
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

// adviceFor is the runbook's advice for a code and reason.
func adviceFor(code resilience.Code, reason string) string {
	switch code {
	case resilience.CodeAuthFailed:
		return "Wrong password or user: copy both from the dashboard again (Supabase's pooler user is postgres.<project-ref>), percent-encode special characters in the password, and do not retry in a loop: poolers lock out repeated failures."
	case resilience.CodeDBMissing:
		return "The database in the URL's path does not exist on this server (Supabase's is postgres): check the path after host:port."
	case resilience.CodeTLS:
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
