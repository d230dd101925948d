package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/p1001/p1001/suites/botapi"
)

// Reply is the bot's answer to one message and its round trip; this
// program adds how it shows one.
type Reply struct {
	botapi.Reply
	Latency time.Duration
}

// Format shows the reply with what it tells about the database:
// "[cached | DEGRADED P1001 | attempts 3 | 312ms] [A pirate.] You said: hi".
func (r Reply) Format() string {
	state := "ok"
	if r.Degraded {
		state = "DEGRADED " + r.Code
	}
	return fmt.Sprintf("[%s | %s | attempts %d | %s] %s", r.PromptSource, state, r.Attempts, roundDuration(r.Latency), r.Text)
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}

// Readiness is the bot's /readyz.
type Readiness = botapi.Readiness

// BotClient is botapi's client with this program's timeouts, errors that
// name the chat, and Reply.
type BotClient struct {
	api *botapi.Client
}

// replyTimeout bounds one message: far above the retry layer's budget (5 s
// by default), so that a slow degraded reply is shown, not cut off.
const replyTimeout = 30 * time.Second

// readyPoll is how often WaitReady reads /readyz.
const readyPoll = 200 * time.Millisecond

// NewBotClient talks to the bot at base (http://127.0.0.1:port) with its
// API token.
func NewBotClient(base, token string) *BotClient {
	return &BotClient{api: botapi.New(base, token, &http.Client{Timeout: replyTimeout})}
}

// Send posts text to chat and returns the reply; a non-200 answer is an
// error carrying the bot's answer as it came.
func (c *BotClient) Send(ctx context.Context, chat, text string) (Reply, error) {
	r, latency, err := c.api.Send(ctx, chat, text)
	var status *botapi.StatusError
	switch {
	case errors.As(err, &status):
		return Reply{}, fmt.Errorf("message to chat %s: HTTP %d: %s", chat, status.Status, status.Answer)
	case err != nil:
		return Reply{}, fmt.Errorf("message to chat %s: %w", chat, err)
	}
	return Reply{Reply: r, Latency: latency}, nil
}

// Ready reads /readyz; it never makes the bot query its database.
func (c *BotClient) Ready(ctx context.Context) (Readiness, error) { return c.api.Readiness(ctx) }

// Gauge reads one unlabelled gauge or counter from /metrics.
func (c *BotClient) Gauge(ctx context.Context, name string) (float64, error) {
	metrics, err := c.api.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	v, ok := metrics[name]
	if !ok {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	return v, nil
}

// WaitReady polls /readyz until the bot reports its database up and its
// migrations applied.
func (c *BotClient) WaitReady(ctx context.Context, timeout time.Duration) error {
	return c.api.WaitReady(ctx, timeout, readyPoll)
}
