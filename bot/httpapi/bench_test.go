package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/httpapi"
	"github.com/p1001/p1001/bot/internal/fakestore"
	"github.com/p1001/p1001/bot/metrics"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/bot/responder"
)

// latencies collects per-request durations from parallel workers.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	slices.Sort(l.all)
	if len(l.all) == 0 {
		return
	}
	q := func(p float64) float64 { return float64(l.all[int(p*float64(len(l.all)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

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
	var lat latencies
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
		lat.add(mine)
	})
	b.StopTimer()
	lat.report(b)
}

// BenchmarkPostMessageLoopback adds a real loopback TCP server and client
// (keep-alive), which is what a load tool would measure.
func BenchmarkPostMessageLoopback(b *testing.B) {
	srv := httptest.NewServer(benchHandler(b))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var lat latencies
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		i := 0
		for pb.Next() {
			i++
			start := time.Now()
			resp, err := client.Post(fmt.Sprintf("%s/v1/chats/chat-%d/messages", srv.URL, i%100), "application/json", strings.NewReader(`{"text":"hello there"}`))
			if err != nil {
				b.Fatal(err)
			}
			var buf [512]byte
			n, _ := resp.Body.Read(buf[:])
			resp.Body.Close()
			mine = append(mine, time.Since(start))
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(buf[:n]), `"prompt_source":"custom"`) {
				b.Fatalf("reply %d %s", resp.StatusCode, buf[:n])
			}
		}
		lat.add(mine)
	})
	b.StopTimer()
	lat.report(b)
}
