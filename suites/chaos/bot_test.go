//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/suites/environment"
)

// botReply is the bot's JSON answer.
type botReply struct {
	Reply        string `json:"reply"`
	PromptSource string `json:"prompt_source"`
	Degraded     bool   `json:"degraded"`
	Attempts     int    `json:"attempts"`
	Code         string `json:"code"`
}

func say(ctx context.Context, bot *environment.Bot, chat, text string) botReply {
	GinkgoHelper()
	body, err := json.Marshal(map[string]string{"text": text})
	Expect(err).NotTo(HaveOccurred())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, bot.URL+"/v1/chats/"+chat+"/messages", bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK), "reply body: %s", data)
	var r botReply
	Expect(json.Unmarshal(data, &r)).To(Succeed())
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

		chat := fmt.Sprintf("roundtrip-%d", time.Now().UnixNano())
		persona := "a lighthouse keeper who answers in haiku"
		set := say(ctx, bot, chat, "/setprompt "+persona)
		Expect(set.Degraded).To(BeFalse(), "the write should be committed: %+v", set)

		r := say(ctx, bot, chat, "hello")
		Expect(r.PromptSource).To(Equal("custom"))
		Expect(r.Degraded).To(BeFalse())
		Expect(r.Attempts).To(Equal(1))
		Expect(r.Reply).To(ContainSubstring(persona), "the offline responder quotes the persona it used")

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
		Expect(strings.Count(string(logs), "\n")).To(BeNumerically(">", 0), "the bot logs something")
	})
})
