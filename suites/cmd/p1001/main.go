package main

import (
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

// Options are the command line (hack/p1001.sh maps FAULT, ARGS, KEEP and
// SHOW_SECRETS onto it).
type Options struct {
	// Fault is the fault FAULT= names (default outage), with -latency
	// applied to a latency toxic.
	Fault       scenarios.Fault
	Interactive bool
	Keep        bool
	ShowSecrets bool
	// URLParams override DATABASE_URL's parameters (-param key=value).
	URLParams map[string]string
	// MissingPgBouncer: FAULT=missing-pgbouncer, the runbook's pooler URL
	// without pgbouncer=true (URLDemo) instead of a fault.
	MissingPgBouncer bool
}

// ParseOptions reads the command line.
func ParseOptions(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("p1001", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fault := fs.String("fault", "", "a fault kind: outage (default), black_hole, reset_peer, latency, client_limit or password_rotation; or missing_pgbouncer, the pooler URL without pgbouncer=true (make p1001 FAULT=...; - for _ and the former blackhole, reset work too)")
	latency := fs.Duration("latency", 3*time.Second, "the latency fault's delay; above the bot's attempt timeout (2s) so that attempts time out")
	var o Options
	fs.BoolVar(&o.Interactive, "i", false, "open the interactive console instead of the narrated run")
	fs.BoolVar(&o.Keep, "keep", false, "leave the stack running and print how to reach it (make p1001 KEEP=1)")
	fs.BoolVar(&o.ShowSecrets, "show-secrets", false, "with -keep, print the DSNs with their password (make p1001 SHOW_SECRETS=1)")
	o.URLParams = map[string]string{}
	fs.Func("param", "override a DATABASE_URL parameter, e.g. -param connect_timeout=1 (repeatable; key= removes it)", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want key=value", kv)
		}
		o.URLParams[k] = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument(s) %q (ARGS takes -i; FAULT=, KEEP=1, SHOW_SECRETS=1 are make variables)", fs.Args())
	}
	if o.Interactive && *fault != "" {
		return o, fmt.Errorf("FAULT=%s applies to the narrated run; the console (-i) toggles faults with its own commands", *fault)
	}
	if o.ShowSecrets && !o.Keep {
		return o, errors.New("SHOW_SECRETS=1 (-show-secrets) only applies with KEEP=1 (-keep): without it no DSN is printed")
	}
	if *latency <= 0 || *latency%time.Millisecond != 0 {
		return o, fmt.Errorf("-latency %s: want a positive whole number of milliseconds", *latency)
	}
	kind := *fault
	if kind == "" {
		kind = scenarios.TypeOutage
	}
	if strings.ReplaceAll(kind, "-", "_") == KindMissingPgBouncer {
		o.MissingPgBouncer = true
		o.URLParams["pgbouncer"] = "" // removed
		return o, nil
	}
	var err error
	if o.Fault, err = faultOf(kind, *latency); err != nil {
		return o, fmt.Errorf("FAULT=%s: %w", *fault, err)
	}
	return o, nil
}

// expectations says, per fault, what the bot shows with the runbook's
// DATABASE_URL, as seen on the real stack; README.md ("Reproduce P1001")
// explains each code with resilience.Classify. A fault that fails fast
// lets every attempt run; one that makes attempts wait for the attempt
// timeout (2 s) may run into the call's budget (5 s) first.
func expectations(f scenarios.Fault) Expectation {
	switch f.Type {
	case scenarios.TypeTimeout: // the black hole
		// The query on the open connection hangs until the attempt
		// timeout: P1008. A new connection hangs in the handshake: P1002,
		// "reached but timed out", whether its own connect_timeout or the
		// attempt's deadline ends it; the liveness check of an idle
		// connection hangs: P1008 (the store tells both from an exhausted
		// pool, P2024, even when pgxpool starts a connect at the deadline).
		// The call's budget may cut the last attempt (P1008).
		return Expectation{ReplyCodes: []string{"P1002", "P1008"}, LogCodes: []string{"P1008"}}
	case scenarios.TypeResetPeer:
		// The query on the open connection is reset: P1017. Reconnects are
		// reset during the handshake, which is P1001 by design (DESIGN.md
		// section 4), and the call gives up with it.
		return Expectation{ReplyCodes: []string{"P1001"}, LogCodes: []string{"P1017", "P1001"}, Attempts: AllAttempts,
			ErrorText: cantReach, Reason: "connection reset during connect", Meta: "toxiproxy:6543"}
	case scenarios.TypeLatency:
		// The query on the open connection times out: P1008. A new
		// connection's handshake is as slow: P1002, and a wait behind the
		// timed-out connections being closed P1008, as for the black hole.
		return Expectation{ReplyCodes: []string{"P1002", "P1008"}, LogCodes: []string{"P1008"}}
	case scenarios.TypeClientLimit:
		// PgBouncer refuses every new client (max_client_conn) after
		// dropping the bot's: too many connections, retried, as a place
		// may free up.
		return Expectation{ReplyCodes: []string{"P2037"}, LogCodes: []string{"P2037"}, Attempts: AllAttempts,
			ErrorText: "P2037: Too many database connections opened", Reason: "max_client_conn", Meta: "toxiproxy:6543"}
	case scenarios.TypePasswordRotation:
		// On the direct path (botPath) the server refuses the login: P1000,
		// never retried (every retry is one more failed login; Supavisor
		// blocks a project for that). The session the fault ended may
		// cost one attempt first (P1017).
		return Expectation{ReplyCodes: []string{"P1000"}, LogCodes: []string{"P1000"}, Attempts: NotRetried,
			ErrorText: "P1000: Authentication failed against database server at `toxiproxy`", Meta: "toxiproxy:5432"}
	}
	return Expectation{ReplyCodes: []string{"P1001"}, LogCodes: []string{"P1001"}, Attempts: AllAttempts,
		ErrorText: cantReach, Meta: "toxiproxy:6543"}
}

// botPath is the proxy the bot's DATABASE_URL goes through for a fault:
// the runbook's pooler, but for a password rotation the direct path. The
// stack's PgBouncer logs clients in against its own list of passwords and
// keeps its server connections, so a password changed in Postgres does
// not reach the bot through it; Supavisor, which checks the client's
// password against Postgres, refuses it as the server does (its
// catalog twin, password-rotation, runs on the direct path too).
func botPath(f scenarios.Fault) string {
	if f.Type == scenarios.TypePasswordRotation {
		return environment.ProxyDirect
	}
	return environment.ProxyPooler
}

// cantReach is Prisma's P1001 message for the pooler proxy, as docs/bot.md
// documents it.
const cantReach = "P1001: Can't reach database server at `toxiproxy`:`6543` Please make sure your database server is running at `toxiproxy`:`6543`."

const (
	demoChat = "p1001-demo"
	// busyChats x busyMessages: enough at once for the pooler to hand the
	// bot's statements to other server connections (FAULT=missing-pgbouncer).
	busyChats    = 8
	busyMessages = 10
	consoleChat  = "console"
	readyWait    = 60 * time.Second
	readyPoll    = 200 * time.Millisecond
	// replyTimeout bounds one message: far above the retry layer's budget
	// (5 s by default), so that a slow degraded reply is shown, not cut off.
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
	// testcontainers narrates every container it creates, starts and stops;
	// the narration here says what matters, and errors come back as errors.
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the clean-up runs; a second one kills.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, opts))
}

