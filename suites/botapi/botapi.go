// Package botapi is a small client of the bot's HTTP API (docs/bot.md) for
// the harness: send a message, read /readyz and /metrics.
package botapi

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
)

// Reply is the bot's answer to one message.
type Reply struct {
	Reply        string `json:"reply"`
	PromptSource string `json:"prompt_source"`
	Degraded     bool   `json:"degraded"`
	Attempts     int    `json:"attempts"`
	Code         string `json:"code,omitempty"`
	Command      string `json:"command,omitempty"`
}

// Readiness is the bot's /readyz.
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

// Ready reports whether the database is up and migrated.
func (r Readiness) Ready() bool { return r.DB.State == "up" && r.DB.Migrated }

// maxBody bounds what is read of any answer.
const maxBody = 4 << 20

// Client talks to one bot.
type Client struct {
	base string
	http *http.Client
}

// New returns a client of the bot at base (http://host:port). hc may be
// nil for http.DefaultClient; its timeout bounds each request.
func New(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(base, "/"), http: hc}
}

// StatusError is a non-200 answer to a message.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Body) }

// ErrNotSent wraps failures to get any answer: the request may or may not
// have reached the bot.
var ErrNotSent = errors.New("no answer")

// Send posts text to chat. Errors: *StatusError for a non-200 answer,
// ErrNotSent (wrapped) when no answer came, anything else for an answer
// that is not the documented JSON.
func (c *Client) Send(ctx context.Context, chat, text string) (Reply, error) {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return Reply{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.base+"/v1/chats/"+url.PathEscape(chat)+"/messages", bytes.NewReader(body))
	if err != nil {
		return Reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Reply{}, fmt.Errorf("%w: read the reply: %w", ErrNotSent, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%.200q", data)
		}
		return Reply{}, &StatusError{Status: resp.StatusCode, Body: e.Error}
	}
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return Reply{}, fmt.Errorf("reply is not JSON: %.200q", data)
	}
	return r, nil
}

// Readiness reads /readyz.
func (c *Client) Readiness(ctx context.Context) (Readiness, error) {
	var r Readiness
	data, err := c.get(ctx, "/readyz")
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("/readyz is not JSON: %.200q", data)
	}
	return r, nil
}

// Metrics reads /metrics as name{labels} -> value (see ParseMetrics).
func (c *Client) Metrics(ctx context.Context) (map[string]float64, error) {
	data, err := c.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return ParseMetrics(data)
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return data, nil
}
