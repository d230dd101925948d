package doctor

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/resilience"
)

// CodeInvalidURL is Prisma's code for a database string it cannot parse.
const CodeInvalidURL resilience.Code = "P1013"

// Finding is one runbook rule a URL breaks.
type Finding struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Lint rule names.
const (
	RuleSessionPooler  = "supabase-pooler-session-port"
	RuleDirectHost     = "supabase-direct-host"
	RuleNoPgBouncer    = "port-6543-without-pgbouncer"
	RuleNoLimit        = "no-connection-limit"
	RuleConnectTimeout = "connect-timeout-capped"
	RulePgBouncerFalse = "pgbouncer-false-on-6543"
)

// Lint checks a URL that dburl.Parse accepted against the runbook's
// configuration rules: the pooler on 6543 with pgbouncer=true and a
// connection_limit, never the direct connection in production, and a
// connect_timeout the bot will not cap.
func Lint(raw string, attemptTimeout time.Duration) []Finding {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil // dburl.Parse reported it
	}
	q := u.Query()
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = "5432"
	}
	var out []Finding
	add := func(rule, format string, args ...any) {
		out = append(out, Finding{rule, fmt.Sprintf(format, args...)})
	}
	switch {
	case strings.HasSuffix(host, ".pooler.supabase.com") && port == "5432":
		add(RuleSessionPooler, "%s:5432 is Supabase's pooler in session mode: one server connection per client, limited to pool_size; the runbook uses port 6543 (transaction mode) with pgbouncer=true", host)
	case strings.HasPrefix(host, "db.") && strings.HasSuffix(host, ".supabase.co"):
		add(RuleDirectHost, "%s is Supabase's direct connection (IPv6 only unless the IPv4 add-on is on): the runbook says never in production; use the pooler, aws-0-<region>.pooler.supabase.com:6543", host)
	}
	pgb := q.Get("pgbouncer")
	if port == "6543" && pgb == "" {
		add(RuleNoPgBouncer, "port 6543 (a transaction-mode pooler) without pgbouncer=true: the bot would use named prepared statements, and in transaction mode the next transaction may run on another server connection (\"prepared statement ... does not exist\" / \"already exists\"); add pgbouncer=true")
	} else if port == "6543" && pgb != "" {
		if b, err := strconv.ParseBool(pgb); err == nil && !b {
			add(RulePgBouncerFalse, "port 6543 with pgbouncer=false: named prepared statements break in transaction mode; use pgbouncer=true")
		}
	}
	if q.Get("connection_limit") == "" {
		add(RuleNoLimit, "no connection_limit: the pool's default size applies to every instance; the runbook sets connection_limit (10) so that instances x limit stays below the pooler's and the server's limits")
	}
	if v := q.Get("connect_timeout"); v != "" && attemptTimeout > 0 {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			d := time.Duration(f * float64(time.Second))
			if d == 0 || d > attemptTimeout {
				add(RuleConnectTimeout, "connect_timeout=%s is longer than the bot's attempt timeout (%s): the bot caps it to %s", v, attemptTimeout, attemptTimeout)
			}
		}
	}
	return out
}

// stepURL parses the URL with the bot's own parser and lints it.
func (r *run) stepURL(_ context.Context, s *Step) bool {
	raw := strings.TrimSpace(r.opts.URL)
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		r.secret, _ = u.User.Password()
	}
	cfg, err := dburl.Parse(r.rep.Var, raw)
	if err != nil {
		s.Status, s.Code = Fail, CodeInvalidURL
		s.Summary = "the bot cannot parse it"
		s.Reason = err.Error()
		s.Advice = "Write it as postgresql://user:password@host:port/database?params, percent-encode special characters in the password, and use only the parameters the bot supports (docs/bot.md, DATABASE_URL translation)."
		return true
	}
	r.cfg = cfg
	r.host = cfg.Pool.ConnConfig.Host
	r.port = strconv.Itoa(int(cfg.Pool.ConnConfig.Port))
	given := cfg.Pool.ConnConfig.ConnectTimeout
	capped := cfg.CapConnectTimeout(r.opts.Policy.AttemptTimeout)
	note := ""
	switch {
	case capped && given == 0:
		note = " (none given: the attempt timeout)"
	case capped:
		note = fmt.Sprintf(" (capped from %s)", given)
	}
	mode := cfg.Pool.ConnConfig.DefaultQueryExecMode.String()
	s.Summary = fmt.Sprintf("%s:%s, database %q, user %q, pgbouncer=%t (query mode %s), pool %d, connect timeout %s%s",
		r.host, r.port, cfg.Pool.ConnConfig.Database, cfg.Pool.ConnConfig.User, cfg.PgBouncer, mode,
		cfg.Pool.MaxConns, cfg.Pool.ConnConfig.ConnectTimeout, note)
	for _, f := range Lint(raw, r.opts.Policy.AttemptTimeout) {
		s.Status = Warn
		s.Details = append(s.Details, f.Message)
	}
	return false
}
