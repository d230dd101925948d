package prismaurl

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name, value, err string // err "" = valid
	}{
		{"application_name", "", ""},
		{"connect_timeout", "30", ""},
		{"connect_timeout", "-1", `"-1" is not a number of seconds between 0 and 86400`},
		{"connection_limit", "0", `"0" is not a positive integer`},
		{"connection_limit", "2147483648", `"2147483648" is not a positive integer`},
		{"pgbouncer", "yes-please", `"yes-please" is not true or false`},
		{"pool_timeout", "NaN", `"NaN" is not a number of seconds between 0 and 86400`},
		{"pool_timeout", "0", ""},
		{"schema", "", "must be 1 to 63 bytes, got 0"},
		{"socket_timeout", "2.5", ""},
		{"sslmode", "always", `"always" is not one of disable, allow, prefer, require, verify-ca, verify-full`},
		{"sslrootcert", "/etc/ca.pem", ""},
		{"statement_cache_size", "-1", `"-1" is not a non-negative integer`},
	}
	for _, tt := range tests {
		p, ok := Lookup(tt.name)
		if !ok {
			t.Errorf("Lookup(%q) found nothing", tt.name)
			continue
		}
		err := p.Check(tt.value)
		if got := errText(err); got != tt.err {
			t.Errorf("%s=%q: error %q, want %q", tt.name, tt.value, got, tt.err)
		}
	}
	if _, ok := Lookup("sslaccept"); ok {
		t.Error("Lookup(sslaccept): Prisma's TLS parameters are not accepted")
	}
}

func TestParse(t *testing.T) {
	q, _ := url.ParseQuery("pgbouncer=true&connection_limit=10&connect_timeout=30&pool_timeout=2.5&schema=s&sslmode=disable")
	s, err := Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	if !s.PgBouncer || s.ConnectionLimit != 10 || s.PoolTimeout != 2500*time.Millisecond || s.Schema != "s" ||
		s.SocketTimeout != 0 || s.StatementCacheSize != -1 {
		t.Errorf("settings %+v", s)
	}
	if got := s.Libpq.Encode(); got != "connect_timeout=30&sslmode=disable" {
		t.Errorf("Libpq = %s, want only the libpq parameters", got)
	}
	if s, err := Parse(url.Values{}); err != nil || s.PoolTimeout != DefaultPoolTimeout {
		t.Errorf("empty query: %+v, %v; want Prisma's default pool_timeout", s, err)
	}
}

func TestNamesSorted(t *testing.T) {
	if n := Names(); !slices.IsSorted(n) || len(n) != len(params) {
		t.Errorf("Names() = %v", n)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
