package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/report/bench"
	"github.com/p1001/p1001/targets"
)

// botRun is one bot container under measurement: botapi's client with
// the bench's connection pool, and the bot's chats.
type botRun struct {
	name  string
	api   *botapi.Client
	http  *http.Client
	chats []string
	next  atomic.Int64 // messages sent, to pick chats in turn and number texts
}

// readyPoll is how often /readyz is read: it sets the resolution of a
// bot's measured start (ReadyMS).
const readyPoll = 100 * time.Millisecond

func newBotRun(name, base, token string, conns int) *botRun {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps 2 idle connections per host: a closed loop of 16
	// would mostly measure TCP handshakes.
	t.MaxIdleConnsPerHost, t.MaxIdleConns = conns, conns
	hc := &http.Client{Transport: t}
	return &botRun{name: name, api: botapi.New(targets.P1001().API, base, token, hc), http: hc}
}

// send sends the next message in turn, timed from since.
func (b *botRun) send(ctx context.Context, since time.Time, limit time.Duration) bench.Msg {
	n := b.next.Add(1)
	sent := time.Now()
	m := b.sendTo(ctx, b.chats[int(n)%len(b.chats)], fmt.Sprintf("bench message %d", n), limit)
	m.SentMS = bench.MS(sent.Sub(since))
	return m
}

// sendTo posts text to chat and waits at most limit for the reply. Past
// limit the request is abandoned (the bot sees its client go away) and
// the message is Capped, with limit as its latency.
func (b *botRun) sendTo(ctx context.Context, chat, text string, limit time.Duration) bench.Msg {
	m := bench.Msg{Chat: chat}
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	r, latency, err := b.api.Send(rctx, chat, text)
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
