// Package traffic drives a bot's HTTP API at a fixed rate across N chats and
// records every request Jepsen style (invoke, then ok/fail/info) on the
// caller's monotonic base.
package traffic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/history"
)

// Config says what to send.
type Config struct {
	// API is how to speak to the bot (its target's).
	API    botapi.API
	BotURL string
	// BotToken is the bot's API token; never recorded.
	BotToken string
	// ChatPrefix makes chat ids unique per scenario and run, since the
	// database is shared by the whole suite.
	ChatPrefix  string
	Chats       int
	Rate        float64 // requests per second, all chats together
	Duration    time.Duration
	Concurrency int // most requests in flight; 0 means Chats
	// Commands maps "setprompt", "prompt" and "reset" to the share of
	// requests that are that command; the rest are plain messages. A
	// command the API has no text for is sent as a plain message.
	Commands map[string]float64
	// Seed makes the command mix and chat order repeatable.
	Seed uint64
	// RequestTimeout bounds one request; past it the outcome is info.
	RequestTimeout time.Duration
}

// ChatID is the id of chat i under cfg.
func (c Config) ChatID(i int) string { return fmt.Sprintf("%s-c%d", c.ChatPrefix, i) }

func (c Config) validate() error {
	switch {
	case c.BotURL == "":
		return errors.New("traffic: BotURL is empty")
	case c.Chats < 1:
		return fmt.Errorf("traffic: chats = %d, want >= 1", c.Chats)
	case c.Rate <= 0:
		return fmt.Errorf("traffic: rate = %v, want > 0", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("traffic: duration = %v, want > 0", c.Duration)
	}
	return nil
}

// Driver sends the traffic. One Driver runs once.
type Driver struct {
	cfg    Config
	client *botapi.Client
	base   time.Time
	rng    *rand.Rand
	// until is how long after base the traffic runs (Config.Duration, or
	// later after ExtendTo).
	until atomic.Int64
}

// New returns a driver whose offsets are measured from base.
func New(cfg Config, base time.Time) (*Driver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = cfg.Chats
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	d := &Driver{
		cfg:    cfg,
		client: botapi.New(cfg.API, cfg.BotURL, cfg.BotToken, &http.Client{Timeout: cfg.RequestTimeout}),
		base:   base,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x9001)),
	}
	d.until.Store(int64(cfg.Duration))
	return d, nil
}

// ExtendTo makes a running traffic last at least until offset t from base,
// at the same rate (a restart that outlasted its planned window still gets
// its recovery phase). It never shortens the traffic, and has no effect
// once Run has sent its last request.
func (d *Driver) ExtendTo(t time.Duration) {
	for {
		cur := d.until.Load()
		if int64(t) <= cur || d.until.CompareAndSwap(cur, int64(t)) {
			return
		}
	}
}

// Run sends requests open-loop at the configured rate until Duration (or
// what ExtendTo set) has passed since base, then waits for those in
// flight. A request that cannot start because Concurrency requests are in
// flight waits, and its invoke time is when it really went out. Run
// returns the ops ordered by index.
func (d *Driver) Run(ctx context.Context) ([]history.Op, error) {
	interval := time.Duration(float64(time.Second) / d.cfg.Rate)
	// Each request writes only its own op, so the list may grow meanwhile.
	var sent []*history.Op
	collect := func() []history.Op {
		ops := make([]history.Op, len(sent))
		for i, op := range sent {
			ops[i] = *op
		}
		return ops
	}
	slots := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := 0; time.Duration(i+1)*interval <= time.Duration(d.until.Load()); i++ {
		// Pace against the schedule, not the previous send, so that slow
		// replies do not lower the offered rate.
		if wait := time.Duration(i)*interval - time.Since(d.base); wait > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return collect(), ctx.Err()
			case <-time.After(wait):
			}
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return collect(), ctx.Err()
		case slots <- struct{}{}:
		}
		op := d.next(i)
		sent = append(sent, &op)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			op = d.send(ctx, op)
		}()
	}
	wg.Wait()
	return collect(), nil
}

// SetBotURL sends the requests not yet sent to the bot's new address (a
// restarted bot may have another host port). Safe during Run.
func (d *Driver) SetBotURL(url string) { d.client.SetBase(url) }

// next picks the i-th request: chats in turn, commands by their shares.
func (d *Driver) next(i int) history.Op {
	chat := d.cfg.ChatID(i % d.cfg.Chats)
	op := history.Op{Index: i, Chat: chat, Kind: history.Message, Text: fmt.Sprintf("hello %d from %s", i, chat)}
	r := d.rng.Float64()
	cmds := d.cfg.API.Commands
	for _, c := range []struct {
		name, template string
		kind           history.Kind
		text           string
	}{
		{"setprompt", cmds.SetPrompt, history.SetPrompt, cmds.SetPromptText(fmt.Sprintf("persona-%d of %s", i, chat))},
		{"prompt", cmds.Prompt, history.GetPrompt, cmds.Prompt},
		{"reset", cmds.Reset, history.Reset, cmds.Reset},
	} {
		share := d.cfg.Commands[c.name]
		if r < share {
			if c.template != "" {
				op.Kind, op.Text = c.kind, c.text
			}
			break
		}
		r -= share
	}
	return op
}

func (d *Driver) send(ctx context.Context, op history.Op) history.Op {
	op.Invoke = time.Since(d.base)
	r, _, err := d.client.Send(ctx, op.Chat, op.Text)
	op.Complete = time.Since(d.base)
	var status *botapi.StatusError
	switch {
	case errors.As(err, &status):
		op.Outcome, op.Status, op.Error = history.Fail, status.Status, err.Error()
	case errors.Is(err, botapi.ErrNotSent):
		// The request may or may not have reached the bot.
		op.Outcome, op.Error = history.Info, err.Error()
	case err != nil:
		// An answer came, but not the documented one.
		op.Outcome, op.Status, op.Error = history.Fail, http.StatusOK, err.Error()
	default:
		op.Outcome, op.Status = history.OK, http.StatusOK
		op.Reply = r
		op.Unacked = op.Kind == history.SetPrompt && !d.cfg.API.Commands.Acked(r)
	}
	return op
}
