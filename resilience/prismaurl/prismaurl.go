// Package prismaurl is the one list of the query parameters a Prisma
// DATABASE_URL may carry for the bot: their names, what each value must be
// and what it sets. It imports the standard library only, so that both
// the bot's URL translator (bot/dburl) and the scenario validator
// (scenarios, which may not import bot/) read the same table.
package prismaurl

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultPoolTimeout is Prisma's default pool_timeout.
const DefaultPoolTimeout = 10 * time.Second

// Settings are the parameters of one URL, parsed.
type Settings struct {
	// Libpq holds the parameters pgx reads itself, under their libpq
	// names (application_name, connect_timeout, sslmode, sslrootcert); the
	// others are Prisma's own and must not reach pgx, which would send
	// them to the server as startup parameters.
	Libpq           url.Values
	PgBouncer       bool          // pgbouncer=true
	ConnectionLimit int32         // connection_limit; 0 when absent
	PoolTimeout     time.Duration // pool_timeout; DefaultPoolTimeout when absent, 0 = no limit
	SocketTimeout   time.Duration // socket_timeout; 0 when absent (no limit)
	Schema          string        // schema; "" when absent
	// StatementCacheSize is statement_cache_size; -1 when absent.
	StatementCacheSize int
}

func newSettings() Settings {
	return Settings{Libpq: url.Values{}, PoolTimeout: DefaultPoolTimeout, StatementCacheSize: -1}
}

// Param is one accepted query parameter.
type Param struct {
	Name string
	// Libpq reports whether pgx reads the parameter itself, under the
	// same name: it stays in the URL pgx gets.
	Libpq bool
	// set checks v and records it in s; its error does not repeat the name.
	set func(s *Settings, v string) error
}

// Check reports whether v is a valid value of p, with the error text the
// bot gives (without the parameter's name).
func (p Param) Check(v string) error {
	s := newSettings()
	return p.set(&s, v)
}

// params are in the order Parse checks values, which decides the error
// reported when several are bad.
var params = []Param{
	{"connect_timeout", true, func(_ *Settings, v string) error { _, err := seconds(v); return err }},
	{"sslmode", true, func(_ *Settings, v string) error {
		if !slices.Contains(sslModes, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(sslModes, ", "))
		}
		return nil
	}},
	{"pgbouncer", false, func(s *Settings, v string) (err error) {
		if s.PgBouncer, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		return nil
	}},
	{"connection_limit", false, func(s *Settings, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", v)
		}
		s.ConnectionLimit = int32(n)
		return nil
	}},
	{"pool_timeout", false, func(s *Settings, v string) (err error) { s.PoolTimeout, err = seconds(v); return }},
	{"socket_timeout", false, func(s *Settings, v string) (err error) { s.SocketTimeout, err = seconds(v); return }},
	{"schema", false, func(s *Settings, v string) error {
		// 63 bytes: PostgreSQL's identifier limit (NAMEDATALEN-1).
		if v == "" || len(v) > 63 {
			return fmt.Errorf("must be 1 to 63 bytes, got %d", len(v))
		}
		s.Schema = v
		return nil
	}},
	{"statement_cache_size", false, func(s *Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative integer", v)
		}
		s.StatementCacheSize = n
		return nil
	}},
	{"application_name", true, func(*Settings, string) error { return nil }},
	{"sslrootcert", true, func(*Settings, string) error { return nil }},
}

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// prismaTLS are Prisma's TLS parameters, whose meaning differs from
// libpq's: rejected with a pointer to the libpq names.
var prismaTLS = []string{"sslaccept", "sslcert", "sslidentity", "sslpassword"}

// Lookup returns the parameter called name.
func Lookup(name string) (Param, bool) {
	i := slices.IndexFunc(params, func(p Param) bool { return p.Name == name })
	if i < 0 {
		return Param{}, false
	}
	return params[i], true
}

// Names lists the accepted parameters, sorted.
func Names() []string {
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
	}
	slices.Sort(names)
	return names
}

// Parse checks and parses the query of a URL. The first problem found is
// the error: a parameter given twice, then Prisma's TLS parameters, then
// unknown ones, then each value in turn, then combinations.
func Parse(query url.Values) (Settings, error) {
	var unknown, tls []string
	for _, key := range slices.Sorted(maps.Keys(query)) {
		_, known := Lookup(key)
		switch {
		case slices.Contains(prismaTLS, key):
			tls = append(tls, key)
		case !known:
			unknown = append(unknown, key)
		case len(query[key]) != 1:
			return Settings{}, fmt.Errorf("parameter %q is given %d times", key, len(query[key]))
		}
	}
	if len(tls) > 0 {
		return Settings{}, fmt.Errorf("Prisma TLS parameter(s) %s not supported: use sslmode and sslrootcert (libpq names)", quoteAll(tls))
	}
	if len(unknown) > 0 {
		return Settings{}, fmt.Errorf("unknown parameter(s) %s (supported: %s)", quoteAll(unknown), strings.Join(Names(), ", "))
	}
	s := newSettings()
	for _, p := range params {
		v, ok := query[p.Name]
		if !ok {
			continue
		}
		if err := p.set(&s, v[0]); err != nil {
			return Settings{}, fmt.Errorf("%s: %w", p.Name, err)
		}
		if p.Libpq {
			s.Libpq.Set(p.Name, v[0])
		}
	}
	if s.PgBouncer && s.StatementCacheSize > 0 {
		return Settings{}, fmt.Errorf("statement_cache_size=%d conflicts with pgbouncer=true (PgBouncer in transaction mode cannot keep prepared statements)", s.StatementCacheSize)
	}
	return s, nil
}

// seconds parses a Prisma timeout: a number of seconds, 0 to 86400.
func seconds(v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 24*3600) {
		return 0, fmt.Errorf("%q is not a number of seconds between 0 and 86400", v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func quoteAll(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, ", ")
}
