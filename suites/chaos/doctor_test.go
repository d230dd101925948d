//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/environment"
)

// doctorTimeout is each step's timeout (-timeout): tight, so a black hole
// costs seconds, yet well above a healthy step on a loaded machine.
const doctorTimeout = 2 * time.Second

// runDoctor runs the real binary in the bot image on the stack's network.
func runDoctor(ctx context.Context, databaseURL string) (int, environment.DoctorReport, string) {
	GinkgoHelper()
	res, err := stack.RunDoctor(ctx, databaseURL, "-timeout", doctorTimeout.String())
	if res != nil {
		Expect(string(res.Output)).NotTo(ContainSubstring(stack.Config().Password), "the doctor printed the password")
	}
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("doctor", res.Report.Verdict())
	return res.ExitCode, res.Report, string(res.Output)
}

func describe(r environment.DoctorReport) string {
	var b strings.Builder
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "  %-8s %-7s %s %s %s\n", s.Name, s.Status, s.Code, s.Summary, s.Reason)
	}
	return b.String()
}

// exhaustConnections opens connections from the host straight to postgres
// until it refuses one with 53300, and holds them until the spec ends.
func exhaustConnections(ctx context.Context) {
	GinkgoHelper()
	var conns []*pgx.Conn
	DeferCleanup(func(ctx SpecContext) {
		for _, c := range conns {
			_ = c.Close(ctx)
		}
	})
	for range 1000 {
		c, err := pgx.Connect(ctx, stack.DSNs().HostPostgres)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "53300" {
			GinkgoWriter.Printf("postgres refused connection %d: %s\n", len(conns)+1, pgErr.Message)
			return
		}
		Expect(err).NotTo(HaveOccurred())
		conns = append(conns, c)
	}
	Fail("postgres never refused a connection")
}

// withHost replaces host:port in a URL.
func withHost(raw, hostport string) string {
	u, err := url.Parse(raw)
	Expect(err).NotTo(HaveOccurred())
	u.Host = hostport
	return u.String()
}

// namedFault applies the fault kind as the catalog and make p1001 play it.
func namedFault(kind string) func(context.Context) {
	return func(ctx context.Context) {
		f, err := scenarios.NamedFault(kind)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Apply(ctx, stack.Faults())).To(Succeed())
	}
}

func pooler(ctx context.Context) environment.ProxyControl {
	GinkgoHelper()
	p, err := stack.Proxy(environment.ProxyPooler)
	Expect(err).NotTo(HaveOccurred())
	return p
}

type doctorCase struct {
	// params override the runbook URL's parameters (environment.BotOptions).
	params map[string]string
	path   string
	// url rewrites the URL (a wrong password, another database or host).
	url func(string) string
	// fault applies the fault; every spec resets Toxiproxy around it.
	fault func(ctx context.Context)
	// step and code are what the doctor must name; "" step = healthy.
	step, code string
	// contains is a phrase the failing step must say.
	contains string
}

// The runbook's URL with connect_timeout=2, so that it obeys every rule the
// doctor lints (connect_timeout=30 is capped by the bot and gets ⚠).
var runbookParams = map[string]string{"connect_timeout": "2"}

