package environment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/targets"
)

// BotStopGrace is how long a bot-restart waits after SIGTERM before Docker
// sends SIGKILL: the bot promises to stop within 2 s even during an outage
// (docs/bot.md), plus a second of margin. A slower bot is killed, and what
// it held only in memory is lost: the message-log check then says so.
const BotStopGrace = 3 * time.Second

// botStopTimeout bounds StopBot's graceful stop at the end of a scenario.
const botStopTimeout = 15 * time.Second

// BotOptions configure one bot container. Each scenario runs its own bot,
// with its own retry policy, against the shared database containers.
type BotOptions struct {
	// Path is ProxyPooler (default) or ProxyDirect: which toxiproxy proxy
	// the bot's DATABASE_URL points at.
	Path string
	// URLParams override the runbook's Prisma parameters of DATABASE_URL
	// (pgbouncer=true on the pooler path, connection_limit=10,
	// connect_timeout=30) key by key; an empty value removes a key.
	URLParams map[string]string
	// Database, when set, replaces the stack's database name in
	// DATABASE_URL (a fresh database per start, ...).
	Database string
	// Password, when set, replaces the stack's password in DATABASE_URL
	// (a wrong one, to see the bot refused).
	Password string
	// Env is added to the bot's environment (DB_RETRY_*, ...).
	Env map[string]string
	// ByName: the bot reaches its proxy by its DNS name
	// (scenarios.HostName, on a network of its own: names.go) instead of
	// "toxiproxy", so that a dns fault can take the name away.
	ByName bool
	// LogLines, when set, is called with every line the bot logs, as it
	// logs it (make p1001 narrates them live).
	LogLines func(line []byte)
}

// logFunc adapts a function to testcontainers' log consumer.
type logFunc func(line []byte)

func (f logFunc) Accept(l testcontainers.Log) { f(l.Content) }

// Bot is a running bot container.
type Bot struct {
	Container *testcontainers.DockerContainer
	// URL is the bot's HTTP API as reached from the host.
	URL string
	// DatabaseURL is what the bot was given; it holds the password.
	DatabaseURL string
	// Token is the bot's API_TOKEN, random per container: botapi sends it.
	// Never log it (Env.Secrets lists it for the report's leak check).
	Token string
}

