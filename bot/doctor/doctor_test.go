package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/p1001/p1001/internal/fakepg"
	"github.com/p1001/p1001/resilience"
)

const secret = "s3cr3t-Pa55word"

// anyCode marks a code that is whatever the bot's Classify says: the
// Supavisor refusals it may not know yet, and the bot's own code next to
// the doctor's (P1000, P1003, P1011), which the retry layer may learn.
const anyCode resilience.Code = "*"

func fastPolicy() resilience.Policy {
	p := resilience.DefaultPolicy()
	p.AttemptTimeout = time.Second
	return p
}

// runAgainst runs the doctor with a short step timeout and checks, for
// every run, that neither output holds the password.
func runAgainst(t *testing.T, url string, mutate ...func(*Options)) *Report {
	t.Helper()
	opts := Options{URL: url, Policy: fastPolicy(), StepTimeout: 700 * time.Millisecond, Rounds: 5,
		IPv6Route: func() bool { return false }}
	for _, m := range mutate {
		m(&opts)
	}
	rep := Run(context.Background(), opts)
	var text, js bytes.Buffer
	if err := WriteText(&text, rep, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "json": js.String()} {
		if strings.Contains(out, secret) {
			t.Errorf("%s output holds the password:\n%s", name, out)
		}
	}
	t.Logf("\n%s", text.String())
	return rep
}

func stepOf(t *testing.T, rep *Report, name string) Step {
	t.Helper()
	for _, s := range rep.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q", name)
	return Step{}
}

func dsnFor(host, port, params string) string {
	return fmt.Sprintf("postgresql://app:%s@%s/appdb?%s", secret, net.JoinHostPort(host, port), params)
}