var _ = Describe("bot doctor", Label("doctor"), func() {
	DescribeTable("names the step and the code of each fault",
		func(ctx SpecContext, c doctorCase) {
			params := runbookParams
			if c.params != nil {
				params = c.params
			}
			dbURL, err := stack.DatabaseURL(environment.BotOptions{Path: c.path, URLParams: params})
			Expect(err).NotTo(HaveOccurred())
			if c.url != nil {
				dbURL = c.url(dbURL)
			}
			if c.fault != nil {
				c.fault(ctx)
			}
			code, rep, out := runDoctor(ctx, dbURL)
			GinkgoWriter.Printf("doctor:\n%s", describe(rep))
			Expect(rep.Elapsed).To(BeNumerically("<=", rep.Bound), "the run outlasted its printed bound")
			if c.step == "" {
				Expect(code).To(Equal(0), "exit code; report:\n%s", out)
				Expect(rep.Healthy).To(BeTrue())
				for _, s := range rep.Steps {
					Expect(s.Status).To(Equal("ok"), "step %s: %s %v", s.Name, s.Summary, s.Details)
				}
				Expect(time.Duration(rep.Elapsed)).To(BeNumerically("<", 2*time.Second), "a healthy run takes under 2 s")
				return
			}
			Expect(code).To(Equal(1), "exit code; report:\n%s", out)
			Expect(rep.Healthy).To(BeFalse())
			Expect(rep.FailedStep).To(Equal(c.step), "failing step; report:\n%s", describe(rep))
			Expect(rep.Code).To(Equal(c.code), "code; report:\n%s", describe(rep))
			for _, s := range rep.Steps {
				if s.Name == c.step {
					Expect(s.Summary + " " + s.Reason + " " + strings.Join(s.Details, " ")).To(ContainSubstring(c.contains))
				}
			}
		},
		Entry("healthy: the runbook's pooler URL", doctorCase{}),
		Entry("outage: the pooler proxy refuses connections", doctorCase{
			fault:    namedFault("outage"),
			step:     "tcp",
			code:     "P1001",
			contains: "refused",
		}),
		Entry("black hole: TCP connects, then silence", doctorCase{
			fault:    namedFault("black_hole"),
			step:     "tls",
			code:     "P1002",
			contains: "then silence",
		}),
		Entry("reset: every connection reset", doctorCase{
			fault:    namedFault("reset_peer"),
			step:     "tls",
			code:     "P1001",
			contains: "reset",
		}),
		Entry("high latency: 800 ms per answer, a login needs more than the 2 s attempt timeout", doctorCase{
			fault: func(ctx context.Context) {
				Expect(pooler(ctx).AddToxic(ctx, "doctor-latency", "latency", "downstream", 1, map[string]any{"latency": 800})).To(Succeed())
			},
			step:     "startup",
			code:     "P1002",
			contains: "does not finish the handshake",
		}),
		Entry("wrong password", doctorCase{
			url: func(u string) string {
				p, err := url.Parse(u)
				Expect(err).NotTo(HaveOccurred())
				p.User = url.UserPassword(p.User.Username(), "not-the-password")
				return p.String()
			},
			step: "startup",
			code: "P1000",
			// PgBouncer 1.18 under SCRAM: 08P01 "SASL authentication failed".
			contains: "authentication failed",
		}),
		Entry("unknown database", doctorCase{
			url:      func(u string) string { return strings.Replace(u, "/"+stack.Config().Database+"?", "/no_such_db?", 1) },
			step:     "startup",
			code:     "P1003",
			contains: "does not exist",
		}),
		Entry("the pooler's name gone from DNS", doctorCase{
			// The URL names the pooler itself (pgbouncer:6432), and the
			// pooler leaves the network: its alias no longer resolves.
			url: func(u string) string {
				return withHost(u, environment.AliasPgBouncer+":"+strconv.Itoa(environment.PortPgBouncer))
			},
			fault: func(ctx context.Context) {
				Expect(stack.Disconnect(ctx, environment.AliasPgBouncer)).To(Succeed())
				DeferCleanup(func(ctx SpecContext) {
					Expect(stack.Reconnect(ctx, environment.AliasPgBouncer)).To(Succeed())
				})
			},
			step:     "dns",
			code:     "P1001",
			contains: "DNS lookup failed",
		}),
		Entry("max_connections exhausted (direct path)", doctorCase{
			path:     environment.ProxyDirect,
			fault:    exhaustConnections,
			step:     "startup",
			code:     "P2037",
			contains: "too many",
		}),
		Entry("pgbouncer=true missing on the transaction-mode pooler", doctorCase{
			params:   map[string]string{"pgbouncer": "", "connect_timeout": "2"},
			step:     "pooler",
			code:     "",
			contains: "transaction mode",
		}),
	)
})
