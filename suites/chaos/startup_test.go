//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/environment"
)

// startupRequests is how many requests each start gets in its first
// moments, half of them /setprompt.
const startupRequests = 50

// startupRun is what one start of the bot on an empty database showed.
type startupRun struct {
	saved, notSaved, dbErrors int
	raced                     bool // requests were in flight before the schema was
}

// freshDatabase creates an empty database on the stack's postgres and drops
// it (with whatever connects to it) when the spec ends.
func freshDatabase(ctx context.Context, admin *pgx.Conn, name string) {
	GinkgoHelper()
	_, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		_, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		Expect(err).NotTo(HaveOccurred())
	})
}

// startBot starts a bot for this spec. stop stops it and returns its logs;
// a spec that fails before calling stop has it stopped at cleanup.
func startBot(ctx context.Context, opts environment.BotOptions) (*environment.Bot, func(context.Context) []byte) {
	GinkgoHelper()
	bot, err := stack.StartBot(ctx, opts)
	Expect(err).NotTo(HaveOccurred())
	stopped := false
	DeferCleanup(func(ctx SpecContext) {
		if !stopped {
			_, err := stack.StopBot(ctx)
			Expect(err).NotTo(HaveOccurred())
		}
	})
	return bot, func(ctx context.Context) []byte {
		GinkgoHelper()
		stopped = true
		logs, err := stack.StopBot(ctx)
		Expect(err).NotTo(HaveOccurred())
		return logs
	}
}

// schemaReadyAt is when the bot logged "[Migrate] schema ready".
func schemaReadyAt(logs []byte) (time.Time, bool) {
	for _, l := range botlog.ParseAll(logs) {
		if l.Is(botlog.MigrateReady) {
			return l.Time, true
		}
	}
	return time.Time{}, false
}

// startOnEmptyDatabase starts the bot with the runbook's pooler URL on a
// new, empty database, fires startupRequests concurrent requests as soon as
// /healthz answers, and checks every reply against what postgres holds.
// latency, when set, slows the pooler path so that the migrations are still
// running when the requests come (longer than the budget: the requests
// must give up, honestly).
func startOnEmptyDatabase(ctx SpecContext, admin *pgx.Conn, iteration int, latency time.Duration) startupRun {
	GinkgoHelper()
	name := fmt.Sprintf("startup_%d_%02d", time.Now().UnixNano()%1_000_000_000, iteration)
	freshDatabase(ctx, admin, name)
	if latency > 0 {
		_, err := stack.Proxies[environment.ProxyPooler].AddToxic("startup-latency", "latency", "downstream", 1,
			toxiproxy.Attributes{"latency": latency.Milliseconds()})
		Expect(err).NotTo(HaveOccurred())
	}

	bot, stop := startBot(ctx, environment.BotOptions{Database: name})

	client := botapi.New(stack.Target().API, bot.URL, bot.Token, nil)
	type sent struct {
		chat, text string
		setprompt  bool
		reply      botapi.Reply
		err        error
	}
	reqs := make([]sent, startupRequests)
	for k := range reqs {
		chat := fmt.Sprintf("s%02d-c%02d", iteration, k)
		if k%2 == 0 {
			reqs[k] = sent{chat: chat, text: fmt.Sprintf("/setprompt You are persona %d of start %d.", k, iteration), setprompt: true}
		} else {
			reqs[k] = sent{chat: chat, text: "hello"}
		}
	}
	firedAt := time.Now()
	var wg sync.WaitGroup
	for k := range reqs {
		wg.Go(func() { reqs[k].reply, _, reqs[k].err = client.Send(ctx, reqs[k].chat, reqs[k].text) })
	}
	wg.Wait()

	// The schema comes once the path is fast again; only then can postgres
	// say what it holds.
	Expect(stack.ResetFaults(ctx)).To(Succeed())
	Expect(client.WaitReady(ctx, time.Minute, 100*time.Millisecond)).To(Succeed())
	app := admin.Config().Copy()
	app.Database = name
	conn, err := pgx.ConnectConfig(ctx, app)
	Expect(err).NotTo(HaveOccurred())
	stored := map[string]string{}
	rows, err := conn.Query(ctx, "SELECT chat_id, prompt FROM chat_prompts")
	Expect(err).NotTo(HaveOccurred())
	for rows.Next() {
		var chat, prompt string
		Expect(rows.Scan(&chat, &prompt)).To(Succeed())
		stored[chat] = prompt
	}
	Expect(rows.Err()).NotTo(HaveOccurred())
	Expect(conn.Close(ctx)).To(Succeed())

	var run startupRun
	for _, r := range reqs {
		Expect(r.err).NotTo(HaveOccurred(), "%s %q: every request gets a reply", r.chat, r.text)
		if r.reply.Code == "DB_ERROR" {
			run.dbErrors++
		}
		if !r.setprompt {
			continue
		}
		prompt, held := stored[r.chat]
		want := strings.TrimPrefix(r.text, "/setprompt ")
		switch {
		case !r.reply.Degraded && strings.HasPrefix(r.reply.Text, "Saved."):
			run.saved++
			Expect(held).To(BeTrue(), "%s: /setprompt answered %q, but postgres holds no prompt", r.chat, r.reply.Text)
			Expect(prompt).To(Equal(want), "%s: postgres holds another prompt than the one acknowledged", r.chat)
		case r.reply.Degraded && strings.HasPrefix(r.reply.Text, "Your prompt was NOT saved"):
			run.notSaved++
			Expect(held).To(BeFalse(), "%s: /setprompt said NOT saved (%s), but postgres holds %q", r.chat, r.reply.Code, prompt)
		default:
			Fail(fmt.Sprintf("%s: /setprompt answered neither saved nor NOT saved: %+v", r.chat, r.reply))
		}
	}

	logs := stop(ctx)
	for _, bad := range []string{"DB_ERROR", "42P01"} {
		Expect(string(logs)).NotTo(ContainSubstring(bad), "the bot's own migration showed as a database error")
	}
	readyAt, ok := schemaReadyAt(logs)
	Expect(ok).To(BeTrue(), "the bot logged no [Migrate] schema ready")
	run.raced = readyAt.After(firedAt)
	return run
}

