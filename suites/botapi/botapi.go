// Package botapi is the harness's one client of a bot's HTTP API, as its
// target file describes it (API; p1001's own in docs/bot.md): send a
// message and time it, wait for the bot to be ready, and where the target
// maps them, read p1001's /readyz and /metrics.
package botapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Reply is the bot's answer to one message, as the bot sends it
// (docs/bot.md, "Messages"). The harness's records embed it (history.Op,
// the bench's and the reproduction's samples), so it is written once; its
// empty fields are left out of their JSON.
type Reply struct {
	Text         string `json:"reply,omitempty"`
	PromptSource string `json:"prompt_source,omitempty"`
	Degraded     bool   `json:"degraded,omitempty"`
	Attempts     int    `json:"attempts"`
	Code         string `json:"code,omitempty"`
	// Meta: the database server a degraded reply's call was going to.
	Meta    *Meta  `json:"meta,omitempty"`
	Command string `json:"command,omitempty"`
	// PromptAgeMS is the cached prompt's age the bot claims, in whole
	// milliseconds, on a cached reply only (checks.CacheAge holds it to the
	// harness's own timing).
	PromptAgeMS *int64 `json:"prompt_age_ms,omitempty"`
}

// Meta names a database server as Prisma's error meta does (docs/bot.md,
// "Messages"): replies and /readyz carry it beside the code.
type Meta struct {
	DatabaseHost string `json:"database_host"`
	DatabasePort int    `json:"database_port"`
}

// String is "host:port".
func (m *Meta) String() string {
	if m == nil {
		return "no meta"
	}
	return net.JoinHostPort(m.DatabaseHost, strconv.Itoa(m.DatabasePort))
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
		// Meta is the server of the last failure (LastCode).
		Meta *Meta `json:"meta"`
		// Why the last migration attempt failed (docs/bot.md, /readyz).
		MigrationCode         string `json:"migration_code"`
		MigrationCause        string `json:"migration_cause"`
		MigrationNonTransient bool   `json:"migration_non_transient"`
		MigrationMeta         *Meta  `json:"migration_meta"`
	} `json:"db"`
}

// Ready reports whether the database is up and migrated.
func (r Readiness) Ready() bool { return r.DB.State == "up" && r.DB.Migrated }

// maxBody bounds what is read of any answer.
const maxBody = 4 << 20

// getTimeout bounds each GET: /readyz and /metrics answer at once (they
// never query the database), so a bot silent for this long is hung.
const getTimeout = 5 * time.Second

// Client talks to one bot. It is safe for concurrent use.
type Client struct {
	api        API
	base       atomic.Pointer[string]
	token      string
	http       *http.Client
	getTimeout time.Duration
}

// New returns a client of the bot at base (http://host:port) that speaks
// api. token is the bot's API token, sent on every request as
// "Authorization: Bearer <token>" ("" sends none). hc may be nil for
// http.DefaultClient; its timeout bounds each request.
func New(api API, base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{api: api, token: token, http: hc, getTimeout: getTimeout}
	c.SetBase(base)
	return c
}

// SetBase points the client at the bot's new address, for example after a
// restart moved its host port. Requests already sent keep the old one.
func (c *Client) SetBase(base string) {
	base = strings.TrimRight(base, "/")
	c.base.Store(&base)
}

func (c *Client) url(path string) string { return *c.base.Load() + path }

// API is what the client speaks.
func (c *Client) API() API { return c.api }

// ErrNotMapped: the target does not show what was asked for (its file
// maps no such endpoint).
var ErrNotMapped = errors.New("not mapped by the target")

// StatusError is a non-200 answer to a message.
type StatusError struct {
	Status int
	// Body is the bot's error message, or the quoted start of an answer
	// that is not the documented error JSON.
	Body string
	// Answer is the answer as it came, without surrounding white space,
	// for showing it whole.
	Answer string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Body) }

// ErrNotSent wraps failures to get any answer: the request may or may not
// have reached the bot.
var ErrNotSent = errors.New("no answer")

