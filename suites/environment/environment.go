// Package environment starts the chaos stack of DESIGN.md section 2 through
// testcontainers-go: a private network, postgres, pgbouncer (transaction
// mode) and toxiproxy with a "pooler" and a "direct" proxy, and later the bot.
//
// Ryuk is not used (it would need an image pull), so Close removes
// everything; every container and network also carries Label and RunLabel
// for `make clean`.
package environment

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for wait.ForSQL
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sync/errgroup"

	"github.com/p1001/p1001/targets"
)

const startupTimeout = 90 * time.Second

// runbookParams are the pool parameters of the runbook's DATABASE_URL.
const runbookParams = "connection_limit=10&connect_timeout=30"

// DSNs are the ways to reach the database, all with the same credentials.
type DSNs struct {
	// HostPostgres reaches postgres from the host through its own mapped
	// port, bypassing toxiproxy: for seeding and for checks after a fault.
	HostPostgres string
	// HostPgBouncer reaches PgBouncer from the host through its own mapped
	// port, bypassing toxiproxy: for probing PgBouncer itself.
	HostPgBouncer string
	// HostPooler and HostDirect go through toxiproxy's mapped ports, so
	// faults apply to them.
	HostPooler string
	HostDirect string
	// ContainerPooler and ContainerDirect are the same two paths as seen
	// from a container on the network (toxiproxy:6543, toxiproxy:5432).
	ContainerPooler string
	ContainerDirect string
	// PrismaPooler is ContainerPooler as Prisma/Supabase users write it:
	// ...:6543/db?pgbouncer=true&connection_limit=10&connect_timeout=30
	PrismaPooler string
}

// Env is a running stack. Close it, also when a spec fails.
type Env struct {
	cfg Config
	// target is the bot under test (Config.TargetFile).
	target targets.Target
	// schemaApplied: the target's schema file was applied (ensureSchema).
	schemaApplied bool
	// NetworkID and NetworkName identify the private network.
	NetworkID, NetworkName string

	Postgres  *tcpostgres.PostgresContainer
	PgBouncer *testcontainers.DockerContainer
	Toxiproxy *testcontainers.DockerContainer

	// Toxi is the Toxiproxy API client, through the mapped 8474 port.
	// The upstream client takes no context; its own HTTP timeout (30 s)
	// bounds each call.
	Toxi    *toxiproxy.Client
	Proxies map[string]*toxiproxy.Proxy

	// StartTimes holds how long each container took to be ready.
	StartTimes map[string]time.Duration

	mu         sync.Mutex
	dsns       DSNs
	bot        *testcontainers.DockerContainer
	containers []testcontainers.Container
	// botVolume is the running bot's spool volume; botEarlierLives what
	// it logged in its earlier lives (see restartBot).
	botVolume       string
	botEarlierLives []byte
	// botLogs is what the last stopped bot logged, all lives, kept for the
	// evidence of a failed spec (BotLogs).
	botLogs []byte

	// stack holds the settings Impose changed, by fault type (stack.go).
	stack map[string]*stackChange

	// publishIP is the host address every port is published on (publish.go).
	publishIP netip.Addr
	// tokens are the API tokens given to bot containers (Secrets).
	tokens []string
	// namesID is the names network (names.go), "" until a bot needs it.
	namesID string
}

// DSNs returns the current ways to reach the database.
func (e *Env) DSNs() DSNs {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dsns
}

// Start brings the stack up. On error it removes whatever it had started.
func Start(ctx context.Context, cfg Config) (env *Env, err error) {
	target, err := LoadTarget(cfg.TargetFile)
	if err != nil {
		return nil, err
	}
	if cfg.Existing != nil {
		return attach(ctx, cfg, target)
	}
	if err := configureTestcontainers(); err != nil {
		return nil, err
	}
	if err := CheckDocker(ctx); err != nil {
		return nil, err
	}

	env = &Env{cfg: cfg, target: target, StartTimes: map[string]time.Duration{}, Proxies: map[string]*toxiproxy.Proxy{}}
	if env.publishIP, err = publishAddr(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			err = errors.Join(err, env.Close(cleanupCtx))
			env = nil
		}
	}()

	start := time.Now()
	if err := env.createNetwork(ctx); err != nil {
		return env, err
	}
	env.StartTimes["network"] = time.Since(start)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return env.startPostgres(gctx) })
	g.Go(func() error { return env.startPgBouncer(gctx) })
	g.Go(func() error { return env.startToxiproxy(gctx) })
	if err := g.Wait(); err != nil {
		return env, err
	}
	if err := env.createProxies(ctx); err != nil {
		return env, err
	}
	env.StartTimes["total"] = time.Since(start)
	return env, nil
}

// Config returns the configuration the stack was started with.
func (e *Env) Config() Config { return e.cfg }

