package dburl

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/p1001/p1001/resilience"
)

// runbookURL is the runbook's pooler URL, verbatim.
const runbookURL = "postgresql://user:pw@host:6543/db?pgbouncer=true&connection_limit=10&connect_timeout=30"

func TestParseTranslates(t *testing.T) {
	tests := []struct {
		name  string
		url   string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "runbook URL verbatim",
			url:  runbookURL,
			check: func(t *testing.T, c *Config) {
				cc := c.Pool.ConnConfig
				if cc.Host != "host" || cc.Port != 6543 || cc.Database != "db" || cc.User != "user" || cc.Password != "pw" {
					t.Errorf("target = %s@%s:%d/%s (password %t), want user@host:6543/db", cc.User, cc.Host, cc.Port, cc.Database, cc.Password == "pw")
				}
				if !c.PgBouncer {
					t.Error("PgBouncer = false, want true")
				}
				if cc.DefaultQueryExecMode != pgx.QueryExecModeExec {
					t.Errorf("DefaultQueryExecMode = %v, want exec", cc.DefaultQueryExecMode)
				}
				if cc.StatementCacheCapacity != 0 || cc.DescriptionCacheCapacity != 0 {
					t.Errorf("statement/description cache = %d/%d, want 0/0", cc.StatementCacheCapacity, cc.DescriptionCacheCapacity)
				}
				if c.Pool.MaxConns != 10 {
					t.Errorf("MaxConns = %d, want 10", c.Pool.MaxConns)
				}
				if cc.ConnectTimeout != 30*time.Second {
					t.Errorf("ConnectTimeout = %v, want 30s", cc.ConnectTimeout)
				}
				if c.Addr != "host:6543" {
					t.Errorf("Addr = %q, want host:6543", c.Addr)
				}
				if c.AcquireTimeout != DefaultAcquireTimeout {
					t.Errorf("AcquireTimeout = %v, want Prisma's default %v", c.AcquireTimeout, DefaultAcquireTimeout)
				}
				// pgx would send these as startup parameters, which PgBouncer rejects.
				for _, k := range []string{"pgbouncer", "connection_limit", "connect_timeout"} {
					if _, ok := cc.RuntimeParams[k]; ok {
						t.Errorf("RuntimeParams has %q; it would reach the server as a startup parameter", k)
					}
				}
			},
		},
		{
			name: "direct URL keeps pgx defaults",
			url:  "postgres://app:secret@db.local/p1001",
			check: func(t *testing.T, c *Config) {
				cc := c.Pool.ConnConfig
				if c.PgBouncer {
					t.Error("PgBouncer = true, want false")
				}
				if cc.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
					t.Errorf("DefaultQueryExecMode = %v, want pgx's default cache_statement", cc.DefaultQueryExecMode)
				}
				if cc.Port != 5432 || c.Addr != "db.local:5432" {
					t.Errorf("port/Addr = %d/%q, want 5432/db.local:5432", cc.Port, c.Addr)
				}
				if cc.ConnectTimeout != 0 {
					t.Errorf("ConnectTimeout = %v, want 0 (unset)", cc.ConnectTimeout)
				}
			},
		},
		{
			name: "pgbouncer=false is the direct mode",
			url:  "postgresql://u:p@h:5432/d?pgbouncer=false",
			check: func(t *testing.T, c *Config) {
				if c.PgBouncer || c.Pool.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeExec {
					t.Errorf("PgBouncer=%t mode=%v, want false and not exec", c.PgBouncer, c.Pool.ConnConfig.DefaultQueryExecMode)
				}
			},
		},
		{
			name: "pool_timeout and socket_timeout in seconds",
			url:  "postgresql://u:p@h:6543/d?pool_timeout=2.5&socket_timeout=3",
			check: func(t *testing.T, c *Config) {
				if c.AcquireTimeout != 2500*time.Millisecond {
					t.Errorf("AcquireTimeout = %v, want 2.5s", c.AcquireTimeout)
				}
				if c.QueryTimeout != 3*time.Second {
					t.Errorf("QueryTimeout = %v, want 3s", c.QueryTimeout)
				}
			},
		},
		{
			name: "pool_timeout=0 means no limit, as in Prisma",
			url:  "postgresql://u:p@h:6543/d?pool_timeout=0",
			check: func(t *testing.T, c *Config) {
				if c.AcquireTimeout != 0 {
					t.Errorf("AcquireTimeout = %v, want 0", c.AcquireTimeout)
				}
			},
		},
		{
			name: "schema without pgbouncer sets search_path",
			url:  "postgresql://u:p@h:5432/d?schema=tenant_1",
			check: func(t *testing.T, c *Config) {
				if got := c.Pool.ConnConfig.RuntimeParams["search_path"]; got != "tenant_1" {
					t.Errorf("search_path = %q, want tenant_1", got)
				}
				if got := c.QualifiedTable("chat_prompts"); got != `"tenant_1"."chat_prompts"` {
					t.Errorf("QualifiedTable = %s", got)
				}
			},
		},
		{
			name: "schema with pgbouncer is not a startup parameter",
			url:  "postgresql://u:p@h:6543/d?schema=Tenant&pgbouncer=true",
			check: func(t *testing.T, c *Config) {
				if _, ok := c.Pool.ConnConfig.RuntimeParams["search_path"]; ok {
					t.Error("search_path sent as a startup parameter through PgBouncer")
				}
				if got := c.QualifiedTable("chat_prompts"); got != `"Tenant"."chat_prompts"` {
					t.Errorf("QualifiedTable = %s", got)
				}
			},
		},
		{
			name: "sslmode and application_name pass through",
			url:  "postgresql://u:p@h:5432/d?sslmode=disable&application_name=p1001-bot",
			check: func(t *testing.T, c *Config) {
				cc := c.Pool.ConnConfig
				if cc.TLSConfig != nil {
					t.Error("TLSConfig set with sslmode=disable")
				}
				if got := cc.RuntimeParams["application_name"]; got != "p1001-bot" {
					t.Errorf("application_name = %q", got)
				}
			},
		},
		{
			name: "sslmode=require gives TLS",
			url:  "postgresql://u:p@h:5432/d?sslmode=require",
			check: func(t *testing.T, c *Config) {
				if c.Pool.ConnConfig.TLSConfig == nil {
					t.Error("TLSConfig nil with sslmode=require")
				}
			},
		},
		{
			name: "statement_cache_size without pgbouncer",
			url:  "postgresql://u:p@h:5432/d?statement_cache_size=7",
			check: func(t *testing.T, c *Config) {
				if got := c.Pool.ConnConfig.StatementCacheCapacity; got != 7 {
					t.Errorf("StatementCacheCapacity = %d, want 7", got)
				}
			},
		},
		{
			name: "percent-encoded password",
			url:  "postgresql://u:p%40ss%2Fw@h:5432/d",
			check: func(t *testing.T, c *Config) {
				if c.Pool.ConnConfig.Password != "p@ss/w" {
					t.Error("password not decoded")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("DATABASE_URL", tt.url)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseErrors(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	tests := []struct {
		name string
		url  string
		want []string // substrings of the error
	}{
		{"missing", "", []string{"DATABASE_URL is not set"}},
		{"blank", "   ", []string{"DATABASE_URL is not set"}},
		{"unknown parameter", "postgresql://user:" + secret + "@host:6543/db?pgbouncer=true&foo=1&bar=2",
			[]string{"DATABASE_URL", `unknown parameter(s) "bar", "foo"`, "user:xxxxx@host:6543"}},
		{"Prisma TLS parameter", "postgresql://u:" + secret + "@h/d?sslaccept=strict",
			[]string{`"sslaccept"`, "sslrootcert"}},
		{"wrong scheme", "mysql://u:" + secret + "@h/d", []string{"scheme must be postgresql://"}},
		{"keyword/value DSN", "host=h user=u password=" + secret, []string{"scheme"}},
		{"missing host", "postgresql://u:" + secret + "@/d", []string{"missing host"}},
		{"missing database", "postgresql://u:" + secret + "@h:6543", []string{"missing database name"}},
		{"missing user", "postgresql://h:6543/d", []string{"missing user name"}},
		{"bad port", "postgresql://u:" + secret + "@h:99999/d", []string{"invalid port"}},
		{"bad escape in password", "postgresql://u:" + secret + "%zz@h/d", []string{"%-escape"}},
		{"pgbouncer not bool", "postgresql://u:" + secret + "@h/d?pgbouncer=yes-please", []string{"pgbouncer", `"yes-please"`}},
		{"connection_limit zero", "postgresql://u:" + secret + "@h/d?connection_limit=0", []string{"connection_limit"}},
		{"connection_limit text", "postgresql://u:" + secret + "@h/d?connection_limit=ten", []string{"connection_limit", `"ten"`}},
		{"connect_timeout negative", "postgresql://u:" + secret + "@h/d?connect_timeout=-1", []string{"connect_timeout"}},
		{"pool_timeout text", "postgresql://u:" + secret + "@h/d?pool_timeout=1m", []string{"pool_timeout", `"1m"`}},
		{"socket_timeout text", "postgresql://u:" + secret + "@h/d?socket_timeout=x", []string{"socket_timeout"}},
		{"sslmode unknown", "postgresql://u:" + secret + "@h/d?sslmode=always", []string{"sslmode", `"always"`}},
		{"empty schema", "postgresql://u:" + secret + "@h/d?schema=", []string{"schema"}},
		{"duplicate parameter", "postgresql://u:" + secret + "@h/d?connection_limit=1&connection_limit=2", []string{`"connection_limit" is given 2 times`}},
		{"statement cache with pgbouncer", "postgresql://u:" + secret + "@h/d?pgbouncer=true&statement_cache_size=100", []string{"statement_cache_size=100 conflicts with pgbouncer=true"}},
		{"statement_cache_size negative", "postgresql://u:" + secret + "@h/d?statement_cache_size=-1", []string{`statement_cache_size: "-1" is not a non-negative integer`}},
		{"schema too long", "postgresql://u:" + secret + "@h/d?schema=" + strings.Repeat("s", 64), []string{"schema: must be 1 to 63 bytes, got 64"}},
		{"pool_timeout NaN", "postgresql://u:" + secret + "@h/d?pool_timeout=NaN", []string{`pool_timeout: "NaN" is not a number of seconds between 0 and 86400`}},
		{"socket_timeout over a day", "postgresql://u:" + secret + "@h/d?socket_timeout=86401", []string{"socket_timeout", "86400"}},
		{"port zero", "postgresql://u:" + secret + "@h:0/d", []string{`invalid port "0"`}},
		{"malformed query", "postgresql://u:" + secret + "@h/d?pgbouncer=%zz", []string{"malformed query string", "%-escape"}},
		{"a repeated parameter is named before unknown ones", "postgresql://u:" + secret + "@h/d?foo=1&pgbouncer=true&pgbouncer=false", []string{`"pgbouncer" is given 2 times`}},
		{"Prisma TLS before unknown", "postgresql://u:" + secret + "@h/d?foo=1&sslcert=x&sslidentity=y", []string{`Prisma TLS parameter(s) "sslcert", "sslidentity" not supported`}},
		{"unknown lists the supported ones", "postgresql://u:" + secret + "@h/d?tls=1", []string{"(supported: application_name, connect_timeout, connection_limit, pgbouncer, pool_timeout, schema, socket_timeout, sslmode, sslrootcert, statement_cache_size)"}},
		{"the first bad value in check order", "postgresql://u:" + secret + "@h/d?statement_cache_size=x&sslmode=always", []string{"sslmode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("DATABASE_URL", tt.url)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks the password: %q", msg)
			}
		})
	}
}

func TestCapConnectTimeout(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		limit   time.Duration
		want    time.Duration
		changed bool
	}{
		{"runbook 30s capped by 2s attempt timeout", runbookURL, 2 * time.Second, 2 * time.Second, true},
		{"shorter than limit kept", "postgresql://u:p@h/d?connect_timeout=1", 2 * time.Second, time.Second, false},
		{"absent becomes limit", "postgresql://u:p@h/d", 2 * time.Second, 2 * time.Second, true},
		{"no limit leaves it", runbookURL, 0, 30 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("DATABASE_URL", tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.CapConnectTimeout(tt.limit); got != tt.changed {
				t.Errorf("changed = %t, want %t", got, tt.changed)
			}
			if got := c.Pool.ConnConfig.ConnectTimeout; got != tt.want {
				t.Errorf("ConnectTimeout = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseNeverLeaksPassword(f *testing.F) {
	f.Add("user", "pw", "host:6543", "pgbouncer=true&connection_limit=10&connect_timeout=30")
	f.Add("u", "p%zz", "h", "x=1")
	f.Add("u", "pa ss", "h:1", "")
	const marker = "Zq7s3cr3t" // marks the password so that it cannot be confused with the rest
	f.Fuzz(func(t *testing.T, user, password, hostport, query string) {
		if strings.Contains(user+hostport+query, marker) || strings.ContainsAny(password, "@/?#") {
			return
		}
		raw := "postgresql://" + user + ":" + marker + password + "@" + hostport + "/db?" + query
		_, err := Parse("DATABASE_URL", raw)
		if err != nil && strings.Contains(err.Error(), marker) {
			t.Fatalf("error leaks the password: %q", err)
		}
	})
}

// TestTarget: what the retry layer's errors name (P2024's pool timeout and
// connection limit, P1000's user, P1003's database) is the URL's, as the
// pool uses it.
func TestTarget(t *testing.T) {
	tests := []struct {
		url  string
		want resilience.Target
	}{
		{"postgresql://user:pw@host:6543/db?pgbouncer=true&connection_limit=10&connect_timeout=30",
			resilience.Target{Host: "host", Port: 6543, User: "user", Database: "db", PoolTimeout: 10 * time.Second, ConnectionLimit: 10}},
		{"postgresql://bot:pw@db.local/p1001?connection_limit=3&pool_timeout=2.5",
			resilience.Target{Host: "db.local", Port: 5432, User: "bot", Database: "p1001", PoolTimeout: 2500 * time.Millisecond, ConnectionLimit: 3}},
		{"postgresql://bot:pw@db.local:5433/p1001?pool_timeout=0",
			resilience.Target{Host: "db.local", Port: 5433, User: "bot", Database: "p1001", PoolTimeout: 0, ConnectionLimit: -1}}, // -1: pgxpool's default, below
	}
	for _, tt := range tests {
		c, err := Parse("DATABASE_URL", tt.url)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.url, err)
		}
		if tt.want.ConnectionLimit < 0 {
			tt.want.ConnectionLimit = int(c.Pool.MaxConns) // no connection_limit: the pool's own size
		}
		if got := c.Target(); got != tt.want {
			t.Errorf("Target() of %q = %+v, want %+v", tt.url, got, tt.want)
		}
		if strings.Contains(c.Target().Host+c.Target().User+c.Target().Database, "pw") {
			t.Errorf("Target() of %q holds the password", tt.url)
		}
	}
}