// Send sends text to chat as the API says and returns the reply and its
// latency: the round trip as seen from here, from handing the request to
// the transport until the whole answer was read. Errors: *StatusError for
// a non-200 answer, ErrNotSent (wrapped) when no answer came, anything
// else for an answer that is not the API's reply. Once the request went
// out, the latency is set also with an error: how long it took to fail.
func (c *Client) Send(ctx context.Context, chat, text string) (Reply, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, c.api.Method,
		c.url(c.api.MessagePath(chat)), bytes.NewReader(c.api.MessageBody(text)))
	if err != nil {
		return Reply{}, 0, err
	}
	if c.api.ContentType != "" {
		req.Header.Set("Content-Type", c.api.ContentType)
	}
	start := time.Now()
	status, data, err := c.do(req)
	latency := time.Since(start)
	if err != nil {
		return Reply{}, latency, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	if status != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%.200q", data)
		}
		return Reply{}, latency, &StatusError{Status: status, Body: e.Error, Answer: string(bytes.TrimSpace(data))}
	}
	r, err := c.api.ParseReply(data)
	return r, latency, err
}

// do sends req with the token and reads the whole answer; an error means
// no answer came.
func (c *Client) do(req *http.Request) (int, []byte, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read the reply: %w", err)
	}
	return resp.StatusCode, data, nil
}

// Readiness reads the p1001-style readiness document (API.Readyz).
func (c *Client) Readiness(ctx context.Context) (Readiness, error) {
	var r Readiness
	if c.api.Readyz == "" {
		return r, fmt.Errorf("readiness document: %w", ErrNotMapped)
	}
	data, err := c.get(ctx, c.api.Readyz)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s is not JSON: %.200q", c.api.Readyz, data)
	}
	return r, nil
}

// Metrics reads the Prometheus endpoint (API.Metrics) as name{labels} ->
// value (see ParseMetrics).
func (c *Client) Metrics(ctx context.Context) (map[string]float64, error) {
	if c.api.Metrics == "" {
		return nil, fmt.Errorf("metrics: %w", ErrNotMapped)
	}
	data, err := c.get(ctx, c.api.Metrics)
	if err != nil {
		return nil, err
	}
	return ParseMetrics(data)
}

// WaitReady polls every poll until the bot is ready, for at most timeout;
// the error then names the last state seen. Ready is, with a readiness
// document (API.Readyz), its database up and its migrations applied;
// else the health path answering its status.
func (c *Client) WaitReady(ctx context.Context, timeout, poll time.Duration) error {
	if c.api.Readyz == "" {
		return c.waitHealthy(ctx, timeout, poll)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no answer yet"
	for {
		r, err := c.Readiness(ctx)
		if err == nil && r.Ready() {
			return nil
		}
		switch {
		case ctx.Err() != nil:
			// Cut by the deadline itself: the previous answer says more.
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("db state %q, migrated %v, last code %q", r.DB.State, r.DB.Migrated, r.DB.LastCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bot did not report its database up and migrated within %s (last /readyz: %s)", timeout, last)
		case <-time.After(poll):
		}
	}
}

// waitHealthy polls the health path until it answers its status.
func (c *Client) waitHealthy(ctx context.Context, timeout, poll time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no answer yet"
	for {
		status, data, err := c.getStatus(ctx, c.api.Health)
		switch {
		case err == nil && status == c.api.HealthStatus:
			return nil
		case ctx.Err() != nil:
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("HTTP %d: %.200s", status, bytes.TrimSpace(data))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bot's %s did not answer %d within %s (last: %s)", c.api.Health, c.api.HealthStatus, timeout, last)
		case <-time.After(poll):
		}
	}
}

// getStatus reads path and returns its status and body.
func (c *Client) getStatus(ctx context.Context, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.getTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", path, err)
	}
	status, data, err := c.do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return status, data, nil
}

// get reads path; an answer other than 200 is an error showing its start.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	status, data, err := c.getStatus(ctx, path)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %.200s", path, status, bytes.TrimSpace(data))
	}
	return data, nil
}
