package environment

import "testing"

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
	e := &Env{cfg: Config{User: "bot", Password: "pw", Database: "p1001"}}
	for _, tc := range []struct {
		name string
		opts BotOptions
		want string
	}{
		{"the pooler, as the runbook writes it", BotOptions{},
			"postgresql://bot:pw@toxiproxy:6543/p1001?pgbouncer=true&connection_limit=10&connect_timeout=30"},
		{"the pooler by its name (a dns fault)", BotOptions{ByName: true},
			"postgresql://bot:pw@db-pooler:6543/p1001?pgbouncer=true&connection_limit=10&connect_timeout=30"},
		{"the direct path by its name", BotOptions{Path: ProxyDirect, ByName: true},
			"postgresql://bot:pw@db-direct:5432/p1001?connection_limit=10&connect_timeout=30"},
		{"an empty value removes a key", BotOptions{URLParams: map[string]string{"pgbouncer": ""}},
			"postgresql://bot:pw@toxiproxy:6543/p1001?connection_limit=10&connect_timeout=30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.DatabaseURL(tc.opts)
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
