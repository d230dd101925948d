package responder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPersona(t *testing.T) {
	tests := []struct{ prompt, want string }{
		{"You are a pirate. Answer in pirate speak.", "You are a pirate."},
		{"  You are\n\ta   helpful assistant  ", "You are a helpful assistant"},
		{"Speak like Yoda! Always.", "Speak like Yoda!"},
		{"", "no persona"},
		{strings.Repeat("é", 100), strings.Repeat("é", 79) + "…"},
	}
	for _, tt := range tests {
		if got := Persona(tt.prompt); got != tt.want {
			t.Errorf("Persona(%q) = %q, want %q", tt.prompt, got, tt.want)
		}
	}
}

func TestTemplateQuotesThePersona(t *testing.T) {
	tests := []struct{ prompt, text, want string }{
		{"You are a pirate. Arr.", " hello ", "[You are a pirate.] You said: hello"},
		{"You are a helpful assistant.", "hi", "[You are a helpful assistant.] You said: hi"},
	}
	for _, tt := range tests {
		got, err := Template{}.Respond(context.Background(), Request{Prompt: tt.prompt, Text: tt.text})
		if err != nil || got != tt.want {
			t.Errorf("Respond = %q, %v; want %q", got, err, tt.want)
		}
	}
}

// fakeModel is an OpenAI-compatible chat-completions endpoint on loopback.
func fakeModel(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

func TestOpenAIReplies(t *testing.T) {
	var got struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	var auth, path string
	srv := fakeModel(t, func(w http.ResponseWriter, r *http.Request) {
		auth, path = r.Header.Get("Authorization"), r.URL.Path
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("request body: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m",
			"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":" Arr, hello! "}}]}`)
	})
	r, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-test", Model: "tiny", Timeout: 5 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := r.Respond(context.Background(), Request{ChatID: "c", Prompt: "You are a pirate.", Text: "hello"})
	if err != nil || reply != "Arr, hello!" {
		t.Fatalf("Respond = %q, %v; want the model's reply", reply, err)
	}
	if path != "/v1/chat/completions" || auth != "Bearer sk-test" || got.Model != "tiny" {
		t.Errorf("request: path %q auth %q model %q", path, auth, got.Model)
	}
	if len(got.Messages) != 2 || got.Messages[0].Role != "system" || got.Messages[0].Content != "You are a pirate." ||
		got.Messages[1].Role != "user" || got.Messages[1].Content != "hello" {
		t.Errorf("messages = %+v, want system prompt then user text", got.Messages)
	}
}

func TestOpenAIFallsBackPolitely(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // nothing listens there any more: connection refused

	tests := []struct {
		name    string
		baseURL func(t *testing.T) string
		timeout time.Duration
		wantLog string
	}{
		{"connection refused", func(*testing.T) string { return closedURL + "/v1" }, 5 * time.Second, "error="},
		{"server error", func(t *testing.T) string {
			return fakeModel(t, func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
			}).URL + "/v1"
		}, 5 * time.Second, "503"},
		{"slower than the timeout", func(t *testing.T) string {
			return fakeModel(t, func(w http.ResponseWriter, r *http.Request) {
				// net/http notices a client hang-up only once the body is read.
				io.Copy(io.Discard, r.Body)
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}).URL + "/v1"
		}, 50 * time.Millisecond, "deadline"},
		{"no choices", func(t *testing.T) string {
			return fakeModel(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[]}`)
			}).URL + "/v1"
		}, 5 * time.Second, "no choices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var fallbacks atomic.Int32
			r, err := NewOpenAI(OpenAIConfig{BaseURL: tt.baseURL(t), Model: "tiny", Timeout: tt.timeout, Fallback: "Sorry, later."},
				slog.New(slog.NewTextHandler(&logs, nil)), func(error) { fallbacks.Add(1) })
			if err != nil {
				t.Fatal(err)
			}
			reply, err := r.Respond(context.Background(), Request{ChatID: "c1", Prompt: "p", Text: "hi"})
			if err != nil || reply != "Sorry, later." {
				t.Fatalf("Respond = %q, %v; want the fallback", reply, err)
			}
			if fallbacks.Load() != 1 {
				t.Errorf("onFallback called %d times, want 1", fallbacks.Load())
			}
			if !strings.Contains(logs.String(), "[Responder] language model unreachable") || !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks the fallback line with %q:\n%s", tt.wantLog, logs.String())
			}
		})
	}
}

func TestOpenAICallerCancelIsNotAFallback(t *testing.T) {
	srv := fakeModel(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	r, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL, Model: "m", Timeout: 5 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Respond(ctx, Request{Text: "hi"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Respond = %v, want context.Canceled", err)
	}
}

func TestNewOpenAIValidates(t *testing.T) {
	if _, err := NewOpenAI(OpenAIConfig{Model: "m"}, nil, nil); err == nil {
		t.Error("empty base URL accepted")
	}
	if _, err := NewOpenAI(OpenAIConfig{BaseURL: "http://127.0.0.1:1"}, nil, nil); err == nil {
		t.Error("empty model accepted")
	}
}
