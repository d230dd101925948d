package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/health"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/resilience"
)

func TestObserveReply(t *testing.T) {
	m := New("v")
	replies := []chat.Reply{
		{PromptSource: chat.SourceCustom, Attempts: 1},
		{PromptSource: chat.SourceCached, Degraded: true, Code: "P1001", Attempts: 3},
		{PromptSource: chat.SourceDefault, Degraded: true, Code: "P1001", Attempts: 0, Command: "/prompt"},
		{PromptSource: chat.SourceCustom, Attempts: 1, Command: "/made-up-command-1"},
		{PromptSource: chat.SourceCustom, Attempts: 1, Command: "/made-up-command-2"},
	}
	for _, r := range replies {
		m.ObserveReply(r, time.Millisecond)
	}
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"custom ok", testutil.ToFloat64(m.replies.WithLabelValues("custom", "false")), 3},
		{"cached degraded", testutil.ToFloat64(m.replies.WithLabelValues("cached", "true")), 1},
		{"degraded P1001", testutil.ToFloat64(m.degraded.WithLabelValues("P1001")), 2},
		{"/prompt degraded", testutil.ToFloat64(m.commands.WithLabelValues("/prompt", "degraded")), 1},
		// Arbitrary user input must not become label values.
		{"unknown commands folded", testutil.ToFloat64(m.commands.WithLabelValues("unknown", "ok")), 2},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.commands); n != 2 {
		t.Errorf("bot_commands_total has %d series, want 2", n)
	}
}

func TestRegisteredCollectorsLint(t *testing.T) {
	m := New("v")
	o := msglog.New(msglog.Options{Capacity: 3})
	o.Enqueue(msglog.Record{Key: "a"}, msglog.Record{Key: "b"})
	o.Enqueue(msglog.Record{Key: "c"}, msglog.Record{Key: "d"}) // overflow: 2 dropped
	m.RegisterOutbox(o)
	tr := health.New(health.Options{})
	tr.Observe(resilience.Event{Kind: resilience.EventSucceeded})
	m.RegisterHealth(tr)
	m.RegisterLookups(lookups(3))
	m.TelegramUpdate("replied")
	m.ResponderFallback(nil)

	want := `
# HELP bot_outbox_depth Message-log records waiting for the database.
# TYPE bot_outbox_depth gauge
bot_outbox_depth 2
# HELP bot_outbox_dropped_total Records refused because the outbox was full.
# TYPE bot_outbox_dropped_total counter
bot_outbox_dropped_total{reason="overflow"} 2
# HELP bot_db_up 1 when the last finished database call reached the server, 0 when it failed for availability or none finished yet.
# TYPE bot_db_up gauge
bot_db_up 1
# HELP bot_prompt_lookups_in_flight Prompt lookups running now, those replies stopped waiting for (REPLY_DEADLINE) included.
# TYPE bot_prompt_lookups_in_flight gauge
bot_prompt_lookups_in_flight 3
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "bot_outbox_depth", "bot_outbox_dropped_total", "bot_db_up",
		"bot_prompt_lookups_in_flight"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "bot_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

type lookups int

func (l lookups) LookupsInFlight() int { return int(l) }
