package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/bot/internal/fakestore"
	"github.com/p1001/p1001/bot/metrics"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/bot/responder"
	"github.com/p1001/p1001/resilience"
)

type fixture struct {
	srv     *httptest.Server
	store   *fakestore.Store
	tracker *health.Tracker
	logs    *bytes.Buffer
	metrics *metrics.Metrics
	handled atomic.Int32 // requests that reached the chat handler
}

// countingChat counts the requests that reach the chat handler.
type countingChat struct {
	httpapi.Chat
	n *atomic.Int32
}

func (c countingChat) Handle(ctx context.Context, m chat.Message) (chat.Reply, error) {
	c.n.Add(1)
	return c.Chat.Handle(ctx, m)
}

// newFixture serves the API over a fake store; mods adjust the options.
func newFixture(t *testing.T, mods ...func(*httpapi.Options)) *fixture {
	t.Helper()
	f := &fixture{store: fakestore.New(), tracker: health.New(health.Options{}), logs: &bytes.Buffer{}, metrics: metrics.New("test")}
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	h, err := chat.New(f.store, responder.Template{}, msglog.New(msglog.Options{}), chat.Options{
		DefaultPrompt: "You are the default bot.", MaxStaleness: time.Minute, Logger: log, Observer: f.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := httpapi.Options{
		MaxBodyBytes: 1024, Ready: f.tracker.Snapshot, Metrics: f.metrics.Handler(), Instrument: f.metrics.Instrument,
		Unauthorized: f.metrics.Unauthorized, Logger: log,
	}
	for _, mod := range mods {
		mod(&opts)
	}
	f.srv = httptest.NewServer(httpapi.New(countingChat{h, &f.handled}, opts))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func (f *fixture) send(t *testing.T, chatID, text string) httpapi.MessageResponse {
	t.Helper()
	body, _ := json.Marshal(httpapi.MessageRequest{Text: text})
	status, out := f.do(t, http.MethodPost, "/v1/chats/"+chatID+"/messages", "application/json", string(body))
	if status != http.StatusOK {
		t.Fatalf("POST %q: %d %s", text, status, out)
	}
	var r httpapi.MessageResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMessageRoundTrip(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		text string
		down bool
		want httpapi.MessageResponse
	}{
		{"hello", false, httpapi.MessageResponse{Reply: "[You are the default bot.] You said: hello", PromptSource: "default", Attempts: 1}},
		{"/setprompt You are a pirate.", false, httpapi.MessageResponse{Reply: "Saved. I'll answer as: You are a pirate.", PromptSource: "custom", Attempts: 1, Command: "/setprompt"}},
		{"hello", false, httpapi.MessageResponse{Reply: "[You are a pirate.] You said: hello", PromptSource: "custom", Attempts: 1}},
		{"hello", true, httpapi.MessageResponse{Reply: "[You are a pirate.] You said: hello", PromptSource: "cached", Degraded: true, Attempts: 3, Code: "P1001"}},
		{"/help", false, httpapi.MessageResponse{Reply: helpFirstLine, PromptSource: "custom", Attempts: 1, Command: "/help"}},
		{"/reset", false, httpapi.MessageResponse{Reply: "Reset. I'll answer with the default prompt: You are the default bot.", PromptSource: "default", Attempts: 1, Command: "/reset"}},
		{"/prompt", false, httpapi.MessageResponse{Reply: "No custom prompt set; using the default: You are the default bot.", PromptSource: "default", Attempts: 1, Command: "/prompt"}},
	}
	for i, s := range steps {
		f.store.SetDown(s.down)
		got := f.send(t, "chat-42", s.text)
		if s.want.Reply == helpFirstLine {
			got.Reply, _, _ = strings.Cut(got.Reply, "\n")
		}
		// A degraded reply names the server, as Prisma's meta does.
		if wantMeta := (resilience.Meta{DatabaseHost: "fake", DatabasePort: 5432}); s.down != (got.Meta != nil) || got.Meta != nil && *got.Meta != wantMeta {
			t.Errorf("step %d %q: meta %+v, want %+v only when degraded", i, s.text, got.Meta, wantMeta)
		}
		got.Meta = nil
		// prompt_age_ms comes with a cached prompt only; its value (real
		// time since the read) is the handler's test's to pin.
		if (got.PromptAgeMS != nil) != (s.want.PromptSource == "cached") || (got.PromptAgeMS != nil && *got.PromptAgeMS < 0) {
			t.Errorf("step %d %q: prompt_age_ms = %v with prompt_source %q: want a non-negative age exactly when cached", i, s.text, got.PromptAgeMS, got.PromptSource)
		}
		got.PromptAgeMS = nil
		if got != s.want {
			t.Errorf("step %d %q:\n got %+v\nwant %+v", i, s.text, got, s.want)
		}
	}
}

const helpFirstLine = "Commands:"

func TestDegradedReplyJSONShape(t *testing.T) {
	f := newFixture(t)
	f.store.SetDown(true)
	status, out := f.do(t, http.MethodPost, "/v1/chats/c1/messages", "application/json", `{"text":"hi"}`)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"reply": "[You are the default bot.] You said: hi", "prompt_source": "default", "degraded": true, "attempts": float64(3), "code": "P1001"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (body %s)", k, m[k], v, out)
		}
	}
	if meta, _ := m["meta"].(map[string]any); meta["database_host"] != "fake" || meta["database_port"] != float64(5432) || len(meta) != 2 {
		t.Errorf("meta = %v, want {database_host: fake, database_port: 5432} (body %s)", m["meta"], out)
	}
	if _, ok := m["command"]; ok {
		t.Errorf("plain message reply has a command field: %s", out)
	}
	for _, line := range []string{"[getCustomPrompt] Database connection error after retries, using fallback prompt", "reason=\"connection refused\"",
		"P1001: Can't reach database server at `fake`:`5432` Please make sure your database server is running at `fake`:`5432`.", "[MessageHandler] Database connection error, replying in degraded mode"} {
		if !strings.Contains(f.logs.String(), line) {
			t.Errorf("logs lack %q", line)
		}
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		wantError   string
		wantField   string
	}{
		{"malformed JSON", "POST", "/v1/chats/c1/messages", "application/json", `{"text": "hi"`, 400, "malformed JSON", ""},
		{"not JSON at all", "POST", "/v1/chats/c1/messages", "application/json", `text=hi`, 400, "malformed JSON", ""},
		{"empty body", "POST", "/v1/chats/c1/messages", "application/json", ``, 400, "empty body", ""},
		{"unknown field", "POST", "/v1/chats/c1/messages", "application/json", `{"text":"hi","txet":"x"}`, 400, `unknown field "txet"`, "txet"},
		{"text not a string", "POST", "/v1/chats/c1/messages", "application/json", `{"text":5}`, 400, `field "text" must be a string`, "text"},
		{"missing text", "POST", "/v1/chats/c1/messages", "application/json", `{}`, 400, "text: must not be empty", "text"},
		{"blank text", "POST", "/v1/chats/c1/messages", "", `{"text":"   "}`, 400, "text: must not be empty", "text"},
		{"two objects", "POST", "/v1/chats/c1/messages", "application/json", `{"text":"a"}{"text":"b"}`, 400, "trailing data", ""},
		{"NUL in text", "POST", "/v1/chats/c1/messages", "application/json", `{"text":"a\u0000b"}`, 400, "NUL", "text"},
		{"body too large", "POST", "/v1/chats/c1/messages", "application/json", `{"text":"` + strings.Repeat("x", 2000) + `"}`, 413, "body larger than 1024 bytes", ""},
		{"multipart upload", "POST", "/v1/chats/c1/messages", "multipart/form-data; boundary=x", `--x--`, 415, "send a JSON object, not multipart/form-data", ""},
		{"chat id too long", "POST", "/v1/chats/" + strings.Repeat("c", 129) + "/messages", "application/json", `{"text":"hi"}`, 400, "chat id", "id"},
		{"GET on messages", "GET", "/v1/chats/c1/messages", "", ``, 405, "method GET not allowed; use POST", ""},
		{"unknown path", "GET", "/v2/nothing", "", ``, 404, "no such endpoint", ""},
		{"POST on readyz", "POST", "/readyz", "", ``, 405, "not allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := f.do(t, tt.method, tt.path, tt.contentType, tt.body)
			if status != tt.status {
				t.Errorf("status %d, want %d (body %s)", status, tt.status, out)
			}
			var e httpapi.ErrorResponse
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatalf("error body is not JSON: %q", out)
			}
			if !strings.Contains(e.Error, tt.wantError) || e.Field != tt.wantField {
				t.Errorf("error = %+v, want it to contain %q with field %q", e, tt.wantError, tt.wantField)
			}
		})
	}
	if len(f.store.Log()) != 0 {
		t.Error("bad requests reached the message log")
	}
}

