// Package httpbench is shared by the bot's HTTP benchmarks: it collects
// per-request latencies from parallel workers and drives a running server
// over loopback, so that the in-memory and the real-Postgres benchmarks
// measure the same way.
package httpbench

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Latencies collects per-request durations from parallel workers.
type Latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

// Add records one worker's durations.
func (l *Latencies) Add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

// Report adds p50 and p99 (µs, nearest rank) and req/s to b's results.
func (l *Latencies) Report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	q := func(p float64) float64 { return float64(l.all[int(p*float64(len(l.all)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(len(l.all))/b.Elapsed().Seconds(), "req/s")
}

// Loopback posts a message to baseURL/v1/chats/<chatPrefix>-<i%100>/messages
// from every RunParallel worker over keep-alive connections, fails on any
// reply that is not a 200 with the custom prompt, and reports latencies.
// The caller has given those 100 chats a custom prompt.
func Loopback(b *testing.B, baseURL, chatPrefix string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var lat Latencies
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		i := 0
		for pb.Next() {
			i++
			start := time.Now()
			resp, err := client.Post(fmt.Sprintf("%s/v1/chats/%s-%d/messages", baseURL, chatPrefix, i%100),
				"application/json", strings.NewReader(`{"text":"hello there"}`))
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(start))
			if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"prompt_source":"custom"`) {
				b.Fatalf("reply %d %s (%v)", resp.StatusCode, body, err)
			}
		}
		lat.Add(mine)
	})
	b.StopTimer()
	lat.Report(b)
}
