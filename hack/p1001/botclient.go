package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Reply is the bot's answer to one message (docs/bot.md, HTTP API), plus
// the round trip as seen from here.
type Reply struct {
	Reply        string `json:"reply"`
	PromptSource string `json:"prompt_source"`
	Degraded     bool   `json:"degraded"`
	Attempts     int    `json:"attempts"`
	Code         string `json:"code"`
	Command      string `json:"command"`

	Latency time.Duration `json:"-"`
}

// Format shows the reply with what it tells about the database:
// "[cached | DEGRADED P1001 | attempts 3 | 312ms] [A pirate.] You said: hi".
func (r Reply) Format() string {
	state := "ok"
	if r.Degraded {
		state = "DEGRADED " + r.Code
	}
	return fmt.Sprintf("[%s | %s | attempts %d | %s] %s", r.PromptSource, state, r.Attempts, roundDuration(r.Latency), r.Reply)
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

// Readiness is the part of the bot's /readyz this program reads.
type Readiness struct {
	Status string `json:"status"`
	DB     struct {
		State     string `json:"state"`
		Migrated  bool   `json:"migrated"`
		Breaker   string `json:"breaker"`
		LastCode  string `json:"last_code"`
		LastError string `json:"last_error"`
	} `json:"db"`
}

// BotClient talks to the bot's HTTP API.
type BotClient struct {
	base string
	http *http.Client
}

// replyTimeout bounds one message: far above the retry layer's budget (5 s
// by default), so that a slow degraded reply is shown, not cut off.
const replyTimeout = 30 * time.Second

// NewBotClient talks to the bot at base (http://127.0.0.1:port).
func NewBotClient(base string) *BotClient {
	return &BotClient{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: replyTimeout}}
}

// Send posts text to chat and returns the reply; a non-200 answer is an
// error carrying the bot's error body.
func (c *BotClient) Send(ctx context.Context, chat, text string) (Reply, error) {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return Reply{}, fmt.Errorf("encode message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/chats/"+url.PathEscape(chat)+"/messages", bytes.NewReader(body))
	if err != nil {
		return Reply{}, fmt.Errorf("message to chat %s: %w", chat, err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return Reply{}, fmt.Errorf("message to chat %s: %w", chat, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	latency := time.Since(start)
	if err != nil {
		return Reply{}, fmt.Errorf("message to chat %s: read the reply: %w", chat, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Reply{}, fmt.Errorf("message to chat %s: HTTP %d: %s", chat, resp.StatusCode, bytes.TrimSpace(data))
	}
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return Reply{}, fmt.Errorf("message to chat %s: decode the reply %q: %w", chat, data, err)
	}
	r.Latency = latency
	return r, nil
}

// Ready reads /readyz; it never makes the bot query its database.
func (c *BotClient) Ready(ctx context.Context) (Readiness, error) {
	var r Readiness
	data, err := c.get(ctx, "/readyz")
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("decode /readyz %q: %w", data, err)
	}
	return r, nil
}

// Gauge reads one unlabelled gauge or counter from /metrics.
func (c *BotClient) Gauge(ctx context.Context, name string) (float64, error) {
	data, err := c.get(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("parse /metrics: %w", err)
	}
	fam, ok := families[name]
	if !ok || len(fam.GetMetric()) == 0 {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	m := fam.GetMetric()[0]
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), nil
	case m.Counter != nil:
		return m.GetCounter().GetValue(), nil
	}
	return 0, fmt.Errorf("/metrics: %s is neither a gauge nor a counter", name)
}

func (c *BotClient) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(data))
	}
	return data, nil
}

// WaitReady polls /readyz until the bot reports its database up and its
// migrations applied.
func (c *BotClient) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		r, err := c.Ready(ctx)
		if err == nil && r.DB.Migrated && r.DB.State == "up" {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("db state %q, migrated %v, last code %q", r.DB.State, r.DB.Migrated, r.DB.LastCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bot did not report its database up and migrated within %s (last /readyz: %s)", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