func TestOpsEndpoints(t *testing.T) {
	f := newFixture(t)
	f.send(t, "c1", "hello")
	db := &resilience.Meta{DatabaseHost: "db", DatabasePort: 5432}
	f.tracker.MigrationFailed(health.MigrationFailure{Code: "P1001", Error: "P1001: Can't reach database server at `db`:`5432` ...", Meta: db})

	status, out := f.do(t, "GET", "/healthz", "", "")
	if status != 200 || !strings.Contains(string(out), `"ok"`) {
		t.Errorf("/healthz = %d %s", status, out)
	}

	status, out = f.do(t, "GET", "/readyz", "", "")
	var snap health.Snapshot
	if err := json.Unmarshal(out, &snap); err != nil {
		t.Fatal(err)
	}
	if status != 200 || snap.Status != "ready" || snap.DB.State != "down" || snap.DB.LastCode != "P1001" {
		t.Errorf("/readyz with the database down = %d %s; want 200, ready, db down", status, out)
	}
	// The code comes with the server, as Prisma's meta names it.
	for _, want := range []string{`"meta":{"database_host":"db","database_port":5432}`, `"migration_meta":{"database_host":"db","database_port":5432}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("/readyz lacks %s: %s", want, out)
		}
	}
	f.tracker.Drain()
	if status, out = f.do(t, "GET", "/readyz", "", ""); status != 503 || !strings.Contains(string(out), "draining") {
		t.Errorf("/readyz while draining = %d %s; want 503", status, out)
	}

	status, out = f.do(t, "GET", "/metrics", "", "")
	for _, want := range []string{
		`bot_replies_total{degraded="false",prompt_source="default"} 1`,
		`bot_http_requests_total{code="200",handler="/v1/chats/{id}/messages",method="post"} 1`,
		"go_goroutines",
	} {
		if status != 200 || !strings.Contains(string(out), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

type failingChat struct{ err error }

func (c failingChat) Handle(context.Context, chat.Message) (chat.Reply, error) {
	return chat.Reply{}, c.err
}

func TestCurlDefaultContentTypeIsAccepted(t *testing.T) {
	f := newFixture(t)
	status, out := f.do(t, "POST", "/v1/chats/c1/messages", "application/x-www-form-urlencoded", `{"text":"hi"}`)
	if status != 200 || !strings.Contains(string(out), `"reply"`) {
		t.Errorf("curl -d style request = %d %s", status, out)
	}
}

func TestHandlerFailureIs500WithoutDetails(t *testing.T) {
	srv := httptest.NewServer(httpapi.New(failingChat{errors.New("responder: secret internals")}, httpapi.Options{}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chats/c/messages", "application/json", strings.NewReader(`{"text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e httpapi.ErrorResponse
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 500 || e.Error != "internal error" {
		t.Errorf("= %d %+v, want 500 internal error", resp.StatusCode, e)
	}
}