var _ = Describe("the bot's startup", Label("startup", "bot"), Ordered, func() {
	var admin *pgx.Conn
	BeforeAll(func(ctx SpecContext) {
		var err error
		admin, err = pgx.Connect(ctx, stack.DSNs().HostPostgres)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { _ = admin.Close(ctx) })
	})

	It("answers requests fired at an empty database in its first moments without DB_ERROR, 20 starts in a row", func(ctx SpecContext) {
		const starts = 20
		var total startupRun
		raced := 0
		for i := range starts {
			// Most starts race the migrations as they come; some slow the
			// pooler so that the requests surely wait (100 ms a round trip),
			// or wait past their budget (1 s: they must give up, saying so).
			var latency time.Duration
			switch i % 10 {
			case 4:
				latency = 100 * time.Millisecond
			case 9:
				latency = time.Second
			}
			run := startOnEmptyDatabase(ctx, admin, i, latency)
			GinkgoWriter.Printf("start %2d (latency %v): %d saved, %d NOT saved, %d DB_ERROR, raced the migrations: %v\n",
				i, latency, run.saved, run.notSaved, run.dbErrors, run.raced)
			total.saved += run.saved
			total.notSaved += run.notSaved
			total.dbErrors += run.dbErrors
			if run.raced {
				raced++
			}
		}
		AddReportEntry("startup", fmt.Sprintf("%d starts: %d /setprompt saved, %d honestly NOT saved, %d DB_ERROR; %d starts had requests in flight before the schema",
			starts, total.saved, total.notSaved, total.dbErrors, raced))
		Expect(total.dbErrors).To(BeZero(), "no reply may say DB_ERROR")
		// Guards: the run proved something.
		Expect(raced).To(BeNumerically(">=", 2), "requests must have met a schema still being built")
		Expect(total.saved).To(BeNumerically(">", 0))
		Expect(total.notSaved).To(BeNumerically(">", 0), "the 1 s latency starts must show the honest NOT saved")
	}, SpecTimeout(6*time.Minute))
})
