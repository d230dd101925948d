package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/report"
)

// Options are the command line (hack/p1001.sh maps make's variables onto it).
type Options struct {
	Fault                          scenarios.Fault // FAULT= (default outage)
	Interactive, Keep, ShowSecrets bool
	MissingPgBouncer               bool // FAULT=missing-pgbouncer: a URL mistake, not a fault (URLSteps)
}

func ParseOptions(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("p1001", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fault := fs.String("fault", "", "a fault kind: outage (default), black_hole, reset_peer, latency, client_limit or password_rotation; or missing_pgbouncer, the pooler URL without pgbouncer=true (make p1001 FAULT=...; - for _ and the former blackhole, reset work too)")
	latency := fs.Duration("latency", 3*time.Second, "the latency fault's delay; above the bot's attempt timeout (2s) so that attempts time out")
	var o Options
	fs.BoolVar(&o.Interactive, "i", false, "open the interactive console instead of the narrated run")
	fs.BoolVar(&o.Keep, "keep", false, "leave the stack running and print how to reach it (make p1001 KEEP=1)")
	fs.BoolVar(&o.ShowSecrets, "show-secrets", false, "with -keep, print the DSNs with their password (make p1001 SHOW_SECRETS=1)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument(s) %q (ARGS takes -i; FAULT=, KEEP=1, SHOW_SECRETS=1 are make variables)", fs.Args())
	case o.Interactive && *fault != "":
		return o, fmt.Errorf("FAULT=%s applies to the narrated run; the console (-i) toggles faults with its own commands", *fault)
	case o.ShowSecrets && !o.Keep:
		return o, errors.New("SHOW_SECRETS=1 (-show-secrets) only applies with KEEP=1 (-keep): without it no DSN is printed")
	case *latency <= 0 || *latency%time.Millisecond != 0:
		return o, fmt.Errorf("-latency %s: want a positive whole number of milliseconds", *latency)
	}
	kind := cmp.Or(*fault, scenarios.TypeOutage)
	if o.MissingPgBouncer = strings.ReplaceAll(kind, "-", "_") == "missing_pgbouncer"; o.MissingPgBouncer {
		return o, nil
	}
	var err error
	if o.Fault, err = faultOf(kind, *latency); err != nil {
		return o, fmt.Errorf("FAULT=%s: %w", *fault, err)
	}
	return o, nil
}

const (
	demoChat             = "p1001-demo"
	consoleChat          = "console"
	readyWait, readyPoll = 60 * time.Second, 200 * time.Millisecond
	// replyTimeout: far above the retry budget, so a slow reply is shown.
	replyTimeout = 30 * time.Second
)

func main() {
	opts, err := ParseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "p1001:", err)
		os.Exit(2)
	}
	// testcontainers narrates every container; errors come back as errors.
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the clean-up runs; a second one kills.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, opts))
}

// stack is the running environment and bot, and the run's verdict.
type stack struct {
	*Verdict
	env    *environment.Env
	bot    *environment.Bot
	client *botapi.Client
	logs   *botlog.Watcher
	// policy: resilience's defaults (the bot gets no DB_RETRY_*, DB_BREAKER_*).
	policy resilience.Policy

	steps int // the narrated run's step count; 0 for the console
}

func run(ctx context.Context, opts Options) int {
	st := &stack{Verdict: &Verdict{N: NewNarrator(os.Stdout, nil)}, policy: resilience.DefaultPolicy()}
	cfg, err := environment.ConfigFromEnv()
	if err == nil {
		st.N.AddSecret(cfg.Password)
		err = st.start(ctx, cfg, opts)
	}
	if err != nil {
		st.expect(false, "%v", err)
	} else {
		st.play(ctx, opts)
	}
	if st.env == nil {
		return 1 // nothing started: environment.Start removed what it had started
	}
	// Ctrl-C cancels ctx; the clean-up still needs one.
	cleanCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	return st.finish(cleanCtx, opts)
}