// TestRunFailures runs the doctor against in-process servers, each failing
// one way, and checks the step that fails, its code and what it says.
func TestRunFailures(t *testing.T) {
	type tc struct {
		name     string
		url      func(t *testing.T) string
		step     string
		code     resilience.Code
		botCode  resilience.Code
		contains string // in summary, reason or details
	}
	loginErr := func(e *pgproto3.ErrorResponse) func(t *testing.T) string {
		return func(t *testing.T) string {
			s := fakepg.Start(t, &fakepg.Server{Login: func() *pgproto3.ErrorResponse { return e }})
			return dsnFor("127.0.0.1", s.Port(), "sslmode=disable&connection_limit=5")
		}
	}
	cases := []tc{
		{name: "unparseable", url: func(*testing.T) string { return "postgresql://app:" + secret + "@db:5432/appdb?prepare_threshold=0" },
			step: StepURL, code: CodeInvalidURL, contains: `unknown parameter(s) "prepare_threshold"`},
		{name: "refused", url: func(t *testing.T) string { return dsnFor("127.0.0.1", portOf(fakepg.ClosedAddr(t)), "sslmode=disable") },
			step: StepTCP, code: resilience.CodeUnreachable, contains: "refused"},
		{name: "black hole, TLS asked", url: func(t *testing.T) string { return dsnFor("127.0.0.1", portOf(fakepg.Silent(t)), "") },
			step: StepTLS, code: resilience.CodeTimeout, contains: "then silence"},
		{name: "black hole, no TLS", url: func(t *testing.T) string { return dsnFor("127.0.0.1", portOf(fakepg.Silent(t)), "sslmode=disable") },
			step: StepStartup, code: resilience.CodeTimeout, contains: "does not finish the handshake"},
		{name: "reset", url: func(t *testing.T) string { return dsnFor("127.0.0.1", portOf(fakepg.ResetAfterHello(t)), "") },
			step: StepTLS, code: resilience.CodeUnreachable, contains: "reset"},
		{name: "TLS required, none offered", url: func(t *testing.T) string {
			s := fakepg.Start(t, &fakepg.Server{Answer: postgresAnswers(4242, 5, 100)})
			return dsnFor("127.0.0.1", s.Port(), "sslmode=require")
		}, step: StepTLS, code: resilience.CodeTLS, botCode: anyCode, contains: "does not offer TLS"},
		{name: "wrong password", url: loginErr(fakepg.Fatal("28P01", `password authentication failed for user "app"`)),
			step: StepStartup, code: resilience.CodeAuthFailed, contains: "password authentication failed"},
		{name: "wrong password through PgBouncer (SCRAM)", url: loginErr(fakepg.Fatal("08P01", "SASL authentication failed")),
			step: StepStartup, code: resilience.CodeAuthFailed, botCode: anyCode, contains: "SASL authentication failed"},
		{name: "unknown database", url: loginErr(fakepg.Fatal("3D000", `database "appdb" does not exist`)),
			step: StepStartup, code: resilience.CodeDBMissing, botCode: anyCode, contains: "does not exist"},
		{name: "pgbouncer: no such database", url: loginErr(fakepg.Fatal("08P01", "no such database: appdb")),
			step: StepStartup, code: resilience.CodeDBMissing, botCode: anyCode, contains: "no such database"},
		{name: "pgbouncer: the server's unknown database", url: loginErr(fakepg.Fatal("08P01", `database "appdb" does not exist`)),
			step: StepStartup, code: resilience.CodeDBMissing, botCode: anyCode, contains: "does not exist"},
		{name: "server full", url: loginErr(fakepg.Fatal("53300", "sorry, too many clients already")),
			step: StepStartup, code: resilience.CodeTooManyConns, contains: "too many connections"},
		// Supavisor's refusals, in its own words (supabase/supavisor,
		// test/integration/proxy_test.exs).
		{name: "supavisor tenant not found", url: loginErr(fakepg.Fatal("XX000", "(ENOTFOUND) tenant/user postgres.nonexistent_tenant not found")),
			step: StepStartup, code: resilience.CodeAuthFailed, botCode: anyCode, contains: "Supavisor: tenant/user not found"},
		{name: "supavisor max clients", url: loginErr(fakepg.Fatal("XX000", "(EMAXCONN) max client connections reached, limit: 0")),
			step: StepStartup, code: resilience.CodeTooManyConns, contains: "Supavisor: max client connections reached"},
		{name: "supavisor auth lockout", url: loginErr(fakepg.Fatal("XX000", "(ECIRCUITBREAKER) too many authentication failures, new connections are temporarily blocked")),
			step: StepStartup, code: anyCode, contains: "Supavisor: too many authentication failures"},
		{name: "supavisor session mode full", url: loginErr(fakepg.Fatal("XX000", "(EMAXCONNSESSION) max clients reached in session mode - max clients are limited to pool_size: 2")),
			step: StepStartup, code: anyCode, contains: "Supavisor: max clients reached in session mode"},
		{name: "transaction pooler without pgbouncer=true", url: func(t *testing.T) string {
			s := fakepg.Start(t, &fakepg.Server{Answer: poolerAnswers()})
			return dsnFor("127.0.0.1", s.Port(), "sslmode=disable&connection_limit=5")
		}, step: StepPooler, contains: "prepared statement"},
		{name: "server full, seen from a pooler", url: func(t *testing.T) string {
			s := fakepg.Start(t, &fakepg.Server{Answer: postgresAnswers(4242, 97, 100)})
			return dsnFor("127.0.0.1", s.Port(), "sslmode=disable&connection_limit=5")
		}, step: StepCapacity, code: resilience.CodeTooManyConns, contains: "no free connection slot"},
		{name: "slow queries", url: func(t *testing.T) string {
			answer := postgresAnswers(4242, 5, 100)
			s := fakepg.Start(t, &fakepg.Server{Answer: func(sql string) fakepg.Reply {
				r := answer(sql)
				if sql == "SELECT 1" {
					r.Delay = 1500 * time.Millisecond
				}
				return r
			}})
			return dsnFor("127.0.0.1", s.Port(), "sslmode=disable&connection_limit=5")
		}, step: StepLatency, code: resilience.CodeOpTimeout, contains: "round trip 1 of 5 failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := runAgainst(t, c.url(t))
			if rep.Healthy || rep.FailedStep != c.step {
				t.Fatalf("failed step %q (healthy %t), want %q", rep.FailedStep, rep.Healthy, c.step)
			}
			s := stepOf(t, rep, c.step)
			if c.code != anyCode && (s.Code != c.code || rep.Code != c.code) {
				t.Errorf("code %q (report %q), want %q", s.Code, rep.Code, c.code)
			}
			if c.code != anyCode && c.botCode != anyCode && s.BotCode != c.botCode {
				t.Errorf("bot code %q, want %q", s.BotCode, c.botCode)
			}
			all := s.Summary + "\n" + s.Reason + "\n" + strings.Join(s.Details, "\n")
			if !strings.Contains(all, c.contains) {
				t.Errorf("step says %q, want it to contain %q", all, c.contains)
			}
			if s.Advice == "" {
				t.Error("no advice")
			}
			// A failure that makes the rest meaningless stops the run.
			stops := map[string]bool{StepURL: true, StepDNS: true, StepTCP: true, StepTLS: true, StepStartup: true}
			if stops[c.step] {
				if rep.Stopped != c.step {
					t.Errorf("stopped at %q, want %q", rep.Stopped, c.step)
				}
				if last := rep.Steps[len(rep.Steps)-1]; last.Status != Skipped {
					t.Errorf("last step %s is %s, want skipped", last.Name, last.Status)
				}
			}
			if rep.Elapsed > rep.Bound {
				t.Errorf("took %s, bound %s", rep.Elapsed, rep.Bound)
			}
		})
	}
}