func run(ctx context.Context, opts Options) int {
	n := NewNarrator(os.Stdout, nil)
	cfg, err := environment.ConfigFromEnv()
	if err != nil {
		n.Fail("%v", err)
		return 1
	}
	n.AddSecret(cfg.Password)
	st, err := startStack(ctx, n, cfg, func(env *environment.Env) environment.BotOptions {
		bot := environment.BotOptions{Path: environment.ProxyPooler, URLParams: opts.URLParams}
		switch {
		case opts.MissingPgBouncer:
			// Migrations through the direct URL (Prisma's directUrl), so that
			// the narration judges the message path only.
			bot.Env = map[string]string{"MIGRATE_DATABASE_URL": env.DSNs().ContainerDirect}
		case !opts.Interactive:
			bot.Path = botPath(opts.Fault)
		}
		return bot
	})
	if st == nil {
		n.Fail("%v", err)
		return 1
	}
	if err != nil {
		st.fail(n, err.Error())
	} else {
		st.play(ctx, n, opts)
	}
	// Ctrl-C cancels ctx; the clean-up still needs one.
	cleanCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	return st.finish(cleanCtx, n, opts)
}

// play runs the console or the narrated steps 1 to 5.
func (st *stack) play(ctx context.Context, n *Narrator, opts Options) {
	if opts.Interactive {
		if err := prepareConsole(ctx, n, st.client); err != nil {
			st.fail(n, err.Error())
			return
		}
		c := &Console{Bot: st.client, Target: st.env.Faults(), N: n, Chat: consoleChat, WatchEvery: 250 * time.Millisecond}
		c.Run(ctx, os.Stdin)
		return
	}
	timing := Timing{LogWait: logWait, PollEvery: pollEvery, RecoveryBound: recoveryBound}
	var (
		steps   []Step
		verdict *Verdict
	)
	if opts.MissingPgBouncer {
		d := &URLDemo{Verdict: Verdict{N: n}, Bot: st.client, Logs: st.logs, Chats: busyChats, Messages: busyMessages, Timing: timing}
		steps, verdict = d.Steps(), &d.Verdict
	} else {
		d := &Demo{Verdict: Verdict{N: n}, Bot: st.client, Logs: st.logs, Target: st.env.Faults(), Fault: opts.Fault, Expect: expectations(opts.Fault),
			Chat: demoChat, MaxAttempts: st.maxAttempts, Timing: timing}
		d.Doctor = func(ctx context.Context) (*environment.DoctorResult, error) {
			return st.env.RunDoctor(ctx, st.bot.DatabaseURL, "-timeout", doctorTimeout.String())
		}
		steps, verdict = d.Steps(), &d.Verdict
	}
	st.steps = len(steps) + 1
	for i, s := range steps {
		n.Step(i+1, st.steps, s.Title)
		if err := s.Run(ctx); err != nil {
			n.Fail("step %d could not go on: %v", i+1, err)
			st.failed = append(st.failed, fmt.Sprintf("step %d: %v", i+1, err))
			break
		}
	}
	st.failed = append(st.failed, verdict.Failures()...)
}

