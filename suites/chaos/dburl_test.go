//go:build chaos

package chaos

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

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
		bot, stop := startBot(ctx, environment.BotOptions{
			Path: environment.ProxyPooler, URLParams: map[string]string{"pgbouncer": ""},
		})
		Expect(bot.DatabaseURL).NotTo(ContainSubstring("pgbouncer="), "the URL lacks the parameter")
		// Concurrent chats, so that the bot's connections meet several
		// server connections of PgBouncer's: one client alone would keep
		// getting the same one back and never see the clash.
		driver, err := traffic.New(traffic.Config{
			BotURL: bot.URL, BotToken: bot.Token, ChatPrefix: fmt.Sprintf("nopgb-%d", time.Now().UnixNano()),
			Chats: 8, Rate: 40, Duration: 3 * time.Second, Concurrency: 16, Seed: 1,
		}, time.Now())
		Expect(err).NotTo(HaveOccurred())
		ops, err := driver.Run(ctx)
		Expect(err).NotTo(HaveOccurred())
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
		Expect(degraded).To(BeNumerically(">", 0), "guard: the pooler did lose or mix up the bot's prepared statements")

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
})

// tail is the last n lines of a log, for a failure message.
func tail(logs []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(logs), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