// TestRunHealthy checks a healthy run through a transaction-mode pooler
// with pgbouncer=true: every step ✔.
func TestRunHealthy(t *testing.T) {
	s := fakepg.Start(t, &fakepg.Server{Answer: poolerAnswers()})
	rep := runAgainst(t, dsnFor("127.0.0.1", s.Port(), "sslmode=disable&pgbouncer=true&connection_limit=5&connect_timeout=1"))
	if !rep.Healthy || rep.Stopped != "" {
		t.Fatalf("healthy %t, stopped %q", rep.Healthy, rep.Stopped)
	}
	for _, st := range rep.Steps {
		if st.Status != OK {
			t.Errorf("step %s: %s (%s %v)", st.Name, st.Status, st.Summary, st.Details)
		}
	}
	if p := stepOf(t, rep, StepPooler); !strings.Contains(p.Summary, "transaction mode") {
		t.Errorf("pooler step: %q", p.Summary)
	}
	if l := stepOf(t, rep, StepLatency); !strings.Contains(l.Summary, "5 x SELECT 1") {
		t.Errorf("latency step: %q", l.Summary)
	}
	var out bytes.Buffer
	if err := WriteJSON(&out, rep); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["schema"] != Schema || doc["healthy"] != true {
		t.Errorf("JSON schema %v healthy %v", doc["schema"], doc["healthy"])
	}
}

// TestRunDirect: Postgres itself (no pooler) is a warning, not a failure.
func TestRunDirect(t *testing.T) {
	s := fakepg.Start(t, &fakepg.Server{Answer: postgresAnswers(4242, 5, 100)})
	rep := runAgainst(t, dsnFor("127.0.0.1", s.Port(), "sslmode=disable&connection_limit=5"))
	if !rep.Healthy {
		t.Fatalf("failed at %s", rep.FailedStep)
	}
	if p := stepOf(t, rep, StepPooler); p.Status != Warn || !strings.Contains(p.Summary, "no pooler") {
		t.Errorf("pooler step %s: %q", p.Status, p.Summary)
	}
}

// poolerAnswers answers as a transaction-mode pooler: its cancel key is not
// the backend's pid, and a session SET is gone in the next transaction.
func poolerAnswers() func(string) fakepg.Reply {
	pg := postgresAnswers(77, 12, 100)
	return func(sql string) fakepg.Reply {
		if strings.Contains(sql, "current_setting('p1001.doctor_marker'") {
			return fakepg.Text("")
		}
		return pg(sql)
	}
}

// fakeResolver answers from a table; a missing name is NXDOMAIN.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		if (network == "ip4" && a.Is4()) || (network == "ip6" && a.Is6()) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func TestDNS(t *testing.T) {
	srv := fakepg.Start(t, &fakepg.Server{Answer: poolerAnswers()})
	loop4 := netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("2001:db8::5")
	res := fakeResolver{
		"db.both.test":   {loop4, v6},
		"db.v6only.test": {v6},
	}
	cases := []struct {
		name, host string
		route      bool
		status     Status
		code       resilience.Code
		contains   string
	}{
		{"nxdomain", "db.gone.test", true, Fail, resilience.CodeUnreachable, "NXDOMAIN"},
		{"IPv6 only, no IPv6 route", "db.v6only.test", false, Fail, resilience.CodeUnreachable, "no IPv6 route"},
		{"IPv6 only, with a route", "db.v6only.test", true, OK, "", "IPv4-only machines"},
		{"both families", "db.both.test", false, OK, "", "A 127.0.0.1 (  "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := runAgainst(t, dsnFor(c.host, srv.Port(), "sslmode=disable&pgbouncer=true&connection_limit=5&connect_timeout=1"), func(o *Options) {
				o.Resolver = res
				o.IPv6Route = func() bool { return c.route }
				// The IPv6 test address is not routable: only DNS is tested.
				o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
					if strings.HasPrefix(addr, "[2001:db8") {
						return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("test: not dialled")}
					}
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				}
			})
			s := stepOf(t, rep, StepDNS)
			if s.Status != c.status || s.Code != c.code {
				t.Errorf("dns %s %q, want %s %q", s.Status, s.Code, c.status, c.code)
			}
			all := s.Summary + "\n" + s.Reason + "\n" + strings.Join(s.Details, "\n")
			want := c.contains
			if c.name == "both families" {
				want = "AAAA 2001:db8::5"
			}
			if !strings.Contains(all, want) {
				t.Errorf("dns step says %q, want %q", all, want)
			}
			if c.status == Fail && rep.Stopped != StepDNS {
				t.Errorf("stopped at %q", rep.Stopped)
			}
		})
	}
}