// Target is the bot under test.
func (e *Env) Target() targets.Target { return e.target }

func (e *Env) track(c testcontainers.Container, name string, since time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c != nil && !isNilContainer(c) {
		e.containers = append(e.containers, c)
	}
	e.StartTimes[name] = time.Since(since)
}

// isNilContainer guards against typed nil pointers inside the interface,
// which testcontainers returns next to some errors.
func isNilContainer(c testcontainers.Container) bool {
	switch v := c.(type) {
	case *testcontainers.DockerContainer:
		return v == nil
	case *tcpostgres.PostgresContainer:
		return v == nil || v.Container == nil
	}
	return false
}

func (e *Env) common(aliases ...string) []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		tcnetwork.WithNetworkName(aliases, e.NetworkName),
		testcontainers.WithLabels(e.cfg.labels()),
	}
}

func (e *Env) startPostgres(ctx context.Context) error {
	start := time.Now()
	opts := append(e.common(AliasPostgres),
		tcpostgres.WithUsername(e.cfg.User),
		tcpostgres.WithPassword(e.cfg.Password),
		tcpostgres.WithDatabase(e.cfg.Database),
		e.publish(strconv.Itoa(PortPostgres)+"/tcp"),
		// The official image logs its "ready" line twice (once for the init
		// server) and p1001/postgres once, so a log count fits only one of
		// them. A real query through the mapped port fits both, and proves
		// what the suites need.
		testcontainers.WithWaitStrategy(wait.ForSQL(strconv.Itoa(PortPostgres)+"/tcp", "pgx",
			func(host string, port network.Port) string {
				return e.dsn(host, port.Num(), "")
			}).WithStartupTimeout(startupTimeout).WithPollInterval(200*time.Millisecond)),
	)
	c, err := tcpostgres.Run(ctx, e.cfg.PostgresImage, opts...)
	if c != nil {
		e.Postgres = c
	}
	e.track(c, "postgres", start)
	if err != nil {
		return fmt.Errorf("start postgres (%s): %w", e.cfg.PostgresImage, err)
	}
	return nil
}

func (e *Env) startPgBouncer(ctx context.Context) error {
	start := time.Now()
	opts := append(e.common(AliasPgBouncer),
		testcontainers.WithEnv(map[string]string{
			"DB_HOST":     AliasPostgres,
			"DB_PORT":     strconv.Itoa(PortPostgres),
			"DB_USER":     e.cfg.User,
			"DB_PASSWORD": e.cfg.Password,
			"LISTEN_PORT": strconv.Itoa(PortPgBouncer),
			"POOL_MODE":   "transaction",
			"AUTH_TYPE":   "scram-sha-256",
			"ADMIN_USERS": e.cfg.User,
		}),
		e.publish(strconv.Itoa(PortPgBouncer)+"/tcp"),
		testcontainers.WithWaitStrategy(wait.ForListeningPort(strconv.Itoa(PortPgBouncer)+"/tcp").
			WithStartupTimeout(startupTimeout)),
	)
	if e.cfg.PgBouncerImage == e.cfg.PostgresImage {
		// The p1001 image runs pgbouncer through its own entrypoint. Other
		// pgbouncer images keep theirs and read the same variables.
		opts = append(opts, testcontainers.WithCmd("pgbouncer"))
	}
	c, err := testcontainers.Run(ctx, e.cfg.PgBouncerImage, opts...)
	if c != nil {
		e.PgBouncer = c
	}
	e.track(c, "pgbouncer", start)
	if err != nil {
		return fmt.Errorf("start pgbouncer (%s): %w", e.cfg.PgBouncerImage, err)
	}
	return nil
}

func (e *Env) startToxiproxy(ctx context.Context) error {
	start := time.Now()
	api := strconv.Itoa(PortToxiproxy) + "/tcp"
	opts := append(e.common(AliasToxiproxy),
		e.publish(api, strconv.Itoa(PortPooler)+"/tcp", strconv.Itoa(PortPostgres)+"/tcp"),
		// A FROM scratch image has no shell for the internal port check.
		testcontainers.WithWaitStrategy(wait.ForHTTP("/version").WithPort(api).
			WithStartupTimeout(startupTimeout)),
	)
	c, err := testcontainers.Run(ctx, e.cfg.ToxiproxyImage, opts...)
	if c != nil {
		e.Toxiproxy = c
	}
	e.track(c, "toxiproxy", start)
	if err != nil {
		return fmt.Errorf("start toxiproxy (%s): %w", e.cfg.ToxiproxyImage, err)
	}
	endpoint, err := c.PortEndpoint(ctx, api, "http")
	if err != nil {
		return fmt.Errorf("toxiproxy API endpoint: %w", err)
	}
	e.Toxi = toxiproxy.NewClient(endpoint)
	return nil
}

