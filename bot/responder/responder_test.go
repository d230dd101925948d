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

// TestOpenAIRetries: the client's own retries (OPENAI_MAX_RETRIES) follow
// the status and the server's retry headers, and resend the whole request.
func TestOpenAIRetries(t *testing.T) {
	type answer struct {
		status  int
		headers map[string]string
		hangUp  bool // close the connection without an answer
	}
	fast := map[string]string{"Retry-After-Ms": "1"}
	ok := answer{status: http.StatusOK}
	tests := []struct {
		name         string
		maxRetries   int
		answers      []answer // by attempt; the last one repeats
		wantReply    string
		wantAttempts int32
	}{
		{"503 then a reply", 1, []answer{{status: 503, headers: fast}, ok}, "pong", 2},
		{"429 every time", 2, []answer{{status: 429, headers: fast}}, "fallback", 3},
		{"408 and 409 are retried", 2, []answer{{status: 408, headers: fast}, {status: 409, headers: fast}, ok}, "pong", 3},
		{"no retries configured", 0, []answer{{status: 503, headers: fast}, ok}, "fallback", 1},
		{"400 is not retried", 3, []answer{{status: 400}, ok}, "fallback", 1},
		{"the server says not to", 3, []answer{{status: 503, headers: map[string]string{"x-should-retry": "false"}}, ok}, "fallback", 1},
		{"the server says to", 1, []answer{{status: 400, headers: map[string]string{"x-should-retry": "true", "Retry-After-Ms": "1"}}, ok}, "pong", 2},
		{"Retry-After past two minutes", 3, []answer{{status: 503, headers: map[string]string{"Retry-After": "121"}}, ok}, "fallback", 1},
		{"connection dropped then a reply", 1, []answer{{hangUp: true}, ok}, "pong", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts atomic.Int32
			srv := fakeModel(t, func(w http.ResponseWriter, r *http.Request) {
				n := int(attempts.Add(1))
				var body struct {
					Messages []struct{ Content string } `json:"messages"`
				}
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Messages) != 2 || body.Messages[1].Content != "ping" {
					t.Errorf("attempt %d: body %+v, %v; want the whole request again", n, body, err)
				}
				if a := r.Header.Get("Authorization"); a != "" {
					t.Errorf("Authorization %q sent without an API key", a)
				}
				a := tt.answers[min(n, len(tt.answers))-1]
				if a.hangUp {
					conn, _, err := w.(http.Hijacker).Hijack()
					if err != nil {
						t.Errorf("hijack: %v", err)
						return
					}
					conn.Close()
					return
				}
				for k, v := range a.headers {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(a.status)
				if a.status == http.StatusOK {
					io.WriteString(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"pong"}}]}`)
				} else {
					io.WriteString(w, `{"error":{"message":"try later"}}`)
				}
			})
			r, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Timeout: 10 * time.Second, MaxRetries: tt.maxRetries, Fallback: "fallback"}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			reply, err := r.Respond(context.Background(), Request{ChatID: "c", Prompt: "p", Text: "ping"})
			if err != nil || reply != tt.wantReply {
				t.Errorf("Respond = %q, %v; want %q", reply, err, tt.wantReply)
			}
			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tt.wantAttempts)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		name     string
		headers  map[string]string
		attempt  int
		min, max time.Duration
		wantOK   bool
	}{
		{"first backoff", nil, 0, 375 * time.Millisecond, 500 * time.Millisecond, true},
		{"doubles", nil, 2, 1500 * time.Millisecond, 2 * time.Second, true},
		{"capped at 8s", nil, 10, 6 * time.Second, 8 * time.Second, true},
		{"Retry-After-Ms first", map[string]string{"Retry-After-Ms": "250", "Retry-After": "9"}, 0, 250 * time.Millisecond, 250 * time.Millisecond, true},
		{"Retry-After seconds", map[string]string{"Retry-After": "1.5"}, 0, 1500 * time.Millisecond, 1500 * time.Millisecond, true},
		{"Retry-After date", map[string]string{"Retry-After": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, 0, 0, 0, false},
		{"two minutes is still waited", map[string]string{"Retry-After": "120"}, 0, 2 * time.Minute, 2 * time.Minute, true},
		{"past two minutes", map[string]string{"Retry-After-Ms": "120001"}, 0, 0, 0, false},
		{"overflow", map[string]string{"Retry-After": "1e999"}, 0, 0, 0, false},
		{"garbage falls back to the backoff", map[string]string{"Retry-After": "soon"}, 0, 375 * time.Millisecond, 500 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &http.Response{Header: http.Header{}}
			for k, v := range tt.headers {
				res.Header.Set(k, v)
			}
			d, ok := retryDelay(res, tt.attempt)
			if ok != tt.wantOK || (ok && (d < tt.min || d > tt.max)) {
				t.Errorf("retryDelay = %v, %v; want %v in [%v, %v]", d, ok, tt.wantOK, tt.min, tt.max)
			}
		})
	}
}
