package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/p1001/p1001/bot/httpapi"
)

const apiToken = "t0k-9c2b7e41f0a35d86"

// newAuthFixture is the API with apiToken required and a stand-in
// webhook that answers 200 (it checks its own secret, not the token).
func newAuthFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixture(t, func(o *httpapi.Options) {
		o.APIToken = apiToken
		o.Telegram = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteJSON(w, http.StatusOK, map[string]string{"telegram": "own secret check"})
		})
	})
}

// TestAPITokenOnEveryRoute sends each way of (not) presenting the token to
// every route: /v1/ needs it, the ops endpoints and the webhook do not.
func TestAPITokenOnEveryRoute(t *testing.T) {
	routes := []struct {
		method, path, body string
		api                bool // behind the token
		okStatus           int  // with the right token (or none needed)
	}{
		{"POST", "/v1/chats/c1/messages", `{"text":"hi"}`, true, 200},
		{"GET", "/v1/chats/c1/messages", "", true, 405},
		{"POST", "/v1/nothing-here", `{}`, true, 404},
		{"GET", "/healthz", "", false, 200},
		{"GET", "/readyz", "", false, 200},
		{"GET", "/metrics", "", false, 200},
		{"POST", "/telegram/webhook", `{}`, false, 200},
	}
	presentations := []struct {
		name   string
		header []string // Authorization values
		query  string
		reason string // when refused on an API route
	}{
		{name: "no token", reason: httpapi.AuthMissing},
		{name: "wrong token", header: []string{"Bearer " + apiToken + "x"}, reason: httpapi.AuthWrong},
		{name: "a prefix of the token", header: []string{"Bearer " + apiToken[:8]}, reason: httpapi.AuthWrong},
		{name: "right token", header: []string{"Bearer " + apiToken}},
		{name: "right token, scheme in lower case", header: []string{"bearer " + apiToken}},
		{name: "token in the query string", query: "?access_token=" + apiToken + "&token=" + apiToken, reason: httpapi.AuthMissing},
		{name: "token without the scheme", header: []string{apiToken}, reason: httpapi.AuthMalformed},
		{name: "basic auth", header: []string{"Basic dXNlcjp" + apiToken}, reason: httpapi.AuthMalformed},
		{name: "two headers, one right", header: []string{"Bearer " + apiToken, "Bearer nope"}, reason: httpapi.AuthMalformed},
		{name: "very long header (64 KiB)", header: []string{"Bearer " + strings.Repeat("A", 64<<10)}, reason: httpapi.AuthMalformed},
		{name: "right token followed by 8 KiB", header: []string{"Bearer " + apiToken + strings.Repeat("x", 8<<10)}, reason: httpapi.AuthMalformed},
	}
	f := newAuthFixture(t)
	refused := map[string]int{}
	for _, p := range presentations {
		for _, r := range routes {
			t.Run(p.name+" "+r.method+" "+r.path, func(t *testing.T) {
				req, err := http.NewRequest(r.method, f.srv.URL+r.path+p.query, strings.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range p.header {
					req.Header.Add("Authorization", v)
				}
				before := f.handled.Load()
				resp, err := f.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := r.okStatus
				if r.api && p.reason != "" {
					want = http.StatusUnauthorized
					refused[p.reason]++
				}
				if resp.StatusCode != want {
					t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, body, want)
				}
				if want != http.StatusUnauthorized {
					return
				}
				if got := f.handled.Load(); got != before {
					t.Error("a refused request reached the chat handler")
				}
				if resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error":`) {
					t.Errorf("not the JSON ErrorResponse: %s", body)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate header")
				}
				if strings.Contains(string(body), apiToken[:8]) || strings.Contains(string(body), "AAAA") {
					t.Errorf("the error echoes what was sent: %s", body)
				}
			})
		}
	}

	// The refusals are counted, by reason.
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for reason, n := range refused {
		want := `bot_http_unauthorized_total{reason="` + reason + `"} ` + strconv.Itoa(n)
		if !strings.Contains(string(out), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The log says what was refused, never with the token or the query.
	logs := f.logs.String()
	if !strings.Contains(logs, "request refused: missing or wrong API token") {
		t.Errorf("no log line for the refusals:\n%.2000s", logs)
	}
	if strings.Contains(logs, apiToken[:8]) || strings.Contains(logs, "access_token") {
		t.Errorf("the log holds the token or the query:\n%.2000s", logs)
	}
}

// TestHeaderBeyondTheServersLimit: net/http itself refuses a header block
// over MaxHeaderBytes (1 MiB by default) before any handler runs.
func TestHeaderBeyondTheServersLimit(t *testing.T) {
	f := newAuthFixture(t)
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/chats/c1/messages", strings.NewReader(`{"text":"hi"}`))
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("A", 2<<20))
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("HTTP %d, want 431", resp.StatusCode)
	}
	if f.handled.Load() != 0 {
		t.Error("the request reached the chat handler")
	}
}

// bodySpy fails the test if anything reads it.
type bodySpy struct{ read atomic.Int64 }

func (b *bodySpy) Read(p []byte) (int, error) {
	b.read.Add(int64(len(p)))
	return 0, io.EOF
}

// TestRefusedBeforeTheBodyIsRead: without the token not one byte of the
// body is read, whatever its size, and the connection is closed rather
// than drained.
func TestRefusedBeforeTheBodyIsRead(t *testing.T) {
	h := httpapi.New(failingChat{}, httpapi.Options{APIToken: apiToken, MaxBodyBytes: 1024})
	for _, header := range []string{"", "Bearer wrong-token-0123456789"} {
		body := &bodySpy{}
		req := httptest.NewRequest("POST", "/v1/chats/c1/messages", body)
		req.ContentLength = 1 << 30
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%q: HTTP %d, want 401", header, rec.Code)
		}
		if n := body.read.Load(); n != 0 {
			t.Errorf("%q: the body was read (%d bytes asked) before the token was checked", header, n)
		}
		if rec.Header().Get("Connection") != "close" {
			t.Errorf("%q: the connection is kept, so the server would drain the body", header)
		}
	}
}

// TestNoTokenConfiguredLeavesTheAPIOpen: the loopback default.
func TestNoTokenConfiguredLeavesTheAPIOpen(t *testing.T) {
	f := newFixture(t)
	if r := f.send(t, "c1", "hello"); r.Reply == "" {
		t.Error("no reply without a configured token")
	}
}
