//go:build chaos

package chaos

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/history"
	"github.com/p1001/p1001/suites/traffic"
)

// Misconfigured database URLs (issue 14): configurations, not faults. A
// catalog scenario needs a healthy phase before and after its faults (its
// validity guards), and these are wrong from the bot's first query to its
// last, so they are specs of their own, as the wrong password is.
var _ = Describe("a database URL", Label("dburl", "bot"), func() {
	// The runbook's pooler URL without pgbouncer=true: pgx then caches
	// named prepared statements per connection, which PgBouncer in
	// transaction mode with max_prepared_statements = 0 (Supabase's
	// pooler) loses (26000) or mixes up (42P05) between transactions.
	It("without pgbouncer=true through the transaction pooler: degraded DB_ERROR replies, never retried, and one line that says what to do", func(ctx SpecContext) {
		// Migrations through the direct URL, as Prisma's directUrl: goose's
		// own statements would meet the same clash, and the schema gate
		// would then answer for the migrator instead.
		bot, stop := startBot(ctx, environment.BotOptions{
			Path: environment.ProxyPooler, URLParams: map[string]string{"pgbouncer": ""},
			Env: map[string]string{"MIGRATE_DATABASE_URL": stack.DSNs().ContainerDirect},
		})
		Expect(bot.DatabaseURL).NotTo(ContainSubstring("pgbouncer="), "the URL lacks the parameter")
		// Concurrent chats, so that the bot's connections meet several
		// server connections of PgBouncer's. Chance alone decides whether
		// a lookup (rather than a message-log write) meets a server
		// connection that lacks its statement, so halfway through the
		// pooler replaces every server connection: each bot connection
		// that cached the lookup's statement then runs it by name on a
		// server that never saw it (26000), on its next lookup.
		since := time.Now()
		chats := fmt.Sprintf("nopgb-%d", time.Now().UnixNano())
		send := func(d time.Duration) []history.Op {
			GinkgoHelper()
			driver, err := traffic.New(traffic.Config{
				API: stack.Target().API, BotURL: bot.URL, BotToken: bot.Token, ChatPrefix: chats,
				Chats: 8, Rate: 40, Duration: d, Concurrency: 16, Seed: 1,
			}, time.Now())
			Expect(err).NotTo(HaveOccurred())
			ops, err := driver.Run(ctx)
			Expect(err).NotTo(HaveOccurred())
			return ops
		}
		ops := send(1500 * time.Millisecond)
		Expect(stack.ReconnectPgBouncer(ctx)).To(Succeed())
		ops = append(ops, send(1500*time.Millisecond)...)
		logs := stop(ctx)

		degraded := 0
		for _, op := range ops {
			Expect(op.Outcome).To(Equal(history.OK), "every message gets a reply: %+v", op)
			if !op.Degraded {
				continue
			}
			degraded++
			Expect(op.Code).To(Equal("DB_ERROR"), "a statement the pooler lost is no outage: the honest code is DB_ERROR, %+v", op)
			Expect(op.Attempts).To(Equal(1), "retrying cannot fix a configuration: %+v", op)
		}
		figure := fmt.Sprintf("without pgbouncer=true: %d messages, %d degraded (DB_ERROR)", len(ops), degraded)
		AddReportEntry("missing pgbouncer=true", figure)
		GinkgoWriter.Println(figure)
		// Postgres' own word that statements were lost or mixed up
		// (pgx names its cached ones stmtcache_...): the clash happened,
		// whatever the bot says.
		lost, err := stack.ServerLog(ctx, since, `prepared statement "stmtcache_`)
		Expect(err).NotTo(HaveOccurred())
		Expect(lost).NotTo(BeEmpty(), "guard: postgres logged no lost or duplicate prepared statement")
		Expect(degraded).To(BeNumerically(">", 0), "the lookups that met the clash answered degraded (postgres logged %d clashes)", len(lost))

		advice := 0
		for _, l := range botlog.ParseAll(logs) {
			if l.Is(botlog.PreparedThroughPooler) {
				advice++
				Expect(l.Level).To(Equal("WARN"), "the advice: %+v", l)
			}
		}
		Expect(advice).To(Equal(1), "one line tells the operator what to do, however many replies failed:\n%s", tail(logs, 30))
		Expect(string(logs)).NotTo(ContainSubstring(stack.Config().Password))
	}, SpecTimeout(2*time.Minute))

	// sendAll sends n messages to one chat and returns the replies.
	sendAll := func(ctx SpecContext, bot *environment.Bot, n int) []botapi.Reply {
		GinkgoHelper()
		c := botapi.New(stack.Target().API, bot.URL, bot.Token, nil)
		chat := fmt.Sprintf("tls-%d", time.Now().UnixNano())
		var out []botapi.Reply
		for i := range n {
			r, _, err := c.Send(ctx, chat, fmt.Sprintf("hello %d", i))
			Expect(err).NotTo(HaveOccurred(), "every message gets a reply")
			out = append(out, r)
		}
		return out
	}

	It("with sslmode=require against a server without TLS: P1011 on every reply, never retried", func(ctx SpecContext) {
		bot, stop := startBot(ctx, environment.BotOptions{Path: environment.ProxyDirect, URLParams: map[string]string{"sslmode": "require"}})
		for _, r := range sendAll(ctx, bot, 5) {
			Expect(r.Degraded).To(BeTrue(), "%+v", r)
			Expect(r.Code).To(Equal("P1011"), "TLS required, the server has none: %+v", r)
			Expect(r.Attempts).To(BeNumerically("<=", 1), "a TLS refusal is not transient: %+v", r)
		}
		Expect(string(stop(ctx))).To(ContainSubstring("server refused TLS, which sslmode requires"), "the log says why")
	}, SpecTimeout(time.Minute))

	Context("against a server with TLS on a self-signed certificate", Ordered, func() {
		BeforeAll(func(ctx SpecContext) {
			// p1001/postgres makes a certificate at every start: TLS is a
			// reload away, and undone the same way.
			setSSL(ctx, "on")
			DeferCleanup(func(ctx SpecContext) { setSSL(ctx, "") })
		})

		It("with sslmode=verify-full: P1011, the certificate not accepted", func(ctx SpecContext) {
			bot, stop := startBot(ctx, environment.BotOptions{Path: environment.ProxyDirect, URLParams: map[string]string{"sslmode": "verify-full"}})
			for _, r := range sendAll(ctx, bot, 5) {
				Expect(r.Degraded).To(BeTrue(), "%+v", r)
				Expect(r.Code).To(Equal("P1011"), "a certificate no CA vouches for: %+v", r)
				Expect(r.Attempts).To(BeNumerically("<=", 1), "%+v", r)
			}
			Expect(string(stop(ctx))).To(ContainSubstring("TLS certificate not accepted (check sslmode and sslrootcert)"), "the log says why")
		}, SpecTimeout(time.Minute))

		It("with sslmode=require: answers from the database, over TLS", func(ctx SpecContext) {
			bot, stop := startBot(ctx, environment.BotOptions{Path: environment.ProxyDirect, URLParams: map[string]string{"sslmode": "require"}})
			for _, r := range sendAll(ctx, bot, 5) {
				Expect(r.Degraded).To(BeFalse(), "require encrypts without verifying: %+v", r)
			}
			// Postgres' own word that the bot's sessions use TLS.
			admin, err := pgx.Connect(ctx, stack.DSNs().HostPostgres)
			Expect(err).NotTo(HaveOccurred())
			defer admin.Close(ctx)
			// The direct path comes through toxiproxy (PgBouncer's own
			// connections come from its address).
			toxiproxyIP, err := stack.ToxiproxyIP(ctx)
			Expect(err).NotTo(HaveOccurred())
			var tls, plain int
			Expect(admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
				FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.client_addr = $1::inet`, toxiproxyIP).Scan(&tls, &plain)).To(Succeed())
			Expect(tls).To(BeNumerically(">", 0), "postgres sees the bot's sessions over TLS")
			Expect(plain).To(BeZero(), "and none in plain text")
			stop(ctx)
		}, SpecTimeout(time.Minute))
	})
})

// setSSL turns the shared postgres' TLS on ("on") or back to its
// configuration ("") with a reload, and waits until a new session sees it.
func setSSL(ctx SpecContext, value string) {
	GinkgoHelper()
	Expect(stack.ServerSetting(ctx, "ssl", value)).To(Succeed())
}

// tail is the last n lines of a log, for a failure message.
func tail(logs []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(logs), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