func (st *stack) start(ctx context.Context, cfg environment.Config, opts Options) (err error) {
	n := st.N
	n.Say("starting postgres, pgbouncer (transaction mode) and toxiproxy on a private Docker network (run %s)", cfg.RunID)
	if st.env, err = environment.Start(ctx, cfg); err != nil {
		return err
	}
	t := st.env.StartTimes
	n.OK("stack up in %s (postgres %s, pgbouncer %s, toxiproxy %s)", round(t["total"]), round(t["postgres"]), round(t["pgbouncer"]), round(t["toxiproxy"]))
	st.logs = NewLogWatcher(n)
	bot, url := environment.BotOptions{LogLines: st.logs.Accept}, "the runbook's pooler URL"
	switch {
	case opts.MissingPgBouncer:
		// Migrations take the direct URL (Prisma's directUrl): only messages meet the mistake.
		bot.URLParams, url = map[string]string{"pgbouncer": ""}, url+" without pgbouncer=true" // "": removed
		bot.Env = map[string]string{"MIGRATE_DATABASE_URL": st.env.DSNs().ContainerDirect}
	case opts.Fault.Type == scenarios.TypePasswordRotation && !opts.Interactive:
		// Direct, as the catalog twin: PgBouncer checks its own password list
		// and keeps its server connections (Supavisor would refuse as Postgres).
		bot.Path, url = environment.ProxyDirect, "the direct URL (no pooler)"
	}
	n.Say("starting the bot (%s) with %s", cfg.BotImage, url)
	if st.bot, err = st.env.StartBot(ctx, bot); err != nil {
		return err
	}
	n.AddSecret(st.bot.Token)
	st.client = botapi.New(st.env.Target().API, st.bot.URL, st.bot.Token, &http.Client{Timeout: replyTimeout})
	if err := st.client.WaitReady(ctx, readyWait, readyPoll); err != nil {
		return err
	}
	n.OK("bot ready at %s, database up and migrated", st.bot.URL)
	n.Say("DATABASE_URL=%s", resilience.RedactDSN(st.bot.DatabaseURL))
	p := st.policy
	n.Say("retry policy: %d attempts, %s per attempt, %s per call; circuit breaker %s",
		p.MaxAttempts, p.AttemptTimeout, p.Budget, map[bool]string{true: "on", false: "off"}[p.Breaker.Enabled])
	n.Say("the bot's documented log lines are shown as it logs them (log |)")
	return nil
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

func (st *stack) play(ctx context.Context, opts Options) {
	if opts.Interactive {
		c := &Console{Bot: st.client, Target: st.env.Faults(), N: st.N, Chat: consoleChat, WatchEvery: 250 * time.Millisecond}
		if err := c.Prepare(ctx); err != nil {
			st.expect(false, "%v", err)
			return
		}
		c.Run(ctx, os.Stdin)
		return
	}
	d := &Demo{Verdict: st.Verdict, Bot: st.client, Logs: st.logs, Target: st.env.Faults(), Fault: opts.Fault, Expect: expectations(opts.Fault),
		Chat: demoChat, MaxAttempts: st.policy.MaxAttempts, LogWait: logWait, PollEvery: pollEvery, RecoveryBound: recoveryBound}
	steps := d.URLSteps()
	if !opts.MissingPgBouncer {
		steps = d.Steps()
		d.Doctor = func(ctx context.Context) (*environment.DoctorResult, error) {
			return st.env.RunDoctor(ctx, st.bot.DatabaseURL, "-timeout", st.policy.AttemptTimeout.String())
		}
	}
	st.steps = len(steps) + 1
	for i, s := range steps {
		st.N.Step(i+1, st.steps, s.Title)
		if err := s.Run(ctx); err != nil {
			st.expect(false, "step %d could not go on: %v", i+1, err)
			break
		}
	}
}

// finish removes or keeps the stack and returns the verdict's exit status.
func (st *stack) finish(ctx context.Context, opts Options) int {
	n := st.N
	title := "clean up: stop the bot (it flushes its outbox), remove the containers and the network"
	if opts.Keep {
		title = "keep the stack running (KEEP=1)"
	}
	if st.steps > 0 {
		n.Step(st.steps, st.steps, title)
	} else {
		n.Say("%s", title)
	}
	if opts.Keep {
		st.keep(ctx, opts.ShowSecrets)
	} else {
		st.remove(ctx)
	}
	switch {
	case len(st.failures) > 0:
		n.Fail("%d promise(s) not kept:\n- %s", len(st.failures), strings.Join(st.failures, "\n- "))
		return 1
	case st.steps > 0:
		n.OK("every step happened as described (%s in all)", round(n.Elapsed()))
	}
	return 0
}

func (st *stack) remove(ctx context.Context) {
	if st.bot != nil {
		logs, err := st.env.StopBot(ctx)
		if err != nil {
			st.expect(false, "stop the bot: %v", err)
		}
		if report.ContainsSecret(string(logs), st.env.Secrets()...) {
			st.expect(false, "the bot's log holds the database password or its API token")
		} else {
			st.N.OK("bot stopped; its %d log lines hold no password and no API token", strings.Count(string(logs), "\n"))
		}
	}
	if err := st.env.Close(ctx); err != nil {
		st.expect(false, "remove the stack: %v", err)
		return
	}
	st.N.OK("containers and network removed")
}

func (st *stack) keep(ctx context.Context, showSecrets bool) {
	if err := st.env.ResetFaults(ctx); err != nil {
		st.N.Fail("clear the faults before leaving the stack: %v", err)
	}
	show, say, token := resilience.RedactDSN, st.N.Say, "xxxxx"
	if showSecrets {
		show, say = func(s string) string { return s }, st.N.Secret
	}
	dsns := st.env.DSNs()
	toxi := "(unknown)"
	if ep, err := st.env.Toxiproxy.PortEndpoint(ctx, strconv.Itoa(environment.PortToxiproxy)+"/tcp", "http"); err == nil {
		toxi = ep
	}
	say("the stack keeps running; `make clean` removes it")
	if st.bot != nil {
		if showSecrets {
			token = st.bot.Token
		}
		say("bot API          %s  (curl -s -H 'Authorization: Bearer %s' %s/v1/chats/me/messages -d '{\"text\":\"hi\"}')", st.bot.URL, token, st.bot.URL)
		say("bot API_TOKEN    %s  (every /v1/ request needs it; /healthz, /readyz, /metrics do not)", token)
		say("bot DATABASE_URL %s  (inside the network)", show(st.bot.DatabaseURL))
	}
	say("toxiproxy API    %s  (proxies %q and %q)", toxi, environment.ProxyPooler, environment.ProxyDirect)
	say("postgres         %s  (straight to postgres, no faults)", show(dsns.HostPostgres))
	say("pooler           %s  (toxiproxy -> pgbouncer)", show(dsns.HostPooler))
	say("direct           %s  (toxiproxy -> postgres)", show(dsns.HostDirect))
	if !showSecrets {
		say("passwords and the API token shown as xxxxx; SHOW_SECRETS=1 prints them")
	}
}
