package environment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// PortBot is the bot's HTTP port inside its container.
const PortBot = 8080

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
	// Env is added to the bot's environment (DB_RETRY_*, ...).
	Env map[string]string
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

// DatabaseURL builds the container-side DATABASE_URL for opts, as a
// Prisma/Supabase user writes it.
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
	params := [][2]string{{"connection_limit", "10"}, {"connect_timeout", "30"}}
	if path == ProxyPooler {
		params = append([][2]string{{"pgbouncer", "true"}}, params...)
	}
	overrides := maps.Clone(opts.URLParams)
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
	return e.dsn(AliasToxiproxy, port, strings.Join(query, "&")), nil
}

// StartBot starts the bot on the private network (alias "bot") and waits
// for /healthz. The container keeps its port mapping on the default bridge,
// so the host still reaches it while a partition cuts it from the database.
// Only one bot runs at a time; stop it with StopBot.
func (e *Env) StartBot(ctx context.Context, opts BotOptions) (*Bot, error) {
	dbURL, err := e.DatabaseURL(opts)
	if err != nil {
		return nil, err
	}
	token, err := e.newToken()
	if err != nil {
		return nil, err
	}
	env := map[string]string{
		"DATABASE_URL": dbURL,
		"HTTP_ADDR":    ":" + strconv.Itoa(PortBot),
		"LOG_FORMAT":   "json",
		// The bot listens beyond its container's loopback: it needs one.
		"API_TOKEN": token,
	}
	maps.Copy(env, opts.Env)
	if _, own := opts.Env["API_TOKEN"]; !own && opts.Env["API_AUTH"] == "none" {
		delete(env, "API_TOKEN") // the bot refuses both together
	}

	start := time.Now()
	httpPort := strconv.Itoa(PortBot) + "/tcp"
	var extra []testcontainers.ContainerCustomizer
	if opts.LogLines != nil {
		extra = append(extra, testcontainers.WithLogConsumers(logFunc(opts.LogLines)))
	}
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
				return e.connect(ctx, c.GetContainerID(), AliasBot)
			}},
		}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(httpPort).
			WithStartupTimeout(30*time.Second)),
	)...)
	if c != nil {
		e.mu.Lock()
		e.bot = c
		e.mu.Unlock()
	}
	e.track(c, "bot", start)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start bot (%s): %w", e.cfg.BotImage, err), discardLogs(e.StopBot(ctx)))
	}
	endpoint, err := c.PortEndpoint(ctx, httpPort, "http")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bot endpoint: %w", err), discardLogs(e.StopBot(ctx)))
	}
	return &Bot{Container: c, URL: endpoint, DatabaseURL: dbURL, Token: env["API_TOKEN"]}, nil
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
// it can flush its outbox), returns everything it logged, shutdown
// included, and removes it. Without a running bot it does nothing.
func (e *Env) StopBot(ctx context.Context) ([]byte, error) {
	e.mu.Lock()
	bot := e.bot
	e.bot = nil
	e.containers = slices.DeleteFunc(e.containers, func(c testcontainers.Container) bool {
		return c == testcontainers.Container(bot)
	})
	e.mu.Unlock()
	if bot == nil {
		return nil, nil
	}
	stop := 15 * time.Second
	stopErr := bot.Stop(ctx, &stop)
	logs, logsErr := (&Bot{Container: bot}).Logs(ctx)
	return logs, errors.Join(stopErr, logsErr, testcontainers.TerminateContainer(bot))
}

func discardLogs(_ []byte, err error) error { return err }
