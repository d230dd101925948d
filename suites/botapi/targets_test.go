package botapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/targets"
)

func load(t *testing.T, name string) targets.Target {
	t.Helper()
	tg, err := targets.Load(filepath.Join("..", "..", "targets", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// naiveBot answers as hack/images/naive/bot.py does.
func naiveBot(t *testing.T) http.Handler {
	prompts := map[string]string{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("POST /chats/{chat}/messages", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		chat := r.PathValue("chat")
		prompt, ok := prompts[chat]
		if !ok {
			prompt = "You are a helpful assistant."
		}
		var reply string
		switch {
		case in.Text == "boom":
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		case strings.HasPrefix(in.Text, "/setprompt "):
			prompts[chat] = strings.TrimPrefix(in.Text, "/setprompt ")
			reply = "Prompt saved: " + prompts[chat]
		case in.Text == "/setprompt-fails":
			reply = "Could not save your prompt, try again later."
		default:
			reply = "[" + prompt + "] You said: " + in.Text
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"message": map[string]string{"chat": chat, "text": reply}})
	})
	return mux
}

func TestNaiveTarget(t *testing.T) {
	tg := load(t, "naive")
	srv := httptest.NewServer(naiveBot(t))
	defer srv.Close()
	c := botapi.New(tg.API, srv.URL, "", nil)
	ctx := context.Background()
	if err := c.WaitReady(ctx, time.Second, 10*time.Millisecond); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	for _, tt := range []struct {
		name, chat, text string
		want             botapi.Reply
		acked            bool // were it the answer to a /setprompt
		status           int
	}{
		{"a message, quotes and all", "c/1", `say "hi"` + "\n", botapi.Reply{Text: `[You are a helpful assistant.] You said: say "hi"` + "\n"}, false, 0},
		{"a saved prompt", "c/1", tg.API.Commands.SetPromptText("a pirate"), botapi.Reply{Text: "Prompt saved: a pirate"}, true, 0},
		{"the prompt in use", "c/1", "hello", botapi.Reply{Text: "[a pirate] You said: hello"}, false, 0},
		{"a failed save is no acknowledgement", "c/2", "/setprompt-fails", botapi.Reply{Text: "Could not save your prompt, try again later."}, false, 0},
		{"a 500", "c/2", "boom", botapi.Reply{}, false, http.StatusInternalServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := c.Send(ctx, tt.chat, tt.text)
			var se *botapi.StatusError
			switch {
			case tt.status != 0:
				if !errors.As(err, &se) || se.Status != tt.status || se.Answer != "Internal Server Error" {
					t.Fatalf("Send = %+v, %v; want status %d", r, err, tt.status)
				}
				return
			case err != nil:
				t.Fatalf("Send: %v", err)
			}
			if r.Text != tt.want.Text || r.Degraded || r.Attempts != 0 || r.PromptSource != "" {
				t.Errorf("Send = %+v, want %+v", r, tt.want)
			}
			if got := tg.API.Commands.Acked(r); got != tt.acked {
				t.Errorf("Acked(%q) = %v, want %v", r.Text, got, tt.acked)
			}
		})
	}
	if _, err := c.Readiness(ctx); !errors.Is(err, botapi.ErrNotMapped) {
		t.Errorf("Readiness of a target without readyz: %v, want ErrNotMapped", err)
	}
	if _, err := c.Metrics(ctx); !errors.Is(err, botapi.ErrNotMapped) {
		t.Errorf("Metrics of a target without metrics: %v, want ErrNotMapped", err)
	}
}

func TestNaiveNotReady(t *testing.T) {
	tg := load(t, "naive")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	err := botapi.New(tg.API, srv.URL, "", nil).WaitReady(context.Background(), 100*time.Millisecond, 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "/health did not answer 200") || !strings.Contains(err.Error(), "HTTP 503: starting") {
		t.Fatalf("WaitReady = %v, want the health path's last answer", err)
	}
}

func TestP1001Target(t *testing.T) {
	tg := load(t, "p1001")
	var gotBody, gotAuth, gotType string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chats/{chat}/messages", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotAuth, gotType = string(b), r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		_, _ = io.WriteString(w, `{"reply":"[p] You said: hi","prompt_source":"cached","degraded":true,"attempts":3,"code":"P1001",`+
			`"meta":{"database_host":"toxiproxy","database_port":6543},"prompt_age_ms":1200,"command":"message"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ready","db":{"state":"up","migrated":true}}`)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "bot_outbox_depth 0\n")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := botapi.New(tg.API, srv.URL, "tok", nil)
	ctx := context.Background()
	if err := c.WaitReady(ctx, time.Second, 10*time.Millisecond); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	r, _, err := c.Send(ctx, "c", "hi \"you\"")
	if err != nil {
		t.Fatal(err)
	}
	age := int64(1200)
	want := botapi.Reply{Text: "[p] You said: hi", PromptSource: "cached", Degraded: true, Attempts: 3, Code: "P1001",
		Meta: &botapi.Meta{DatabaseHost: "toxiproxy", DatabasePort: 6543}, Command: "message", PromptAgeMS: &age}
	if r.Text != want.Text || r.PromptSource != want.PromptSource || !r.Degraded || r.Attempts != 3 || r.Code != "P1001" ||
		r.Meta.String() != "toxiproxy:6543" || r.PromptAgeMS == nil || *r.PromptAgeMS != age || r.Command != "message" {
		t.Errorf("Send = %+v, want %+v", r, want)
	}
	if gotBody != `{"text":"hi \"you\""}` || gotAuth != "Bearer tok" || gotType != "application/json" {
		t.Errorf("request: body %s, auth %q, type %q", gotBody, gotAuth, gotType)
	}
	if tg.API.Commands.Acked(r) {
		t.Error("a degraded reply acknowledges a write")
	}
	if m, err := c.Metrics(ctx); err != nil || m[botapi.MetricOutboxDepth] != 0 {
		t.Errorf("Metrics = %v, %v", m, err)
	}
}

func TestParseReplyErrors(t *testing.T) {
	tg := load(t, "p1001")
	for _, tt := range []struct{ name, body, want string }{
		{"not JSON", `oops`, "reply is not JSON"},
		{"a field of the wrong type", `{"reply":"x","attempts":"three"}`, "reply field attempts"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tg.API.ParseReply([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseReply(%s) = %v, want %q", tt.body, err, tt.want)
			}
		})
	}
	raw := botapi.API{}
	if r, err := raw.ParseReply([]byte("plain text")); err != nil || r.Text != "plain text" {
		t.Errorf("raw ParseReply = %+v, %v", r, err)
	}
	if r, err := tg.API.ParseReply([]byte(`{"other":1}`)); err != nil || r != (botapi.Reply{}) {
		t.Errorf("ParseReply of a reply stating nothing = %+v, %v; want the zero reply", r, err)
	}
}