// stack is the running environment and bot.
type stack struct {
	env         *environment.Env
	bot         *environment.Bot
	client      *botapi.Client
	logs        *botlog.Watcher
	maxAttempts int

	steps  int      // the narrated run's step count; 0 for the console
	failed []string // broken promises
}

// fail narrates a broken promise and records it for the verdict.
func (st *stack) fail(n *Narrator, msg string) {
	n.Fail("%s", msg)
	st.failed = append(st.failed, msg)
}

// startStack starts the environment and the bot, and narrates it. The
// returned stack is non-nil whenever something was started.
func startStack(ctx context.Context, n *Narrator, cfg environment.Config, botOptions func(*environment.Env) environment.BotOptions) (*stack, error) {
	n.Say("starting postgres, pgbouncer (transaction mode) and toxiproxy on a private Docker network (run %s)", cfg.RunID)
	env, err := environment.Start(ctx, cfg)
	if err != nil {
		return nil, err // Start removed what it had started
	}
	st := &stack{env: env}
	n.OK("stack up in %s (postgres %s, pgbouncer %s, toxiproxy %s)", round(env.StartTimes["total"]),
		round(env.StartTimes["postgres"]), round(env.StartTimes["pgbouncer"]), round(env.StartTimes["toxiproxy"]))
	st.logs = NewLogWatcher(n.Log)
	mark := st.logs.Mark()
	bot := botOptions(env)
	url := "the runbook's pooler URL"
	if bot.Path == environment.ProxyDirect {
		url = "the direct URL (no pooler)"
	}
	if len(bot.URLParams) == 0 {
		n.Say("starting the bot (%s) with %s", cfg.BotImage, url)
	} else {
		n.Say("starting the bot (%s) with %s, parameters overridden: %v", cfg.BotImage, url, bot.URLParams)
	}
	bot.LogLines = st.logs.Accept
	if st.bot, err = env.StartBot(ctx, bot); err != nil {
		return st, err
	}
	n.AddSecret(st.bot.Token)
	st.client = botapi.New(st.bot.URL, st.bot.Token, &http.Client{Timeout: replyTimeout})
	if err := st.client.WaitReady(ctx, readyWait, readyPoll); err != nil {
		return st, err
	}
	var serving botlog.Line
	st.logs.WaitFor(ctx, mark, logWait, func(lines []botlog.Line) bool {
		for _, l := range lines {
			if l.Is(botlog.BotServing) {
				serving = l
				return true
			}
		}
		return false
	})
	st.maxAttempts = 3 // resilience's default, when the line did not come through
	if v, ok := serving.Int("max_attempts"); ok {
		st.maxAttempts = v
	}
	n.OK("bot ready at %s, database up and migrated", st.bot.URL)
	n.Say("DATABASE_URL=%s", resilience.RedactDSN(st.bot.DatabaseURL))
	if serving.Msg != "" {
		breaker := "off"
		if on, _ := serving.Attrs["breaker"].(bool); on {
			breaker = "on"
		}
		n.Say("retry policy: %d attempts, %s per attempt, %s per call; circuit breaker %s",
			st.maxAttempts, serving.Attr("attempt_timeout"), serving.Attr("budget"), breaker)
	} else {
		n.Say("(the bot's [Bot] serving line did not come through: assuming %d attempts)", st.maxAttempts)
	}
	n.Say("the bot's documented log lines are shown as it logs them (log |)")
	return st, nil
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// prepareConsole gives the console's chat a custom prompt, so that a
// fallback to the cached prompt or the default is plain to see.
func prepareConsole(ctx context.Context, n *Narrator, bot ConsoleBot) error {
	const persona = "You are a ship's radio operator. You keep answering in any weather."
	r, err := send(ctx, bot, consoleChat, "/setprompt "+persona)
	if err != nil {
		return err
	}
	if r.Degraded {
		return fmt.Errorf("could not set the console chat's prompt: %s", r.Format())
	}
	n.Say("chat %q has the custom prompt %q", consoleChat, persona)
	n.Say(consoleHelp, consoleChat)
	return nil
}

// finish is step 6: stop the bot and remove the stack, or keep it and say
// how to reach it. It prints the verdict and returns the exit status.
func (st *stack) finish(ctx context.Context, n *Narrator, opts Options) int {
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
		st.keep(ctx, n, opts)
	} else {
		st.remove(ctx, n)
	}
	switch {
	case len(st.failed) > 0:
		n.Fail("%d promise(s) not kept:\n- %s", len(st.failed), strings.Join(st.failed, "\n- "))
		return 1
	case st.steps > 0:
		n.OK("every step happened as described (%s in all)", round(n.Elapsed()))
	}
	return 0
}

