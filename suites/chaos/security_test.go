//go:build chaos

package chaos

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/environment"
)

// hostIP shows a binding's address; the zero one means every interface.
func hostIP(a netip.Addr) string {
	if !a.IsValid() {
		return "every interface"
	}
	return a.String()
}

// unprivileged is the user the bot and Toxiproxy images run as.
const unprivileged = "65532:65532"

// Who can reach the stack, read from Docker's own data: what each container
// really publishes, which user each image and process runs as, and what the
// running bot answers without its token.
var _ = Describe("the stack's exposure", Label("security"), func() {
	var bot *environment.Bot
	BeforeEach(func(ctx SpecContext) {
		var err error
		bot, err = stack.StartBot(ctx, environment.BotOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_, err := stack.StopBot(ctx)
			Expect(err).NotTo(HaveOccurred())
		})
	})

	It("publishes every port of every container on loopback only", func(ctx SpecContext) {
		// What the bindings must be: loopback, unless the user chose
		// another address (a remote daemon, see README); never read from
		// the code under test.
		want := "127.0.0.1"
		if v := os.Getenv("P1001_PUBLISH_IP"); v != "" {
			want = v
		}
		containers := map[string]testcontainers.Container{
			"postgres": stack.Postgres, "pgbouncer": stack.PgBouncer, "toxiproxy": stack.Toxiproxy, "bot": bot.Container,
		}
		for name, c := range containers {
			info, err := c.Inspect(ctx)
			Expect(err).NotTo(HaveOccurred(), "inspect %s", name)
			// What Docker really bound: an empty request would show as
			// 0.0.0.0 and [::], one binding each.
			published := 0
			for port, bindings := range info.NetworkSettings.Ports {
				for _, b := range bindings {
					published++
					Expect(hostIP(b.HostIP)).To(Equal(want), "%s %s is published on %s:%s (NetworkSettings.Ports)", name, port, hostIP(b.HostIP), b.HostPort)
				}
			}
			Expect(published).To(BeNumerically(">", 0), "%s publishes nothing: the check would prove nothing", name)
			// What was asked of Docker, which a restart would apply again.
			for port, bindings := range info.HostConfig.PortBindings {
				Expect(bindings).NotTo(BeEmpty(), "%s %s", name, port)
				for _, b := range bindings {
					Expect(hostIP(b.HostIP)).To(Equal(want), "%s asks Docker to publish %s on %s (HostConfig.PortBindings)", name, port, hostIP(b.HostIP))
				}
			}
			Expect(published).To(Equal(len(info.HostConfig.PortBindings)), "%s: one binding per published port", name)
		}
	})

	It("runs the bot and Toxiproxy images as an unprivileged user, and postgres and pgbouncer as postgres", func(ctx SpecContext) {
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cli.Close)
		cfg := stack.Config()
		for _, image := range []string{cfg.BotImage, cfg.ToxiproxyImage} {
			img, err := cli.ImageInspect(ctx, image)
			Expect(err).NotTo(HaveOccurred(), "inspect %s", image)
			Expect(img.Config.User).To(Equal(unprivileged), "%s's Config.User", image)
		}
		// The processes themselves, as the host sees them.
		uids := func(c testcontainers.Container) map[string]string {
			GinkgoHelper()
			top, err := cli.ContainerTop(ctx, c.GetContainerID(), client.ContainerTopOptions{Arguments: []string{"-o", "pid,uid,comm"}})
			Expect(err).NotTo(HaveOccurred())
			Expect(top.Processes).NotTo(BeEmpty())
			out := map[string]string{}
			for _, p := range top.Processes {
				out[p[2]] = p[1] // command -> uid
			}
			return out
		}
		Expect(uids(bot.Container)).To(Equal(map[string]string{"bot": "65532"}))
		Expect(uids(stack.Toxiproxy)).To(Equal(map[string]string{"toxiproxy": "65532"}))
		for name, c := range map[string]testcontainers.Container{"postgres": stack.Postgres, "pgbouncer": stack.PgBouncer} {
			code, r, err := c.Exec(ctx, []string{"id", "-u", "postgres"}, tcexec.Multiplexed())
			Expect(err).NotTo(HaveOccurred())
			out, _ := io.ReadAll(r)
			Expect(code).To(Equal(0), "id -u postgres in %s: %s", name, out)
			postgresUID := strings.TrimSpace(string(out))
			Expect(postgresUID).NotTo(Equal("0"))
			procs := uids(c)
			Expect(procs).To(HaveKey(name), "%s runs no %s process: %v", name, name, procs)
			for comm, uid := range procs {
				Expect(uid).To(Equal(postgresUID), "%s: %s runs as uid %s, not postgres (%s)", name, comm, uid, postgresUID)
			}
		}
	})

	It("answers the message API only with the bot's token", func(ctx SpecContext) {
		Expect(bot.Token).NotTo(BeEmpty(), "the harness gives every bot a token")
		for _, token := range []string{"", bot.Token + "x"} {
			_, _, err := botapi.New(stack.Target().API, bot.URL, token, nil).Send(ctx, "security", "hello")
			var status *botapi.StatusError
			Expect(errors.As(err, &status)).To(BeTrue(), "without the right token: %v", err)
			Expect(status.Status).To(Equal(http.StatusUnauthorized))
		}
		client := botapi.New(stack.Target().API, bot.URL, bot.Token, nil)
		_, _, err := client.Send(ctx, "security", "hello")
		Expect(err).NotTo(HaveOccurred())
		m, err := client.Metrics(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(m[`bot_http_unauthorized_total{reason="missing"}`]).To(BeNumerically("==", 1))
		Expect(m[`bot_http_unauthorized_total{reason="wrong"}`]).To(BeNumerically("==", 1))
		logs, err := bot.Logs(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(logs), "request refused: missing or wrong API token")).To(Equal(2), "one log line per refusal")
		Expect(strings.Contains(string(logs), bot.Token)).To(BeFalse(), "the bot logged its API token")
	})
})