// DatabaseURL builds the container-side database URL for opts in the
// target's style: as a Prisma/Supabase user writes it (prisma), or a
// plain libpq URL (libpq: URLParams do not apply).
func (e *Env) DatabaseURL(opts BotOptions) (string, error) {
	path := opts.Path
	if path == "" {
		path = ProxyPooler
	}
	var port uint16
	switch path {
	case ProxyPooler:
		port = PortPooler
	case ProxyDirect:
		port = PortPostgres
	default:
		return "", fmt.Errorf("bot path %q: want %q or %q", path, ProxyPooler, ProxyDirect)
	}
	// Built by hand to keep the runbook's order: url.Values would sort it.
	var params [][2]string
	overrides := map[string]string{}
	if e.target.Database.URLStyle == targets.StylePrisma {
		params = [][2]string{{"connection_limit", "10"}, {"connect_timeout", "30"}}
		if path == ProxyPooler {
			params = append([][2]string{{"pgbouncer", "true"}}, params...)
		}
		overrides = maps.Clone(opts.URLParams)
	}
	var query []string
	for _, kv := range params {
		if v, ok := overrides[kv[0]]; ok {
			kv[1] = v
			delete(overrides, kv[0])
		}
		if kv[1] != "" {
			query = append(query, url.QueryEscape(kv[0])+"="+url.QueryEscape(kv[1]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		if v := overrides[k]; v != "" {
			query = append(query, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	host := AliasToxiproxy
	if opts.ByName {
		host = scenarios.HostName(path)
	}
	dsn := e.dsn(host, port, strings.Join(query, "&"))
	if opts.Database == "" && opts.Password == "" {
		return dsn, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("bot DATABASE_URL: %w", err)
	}
	if opts.Database != "" {
		u.Path = "/" + opts.Database
	}
	if opts.Password != "" {
		u.User = url.UserPassword(e.cfg.User, opts.Password)
	}
	return u.String(), nil
}

// StartBot starts the target's bot on the private network (alias "bot")
// and waits for its health path. The container keeps its port mapping on
// the default bridge, so the host still reaches it while a partition cuts
// it from the database. Only one bot runs at a time; stop it with StopBot.
func (e *Env) StartBot(ctx context.Context, opts BotOptions) (*Bot, error) {
	t := e.target
	if x := e.cfg.Existing; x != nil {
		// Someone else's bot, already running: the harness only talks to it.
		return &Bot{URL: strings.TrimRight(x.BotURL, "/"), Token: x.BotToken}, nil
	}
	dbURL, err := e.DatabaseURL(opts)
	if err != nil {
		return nil, err
	}
	if err := e.ensureSchema(ctx); err != nil {
		return nil, err
	}
	env := maps.Clone(t.Image.Env)
	if env == nil {
		env = map[string]string{}
	}
	env[t.Database.URLEnv] = dbURL
	if t.Image.TokenEnv != "" {
		token, err := e.newToken()
		if err != nil {
			return nil, err
		}
		env[t.Image.TokenEnv] = token
	}
	maps.Copy(env, opts.Env)
	if _, own := opts.Env[t.Image.TokenEnv]; !own && opts.Env["API_AUTH"] == "none" {
		delete(env, t.Image.TokenEnv) // p1001's bot refuses both together
	}
	namesID := ""
	if opts.ByName {
		if namesID, err = e.ensureNames(ctx); err != nil {
			return nil, err
		}
	}
	var extra []testcontainers.ContainerCustomizer
	volume := ""
	if t.Image.Volume != "" {
		if volume, err = e.createVolume(ctx, "spool"); err != nil {
			return nil, err
		}
		extra = append(extra, testcontainers.WithMounts(testcontainers.VolumeMount(volume, testcontainers.ContainerMountTarget(t.Image.Volume))))
	}
	if len(t.Image.Command) > 0 {
		extra = append(extra, testcontainers.WithCmd(t.Image.Command...))
	}
	if opts.LogLines != nil {
		extra = append(extra, testcontainers.WithLogConsumers(logFunc(opts.LogLines)))
	}

	start := time.Now()
	httpPort := e.botPort()
	c, err := testcontainers.Run(ctx, e.cfg.BotImage, append(extra,
		testcontainers.WithLabels(e.cfg.labels()),
		testcontainers.WithEnv(env),
		e.publish(httpPort),
		// Joined to the private network before it starts, so that its first
		// connection attempts already resolve "toxiproxy". Its ports stay
		// published on the default bridge (see createNetwork), so that a
		// partition does not cut the host off too.
		testcontainers.WithLifecycleHooks(testcontainers.ContainerLifecycleHooks{
			PostCreates: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
				if err := e.connect(ctx, c.GetContainerID(), AliasBot); err != nil || namesID == "" {
					return err
				}
				return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
					_, err := cli.NetworkConnect(ctx, namesID, client.NetworkConnectOptions{Container: c.GetContainerID()})
					if err != nil {
						return fmt.Errorf("connect the bot to the names network: %w", err)
					}
					return nil
				})
			}},
		}),
		testcontainers.WithWaitStrategy(wait.ForHTTP(t.Health.Path).WithPort(httpPort).
			WithStatusCodeMatcher(func(status int) bool { return status == t.Health.Status }).
			WithStartupTimeout(30*time.Second)),
	)...)
	e.mu.Lock()
	e.botVolume, e.botEarlierLives = volume, nil
	if c != nil && !isNilContainer(c) {
		e.bot = c
		e.botLogs = nil // a new bot: the last stopped one's log is no longer the evidence
	}
	e.mu.Unlock()
	e.track(c, "bot", start)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start bot (%s): %w", e.cfg.BotImage, err), discardLogs(e.StopBot(ctx)))
	}
	endpoint, err := e.BotURL(ctx)
	if err != nil {
		return nil, errors.Join(err, discardLogs(e.StopBot(ctx)))
	}
	return &Bot{Container: c, URL: endpoint, DatabaseURL: dbURL, Token: env[t.Image.TokenEnv]}, nil
}

// botPort is the bot's HTTP port inside its container, as Docker names it.
func (e *Env) botPort() string { return strconv.Itoa(e.target.Image.Port) + "/tcp" }

// ensureSchema applies the target's schema file (database.migrations:
// sql) once per stack, before its first bot starts.
func (e *Env) ensureSchema(ctx context.Context) error {
	if e.target.Database.Migrations != targets.MigrationsSQL {
		return nil
	}
	e.mu.Lock()
	done := e.schemaApplied
	e.mu.Unlock()
	if done {
		return nil
	}
	path := e.target.SchemaPath()
	sql, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("target %s: database.schema: %w", e.target.File, err)
	}
	conn, err := pgx.Connect(ctx, e.DSNs().HostPostgres)
	if err != nil {
		return fmt.Errorf("apply %s: %w", path, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Without arguments pgx sends the simple protocol: the file's
	// statements run as one multi-statement query.
	if _, err := conn.Exec(ctx, string(sql)); err != nil {
		return fmt.Errorf("apply %s: %w", path, err)
	}
	e.mu.Lock()
	e.schemaApplied = true
	e.mu.Unlock()
	return nil
}

// BotURL is the running bot's HTTP API as reached from the host now: a
// bot started again after a kill or restart may have another host port.
func (e *Env) BotURL(ctx context.Context) (string, error) {
	if x := e.cfg.Existing; x != nil {
		return strings.TrimRight(x.BotURL, "/"), nil
	}
	e.mu.Lock()
	bot := e.bot
	e.mu.Unlock()
	if bot == nil {
		return "", errors.New("bot endpoint: no bot is running")
	}
	endpoint, err := bot.PortEndpoint(ctx, e.botPort(), "http")
	if err != nil {
		return "", fmt.Errorf("bot endpoint: %w", err)
	}
	return endpoint, nil
}

// restartBot stops the running bot with stop (a SIGKILL, or a SIGTERM
// with a grace period), waits until it no longer runs, keeps what it
// logged, and starts the same container again: same environment, same
// spool volume, same network. It returns once /healthz answers.
func (e *Env) restartBot(ctx context.Context, what string, stop func(context.Context, *testcontainers.DockerContainer) error) error {
	e.mu.Lock()
	bot := e.bot
	e.mu.Unlock()
	if bot == nil {
		return fmt.Errorf("%s: no bot is running", what)
	}
	if err := stop(ctx, bot); err != nil {
		return fmt.Errorf("%s the bot: %w", what, err)
	}
	err := e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
		w := cli.ContainerWait(ctx, bot.GetContainerID(), client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case <-w.Result:
			return nil
		case err := <-w.Error:
			return err
		}
	})
	if err != nil {
		return fmt.Errorf("%s the bot: wait for it to stop: %w", what, err)
	}
	// Docker keeps a container's log across its restarts, but a log
	// driver need not: keep this life's log so that no life is lost.
	logs, err := (&Bot{Container: bot}).Logs(ctx)
	if err != nil {
		return fmt.Errorf("%s the bot: %w", what, err)
	}
	e.mu.Lock()
	e.botEarlierLives = logs
	e.mu.Unlock()
	if err := bot.Start(ctx); err != nil {
		return fmt.Errorf("%s the bot: start it again: %w", what, err)
	}
	return nil
}

