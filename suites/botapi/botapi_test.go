package botapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSend(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chats/{id}/messages", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "ok":
			_, _ = w.Write([]byte(`{"reply":"hi","prompt_source":"cached","degraded":true,"attempts":3,"code":"P1001"}`))
		case "bad":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"text is empty","field":"text"}`))
		case "html":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>\n"))
		case "garbled":
			_, _ = w.Write([]byte(`not json`))
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	c := New(testAPI, srv.URL+"/", "", nil)
	r, latency, err := c.Send(context.Background(), "ok", "hello")
	if err != nil || latency <= 0 {
		t.Fatalf("Send(ok) = %+v, %v, %v; want a reply with its latency", r, latency, err)
	}
	if r != (Reply{Text: "hi", PromptSource: "cached", Degraded: true, Attempts: 3, Code: "P1001"}) {
		t.Fatalf("Send(ok) = %+v, %v", r, err)
	}

	tests := []struct {
		name, chat string
		client     *Client
		status     int
		answer     string // the StatusError's Answer
		notSent    bool
		timed      bool // the request went out: Send returns its latency
	}{
		{"JSON error body", "bad", c, http.StatusBadRequest, `{"error":"text is empty","field":"text"}`, false, true},
		{"non-JSON error body", "html", c, http.StatusBadGateway, `<html>bad gateway</html>`, false, true},
		{"garbled 200", "garbled", c, 0, "", false, true},
		{"nothing listening", "ok", New(testAPI, closed.URL, "", nil), 0, "", true, true},
		{"unusable base URL", "ok", New(testAPI, "http://[::1", "", nil), 0, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, latency, err := tt.client.Send(context.Background(), tt.chat, "hello")
			if err == nil {
				t.Fatal("no error")
			}
			var se *StatusError
			if got := errors.As(err, &se); got != (tt.status != 0) || (got && se.Status != tt.status) {
				t.Errorf("error %v: want status %d", err, tt.status)
			}
			if se != nil && se.Answer != tt.answer {
				t.Errorf("Answer = %q, want %q", se.Answer, tt.answer)
			}
			if got := errors.Is(err, ErrNotSent); got != tt.notSent {
				t.Errorf("error %v: ErrNotSent = %v, want %v", err, got, tt.notSent)
			}
			if got := latency > 0; got != tt.timed {
				t.Errorf("latency = %v with error %v; want one: %v", latency, err, tt.timed)
			}
			if r != (Reply{}) {
				t.Errorf("a failed Send returned a reply: %+v", r)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ready","db":{"state":"up","migrated":true,"breaker":"closed"}}`))
	}))
	defer srv.Close()
	r, err := New(testAPI, srv.URL, "", nil).Readiness(context.Background())
	if err != nil || !r.Ready() || r.DB.Breaker != "closed" {
		t.Fatalf("Readiness() = %+v, %v", r, err)
	}
	r.DB.Migrated = false
	if r.Ready() {
		t.Error("a database not migrated yet reads as ready")
	}
}

func TestGet(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok/readyz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ready","db":{"state":"down","migrated":true,"breaker":"open","last_code":"P1001"}}`))
	})
	mux.HandleFunc("GET /ok/metrics", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("# TYPE bot_outbox_depth gauge\nbot_outbox_depth 7\n"))
	})
	mux.HandleFunc("GET /draining/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("  {\"status\":\"draining\"}\n"))
	})
	mux.HandleFunc("GET /garbled/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("not json{"))
	})
	mux.HandleFunc("GET /hung/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	tests := []struct {
		name, base string
		readyz     string // what the Readiness error contains; "" for none
		metrics    string // likewise for Metrics
	}{
		{"answers", "/ok", "", ""},
		{"draining", "/draining", `GET /readyz: HTTP 503: {"status":"draining"}`, `GET /metrics: HTTP 503: {"status":"draining"}`},
		{"not the documented body", "/garbled", "/readyz is not JSON", "parse metrics"},
		{"hung", "/hung", "deadline exceeded", "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(testAPI, srv.URL+tt.base, "", nil)
			c.getTimeout = 100 * time.Millisecond
			ready, err := c.Readiness(context.Background())
			if !errorContains(err, tt.readyz) {
				t.Errorf("Readiness() error %v, want one containing %q", err, tt.readyz)
			}
			if err == nil && (ready.DB.State != "down" || ready.DB.Breaker != "open" || ready.DB.LastCode != "P1001" || ready.Ready()) {
				t.Errorf("Readiness() = %+v", ready)
			}
			metrics, err := c.Metrics(context.Background())
			if !errorContains(err, tt.metrics) {
				t.Errorf("Metrics() error %v, want one containing %q", err, tt.metrics)
			}
			if err == nil && (metrics["bot_outbox_depth"] != 7 || len(metrics) != 1) {
				t.Errorf("Metrics() = %v", metrics)
			}
		})
	}
}

