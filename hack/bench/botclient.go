package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/p1001/p1001/resilience"
)

// Msg is one message sent to the bot and what came back.
type Msg struct {
	Chat string `json:"chat"`
	// SentMS is when it was sent, from the event the phase is timed from
	// (the fault applied, the fault cleared, the window opened).
	SentMS    float64 `json:"sent_ms"`
	LatencyMS float64 `json:"latency_ms"`
	// Capped: no reply within the client's cap; LatencyMS is the cap.
	Capped   bool   `json:"capped,omitempty"`
	Source   string `json:"prompt_source,omitempty"`
	Degraded bool   `json:"degraded,omitempty"`
	Attempts int    `json:"attempts"`
	Code     string `json:"code,omitempty"`
	// Error is set when the bot gave no reply for another reason than the
	// cap (connection refused, HTTP 500, a body that is not JSON).
	Error string `json:"error,omitempty"`
}

// Replied: the bot answered.
func (m Msg) Replied() bool { return m.Error == "" && !m.Capped }

// Custom: answered with the chat's fresh custom prompt.
func (m Msg) Custom() bool { return m.Replied() && !m.Degraded && m.Source == "custom" }

// Fallback: answered in degraded mode.
func (m Msg) Fallback() bool { return m.Replied() && m.Degraded }

// Effect: evidence that a fault reached the bot's database calls, a
// degraded reply or a wait cut off at the cap.
func (m Msg) Effect() bool { return m.Fallback() || m.Capped }

// Sample is the message's latency; false for a message with no latency
// to speak of (an error that is neither a reply nor the cap).
func (m Msg) Sample() (Sample, bool) {
	if m.Error != "" {
		return Sample{}, false
	}
	return Sample{Value: m.LatencyMS, AtLeast: m.Capped}, true
}

// botClient talks to one bot's HTTP API.
type botClient struct {
	base string
	http *http.Client
}

func newBotClient(base string, conns int) *botClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps 2 idle connections per host: a closed loop of 16
	// would mostly measure TCP handshakes.
	t.MaxIdleConnsPerHost = conns
	t.MaxIdleConns = conns
	return &botClient{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: t}}
}

func (c *botClient) close() { c.http.CloseIdleConnections() }

// send posts text to chat and waits at most limit for the reply. Past
// limit the request is abandoned (the bot sees its client go away) and
// the message is Capped, with limit as its latency.
func (c *botClient) send(ctx context.Context, chat, text string, limit time.Duration) Msg {
	m := Msg{Chat: chat}
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		m.Error = err.Error()
		return m
	}
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.base+"/v1/chats/"+url.PathEscape(chat)+"/messages", bytes.NewReader(body))
	if err != nil {
		m.Error = err.Error()
		return m
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	data, status, err := c.do(req)
	m.LatencyMS = ms(time.Since(start))
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		m.Capped, m.LatencyMS = true, ms(limit)
		return m
	case err != nil:
		m.Error = resilience.RedactText(err.Error())
		return m
	case status != http.StatusOK:
		m.Error = fmt.Sprintf("HTTP %d: %.200s", status, bytes.TrimSpace(data))
		return m
	}
	var r struct {
		Source   string `json:"prompt_source"`
		Degraded bool   `json:"degraded"`
		Attempts int    `json:"attempts"`
		Code     string `json:"code"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		m.Error = fmt.Sprintf("reply is not JSON: %.200q", data)
		return m
	}
	m.Source, m.Degraded, m.Attempts, m.Code = r.Source, r.Degraded, r.Attempts, r.Code
	return m
}

func (c *botClient) do(req *http.Request) ([]byte, int, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return data, resp.StatusCode, err
}

func (c *botClient) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	data, status, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %.200s", path, status, bytes.TrimSpace(data))
	}
	return data, nil
}

// waitReady polls /readyz until the bot reports its database up and its
// migrations applied.
func (c *botClient) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		var ready struct {
			DB struct {
				State    string `json:"state"`
				Migrated bool   `json:"migrated"`
			} `json:"db"`
		}
		data, err := c.get(ctx, "/readyz")
		if err == nil {
			err = json.Unmarshal(data, &ready)
		}
		if err == nil && ready.DB.Migrated && ready.DB.State == "up" {
			return nil
		}
		last = fmt.Sprintf("%.200s %v", data, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bot did not report its database up and migrated within %s (last /readyz: %s)", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// version reads bot_build_info's version label from /metrics.
func (c *botClient) version(ctx context.Context) (string, error) {
	data, err := c.get(ctx, "/metrics")
	if err != nil {
		return "", err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("parse /metrics: %w", err)
	}
	for _, m := range families["bot_build_info"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "version" {
				return l.GetValue(), nil
			}
		}
	}
	return "", errors.New("/metrics has no bot_build_info{version}")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