func TestLint(t *testing.T) {
	const at = 2 * time.Second
	cases := []struct {
		name string
		url  string
		want []string // rule names, in order
	}{
		{"the runbook's URL, connect_timeout within the attempt timeout", "postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?pgbouncer=true&connection_limit=10&connect_timeout=2", nil},
		{"the runbook's URL as written (connect_timeout=30)", "postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?pgbouncer=true&connection_limit=10&connect_timeout=30", []string{RuleConnectTimeout}},
		{"Supabase pooler on 5432 (session mode)", "postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:5432/postgres?connection_limit=10", []string{RuleSessionPooler}},
		{"Supabase direct host", "postgresql://u:p@db.abcdefgh.supabase.co:5432/postgres?connection_limit=10", []string{RuleDirectHost}},
		{"6543 without pgbouncer=true", "postgresql://u:p@pooler.example:6543/db?connection_limit=10", []string{RuleNoPgBouncer}},
		{"6543 with pgbouncer=false", "postgresql://u:p@pooler.example:6543/db?pgbouncer=false&connection_limit=10", []string{RulePgBouncerFalse}},
		{"no connection_limit", "postgresql://u:p@pooler.example:6543/db?pgbouncer=true", []string{RuleNoLimit}},
		{"connect_timeout=0 (no limit)", "postgresql://u:p@h:6543/db?pgbouncer=true&connection_limit=1&connect_timeout=0", []string{RuleConnectTimeout}},
		{"everything wrong", "postgresql://u:p@aws-0-x.pooler.supabase.com/postgres?connect_timeout=10", []string{RuleSessionPooler, RuleNoLimit, RuleConnectTimeout}},
		{"local, default port", "postgresql://u:p@localhost/db?connection_limit=3", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, f := range Lint(c.url, at) {
				got = append(got, f.Rule)
				if f.Message == "" {
					t.Errorf("rule %s has no message", f.Rule)
				}
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("rules %v, want %v", got, c.want)
			}
		})
	}
}

// TestBound checks that a black hole on every address cannot outlast the
// printed bound.
func TestBound(t *testing.T) {
	var mu sync.Mutex
	dials := 0
	rep := runAgainst(t, dsnFor("db.many.test", "5432", "sslmode=disable"), func(o *Options) {
		o.StepTimeout = 100 * time.Millisecond
		o.Resolver = fakeResolver{"db.many.test": {
			netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3"),
			netip.MustParseAddr("192.0.2.4"), netip.MustParseAddr("192.0.2.5"),
		}}
		o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dials++
			mu.Unlock()
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}
	})
	if rep.FailedStep != StepTCP || rep.Code != resilience.CodeUnreachable {
		t.Fatalf("failed at %q with %q, want tcp P1001", rep.FailedStep, rep.Code)
	}
	if dials != maxTCPAddrs {
		t.Errorf("%d dials, want %d", dials, maxTCPAddrs)
	}
	if !strings.Contains(strings.Join(stepOf(t, rep, StepTCP).Details, "\n"), "timed out") {
		t.Errorf("details: %v", stepOf(t, rep, StepTCP).Details)
	}
	if rep.Bound != 11*100*time.Millisecond || rep.Elapsed > rep.Bound {
		t.Errorf("bound %s, took %s", rep.Bound, rep.Elapsed)
	}
}

// TestRunSessionPooler: a pooler whose session SET survives is in session
// mode, a warning (the runbook uses transaction mode).
func TestRunSessionPooler(t *testing.T) {
	// Each client keeps its own session; pid 77 is not the cancel key's.
	s := fakepg.Start(t, &fakepg.Server{Session: func() func(string) fakepg.Reply { return postgresAnswers(77, 5, 100) }})
	rep := runAgainst(t, dsnFor("127.0.0.1", s.Port(), "sslmode=disable&connection_limit=5"))
	if !rep.Healthy {
		t.Fatalf("failed at %s", rep.FailedStep)
	}
	if p := stepOf(t, rep, StepPooler); p.Status != Warn || !strings.Contains(p.Summary, "session mode") {
		t.Errorf("pooler step %s: %q", p.Status, p.Summary)
	}
}

// TestBotCode: the doctor's own code keeps the bot's beside it, so a
// difference is shown; equal codes show once.
func TestBotCode(t *testing.T) {
	v := verdict{code: resilience.CodeUnreachable}
	v.setCode(resilience.CodeDBMissing)
	if v.code != resilience.CodeDBMissing || v.botCode != resilience.CodeUnreachable {
		t.Errorf("after setCode: %+v", v)
	}
	v = verdict{}
	v.setCode(resilience.CodeTLS)
	if v.botCode != "none" {
		t.Errorf("no bot code: %+v", v)
	}
	v = verdict{code: resilience.CodeAuthFailed}
	v.setCode(resilience.CodeAuthFailed)
	if v.botCode != "" {
		t.Errorf("same code: %+v", v)
	}
}