// KillBot sends SIGKILL to the bot (a crash: nothing is flushed) and
// starts it again on the same spool volume.
func (e *Env) KillBot(ctx context.Context) error {
	return e.restartBot(ctx, "kill", func(ctx context.Context, bot *testcontainers.DockerContainer) error {
		return e.withDocker(ctx, func(cli *testcontainers.DockerClient) error {
			_, err := cli.ContainerKill(ctx, bot.GetContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"})
			return err
		})
	})
}

// RestartBot stops the bot with SIGTERM (SIGKILL after BotStopGrace) and
// starts it again on the same spool volume, as a deploy does.
func (e *Env) RestartBot(ctx context.Context) error {
	return e.restartBot(ctx, "restart", func(ctx context.Context, bot *testcontainers.DockerContainer) error {
		grace := BotStopGrace
		return bot.Stop(ctx, &grace)
	})
}

// Logs returns everything the bot has logged so far.
func (b *Bot) Logs(ctx context.Context) ([]byte, error) {
	rc, err := b.Container.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("bot logs: %w", err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// StopBot stops the running bot gracefully (SIGTERM, up to 15 s, so that
// it can flush its outbox), returns everything it logged in all its lives,
// shutdown included, and removes it and its spool volume. Without a
// running bot it does nothing.
func (e *Env) StopBot(ctx context.Context) ([]byte, error) {
	e.mu.Lock()
	bot, volume, earlier := e.bot, e.botVolume, e.botEarlierLives
	e.bot, e.botVolume, e.botEarlierLives = nil, "", nil
	e.containers = slices.DeleteFunc(e.containers, func(c testcontainers.Container) bool {
		return c == testcontainers.Container(bot)
	})
	e.mu.Unlock()
	var errs []error
	var logs []byte
	if bot != nil {
		stop := botStopTimeout
		errs = append(errs, bot.Stop(ctx, &stop))
		var err error
		logs, err = (&Bot{Container: bot}).Logs(ctx)
		errs = append(errs, err, testcontainers.TerminateContainer(bot))
	}
	if volume != "" {
		errs = append(errs, e.removeVolume(ctx, volume))
	}
	all := joinLives(earlier, logs)
	e.mu.Lock()
	e.botLogs = all // the evidence of a failed spec (BotLogs)
	e.mu.Unlock()
	return all, errors.Join(errs...)
}

// joinLives returns the log of every life of a container: all, the log
// read at its end, when it still holds the earlier lives' log (Docker's
// own drivers keep it across a restart); earlier+all otherwise.
func joinLives(earlier, all []byte) []byte {
	if bytes.HasPrefix(all, earlier) {
		return all
	}
	return append(slices.Clip(earlier), all...)
}

func discardLogs(_ []byte, err error) error { return err }
