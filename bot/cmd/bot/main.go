// Command bot is the p1001 chat bot: it keeps answering when its Postgres
// database does not.
//
//	bot serve [-addr :8080]     HTTP API, Telegram webhook, /healthz, /readyz, /metrics
//	bot chat [-chat console]    console REPL on the same handler
//	bot migrate [-status]       apply (or list) the embedded migrations
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
	"syscall"

	// Mozilla's roots, used only when the system has none (FROM scratch),
	// for the OpenAI and Telegram clients and sslmode=verify-full.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/p1001/p1001/bot/app"
	"github.com/p1001/p1001/bot/config"
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
