package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/report/bench"
)

// botClient is botapi's client with the bench's connection pool and its
// per-message cap.
type botClient struct {
	api  *botapi.Client
	http *http.Client
}

// readyPoll is how often /readyz is read: it sets the resolution of a
// bot's measured start (ReadyMS).
const readyPoll = 100 * time.Millisecond

func newBotClient(base, token string, conns int) *botClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps 2 idle connections per host: a closed loop of 16
	// would mostly measure TCP handshakes.
	t.MaxIdleConnsPerHost, t.MaxIdleConns = conns, conns
	hc := &http.Client{Transport: t}
	return &botClient{api: botapi.New(base, token, hc), http: hc}
}

func (c *botClient) close() { c.http.CloseIdleConnections() }

// send posts text to chat and waits at most limit for the reply. Past
// limit the request is abandoned (the bot sees its client go away) and
// the message is Capped, with limit as its latency.
func (c *botClient) send(ctx context.Context, chat, text string, limit time.Duration) bench.Msg {
	m := bench.Msg{Chat: chat}
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	r, latency, err := c.api.Send(rctx, chat, text)
	m.LatencyMS = bench.MS(latency)
	var status *botapi.StatusError
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		m.Capped, m.LatencyMS = true, bench.MS(limit)
	case errors.As(err, &status):
		m.Error = fmt.Sprintf("HTTP %d: %.200s", status.Status, status.Answer)
	case err != nil:
		m.Error = resilience.RedactText(err.Error())
	default:
		m.Reply = r
	}
	return m
}
