//go:build chaos

package chaos

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/history"
	"github.com/p1001/p1001/suites/traffic"
)

// Wrong-password traffic: 20 messages a second for 30 s; the steady state
// is everything after the first 10 s.
const (
	authRate     = 20
	authDuration = 30 * time.Second
	authSteady   = 10 * time.Second
)

// serverCounts is what postgres itself saw, from its log: logins refused
// for a wrong password, and TCP connections from toxiproxy (only the bot's
// direct path goes through it; pgbouncer connects to postgres itself).
type serverCounts struct {
	at            time.Time
	loginsRefused int
	connections   int
}

func countAtServer(ctx context.Context, toxiproxyIP string) serverCounts {
	GinkgoHelper()
	at := time.Now()
	rc, err := stack.Postgres.Logs(ctx)
	Expect(err).NotTo(HaveOccurred())
	defer rc.Close()
	data, err := io.ReadAll(rc)
	Expect(err).NotTo(HaveOccurred())
	logs := string(data)
	return serverCounts{
		at:            at,
		loginsRefused: strings.Count(logs, "password authentication failed for user"),
		connections:   strings.Count(logs, "connection received: host="+toxiproxyIP+" "),
	}
}

// perSecond is the rate between two counts.
func perSecond(from, to serverCounts) (logins, conns float64) {
	s := to.at.Sub(from.at).Seconds()
	return float64(to.loginsRefused-from.loginsRefused) / s, float64(to.connections-from.connections) / s
}

var _ = Describe("a wrong password", Label("auth", "bot"), Ordered, ContinueOnFailure, func() {
	var toxiproxyIP string
	BeforeAll(func(ctx SpecContext) {
		// Every TCP connection, logged by postgres itself.
		Expect(stack.LogConnections(ctx, true)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(stack.LogConnections(ctx, false)).To(Succeed()) })
		var err error
		toxiproxyIP, err = stack.ToxiproxyIP(ctx)
		Expect(err).NotTo(HaveOccurred())
	})

	// measure starts the bot on the direct path with a wrong password,
	// sends authRate messages a second for authDuration, and returns what
	// postgres saw in the steady state, checking every reply on the way.
	measure := func(ctx SpecContext, name string, env map[string]string) (m authRun) {
		GinkgoHelper()
		// The outbox cannot drain into a refusing database: a short shutdown.
		env = maps.Clone(env)
		if env == nil {
			env = map[string]string{}
		}
		env["SHUTDOWN_TIMEOUT"] = "2s"
		bot, stop := startBot(ctx, environment.BotOptions{
			Path: environment.ProxyDirect, Password: "wrong-" + rand.Text(), Env: env,
		})

		start := countAtServer(ctx, toxiproxyIP)
		driver, err := traffic.New(traffic.Config{
			API: stack.Target().API, BotURL: bot.URL, BotToken: bot.Token, ChatPrefix: fmt.Sprintf("auth-%s-%d", name, time.Now().UnixNano()),
			Chats: 10, Rate: authRate, Duration: authDuration, Concurrency: 40, Seed: 1,
		}, start.at)
		Expect(err).NotTo(HaveOccurred())
		type result struct {
			ops []history.Op
			err error
		}
		done := make(chan result, 1)
		go func() {
			ops, err := driver.Run(ctx)
			done <- result{ops, err}
		}()
		var steady serverCounts
		select {
		case <-time.After(time.Until(start.at.Add(authSteady))):
			steady = countAtServer(ctx, toxiproxyIP)
		case <-ctx.Done():
			Fail("interrupted")
		}
		res := <-done
		end := countAtServer(ctx, toxiproxyIP)
		Expect(res.err).NotTo(HaveOccurred())

		Expect(len(res.ops)).To(BeNumerically(">=", authRate*int(authDuration.Seconds())*9/10), "the traffic ran")
		tried := 0
		for _, op := range res.ops {
			Expect(op.Outcome).To(Equal(history.OK), "every message gets a reply: %+v", op)
			Expect(op.Degraded).To(BeTrue(), "a refused bot cannot answer from the database: %+v", op)
			Expect(op.Code).To(Equal("P1000"), "the reply names the wrong password, not an outage: %+v", op)
			Expect(op.Attempts).To(BeNumerically("<=", 1), "a wrong password is never retried: %+v", op)
			tried += op.Attempts
		}
		m.ready = readiness(ctx, bot.URL)
		m.logs = string(stop(ctx))
		Expect(m.logs).NotTo(ContainSubstring(stack.Config().Password))

		m.logins, m.conns = perSecond(steady, end)
		allLogins, allConns := perSecond(start, end)
		figure := fmt.Sprintf("%s: %d messages; postgres saw %d refused logins and %d TCP connections in %.1f s (%.2f and %.2f a second); steady state (after %s): %.2f logins/s, %.2f connections/s; replies that tried the database: %d",
			name, len(res.ops), end.loginsRefused-start.loginsRefused, end.connections-start.connections,
			end.at.Sub(start.at).Seconds(), allLogins, allConns, authSteady, m.logins, m.conns, tried)
		AddReportEntry("wrong password "+name, figure)
		GinkgoWriter.Println(figure)
		Expect(end.loginsRefused-start.loginsRefused).To(BeNumerically(">", 0), "guard: the bot did try the wrong password")
		return m
	}

	It("at start: the migrator backs off, requests fail fast without connecting, /readyz and the log say why once", func(ctx SpecContext) {
		m := measure(ctx, "at-start", nil)
		// Migrator alone: waits of 0.5-1 s, 1-2 s, 2-4 s, ... (docs/bot.md).
		Expect(m.logins).To(BeNumerically("<=", 0.5), "steady-state logins per second")
		Expect(m.ready.DB.Migrated).To(BeFalse())
		Expect(m.ready.DB.MigrationCode).To(Equal("P1000"), "/readyz shows the cause: %+v", m.ready.DB)
		Expect(m.ready.DB.MigrationNonTransient).To(BeTrue(), "/readyz: %+v", m.ready.DB)
		Expect(m.ready.DB.MigrationCause).To(Equal("authentication failed"), "/readyz: %+v", m.ready.DB)
		Expect(strings.Count(m.logs, "[Migrate] schema not applied yet")).To(Equal(1), "one cause, logged once")
	}, SpecTimeout(2*time.Minute))

	It("with the schema in place: the message path tries once and the breaker keeps it to about one login a second", func(ctx SpecContext) {
		m := measure(ctx, "schema-in-place", map[string]string{"MIGRATE_ON_START": "false"})
		Expect(m.logins).To(BeNumerically("<=", 1.2), "steady-state logins per second (one breaker probe a second)")
		// sslmode=prefer (the runbook URL sets none): a TLS try, then plain.
		Expect(m.conns).To(BeNumerically("<=", 2.4), "steady-state TCP connections per second")
		Expect(m.ready.DB.LastCode).To(Equal("P1000"), "/readyz: %+v", m.ready.DB)
	}, SpecTimeout(2*time.Minute))
})

// authRun is what one wrong-password run showed.
type authRun struct {
	logins, conns float64 // per second in the steady state, seen by postgres
	ready         botapi.Readiness
	logs          string
}

// readiness reads /readyz once; /readyz is open, so no API token.
func readiness(ctx context.Context, url string) botapi.Readiness {
	GinkgoHelper()
	r, err := botapi.New(stack.Target().API, url, "", nil).Readiness(ctx)
	Expect(err).NotTo(HaveOccurred())
	return r
}
