//go:build chaos

package chaos

import (
	"fmt"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/environment"
)

// Reply deadline (docs/bot.md, "Reply deadline"): the bot's default
// REPLY_DEADLINE, and what a reply may take past it here: the HTTP round
// trip, the spool write and a shared 2-core host.
const (
	replyDeadline  = time.Second
	deadlineMargin = 500 * time.Millisecond
)

var _ = Describe("the reply deadline", Label("bot", "deadline"), func() {
	It("answers 100 concurrent messages across 10 chats in a black hole within the deadline, one lookup per chat", func(ctx SpecContext) {
		const chats, perChat = 10, 10
		bot, err := stack.StartBot(ctx, environment.BotOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_, err := stack.StopBot(ctx)
			Expect(err).NotTo(HaveOccurred())
		})
		client := botapi.New(stack.Target().API, bot.URL, bot.Token, nil)
		Expect(client.WaitReady(ctx, time.Minute, 100*time.Millisecond)).To(Succeed())
		run := time.Now().UnixNano()
		chat := func(i int) string { return fmt.Sprintf("herd-%d-%d", run, i%chats) }
		for i := range chats {
			r := say(ctx, client, chat(i), "/setprompt You are parrot number "+fmt.Sprint(i)+".")
			Expect(r.Degraded).To(BeFalse(), "seeding chat %d: %+v", i, r)
		}

		// The black hole: the pooler proxy swallows every byte and never closes.
		_, err = stack.Proxies[environment.ProxyPooler].AddToxic("herd-black-hole", "timeout", "downstream", 1,
			toxiproxy.Attributes{"timeout": 0})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { Expect(stack.ResetFaults(ctx)).To(Succeed()) })

		// The in-flight count as /metrics shows it, read while the messages
		// are outstanding: the harness's sample, not the bot's summary.
		sent := make(chan struct{})
		var maxInFlight, samples float64
		var sampler sync.WaitGroup
		sampler.Go(func() {
			defer GinkgoRecover()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				if m, err := client.Metrics(ctx); err == nil {
					samples++
					maxInFlight = max(maxInFlight, m["bot_prompt_lookups_in_flight"])
				}
				select {
				case <-sent:
					return
				case <-tick.C:
				}
			}
		})

		type answer struct {
			r       botapi.Reply
			latency time.Duration
			err     error
		}
		answers := make([]answer, chats*perChat)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Go(func() {
				r, latency, err := client.Send(ctx, chat(i), "hello in the dark")
				answers[i] = answer{r, latency, err}
			})
		}
		wg.Wait()
		close(sent)
		sampler.Wait()

		var slowest time.Duration
		for i, a := range answers {
			Expect(a.err).NotTo(HaveOccurred(), "message %d", i)
			slowest = max(slowest, a.latency)
			Expect(a.latency).To(BeNumerically("<=", replyDeadline+deadlineMargin),
				"message %d took %s, past the %s deadline + %s", i, a.latency, replyDeadline, deadlineMargin)
			// The harness's clock, not the reply's word: a reply that stopped
			// waiting at the deadline took at least the deadline.
			Expect(a.latency).To(BeNumerically(">=", replyDeadline),
				"message %d took %s: before the %s deadline, so it did not wait for the black-holed lookup", i, a.latency, replyDeadline)
			Expect(a.r.Degraded).To(BeTrue(), "message %d: %+v", i, a.r)
			Expect(a.r.Code).To(Equal("P1008"), "message %d: a reply that stopped waiting says P1008: %+v", i, a.r)
			Expect(a.r.PromptSource).To(Equal("cached"), "message %d: the seeded prompt is cached: %+v", i, a.r)
		}
		Expect(samples).To(BeNumerically(">", 0), "no /metrics read succeeded during the fault")
		Expect(maxInFlight).To(BeNumerically(">=", 1), "no sample saw a lookup in flight during the fault")
		Expect(maxInFlight).To(BeNumerically("<=", chats), "at most one lookup per chat")
		AddReportEntry("herd", fmt.Sprintf("slowest reply %s, at most %.0f lookups in flight (%.0f samples)", slowest, maxInFlight, samples))
		GinkgoWriter.Printf("herd: slowest reply %s, at most %.0f lookups in flight over %.0f samples\n", slowest, maxInFlight, samples)
	})
})
