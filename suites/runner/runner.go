// Package runner plays one scenario against the live environment: it starts
// the scenario's bot, seeds the chats' custom prompts, runs the traffic and
// the fault timeline on one clock, lets the bot recover, and gathers the
// history (ops, faults, logs, metrics, what postgres holds) for the checkers.
package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/environment"
	"github.com/p1001/p1001/suites/history"
	"github.com/p1001/p1001/suites/traffic"
	"github.com/p1001/p1001/targets"
)

// Options tune a run.
type Options struct {
	// RunID keeps chat ids unique across runs on the same database.
	RunID string
	// Seed makes the traffic's command mix repeatable.
	Seed uint64
	// Progress, when set, is told what the run is doing.
	Progress func(format string, args ...any)
}

const (
	readyTimeout  = 60 * time.Second
	settleTimeout = 20 * time.Second
)

// Run plays s and returns its history. An error means the run itself could
// not be carried out (the bot did not start, a fault could not be applied);
// whether the bot kept its promises is for the checkers to say.
func Run(ctx context.Context, env *environment.Env, s scenarios.Scenario, opts Options) (h history.History, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	h.Scenario = s.Name
	tg := env.Target()
	h.Target = tg.Info()
	if err := env.ResetFaults(ctx); err != nil {
		return h, err
	}

	progress("%s: starting the bot", s.Name)
	botEnv := s.BotEnv()
	if _, set := botEnv["LOG_LEVEL"]; !set {
		// The debug lines mark the end of every failed attempt, which
		// the backoff and attempt-timeout checks time.
		botEnv["LOG_LEVEL"] = "debug"
	}
	bot, err := env.StartBot(ctx, environment.BotOptions{Path: s.Bot.Database, URLParams: s.Bot.URLParams, Env: botEnv, ByName: s.ByName()})
	if err != nil {
		return h, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_, stopErr := env.StopBot(context.WithoutCancel(ctx))
			err = errors.Join(err, stopErr)
		}
	}()
	client := botapi.New(tg.API, bot.URL, bot.Token, nil)
	// A healthy phase must start healthy: database up, migrations applied.
	if err := client.WaitReady(ctx, readyTimeout, 200*time.Millisecond); err != nil {
		return h, err
	}

	cfg := traffic.Config{
		API:         tg.API,
		BotURL:      bot.URL,
		BotToken:    bot.Token,
		ChatPrefix:  s.Name + "-" + opts.RunID,
		Chats:       s.Traffic.Chats,
		Rate:        s.Traffic.Rate,
		Duration:    s.Traffic.Duration.D(),
		Concurrency: s.Traffic.Concurrency,
		Commands:    s.Traffic.Commands,
		Seed:        opts.Seed,
	}
	chats := make([]string, cfg.Chats)
	for i := range chats {
		chats[i] = cfg.ChatID(i)
	}
	if s.Traffic.CustomPrompts {
		if err := seedPrompts(ctx, env.DSNs().HostPostgres, tg, chats); err != nil {
			return h, err
		}
	}

	// Stack settings ready before the traffic, and put back after it
	// whatever happened (the player restores what it imposed; this also
	// covers what was only prepared).
	for _, f := range s.Faults {
		if !f.IsSetting() {
			continue
		}
		defer func() { err = errors.Join(err, env.Restore(context.WithoutCancel(ctx), f.Type)) }()
		if err := env.Prepare(ctx, f.Type); err != nil {
			return h, fmt.Errorf("prepare %s: %w", f.Name, err)
		}
	}

	// The server's own count of the bot's logins (connect-rate).
	countConnects := s.Expect.MaxConnectsPerSecond > 0
	if countConnects {
		if err := env.LogConnections(ctx, true); err != nil {
			return h, err
		}
		defer func() { err = errors.Join(err, env.LogConnections(context.WithoutCancel(ctx), false)) }()
	}

	progress("%s: %d requests over %s across %d chats, %d fault(s)", s.Name,
		int(s.Traffic.Rate*s.Traffic.Duration.D().Seconds()), s.Traffic.Duration, s.Traffic.Chats, len(s.Faults))
	h.Base = time.Now()
	driver, err := traffic.New(cfg, h.Base)
	if err != nil {
		return h, err
	}
	// A killed or restarted bot may come back on another host port: the
	// traffic and the client follow it.
	follow := func(ctx context.Context) error {
		url, err := env.BotURL(ctx)
		if err != nil {
			return err
		}
		driver.SetBotURL(url)
		client.SetBase(url)
		return nil
	}
	// A restart's window is measured: on a loaded machine it can outlast
	// its plan. The traffic then goes on for the recovery phase the
	// scenario planned after its last fault, counted from the real end.
	var lastEnd time.Duration
	for _, f := range s.Faults {
		lastEnd = max(lastEnd, f.End())
	}
	recoveryPhase := s.Traffic.Duration.D() - lastEnd
	restarted := func() { driver.ExtendTo(time.Since(h.Base) + recoveryPhase) }
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		h.Ops, err = driver.Run(gctx)
		return err
	})
	g.Go(func() (err error) {
		h.Faults, err = scenarios.Play(gctx, s, target{env.Faults(), follow, restarted}, h.Base)
		return err
	})
	g.Go(func() error {
		h.Probes = probeFaults(gctx, env, s, h.Base)
		return nil
	})
	if err := g.Wait(); err != nil {
		return h, fmt.Errorf("scenario %s: %w", s.Name, err)
	}

	if countConnects {
		at, err := env.ProxyConnections(ctx, h.Base)
		if err != nil {
			return h, err
		}
		for _, t := range at {
			h.ServerConnects = append(h.ServerConnects, t.Sub(h.Base))
		}
	}

	progress("%s: traffic done, letting the bot settle", s.Name)
	if tg.API.Metrics != "" {
		if h.MetricsAfter, err = settle(ctx, client); err != nil {
			return h, err
		}
	}
	if h.Prompts, h.Logged, h.LoggedReplies, err = readDatabase(ctx, env.DSNs().HostPostgres, tg, chats); err != nil {
		return h, err
	}
	stopped = true
	logs, err := env.StopBot(ctx)
	h.Logs = tg.ParseLogs(logs)
	return h, err
}

