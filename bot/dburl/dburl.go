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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/resilience"
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
const DefaultAcquireTimeout = 10 * time.Second

// Supported lists the query parameters Parse accepts.
var supported = []string{
	"application_name", "connect_timeout", "connection_limit", "pgbouncer",
	"pool_timeout", "schema", "socket_timeout", "sslmode", "sslrootcert",
	"statement_cache_size",
}

// prismaTLS are Prisma's TLS parameters, whose meaning differs from libpq's.
var prismaTLS = map[string]bool{"sslcert": true, "sslidentity": true, "sslpassword": true, "sslaccept": true}

// Parse translates raw, the value of the environment variable name. Every
// error names the variable and shows the URL with its password redacted.
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
	if u.Scheme != "postgresql" && u.Scheme != "postgres" {
		return nil, fail("malformed URL: scheme must be postgresql:// or postgres://, got %q", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, fail("malformed URL: expected postgresql://user:password@host:port/database")
	}
	if u.Hostname() == "" {
		return nil, fail("malformed URL: missing host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fail("malformed URL: invalid port %q", p)
		}
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fail("malformed URL: missing database name (the path after host:port)")
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, fail("malformed URL: missing user name")
	}

	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fail("malformed query string: %s", urlErrorReason(err))
	}
	var unknown, tls []string
	for key, values := range query {
		switch {
		case prismaTLS[key]:
			tls = append(tls, key)
		case !slices.Contains(supported, key):
			unknown = append(unknown, key)
		case len(values) != 1:
			return nil, fail("parameter %q is given %d times", key, len(values))
		}
	}
	if len(tls) > 0 {
		slices.Sort(tls)
		return nil, fail("Prisma TLS parameter(s) %s not supported: use sslmode and sslrootcert (libpq names)", quoteAll(tls))
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fail("unknown parameter(s) %s (supported: %s)", quoteAll(unknown), strings.Join(supported, ", "))
	}

	cfg := &Config{Redacted: redacted, AcquireTimeout: DefaultAcquireTimeout}
	// pgx understands these libpq names itself; everything else is translated.
	pass := url.Values{}
	for _, key := range []string{"application_name", "connect_timeout", "sslmode", "sslrootcert"} {
		if v, ok := query[key]; ok {
			pass.Set(key, v[0])
		}
	}
	if v, ok := query["connect_timeout"]; ok {
		if _, err := seconds(v[0]); err != nil {
			return nil, fail("connect_timeout: %v", err)
		}
	}
	if v, ok := query["sslmode"]; ok {
		switch v[0] {
		case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
		default:
			return nil, fail("sslmode: %q is not one of disable, allow, prefer, require, verify-ca, verify-full", v[0])
		}
	}
	if v, ok := query["pgbouncer"]; ok {
		b, err := strconv.ParseBool(v[0])
		if err != nil {
			return nil, fail("pgbouncer: %q is not true or false", v[0])
		}
		cfg.PgBouncer = b
	}
	var maxConns int32
	if v, ok := query["connection_limit"]; ok {
		n, err := strconv.ParseInt(v[0], 10, 32)
		if err != nil || n < 1 {
			return nil, fail("connection_limit: %q is not a positive integer", v[0])
		}
		maxConns = int32(n)
	}
	if v, ok := query["pool_timeout"]; ok {
		d, err := seconds(v[0])
		if err != nil {
			return nil, fail("pool_timeout: %v", err)
		}
		cfg.AcquireTimeout = d
	}
	if v, ok := query["socket_timeout"]; ok {
		d, err := seconds(v[0])
		if err != nil {
			return nil, fail("socket_timeout: %v", err)
		}
		cfg.QueryTimeout = d
	}
	if v, ok := query["schema"]; ok {
		if v[0] == "" || len(v[0]) > 63 {
			return nil, fail("schema: must be 1 to 63 bytes, got %d", len(v[0]))
		}
		cfg.Schema = v[0]
	}
	stmtCache := -1
	if v, ok := query["statement_cache_size"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return nil, fail("statement_cache_size: %q is not a non-negative integer", v[0])
		}
		if cfg.PgBouncer && n > 0 {
			return nil, fail("statement_cache_size=%d conflicts with pgbouncer=true (PgBouncer in transaction mode cannot keep prepared statements)", n)
		}
		stmtCache = n
	}

	clean := *u
	clean.RawQuery = pass.Encode()
	clean.Fragment = ""
	poolCfg, err := pgxpool.ParseConfig(clean.String())
	if err != nil {
		// pgconn redacts the password in its own message.
		return nil, fail("%v", err)
	}
	if maxConns > 0 {
		poolCfg.MaxConns = maxConns
	}
	if stmtCache >= 0 {
		poolCfg.ConnConfig.StatementCacheCapacity = stmtCache
	}
	if cfg.PgBouncer {
		poolCfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
		poolCfg.ConnConfig.StatementCacheCapacity = 0
		poolCfg.ConnConfig.DescriptionCacheCapacity = 0
	}
	if cfg.Schema != "" && !cfg.PgBouncer {
		// PgBouncer rejects search_path as a startup parameter; through it the
		// store relies on schema-qualified names instead.
		poolCfg.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	}
	cfg.Pool = poolCfg
	cfg.Addr = net.JoinHostPort(poolCfg.ConnConfig.Host, strconv.Itoa(int(poolCfg.ConnConfig.Port)))
	return cfg, nil
}

// Clone returns a deep copy: capping one copy's connect timeout leaves the
// other alone.
func (c *Config) Clone() *Config {
	cp := *c
	cp.Pool = c.Pool.Copy()
	return &cp
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

// seconds parses a Prisma timeout: a non-negative number of seconds.
func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 24*3600 {
		return 0, fmt.Errorf("%q is not a number of seconds between 0 and 86400", s)
	}
	return time.Duration(f * float64(time.Second)), nil
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

func quoteAll(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, ", ")
}
