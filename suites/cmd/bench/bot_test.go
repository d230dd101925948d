package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/report/bench"
)

func TestSendTo(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chats/{id}/messages", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "custom":
			_, _ = w.Write([]byte(`{"reply":"hi","prompt_source":"custom","attempts":1}`))
		case "fallback":
			_, _ = w.Write([]byte(`{"reply":"hi","prompt_source":"cached","degraded":true,"attempts":3,"code":"P1001"}`))
		case "slow":
			<-release // past the cap: the client has given up long before
		case "broken":
			http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		case "garbled":
			_, _ = w.Write([]byte(`not json`))
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	// capLimit is the cap of the one case that must hit it; the others get
	// a cap no loaded machine reaches, as they test what a reply says.
	const capLimit, noCap = 100 * time.Millisecond, time.Minute
	tests := []struct {
		name, base, chat string
		want             bench.Msg // Chat, latency and Error aside
		err              string    // what Error contains; "" for none
		replied          bool
	}{
		{"custom reply", srv.URL, "custom", bench.Msg{Reply: botapi.Reply{Text: "hi", PromptSource: "custom", Attempts: 1}}, "", true},
		{"fallback", srv.URL, "fallback", bench.Msg{Reply: botapi.Reply{Text: "hi", PromptSource: "cached", Degraded: true, Attempts: 3, Code: "P1001"}}, "", true},
		{"past the cap", srv.URL, "slow", bench.Msg{Capped: true, LatencyMS: bench.MS(capLimit)}, "", false},
		{"HTTP 500", srv.URL, "broken", bench.Msg{}, `HTTP 500: {"error":"internal error"}`, false},
		{"not JSON", srv.URL, "garbled", bench.Msg{}, `reply is not JSON: "not json"`, false},
		{"nothing listening", closed.URL, "custom", bench.Msg{}, "connection refused", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newBotRun("p1001", tt.base, "", 2)
			defer c.http.CloseIdleConnections()
			limit := noCap
			if tt.want.Capped {
				limit = capLimit
			}
			m := c.sendTo(context.Background(), tt.chat, "hello", limit)
			if m.Chat != tt.chat || m.Replied() != tt.replied {
				t.Errorf("send = %+v; want chat %s, replied %v", m, tt.chat, tt.replied)
			}
			if (tt.err == "") != (m.Error == "") || !strings.Contains(m.Error, tt.err) {
				t.Errorf("Error = %q, want one containing %q", m.Error, tt.err)
			}
			if m.LatencyMS <= 0 {
				t.Errorf("LatencyMS = %v, want the round trip", m.LatencyMS)
			}
			got := m
			got.Chat, got.Error = "", ""
			if !tt.want.Capped {
				got.LatencyMS = 0
			}
			if got != tt.want {
				t.Errorf("send = %+v, want %+v", got, tt.want)
			}
		})
	}
}
