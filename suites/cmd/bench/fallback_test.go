package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/report/bench"
)

// fakeBot answers every message after delay; the first fallbacks of them
// degraded (cached), the rest custom.
func fakeBot(t *testing.T, delay time.Duration, fallbacks int64) *botRun {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		if n.Add(1) <= fallbacks {
			_, _ = w.Write([]byte(`{"reply":"hi","prompt_source":"cached","degraded":true,"attempts":3,"code":"P1001"}`))
			return
		}
		_, _ = w.Write([]byte(`{"reply":"hi","prompt_source":"custom","attempts":1}`))
	}))
	t.Cleanup(srv.Close)
	bot := newBotRun("p1001", srv.URL, "", 4)
	bot.chats = []string{"a", "b"}
	return bot
}

func testBencher() *bencher {
	var o Options
	o.Cap = scenarios.Duration(time.Minute)
	o.SteadyMessages, o.SteadyInterval = 5, scenarios.Duration(10*time.Millisecond)
	o.RecoveryTimeout, o.RecoveryPace = scenarios.Duration(10*time.Second), scenarios.Duration(time.Millisecond)
	return &bencher{opts: o, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// The steady state ends when every reply is back, however long they take:
// the cycle's end, and so the fault's, waits for the slowest.
func TestOpenLoopWaitsForEveryReply(t *testing.T) {
	const delay = 200 * time.Millisecond
	b, bot := testBencher(), fakeBot(t, delay, 0)
	start := time.Now()
	msgs := b.openLoop(context.Background(), bot, start, time.Minute)
	if len(msgs) != 5 {
		t.Fatalf("%d messages, want 5", len(msgs))
	}
	for i, m := range msgs {
		if !m.Custom() || m.LatencyMS < bench.MS(delay) {
			t.Errorf("message %d = %+v, want a custom reply after at least %s", i, m, delay)
		}
		if want := bench.MS(time.Duration(i) * 10 * time.Millisecond); m.SentMS < want {
			t.Errorf("message %d sent at %.1f ms, want at least %.1f ms (open loop)", i, m.SentMS, want)
		}
	}
	if took := time.Since(start); took < 40*time.Millisecond+delay {
		t.Errorf("openLoop returned after %s, before the last reply could be back", took)
	}
}

func TestUntil(t *testing.T) {
	b, bot := testBencher(), fakeBot(t, 0, 3)
	rec := b.until(context.Background(), bot, time.Now(), 2, bench.Msg.Custom)
	if !rec.Recovered || rec.Messages != 5 || rec.First.AtLeast || rec.Steady.AtLeast || rec.Steady.Value < rec.First.Value {
		t.Errorf("until = %+v; want recovered after 3 fallbacks and 2 custom replies", rec)
	}

	b.opts.RecoveryTimeout = scenarios.Duration(100 * time.Millisecond)
	rec = b.until(context.Background(), fakeBot(t, 0, 1<<40), time.Now(), 1, bench.Msg.Custom)
	if rec.Recovered || !rec.First.AtLeast || rec.First.Value != 100 || rec.Messages == 0 {
		t.Errorf("until = %+v; want not recovered, both times at least the 100 ms timeout", rec)
	}
}
