package history

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
)

func TestJSONLRoundTrip(t *testing.T) {
	want := History{
		Scenario: "outage-pooler",
		Base:     time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
		Ops: []Op{
			{Index: 0, Chat: "c0", Kind: Message, Text: "hi", Invoke: time.Millisecond, Complete: 3 * time.Millisecond, Outcome: OK, Status: 200, PromptSource: "custom", Attempts: 1},
			{Index: 1, Chat: "c1", Kind: SetPrompt, Text: "/setprompt x", Invoke: 2 * time.Millisecond, Complete: 900 * time.Millisecond, Outcome: OK, Status: 200, PromptSource: "default", Degraded: true, Attempts: 3, Code: "P1001"},
			{Index: 2, Chat: "c0", Kind: Message, Text: "hi", Invoke: 5 * time.Millisecond, Complete: 30 * time.Second, Outcome: Info, Error: "timeout"},
		},
		Faults:       []scenarios.FaultEvent{{Fault: "cut", Type: "outage", Where: "pooler", Start: time.Second, Stop: 3 * time.Second}},
		Logs:         []LogLine{{Time: time.Date(2026, 11, 26, 9, 0, 1, 0, time.UTC), Level: "WARN", Msg: "[DB Retry] Attempt 1/3 failed, retrying in 80ms...", Attrs: map[string]any{"code": "P1001"}}},
		MetricsAfter: map[string]float64{"bot_outbox_depth": 0},
		Probes: []Probe{
			{Fault: "cut", Kind: ProbeSQL, Where: "pooler", Start: 1100 * time.Millisecond, End: 1102 * time.Millisecond, Err: "connection refused"},
			{Fault: "cut", Kind: ProbeToxics, Where: "pooler", Start: 1200 * time.Millisecond, End: 1201 * time.Millisecond, OK: true, Toxics: []string{"t:latency:downstream"}},
		},
		Prompts:       map[string]string{"c0": "persona"},
		Logged:        map[string]int{"hi": 2},
		LoggedReplies: map[string]int{"[persona] You said: hi": 1},
	}
	var buf bytes.Buffer
	if err := want.WriteJSONL(&buf); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 1+3+1+1+2+1 {
		t.Errorf("history has %d lines, want 9 (run, 3 ops, fault, log, 2 probes, state)", lines)
	}
	got, err := ReadJSONL(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the history:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadJSONLNamesTheBadLine(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"not json", "{\"record\":\"run\"}\nnot json\n", "history line 2"},
		{"unknown record", "{\"record\":\"run\"}\n{\"record\":\"op\"}\n{\"record\":\"nope\"}\n", `history line 3: unknown record "nope"`},
		{"bad field", "{\"record\":\"op\",\"index\":\"x\"}\n", "history line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadJSONL(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