func (st *stack) remove(ctx context.Context, n *Narrator) {
	if st.bot != nil {
		logs, err := st.env.StopBot(ctx)
		if err != nil {
			st.fail(n, fmt.Sprintf("stop the bot: %v", err))
		}
		leaked := false
		for what, secret := range map[string]string{"the database password": st.env.Config().Password, "its API token": st.bot.Token} {
			if report.ContainsSecret(string(logs), secret) {
				st.fail(n, "the bot's log holds "+what)
				leaked = true
			}
		}
		if !leaked {
			n.OK("bot stopped; its %d log lines hold no password and no API token", strings.Count(string(logs), "\n"))
		}
	}
	if err := st.env.Close(ctx); err != nil {
		st.fail(n, fmt.Sprintf("remove the stack: %v", err))
		return
	}
	n.OK("containers and network removed")
}

func (st *stack) keep(ctx context.Context, n *Narrator, opts Options) {
	if err := st.env.ResetFaults(ctx); err != nil {
		n.Fail("clear the faults before leaving the stack: %v", err)
	}
	show := resilience.RedactDSN
	say := n.Say
	if opts.ShowSecrets {
		show = func(s string) string { return s }
		say = n.Secret
	}
	dsns := st.env.DSNs()
	toxi := "(unknown)"
	if ep, err := st.env.Toxiproxy.PortEndpoint(ctx, strconv.Itoa(environment.PortToxiproxy)+"/tcp", "http"); err == nil {
		toxi = ep
	}
	say("the stack keeps running; `make clean` removes it")
	if st.bot != nil {
		token := "xxxxx"
		if opts.ShowSecrets {
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
	if !opts.ShowSecrets {
		say("passwords and the API token shown as xxxxx; SHOW_SECRETS=1 prints them")
	}
}
