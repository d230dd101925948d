package environment

import (
	"testing"

	"github.com/p1001/p1001/targets"
)

func TestJoinLives(t *testing.T) {
	for _, tc := range []struct {
		name, earlier, all, want string
	}{
		{"one life", "", "a\nb\n", "a\nb\n"},
		{"the driver kept the first life", "a\n", "a\nb\n", "a\nb\n"},
		{"the driver lost the first life", "a\n", "b\n", "a\nb\n"},
		{"nothing after the restart", "a\n", "", "a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(joinLives([]byte(tc.earlier), []byte(tc.all))); got != tc.want {
				t.Errorf("joinLives(%q, %q) = %q, want %q", tc.earlier, tc.all, got, tc.want)
			}
		})
	}
}

func TestDatabaseURLHost(t *testing.T) {
	cfg := Config{User: "bot", Password: "pw", Database: "p1001"}
	prisma := &Env{cfg: cfg, target: targets.P1001()}
	libpq := &Env{cfg: cfg, target: targets.Target{Database: targets.Database{URLStyle: targets.StyleLibpq}}}
	for _, tc := range []struct {
		name string
		e    *Env
		opts BotOptions
		want string
	}{
		{"the pooler, as the runbook writes it", prisma, BotOptions{},
			"postgresql://bot:pw@toxiproxy:6543/p1001?pgbouncer=true&connection_limit=10&connect_timeout=30"},
		{"the pooler by its name (a dns fault)", prisma, BotOptions{ByName: true},
			"postgresql://bot:pw@db-pooler:6543/p1001?pgbouncer=true&connection_limit=10&connect_timeout=30"},
		{"the direct path by its name", prisma, BotOptions{Path: ProxyDirect, ByName: true},
			"postgresql://bot:pw@db-direct:5432/p1001?connection_limit=10&connect_timeout=30"},
		{"an empty value removes a key", prisma, BotOptions{URLParams: map[string]string{"pgbouncer": ""}},
			"postgresql://bot:pw@toxiproxy:6543/p1001?connection_limit=10&connect_timeout=30"},
		{"libpq: plain, the scenario's Prisma parameters left out", libpq, BotOptions{URLParams: map[string]string{"connection_limit": "2"}},
			"postgresql://bot:pw@toxiproxy:6543/p1001?sslmode=disable"},
		{"libpq: the direct path, another password", libpq, BotOptions{Path: ProxyDirect, Password: "wrong"},
			"postgresql://bot:wrong@toxiproxy:5432/p1001?sslmode=disable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.e.DatabaseURL(tc.opts)
			if err != nil || got != tc.want {
				t.Errorf("DatabaseURL(%+v) = %q, %v; want %q", tc.opts, got, err, tc.want)
			}
		})
	}
}

// Every token a stack makes has the shape the report's leak check looks
// for across processes (TokenPattern).
func TestTokenPattern(t *testing.T) {
	var e Env
	for range 20 {
		tok, err := e.newToken()
		if err != nil {
			t.Fatal(err)
		}
		if !TokenPattern.MatchString("Bearer " + tok + ".") {
			t.Errorf("TokenPattern does not match the token %q", tok)
		}
	}
	if TokenPattern.MatchString("p1001-20261129T184500Z-p2-0a1b2c3d") {
		t.Error("TokenPattern matches a network name")
	}
}
