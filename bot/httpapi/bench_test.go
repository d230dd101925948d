package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/bot/internal/fakestore"
	"github.com/p1001/p1001/bot/internal/httpbench"
	"github.com/p1001/p1001/bot/metrics"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/bot/responder"
)

// benchHandler is the full HTTP path (mux, JSON, handler, template responder,
// outbox, metrics) over a healthy in-memory store, with a drained outbox.
func benchHandler(b *testing.B) http.Handler {
	b.Helper()
	st := fakestore.New()
	ob := msglog.New(msglog.Options{Capacity: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ob.Run(ctx, st, nil) }()
	b.Cleanup(func() { cancel(); <-done })
	m := metrics.New("bench")
	h, err := chat.New(st, responder.Template{}, ob, chat.Options{MaxStaleness: time.Minute, Observer: m})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		st.SetPrompt(context.Background(), fmt.Sprintf("chat-%d", i), "You are a pirate. Arr.")
	}
	return httpapi.New(h, httpapi.Options{Metrics: m.Handler(), Instrument: m.Instrument})
}

// BenchmarkPostMessage measures POST /v1/chats/{id}/messages on the healthy
// path, in process (no sockets), across 100 chats with custom prompts.
func BenchmarkPostMessage(b *testing.B) {
	h := benchHandler(b)
	var lat httpbench.Latencies
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		i := 0
		for pb.Next() {
			i++
			req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/v1/chats/chat-%d/messages", i%100), strings.NewReader(`{"text":"hello there"}`))
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
			mine = append(mine, time.Since(start))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"prompt_source":"custom"`) {
				b.Fatalf("reply %d %s", rec.Code, rec.Body.String())
			}
		}
		lat.Add(mine)
	})
	b.StopTimer()
	lat.Report(b)
}

// BenchmarkPostMessageLoopback adds a real loopback TCP server and client
// (keep-alive), which is what a load tool would measure.
func BenchmarkPostMessageLoopback(b *testing.B) {
	srv := httptest.NewServer(benchHandler(b))
	defer srv.Close()
	httpbench.Loopback(b, srv.URL, "chat")
}
