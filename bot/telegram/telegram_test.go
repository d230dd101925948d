package telegram

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/bot/internal/fakestore"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/bot/responder"
)

const (
	token  = "123456:TEST-token-abc"
	secret = "s3cret_token-1"
)

// fakeBotAPI is a local Bot API server: it records every method call.
type fakeBotAPI struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls []apiCall
	fail  bool
}

type apiCall struct {
	path   string
	chatID string
	text   string
}

func newFakeBotAPI(t *testing.T) *fakeBotAPI {
	t.Helper()
	f := &fakeBotAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
			t.Errorf("fake Bot API: %v", err)
		}
		f.mu.Lock()
		f.calls = append(f.calls, apiCall{path: r.URL.Path, chatID: r.FormValue("chat_id"), text: r.FormValue("text")})
		fail := f.fail
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if fail {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`)
			return
		}
		io.WriteString(w, `{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":1,"type":"private"}}}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBotAPI) recorded() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

type fixture struct {
	api      *fakeBotAPI
	webhook  *httptest.Server
	store    *fakestore.Store
	logs     *bytes.Buffer
	outcomes map[string]int
	mu       sync.Mutex
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{api: newFakeBotAPI(t), store: fakestore.New(), logs: &bytes.Buffer{}, outcomes: map[string]int{}}
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	h, err := chat.New(f.store, responder.Template{}, msglog.New(msglog.Options{}), chat.Options{DefaultPrompt: "You are the default bot.", MaxStaleness: time.Minute, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := New(Config{Token: token, Secret: secret, APIBaseURL: f.api.srv.URL, Timeout: 2 * time.Second}, h, log,
		func(o string) { f.mu.Lock(); f.outcomes[o]++; f.mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	f.webhook = httptest.NewServer(httpapi.New(h, httpapi.Options{Telegram: wh, Logger: log}))
	t.Cleanup(f.webhook.Close)
	return f
}

func (f *fixture) post(t *testing.T, secretHeader *string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.webhook.URL+"/telegram/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secretHeader != nil {
		req.Header.Set(SecretHeader, *secretHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func update(chatID int64, text string) string {
	b, _ := json.Marshal(map[string]any{
		"update_id": 10,
		"message":   map[string]any{"message_id": 5, "date": 1, "chat": map[string]any{"id": chatID, "type": "private"}, "text": text},
	})
	return string(b)
}

func ptr(s string) *string { return &s }

func TestNoBotAPICallAtStart(t *testing.T) {
	f := newFixture(t)
	if calls := f.api.recorded(); len(calls) != 0 {
		t.Fatalf("the Bot API was called at start: %+v", calls)
	}
}

func TestWebhookRepliesThroughSendMessage(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		text     string
		down     bool
		wantText string
	}{
		{"/setprompt You are a pirate.", false, "Saved. I'll answer as: You are a pirate."},
		{"hello", false, "[You are a pirate.] You said: hello"},
		{"hello again", true, "[You are a pirate.] You said: hello again"}, // cached during the outage
	}
	for i, s := range steps {
		f.store.SetDown(s.down)
		status, body := f.post(t, ptr(secret), update(-100123, s.text))
		if status != 200 || !strings.Contains(body, `"sent":true`) {
			t.Fatalf("step %d: %d %s", i, status, body)
		}
		calls := f.api.recorded()
		last := calls[len(calls)-1]
		want := apiCall{path: "/bot" + token + "/sendMessage", chatID: "-100123", text: s.wantText}
		if len(calls) != i+1 || last != want {
			t.Errorf("step %d: Bot API calls %+v, want the last to be %+v", i, calls, want)
		}
	}
	if p, ok := f.store.Prompt("tg:-100123"); !ok || p != "You are a pirate." {
		t.Errorf("stored prompt for tg:-100123 = %q, %t", p, ok)
	}
	if f.outcomes[OutcomeReplied] != 3 {
		t.Errorf("outcomes = %v", f.outcomes)
	}
}

func TestWebhookRejects(t *testing.T) {
	tests := []struct {
		name    string
		secret  *string
		body    string
		status  int
		outcome string
	}{
		{"missing secret", nil, update(1, "hi"), 401, OutcomeUnauthorized},
		{"wrong secret", ptr("not-" + secret), update(1, "hi"), 401, OutcomeUnauthorized},
		{"secret prefix only", ptr(secret[:5]), update(1, "hi"), 401, OutcomeUnauthorized},
		{"malformed body", ptr(secret), `{"update_id": `, 400, OutcomeBadRequest},
		{"empty body", ptr(secret), ``, 400, OutcomeBadRequest},
		{"wrong type", ptr(secret), `{"update_id":"ten"}`, 400, OutcomeBadRequest},
		{"body too large", ptr(secret), `{"update_id":1,"message":{"text":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, OutcomeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			status, body := f.post(t, tt.secret, tt.body)
			var e httpapi.ErrorResponse
			if status != tt.status || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("= %d %s, want %d with a JSON error", status, body, tt.status)
			}
			if len(f.api.recorded()) != 0 || len(f.store.Log()) != 0 {
				t.Error("a rejected update was answered")
			}
			if f.outcomes[tt.outcome] != 1 {
				t.Errorf("outcomes = %v, want one %s", f.outcomes, tt.outcome)
			}
			if strings.Contains(f.logs.String(), secret) {
				t.Error("the secret reached the logs")
			}
		})
	}
}

func TestWebhookIgnoresUpdatesWithoutText(t *testing.T) {
	f := newFixture(t)
	status, body := f.post(t, ptr(secret), `{"update_id":3,"edited_message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"x"}}`)
	if status != 200 || !strings.Contains(body, "ignored") {
		t.Errorf("= %d %s, want 200 ignored", status, body)
	}
	if len(f.api.recorded()) != 0 || f.outcomes[OutcomeIgnored] != 1 {
		t.Errorf("calls %v outcomes %v", f.api.recorded(), f.outcomes)
	}
}

func TestSendFailureIsLoggedWithoutTheToken(t *testing.T) {
	f := newFixture(t)
	f.api.mu.Lock()
	f.api.fail = true
	f.api.mu.Unlock()
	status, body := f.post(t, ptr(secret), update(7, "hi"))
	if status != 200 || !strings.Contains(body, `"sent":false`) {
		t.Errorf("= %d %s; want 200 so Telegram does not redeliver", status, body)
	}
	if f.outcomes[OutcomeSendFailed] != 1 || !strings.Contains(f.logs.String(), "[Telegram] sendMessage failed, reply lost") {
		t.Errorf("outcomes %v, logs:\n%s", f.outcomes, f.logs.String())
	}
	if strings.Contains(f.logs.String(), token) {
		t.Errorf("the bot token reached the logs:\n%s", f.logs.String())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Token: token, Secret: secret}, ""},
		{"no token", Config{Secret: secret}, "TELEGRAM_BOT_TOKEN"},
		{"no secret", Config{Token: token}, "TELEGRAM_WEBHOOK_SECRET"},
		{"bad secret characters", Config{Token: token, Secret: "has space"}, "TELEGRAM_WEBHOOK_SECRET"},
		{"bad base URL", Config{Token: token, Secret: secret, APIBaseURL: "api.telegram.org"}, "TELEGRAM_API_BASE_URL"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate = %v, want %q", tt.name, err, tt.want)
		}
	}
}
