// Command bot is the p1001 chat bot: it keeps answering when its Postgres
// database does not.
//
//	bot serve [-addr :8080]     HTTP API, Telegram webhook, /healthz, /readyz, /metrics
//	bot chat [-chat console]    console REPL on the same handler
//	bot migrate [-status]       apply (or list) the embedded migrations
//	bot doctor [-url u] [-json] check DATABASE_URL step by step, name the cause of a P1001
//	bot version                 print the version
//
// Configuration comes from the environment; see docs/bot.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	// Mozilla's roots, used only when the system has none (FROM scratch),
	// for the OpenAI and Telegram clients and sslmode=verify-full.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/p1001/p1001/bot/app"
	"github.com/p1001/p1001/bot/config"
	"github.com/p1001/p1001/bot/doctor"
	"github.com/p1001/p1001/resilience"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: bot <command> [flags]

commands:
  serve [-addr host:port]   run the HTTP server (HTTP_ADDR, default :8080;
                            beyond loopback it needs API_TOKEN or API_AUTH=none)
  chat [-chat id]           chat on the console with the same handler
  migrate [-status]         apply the embedded migrations (or list them)
  doctor [-url u] [-json]   run the runbook's checklist against DATABASE_URL
                            (-migrate: MIGRATE_DATABASE_URL); exit 0 healthy,
                            1 a failure found, 2 a usage error
  version                   print the version

Configuration is read from the environment (DATABASE_URL, DB_RETRY_*, ...);
see docs/bot.md.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("bot "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr   = new(string)
		chatID = new(string)
		status = new(bool)
	)
	switch cmd {
	case "serve":
		addr = fs.String("addr", "", "listen address (overrides HTTP_ADDR)")
	case "chat":
		chatID = fs.String("chat", "console", "chat id to talk as")
	case "migrate":
		status = fs.Bool("status", false, "list the migrations and whether they are applied")
	case "doctor":
		return runDoctor(ctx, fs, args, lookup, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "bot: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bot %s: unexpected arguments %q\n", cmd, fs.Args())
		return 2
	}

	cfg, err := config.Load(lookup, environ)
	if err != nil {
		fmt.Fprintf(stderr, "bot: %v\n", err)
		return 2
	}
	if *addr != "" {
		cfg.HTTPAddr = *addr
	}
	log := app.NewLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	v := versionString()

	switch cmd {
	case "serve":
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			log.Error("[Bot] cannot listen", "addr", cfg.HTTPAddr, "error", err.Error())
			return 1
		}
		// Checked on the bound address: "localhost:8080" is loopback, ":8080" is not.
		if err := cfg.CheckExposure(ln.Addr()); err != nil {
			ln.Close()
			fmt.Fprintf(stderr, "bot: %v\n", err)
			return 2
		}
		err = app.Serve(ctx, cfg, log, v, ln)
		if err != nil {
			log.Error("[Bot] stopped with an error", "error", err.Error())
			return 1
		}
	case "chat":
		if err := app.Chat(ctx, cfg, log, v, *chatID, stdin, stdout); err != nil {
			log.Error("[Bot] chat ended with an error", "error", err.Error())
			return 1
		}
	case "migrate":
		if err := app.Migrate(ctx, cfg, log, *status, stdout); err != nil {
			log.Error("[Migrate] failed", "error", err.Error())
			return 1
		}
	}
	return 0
}

// versionString is the link-time version plus the VCS revision when the
// build recorded one.
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += " (" + rev + dirty + ")"
		}
	}
	return "p1001 bot " + v + " " + runtime.Version()
}

// runDoctor is "bot doctor". It does not load the bot's whole configuration:
// a DATABASE_URL the bot cannot parse is the doctor's first finding, not a
// usage error. The retry policy comes from the same DB_RETRY_* variables.
func runDoctor(ctx context.Context, fs *flag.FlagSet, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	var (
		rawURL  = fs.String("url", "", "the URL to check (default: $DATABASE_URL); visible to other users in ps, prefer the variable")
		migrate = fs.Bool("migrate", false, "check MIGRATE_DATABASE_URL instead of DATABASE_URL")
		asJSON  = fs.Bool("json", false, "print the report as JSON (schema "+doctor.Schema+")")
		timeout = fs.Duration("timeout", 2*time.Second, "timeout of each step (TCP: per address; latency: twice this)")
		rounds  = fs.Int("rounds", 20, "SELECT 1 round trips for the latency step")
		color   = fs.String("color", "auto", "auto (only on a terminal), always or never")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bot doctor: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *timeout <= 0 || *rounds < 1 {
		fmt.Fprintln(stderr, "bot doctor: -timeout must be positive and -rounds at least 1")
		return 2
	}
	if *color != "auto" && *color != "always" && *color != "never" {
		fmt.Fprintf(stderr, "bot doctor: -color %q: want auto, always or never\n", *color)
		return 2
	}
	name := "DATABASE_URL"
	if *migrate {
		name = "MIGRATE_DATABASE_URL"
	}
	raw, _ := lookup(name)
	if *rawURL != "" {
		if *migrate {
			fmt.Fprintln(stderr, "bot doctor: -url and -migrate exclude each other")
			return 2
		}
		name, raw = "-url", *rawURL
	}
	if strings.TrimSpace(raw) == "" {
		fmt.Fprintf(stderr, "bot doctor: %s is not set (or pass -url)\n", name)
		return 2
	}
	policy, err := resilience.PolicyFromEnv(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "bot doctor: %v\n", err)
		return 2
	}
	rep := doctor.Run(ctx, doctor.Options{Var: name, URL: raw, Policy: policy, StepTimeout: *timeout, Rounds: *rounds})
	if *asJSON {
		err = doctor.WriteJSON(stdout, rep)
	} else {
		err = doctor.WriteText(stdout, rep, *color == "always" || (*color == "auto" && isTerminal(stdout)))
	}
	if err != nil {
		fmt.Fprintf(stderr, "bot doctor: %v\n", err)
		return 1
	}
	if !rep.Healthy {
		return 1
	}
	return 0
}

// isTerminal tells whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