// errorContains: err is nil and want empty, or err's text contains want.
func errorContains(err error, want string) bool {
	if want == "" || err == nil {
		return want == "" && err == nil
	}
	return strings.Contains(err.Error(), want)
}

func TestWaitReady(t *testing.T) {
	tests := []struct {
		name    string
		answers []string // /readyz bodies in turn; the last one repeats
		err     string   // what the error contains; "" for none
	}{
		{"ready at once", []string{`{"db":{"state":"up","migrated":true}}`}, ""},
		{"ready after the migrations", []string{
			`{"db":{"state":"unknown"}}`, `{"db":{"state":"up","migrated":false}}`, `{"db":{"state":"up","migrated":true}}`}, ""},
		{"database down", []string{`{"db":{"state":"down","migrated":true,"last_code":"P1001"}}`},
			`within 300ms (last /readyz: db state "down", migrated true, last code "P1001")`},
		{"not JSON", []string{`<html>`}, "within 300ms (last /readyz: /readyz is not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var polls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(polls.Add(1))
				_, _ = w.Write([]byte(tt.answers[min(n, len(tt.answers))-1]))
			}))
			defer srv.Close()
			err := New(testAPI, srv.URL, "", nil).WaitReady(context.Background(), 300*time.Millisecond, 10*time.Millisecond)
			if !errorContains(err, tt.err) {
				t.Errorf("WaitReady() = %v, want an error containing %q", err, tt.err)
			}
			if tt.err == "" && int(polls.Load()) != len(tt.answers) {
				t.Errorf("ready after %d polls, want %d", polls.Load(), len(tt.answers))
			}
		})
	}
}

// TestEveryRequestCarriesTheToken: messages, /readyz and /metrics all
// send the token, in the header only; without one, no header at all.
func TestEveryRequestCarriesTheToken(t *testing.T) {
	const token = "tok-0123456789abcdef"
	for _, give := range []string{token, ""} {
		var seen []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("Authorization")
			if r.URL.RawQuery != "" {
				t.Errorf("%s carries a query: %q", r.URL.Path, r.URL.RawQuery)
			}
			seen = append(seen, r.URL.Path+" "+got)
			switch r.URL.Path {
			case "/readyz":
				_, _ = w.Write([]byte(`{"status":"ready","db":{"state":"up","migrated":true}}`))
			case "/metrics":
				_, _ = w.Write([]byte("bot_outbox_depth 0\n"))
			default:
				_, _ = w.Write([]byte(`{"reply":"hi","prompt_source":"custom","attempts":1}`))
			}
		}))
		c := New(testAPI, srv.URL, give, nil)
		ctx := context.Background()
		if _, _, err := c.Send(ctx, "c1", "hello"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Readiness(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Metrics(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitReady(ctx, time.Second, 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		want := ""
		if give != "" {
			want = "Bearer " + give
		}
		if len(seen) != 4 {
			t.Fatalf("%d requests, want 4: %q", len(seen), seen)
		}
		for _, s := range seen {
			if _, got, _ := strings.Cut(s, " "); got != want {
				t.Errorf("%s: Authorization %q, want %q", s, got, want)
			}
		}
	}
}

// testAPI is p1001's API as its target file maps it (the package's tests
// cannot import targets, which imports botapi; api_test.go checks the
// target files themselves).
var testAPI = API{
	Method: "POST", Path: "/v1/chats/{chat}/messages", Body: `{"text":"{text}"}`, ContentType: "application/json",
	Reply: ReplyPaths{
		Text: JSONPath{"reply"}, PromptSource: JSONPath{"prompt_source"}, Degraded: JSONPath{"degraded"},
		Attempts: JSONPath{"attempts"}, Code: JSONPath{"code"}, PromptAgeMS: JSONPath{"prompt_age_ms"},
		Meta: JSONPath{"meta"}, Command: JSONPath{"command"},
	},
	Health: "/healthz", HealthStatus: 200, Readyz: "/readyz", Metrics: "/metrics",
}
