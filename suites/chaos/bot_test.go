//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/environment"
)

func say(ctx context.Context, bot *botapi.Client, chat, text string) botapi.Reply {
	GinkgoHelper()
	r, _, err := bot.Send(ctx, chat, text)
	Expect(err).NotTo(HaveOccurred())
	return r
}

var _ = Describe("the bot binary", Label("smoke", "bot"), func() {
	It("keeps a custom prompt across a round-trip through pgbouncer with the runbook's pooler URL", func(ctx SpecContext) {
		bot, err := stack.StartBot(ctx, environment.BotOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_, err := stack.StopBot(ctx)
			Expect(err).NotTo(HaveOccurred())
		})
		// Matched redacted: a failure message must not print the password.
		Expect(resilience.RedactDSN(bot.DatabaseURL)).To(HaveSuffix("@toxiproxy:6543/p1001?pgbouncer=true&connection_limit=10&connect_timeout=30"))

		client := botapi.New(stack.Target().API, bot.URL, bot.Token, nil)
		// What this spec needs is the schema in place: /readyz says when
		// (a request sent earlier waits for it, within its budget).
		Expect(client.WaitReady(ctx, time.Minute, 100*time.Millisecond)).To(Succeed())
		chat := fmt.Sprintf("roundtrip-%d", time.Now().UnixNano())
		persona := "a lighthouse keeper who answers in haiku"
		set := say(ctx, client, chat, "/setprompt "+persona)
		Expect(set.Degraded).To(BeFalse(), "the write should be committed: %+v", set)

		r := say(ctx, client, chat, "hello")
		Expect(r.PromptSource).To(Equal("custom"))
		Expect(r.Degraded).To(BeFalse())
		Expect(r.Attempts).To(Equal(1))
		Expect(r.Text).To(ContainSubstring(persona), "the offline responder quotes the persona it used")

		conn, err := pgx.Connect(ctx, stack.DSNs().HostPostgres)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { _ = conn.Close(ctx) })
		var stored string
		Expect(conn.QueryRow(ctx, "SELECT prompt FROM chat_prompts WHERE chat_id = $1", chat).Scan(&stored)).To(Succeed())
		Expect(stored).To(Equal(persona), "postgres holds what /setprompt acknowledged")

		// The password never reaches the bot's logs.
		logs, err := bot.Logs(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Contains(string(logs), stack.Config().Password)).To(BeFalse(), "the bot logged its database password")
		Expect(strings.Contains(string(logs), bot.Token)).To(BeFalse(), "the bot logged its API token")
		Expect(strings.Count(string(logs), "\n")).To(BeNumerically(">", 0), "the bot logs something")
	})
})