func (e *Env) createProxies(ctx context.Context) error {
	specs := []struct{ name, listen, upstream string }{
		{ProxyPooler, hostPort("0.0.0.0", PortPooler), hostPort(AliasPgBouncer, PortPgBouncer)},
		{ProxyDirect, hostPort("0.0.0.0", PortPostgres), hostPort(AliasPostgres, PortPostgres)},
	}
	for _, s := range specs {
		p, err := e.Toxi.CreateProxy(s.name, s.listen, s.upstream)
		if err != nil {
			return fmt.Errorf("create toxiproxy proxy %q: %w", s.name, err)
		}
		e.Proxies[s.name] = p
	}
	return e.refreshDSNs(ctx)
}

// refreshDSNs works the DSNs out from the current port mappings, which a
// restarted container may have changed.
func (e *Env) refreshDSNs(ctx context.Context) error {
	host, err := e.Toxiproxy.Host(ctx)
	if err != nil {
		return fmt.Errorf("toxiproxy host: %w", err)
	}
	pooler, err := e.Toxiproxy.MappedPort(ctx, strconv.Itoa(PortPooler)+"/tcp")
	if err != nil {
		return fmt.Errorf("toxiproxy pooler port: %w", err)
	}
	direct, err := e.Toxiproxy.MappedPort(ctx, strconv.Itoa(PortPostgres)+"/tcp")
	if err != nil {
		return fmt.Errorf("toxiproxy direct port: %w", err)
	}
	pgHost, err := e.Postgres.Host(ctx)
	if err != nil {
		return fmt.Errorf("postgres host: %w", err)
	}
	pgPort, err := e.Postgres.MappedPort(ctx, strconv.Itoa(PortPostgres)+"/tcp")
	if err != nil {
		return fmt.Errorf("postgres port: %w", err)
	}
	bouncerHost, err := e.PgBouncer.Host(ctx)
	if err != nil {
		return fmt.Errorf("pgbouncer host: %w", err)
	}
	bouncerPort, err := e.PgBouncer.MappedPort(ctx, strconv.Itoa(PortPgBouncer)+"/tcp")
	if err != nil {
		return fmt.Errorf("pgbouncer port: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dsns = DSNs{
		HostPostgres:    e.dsn(pgHost, pgPort.Num(), ""),
		HostPgBouncer:   e.dsn(bouncerHost, bouncerPort.Num(), ""),
		HostPooler:      e.dsn(host, pooler.Num(), ""),
		HostDirect:      e.dsn(host, direct.Num(), ""),
		ContainerPooler: e.dsn(AliasToxiproxy, PortPooler, ""),
		ContainerDirect: e.dsn(AliasToxiproxy, PortPostgres, ""),
		PrismaPooler:    e.dsn(AliasToxiproxy, PortPooler, "pgbouncer=true&"+runbookParams),
	}
	return nil
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func (e *Env) dsn(host string, port uint16, query string) string {
	u := url.URL{
		Scheme:   "postgresql",
		User:     url.UserPassword(e.cfg.User, e.cfg.Password),
		Host:     net.JoinHostPort(host, strconv.Itoa(int(port))),
		Path:     "/" + e.cfg.Database,
		RawQuery: query,
	}
	if query == "" {
		// The test servers have no TLS; saying so spares a refused
		// TLS handshake on every connect.
		u.RawQuery = "sslmode=disable"
	}
	return u.String()
}

// ResetFaults removes every toxic, re-enables every proxy, and restores
// any stack setting a fault left in place.
func (e *Env) ResetFaults(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.Toxi.ResetState(); err != nil {
		return fmt.Errorf("reset toxiproxy: %w", err)
	}
	if err := e.restoreNames(ctx); err != nil {
		return err
	}
	return e.restoreStack(ctx)
}

// Close terminates every container and removes the bot's spool volume and
// the network. It keeps going
// past errors and returns them all.
func (e *Env) Close(ctx context.Context) error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	containers, volume := e.containers, e.botVolume
	e.containers, e.bot, e.botVolume = nil, nil, ""
	e.mu.Unlock()

	var errs []error
	for i := len(containers) - 1; i >= 0; i-- {
		// Postgres' smart shutdown would wait for pgbouncer's connections;
		// nothing here needs a clean shutdown.
		if err := testcontainers.TerminateContainer(containers[i],
			testcontainers.StopContext(ctx), testcontainers.StopTimeout(time.Second)); err != nil {
			errs = append(errs, err)
		}
	}
	if volume != "" {
		if err := e.removeVolume(ctx, volume); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.removeNames(ctx); err != nil {
		errs = append(errs, err)
	}
	if e.NetworkID != "" {
		if err := e.removeNetwork(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