// target adapts the environment to the player's interface: follow points
// the run at the bot once a kill or bot-restart has started it again, and
// restarted is told when any restart has ended.
type target struct {
	scenarios.Target
	follow    func(context.Context) error
	restarted func()
}

// Prepare, Impose and Restore pass the stack settings through
// (scenarios.Settings).
func (t target) Prepare(ctx context.Context, typ string) error {
	return t.settings(func(s scenarios.Settings) error { return s.Prepare(ctx, typ) })
}

func (t target) Impose(ctx context.Context, typ string) error {
	return t.settings(func(s scenarios.Settings) error { return s.Impose(ctx, typ) })
}

func (t target) Restore(ctx context.Context, typ string) error {
	return t.settings(func(s scenarios.Settings) error { return s.Restore(ctx, typ) })
}

func (t target) settings(fn func(scenarios.Settings) error) error {
	s, ok := t.Target.(scenarios.Settings)
	if !ok {
		return errors.New("this stack cannot change its settings")
	}
	return fn(s)
}

func (t target) Restart(ctx context.Context, container string) error {
	defer t.restarted()
	return t.Target.Restart(ctx, container)
}

func (t target) Kill(ctx context.Context, container string) error {
	defer t.restarted()
	if err := t.Target.Kill(ctx, container); err != nil {
		return err
	}
	return t.follow(ctx)
}

func (t target) BotRestart(ctx context.Context, container string) error {
	defer t.restarted()
	if err := t.Target.BotRestart(ctx, container); err != nil {
		return err
	}
	return t.follow(ctx)
}

// settle waits until the outbox is empty (or settleTimeout passes; the
// checkers judge what is left) and returns the metrics read then.
func settle(ctx context.Context, bot *botapi.Client) (map[string]float64, error) {
	metrics, err := botapi.WaitOutboxEmpty(ctx, bot, settleTimeout, 200*time.Millisecond)
	if errors.Is(err, botapi.ErrOutboxNotEmpty) {
		err = nil
	}
	return metrics, err
}

// Persona is the custom prompt seeded for a chat.
func Persona(chat string) string { return "persona of " + chat }

// seedPrompts stores each chat's persona with the target's seed query.
func seedPrompts(ctx context.Context, dsn string, t targets.Target, chats []string) error {
	if t.Database.SeedPrompt == "" {
		return fmt.Errorf("the scenario starts its chats with custom prompts, and target %s has no database.seed_prompt", t.Name)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("seed prompts: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, chat := range chats {
		if _, err := conn.Exec(ctx, t.Database.SeedPrompt, chat, Persona(chat)); err != nil {
			return fmt.Errorf("seed the prompt of %s: %w", chat, err)
		}
	}
	return nil
}

// readDatabase reads, straight from postgres, what the target maps: the
// chats' prompts (database.prompt_query) and how often each of their
// messages and replies was logged, by text (database.message_log).
func readDatabase(ctx context.Context, dsn string, t targets.Target, chats []string) (prompts map[string]string, in, out map[string]int, err error) {
	db := t.Database
	if db.PromptQuery == "" && db.MessageLog == nil {
		return nil, nil, nil, nil
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read postgres after the run: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if db.PromptQuery != "" {
		prompts = map[string]string{}
		for _, chat := range chats {
			var prompt string
			switch err := conn.QueryRow(ctx, db.PromptQuery, chat).Scan(&prompt); {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return nil, nil, nil, fmt.Errorf("read the prompt of %s: %w", chat, err)
			default:
				prompts[chat] = prompt
			}
		}
	}
	m := db.MessageLog
	if m == nil {
		return prompts, nil, nil, nil
	}
	in, out = map[string]int{}, map[string]int{}
	// The names are the target file's, checked to be plain SQL names.
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT %s, %s, count(*) FROM %s WHERE %s = ANY($1) GROUP BY 1, 2`,
		m.Direction, m.Body, m.Table, m.Chat), chats)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the message log: %w", err)
	}
	var direction, body string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&direction, &body, &n}, func() error {
		switch direction {
		case m.In:
			in[body] = n
		case m.Out:
			out[body] = n
		default:
			return fmt.Errorf("row with direction %q", direction)
		}
		return nil
	}); err != nil {
		return nil, nil, nil, fmt.Errorf("read the message log: %w", err)
	}
	return prompts, in, out, nil
}
