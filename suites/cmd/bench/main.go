// Command bench is `make bench`: on one testcontainers stack it measures
// how long a user waits for a reply when the pooler goes away (the fault
// kinds outage, black_hole and reset_peer, played through the scenario
// format's fault table), with the runbook's configuration (3 attempts,
// connect_timeout=30, no breaker, no budget) and p1001's defaults side by
// side, how fast custom prompts come back, what the retry layer costs on
// the healthy path, the bot's throughput under a fixed concurrency, and
// what the harness itself costs. It writes reports/bench/<stamp>.md and
// .json (suites/report/bench) and prints the markdown.
//
// It asserts nothing about speed: it exits 1 only when the run is invalid
// (too few samples, a fault that never took effect) or could not be
// carried out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/report"
	"github.com/p1001/p1001/suites/report/bench"
)

// Options are the command line: the report's settings and where the run
// goes. The defaults are what `make bench` runs.
type Options struct {
	bench.Settings
	Out, Stamp, Benchstat, Catalog string
	Outages                        []bench.Outage
	Timeout                        time.Duration
}

// benchstatTool is a version the Go module proxy serves.
const benchstatTool = "golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"

// ParseOptions reads the command line.
func ParseOptions(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	o.Settings.Flags(fs)
	fs.StringVar(&o.Out, "out", "reports/bench", "directory for <stamp>.md and <stamp>.json")
	fs.StringVar(&o.Stamp, "stamp", time.Now().UTC().Format("20060102T150405Z"), "the report's name")
	fs.StringVar(&o.Benchstat, "benchstat", benchstatTool, "benchstat, as a module path@version for go run")
	fs.StringVar(&o.Catalog, "catalog", "reports/latest/ginkgo.json", "the last chaos run's Ginkgo JSON report (read, not rerun)")
	outages := fs.String("outages", "outage,black_hole,reset_peer", "fault kinds to measure: outage, black_hole, reset_peer (a subset makes the run invalid)")
	fs.DurationVar(&o.Timeout, "timeout", 15*time.Minute, "the whole run, a safety net (make bench's goal is under 10 minutes)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument(s) %q", fs.Args())
	case !strings.Contains(o.Benchstat, "@"):
		return o, errors.New("-benchstat: want a module path@version")
	case o.Stamp == "" || strings.ContainsAny(o.Stamp, `/\`):
		return o, errors.New("-stamp: want a file name")
	case o.Timeout <= 0:
		return o, errors.New("-timeout: want a positive duration")
	}
	if o.Outages, err = bench.ParseOutages(*outages); err != nil {
		return o, fmt.Errorf("-outages: %w", err)
	}
	return o, o.Settings.Check()
}

func main() {
	opts, err := ParseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	tclog.SetDefault(tclog.NewNoopLogger())
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	switch rep, err := run(ctx, opts, log); {
	case err != nil:
		log.Error("bench failed", "err", err)
		os.Exit(1)
	case !rep.Valid:
		log.Error("the run is invalid", "problems", rep.Problems)
		os.Exit(1)
	}
}

// botConfigs are the two configurations side by side, written as the
// scenario format writes a bot, so that their environment and policy come
// from its one table (scenarios.Scenario.BotEnv and Policy). Both get the
// runbook's DATABASE_URL (pgbouncer=true&connection_limit=10&connect_timeout=30).
//   - runbook: 3 attempts, no breaker, no budget, and each attempt may
//     wait as long as connect_timeout (30 s), as the runbook's Prisma
//     client does. An attempt timeout of 0 would instead let a query on
//     an established but black-holed connection wait forever.
//     Nor does it answer before its lookup ends: REPLY_DEADLINE=0 turns
//     p1001's reply deadline off (a bot without one ignores it).
//   - p1001: the shipped defaults (DESIGN.md section 4), nothing set.
func botConfigs() []bench.BotConfig {
	of := func(name string, b scenarios.Bot) bench.BotConfig {
		s := scenarios.Scenario{Bot: b}
		return bench.BotConfig{Name: name, Env: s.BotEnv(), URLParams: b.URLParams, Policy: report.PolicyOf(s.Policy())}
	}
	return []bench.BotConfig{
		of(bench.ConfigRunbook, scenarios.Bot{
			URLParams: map[string]string{"connect_timeout": "30"},
			Retry:     scenarios.Retry{MaxAttempts: new(3), AttemptTimeout: new(scenarios.Duration(30 * time.Second)), Budget: new(scenarios.Duration(0))},
			Breaker:   scenarios.Breaker{Enabled: new(false)},
			Env:       map[string]string{"REPLY_DEADLINE": "0"},
		}),
		of(bench.ConfigP1001, scenarios.Bot{URLParams: map[string]string{}}),
	}
}

func run(ctx context.Context, opts Options, log *slog.Logger) (*bench.Report, error) {
	r := &bench.Report{Schema: bench.Schema, Stamp: opts.Stamp, Started: time.Now().UTC(), Command: "make bench",
		Machine: thisMachine(), Settings: opts.Settings, Configs: botConfigs()}

	// First, while no container competes for the CPU.
	log.Info("micro-benchmarks of resilience/ (go test -bench, then benchstat)", "count", opts.BenchCount)
	var err error
	if r.Micro, err = runMicro(ctx, opts.BenchCount, opts.Benchstat); err != nil {
		return nil, err
	}

	cfg, err := environment.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	if r.Images, err = images(ctx, cfg); err != nil {
		return nil, err
	}
	// Both bots start from the same build even if the tag moves on
	// meanwhile (make images or make chaos elsewhere on a shared machine).
	cfg.BotImage = r.Images[3].ID

	log.Info("starting the stack", "run", cfg.RunID)
	env, err := environment.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := env.Close(closeCtx); err != nil {
			log.Warn("closing the stack", "err", err)
		}
	}()
	r.Cost.StartTimesMS = map[string]float64{}
	for k, v := range env.StartTimes {
		r.Cost.StartTimesMS[k] = bench.MS(v)
	}
	b := &bencher{env: env, opts: opts, log: log}

	var overheadChat string
	for i := range r.Configs {
		err := b.withBot(ctx, &r.Configs[i], r, func(bot *botRun) error {
			overheadChat = bot.chats[0]
			return b.measureBot(ctx, bot, r)
		})
		if err != nil {
			return nil, err
		}
	}
	r.Ratios = bench.Ratios(r.Fallback)
	if err := b.spoolCost(ctx, r); err != nil {
		return nil, err
	}
	r.SpoolCost = bench.SpoolCost(r.Spool)

	log.Info("healthy-path overhead: bare, bare with a deadline and wrapped pgx queries through the pooler proxy", "rounds", opts.OverheadRounds, "batch", opts.OverheadBatch)
	if r.Overhead, err = overhead(ctx, env.DSNs().HostPooler, overheadChat, opts.OverheadRounds, opts.OverheadBatch); err != nil {
		return nil, err
	}

	if err := r.Cost.ReadCatalog(opts.Catalog); err != nil {
		return nil, err
	}
	r.LeftOut = bench.LeftOut(r)
	r.Machine.LoadAfter = loadAverage()
	r.WallS = time.Since(r.Started).Seconds()
	r.Problems = bench.Validate(r)
	r.Valid = len(r.Problems) == 0
	return r, r.Write(opts.Out, env.Secrets(), os.Stdout)
}

// withBot starts c's bot, gives its chats their custom prompts, records
// its start time and version, runs measure against it, and stops it.
func (b *bencher) withBot(ctx context.Context, c *bench.BotConfig, r *bench.Report, measure func(*botRun) error) (err error) {
	b.log.Info("starting a bot", "config", c.Name, "env", c.Env)
	start := time.Now()
	bot, err := b.env.StartBot(ctx, environment.BotOptions{
		Path: environment.ProxyPooler, URLParams: maps.Clone(c.URLParams), Env: maps.Clone(c.Env),
	})
	if err != nil {
		return fmt.Errorf("%s bot: %w", c.Name, err)
	}
	run := newBotRun(c.Name, bot.URL, bot.Token, 2*b.opts.Concurrency)
	defer func() {
		run.http.CloseIdleConnections()
		_, stopErr := b.env.StopBot(context.WithoutCancel(ctx))
		err = errors.Join(err, stopErr)
	}()
	c.DatabaseURL = resilience.RedactDSN(bot.DatabaseURL)
	if err := run.api.WaitReady(ctx, time.Minute, readyPoll); err != nil {
		return fmt.Errorf("%s bot: %w", c.Name, err)
	}
	r.Cost.BotStarts = append(r.Cost.BotStarts, bench.BotStart{
		Config: c.Name, ContainerMS: bench.MS(b.env.StartTimes["bot"]), ReadyMS: bench.MS(time.Since(start)),
	})
	metrics, err := run.api.Metrics(ctx)
	if err != nil {
		return fmt.Errorf("%s bot: %w", c.Name, err)
	}
	if c.BotVersion = botapi.BuildVersion(metrics); c.BotVersion == "" {
		return fmt.Errorf("%s bot: /metrics has no bot_build_info{version}", c.Name)
	}
	for i := range b.opts.Chats {
		chat := fmt.Sprintf("bench-%s-%s-c%d", b.opts.Stamp, c.Name, i)
		if m := run.sendTo(ctx, chat, "/setprompt persona of "+chat, b.opts.Cap.D()); !m.Replied() || m.Degraded {
			return fmt.Errorf("%s bot: /setprompt for %s was not saved (%+v)", c.Name, chat, m)
		}
		run.chats = append(run.chats, chat)
	}
	return measure(run)
}

// measureBot runs the fault cycles against one bot and, for p1001, the
// throughput settings.
func (b *bencher) measureBot(ctx context.Context, bot *botRun, r *bench.Report) error {
	for _, o := range b.opts.Outages {
		res, err := b.fallback(ctx, bot, o)
		if err != nil {
			return err
		}
		r.Fallback = append(r.Fallback, res)
	}
	if bot.name != bench.ConfigP1001 {
		return nil
	}
	for _, setting := range []string{bench.SettingHealthy, bench.SettingLatency, bench.SettingOutage} {
		b.log.Info("throughput", "config", bot.name, "setting", setting, "concurrency", b.opts.Concurrency, "window", b.opts.Window)
		res, err := b.throughput(ctx, bot, setting)
		if err != nil {
			return err
		}
		r.Throughput = append(r.Throughput, res)
	}
	return nil
}

// images are the stack's images with their IDs. It talks to Docker
// directly: the testcontainers client would read its configuration before
// the environment has set it (Ryuk off).
func images(ctx context.Context, cfg environment.Config) ([]bench.Image, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	images := []bench.Image{{Role: "postgres", Name: cfg.PostgresImage}, {Role: "pgbouncer", Name: cfg.PgBouncerImage},
		{Role: "toxiproxy", Name: cfg.ToxiproxyImage}, {Role: "bot", Name: cfg.BotImage}}
	for i, img := range images {
		res, err := cli.ImageInspect(ctx, img.Name)
		if err != nil {
			return nil, fmt.Errorf("image %s (%s): %w (make images builds it)", img.Name, img.Role, err)
		}
		images[i].ID = res.ID
	}
	return images, nil
}

// thisMachine describes the machine the bench runs on.
func thisMachine() bench.Machine {
	m := bench.Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, LoadBefore: loadAverage()}
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo") // none: no CPU model
	for line := range strings.Lines(string(cpuinfo)) {
		if key, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(key) == "model name" {
			m.CPU = strings.TrimSpace(value)
			break
		}
	}
	return m
}

// loadAverage is the 1-minute load average, 0 where /proc has none.
func loadAverage() float64 {
	data, _ := os.ReadFile("/proc/loadavg")
	first, _, _ := strings.Cut(string(data), " ")
	v, _ := strconv.ParseFloat(first, 64)
	return v
}
