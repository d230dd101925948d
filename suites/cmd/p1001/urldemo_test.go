package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
)

// busyBot answers every third message degraded, as a bot whose prepared
// statements a transaction pooler loses, and logs the advice line
// adviceLines times at its first degraded reply.
type busyBot struct {
	mu          sync.Mutex
	n           int
	logs        *botlog.Watcher
	code        string
	attempts    int
	adviceLines int
}

func (b *busyBot) Send(context.Context, string, string) (botapi.Reply, time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	if b.n%3 != 0 {
		return botapi.Reply{Text: "ok", PromptSource: "default", Attempts: 1}, time.Millisecond, nil
	}
	if b.n == 3 {
		for range b.adviceLines {
			line, _ := json.Marshal(map[string]any{"time": time.Now().Format(time.RFC3339Nano), "level": "WARN",
				"msg": "[Config] Prepared statements fail through a transaction pooler: add pgbouncer=true to DATABASE_URL, or use the direct (non-pooler) URL"})
			b.logs.Accept(append(line, '\n'))
		}
	}
	return botapi.Reply{Text: "degraded", PromptSource: "default", Degraded: true, Code: b.code, Attempts: b.attempts}, time.Millisecond, nil
}

func (b *busyBot) Readiness(context.Context) (botapi.Readiness, error) {
	return botapi.Readiness{}, nil
}
func (b *busyBot) Metrics(context.Context) (map[string]float64, error) { return nil, nil }

func TestURLDemoTellsKeptFromBrokenPromises(t *testing.T) {
	tests := []struct {
		name         string
		bot          *busyBot
		wantFailures []string
	}{
		{name: "DB_ERROR, not retried, advised once", bot: &busyBot{code: "DB_ERROR", attempts: 1, adviceLines: 1}},
		{name: "an outage code for a configuration mistake", bot: &busyBot{code: "P1001", attempts: 1, adviceLines: 1},
			wantFailures: []string{"every degraded reply says DB_ERROR"}},
		{name: "retried", bot: &busyBot{code: "DB_ERROR", attempts: 3, adviceLines: 1},
			wantFailures: []string{"none was retried"}},
		{name: "no advice", bot: &busyBot{code: "DB_ERROR", attempts: 1},
			wantFailures: []string{"(0 times)"}},
		{name: "advice on every failure", bot: &busyBot{code: "DB_ERROR", attempts: 1, adviceLines: 2},
			wantFailures: []string{"(2 times)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n := NewNarrator(&out, nil)
			logs := NewLogWatcher(n)
			bot := tt.bot
			bot.logs = logs
			d := &Demo{Verdict: &Verdict{N: n}, Bot: bot, Logs: logs, LogWait: 50 * time.Millisecond}
			for _, s := range d.URLSteps() {
				if err := s.Run(context.Background()); err != nil {
					t.Fatalf("%s: %v", s.Title, err)
				}
			}
			failures := d.failures
			if len(failures) != len(tt.wantFailures) {
				t.Fatalf("failures %q, want %d matching %q\n%s", failures, len(tt.wantFailures), tt.wantFailures, out.String())
			}
			for i, want := range tt.wantFailures {
				if !strings.Contains(failures[i], want) {
					t.Errorf("failure %d = %q, want it to mention %q", i, failures[i], want)
				}
			}
		})
	}
}
