// Package dburl accepts DATABASE_URL exactly as Prisma and Supabase users
// write it and translates the Prisma-only parameters before pgx sees them.
//
// pgx passes unknown URL parameters to the server as startup parameters, and
// PgBouncer rejects those, so every parameter is either translated, passed to
// pgx as a libpq parameter it understands, or rejected with an error naming it.
//
// pgbouncer=true selects pgx's "exec" query mode: each query is sent as
// Parse(unnamed)/Bind/Describe/Execute/Sync in one round trip, so no named
// prepared statement outlives its transaction and the query stays
// server-side parameterized. PgBouncer in transaction mode hands the whole
// round trip to one server connection, so this is safe. "describe_exec" and
// the statement/description caches need state on the server connection
// across round trips and are not; "simple_protocol" would also work but
// interpolates parameters on the client, so it is not used.
package dburl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/resilience/prismaurl"
)

// Config is a translated DATABASE_URL: the pgxpool configuration plus the
// Prisma settings that pgx has no parameter for.
type Config struct {
	// Pool is ready for pgxpool.NewWithConfig.
	Pool *pgxpool.Config
	// PgBouncer is true when the URL said pgbouncer=true.
	PgBouncer bool
	// Schema is the Prisma "schema" parameter, "" when absent. Queries are
	// schema-qualified with it; without PgBouncer it is also the search_path.
	Schema string
	// AcquireTimeout is Prisma's pool_timeout: the longest wait for a pooled
	// connection. 0 means no limit of its own.
	AcquireTimeout time.Duration
	// QueryTimeout is Prisma's socket_timeout, applied to each query. 0 means
	// no limit of its own.
	QueryTimeout time.Duration
	// Addr is host:port of the first host, for error messages.
	Addr string
	// Redacted is the URL as given, with the password masked.
	Redacted string
}

// DefaultAcquireTimeout is Prisma's default pool_timeout.
const DefaultAcquireTimeout = prismaurl.DefaultPoolTimeout

// Parse translates raw, the value of the environment variable name. Every
// error names the variable and shows the URL with its password redacted.
// The query parameters are prismaurl's table; Parse checks the rest of the
// URL and hands pgx what it understands.
func Parse(name, raw string) (*Config, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("%s is not set (example: postgresql://user:password@localhost:5432/p1001)", name)
	}
	redacted := resilience.RedactDSN(raw)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s=%s: %s", name, redacted, fmt.Sprintf(format, args...))
	}

	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the raw URL, password included: never show it.
		return nil, fail("malformed URL: %s", urlErrorReason(err))
	}
	if problem := shapeProblem(u); problem != "" {
		return nil, fail("malformed URL: %s", problem)
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fail("malformed query string: %s", urlErrorReason(err))
	}
	prisma, err := prismaurl.Parse(query)
	if err != nil {
		return nil, fail("%v", err)
	}

	// pgx gets the libpq parameters only.
	clean := *u
	clean.RawQuery = prisma.Libpq.Encode()
	clean.Fragment = ""
	poolCfg, err := pgxpool.ParseConfig(clean.String())
	if err != nil {
		// pgconn redacts the password in its own message.
		return nil, fail("%v", err)
	}
	translate(poolCfg, prisma)
	return &Config{
		Pool:           poolCfg,
		PgBouncer:      prisma.PgBouncer,
		Schema:         prisma.Schema,
		AcquireTimeout: prisma.PoolTimeout,
		QueryTimeout:   prisma.SocketTimeout,
		Addr:           net.JoinHostPort(poolCfg.ConnConfig.Host, strconv.Itoa(int(poolCfg.ConnConfig.Port))),
		Redacted:       redacted,
	}, nil
}

// shapeProblem is what is wrong with the parts of u other than the query,
// "" when nothing is.
func shapeProblem(u *url.URL) string {
	switch {
	case u.Scheme != "postgresql" && u.Scheme != "postgres":
		return fmt.Sprintf("scheme must be postgresql:// or postgres://, got %q", u.Scheme)
	case u.Opaque != "":
		return "expected postgresql://user:password@host:port/database"
	case u.Hostname() == "":
		return "missing host"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("invalid port %q", p)
		}
	}
	switch {
	case strings.Trim(u.Path, "/") == "":
		return "missing database name (the path after host:port)"
	case u.User == nil || u.User.Username() == "":
		return "missing user name"
	}
	return ""
}

// translate applies the Prisma settings pgx has no parameter for.
func translate(pool *pgxpool.Config, s prismaurl.Settings) {
	cc := pool.ConnConfig
	if s.ConnectionLimit > 0 {
		pool.MaxConns = s.ConnectionLimit
	}
	if s.StatementCacheSize >= 0 {
		cc.StatementCacheCapacity = s.StatementCacheSize
	}
	if s.PgBouncer {
		cc.DefaultQueryExecMode = pgx.QueryExecModeExec
		cc.StatementCacheCapacity = 0
		cc.DescriptionCacheCapacity = 0
	}
	if s.Schema != "" && !s.PgBouncer {
		// PgBouncer rejects search_path as a startup parameter; through it the
		// store relies on schema-qualified names instead.
		cc.RuntimeParams["search_path"] = s.Schema
	}
}

// Clone returns a deep copy: capping one copy's connect timeout leaves the
// other alone.
func (c *Config) Clone() *Config {
	cp := *c
	cp.Pool = c.Pool.Copy()
	return &cp
}

// Target is the server and pool as the retry layer's errors name them
// (resilience.WithTarget): host, port, user and database from the parsed
// URL, the pool's size (connection_limit, else pgxpool's default) and
// pool_timeout. It is read from the configuration itself, so it cannot
// disagree with what the pool does.
func (c *Config) Target() resilience.Target {
	cc := c.Pool.ConnConfig
	return resilience.Target{Host: cc.Host, Port: int(cc.Port), User: cc.User, Database: cc.Database,
		PoolTimeout: c.AcquireTimeout, ConnectionLimit: int(c.Pool.MaxConns)}
}

// CapConnectTimeout limits the connect timeout to limit, so that one attempt
// never waits longer than the retry policy's attempt timeout. It reports
// whether it changed anything. With no connect_timeout in the URL the limit
// becomes the connect timeout.
func (c *Config) CapConnectTimeout(limit time.Duration) bool {
	if limit <= 0 {
		return false
	}
	cc := c.Pool.ConnConfig
	if cc.ConnectTimeout == 0 || cc.ConnectTimeout > limit {
		cc.ConnectTimeout = limit
		return true
	}
	return false
}

// QualifiedTable returns table as a quoted identifier, schema-qualified when
// the URL named a schema.
func (c *Config) QualifiedTable(table string) string {
	if c.Schema == "" {
		return pgx.Identifier{table}.Sanitize()
	}
	return pgx.Identifier{c.Schema, table}.Sanitize()
}

// urlErrorReason describes a net/url error without echoing its input, which
// may contain the password.
func urlErrorReason(err error) string {
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return "invalid %-escape (percent-encode special characters in the password, e.g. @ as %40)"
	}
	var host url.InvalidHostError
	if errors.As(err, &host) {
		return "invalid character in host"
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if strings.Contains(uerr.Err.Error(), "port") {
			return "invalid port"
		}
		if strings.Contains(uerr.Err.Error(), "userinfo") {
			return "invalid user:password part (percent-encode special characters)"
		}
	}
	return "cannot be parsed as a URL"
}
