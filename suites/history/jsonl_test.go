package history

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
)

func TestJSONLRoundTrip(t *testing.T) {
	want := History{
		Scenario: "outage-pooler",
		Target:   &TargetInfo{Name: "naive", Observes: []Evidence{SeesPrompts, SeesCommands}},
		Base:     time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
		Ops: []Op{
			{Index: 0, Chat: "c0", Kind: Message, Text: "hi", Invoke: time.Millisecond, Complete: 3 * time.Millisecond, Outcome: OK, Status: 200, Reply: botapi.Reply{Text: "[persona] You said: hi", PromptSource: "custom", Attempts: 1}},
			{Index: 1, Chat: "c1", Kind: SetPrompt, Text: "/setprompt x", Invoke: 2 * time.Millisecond, Complete: 900 * time.Millisecond, Outcome: OK, Status: 200, Reply: botapi.Reply{Text: "Your prompt was NOT saved.", PromptSource: "default", Degraded: true, Attempts: 3, Code: "P1001", Command: "/setprompt"}},
			{Index: 2, Chat: "c0", Kind: Message, Text: "hi", Invoke: 5 * time.Millisecond, Complete: 30 * time.Second, Outcome: Info, Error: "timeout"},
		},
		Faults:       []scenarios.FaultEvent{{Fault: "cut", Type: "outage", Where: "pooler", Start: time.Second, Stop: 3 * time.Second}},
		Logs:         []botlog.Line{{Time: time.Date(2026, 11, 26, 9, 0, 1, 0, time.UTC), Level: "WARN", Msg: "[Prisma Retry] Attempt 1/3 failed, retrying in 80ms...", Attrs: map[string]any{"code": "P1001"}}},
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

// TestReadsAnOldHistory: lines written before Op embedded botapi.Reply
// (copied from a real run's history.jsonl) read as they did, and an op
// written again comes out byte for byte as it was.
func TestReadsAnOldHistory(t *testing.T) {
	old := []string{
		`{"record":"run","scenario":"outage-flapping","base":"2026-11-26T09:33:51.7Z"}`,
		`{"record":"op","index":21,"chat":"outage-flapping-13644d-c1","kind":"message","text":"hello 21 from outage-flapping-13644d-c1","invoke":1050636315,"complete":1143865711,"outcome":"ok","status":200,"reply":"[persona of outage-flapping-13644d-c1] You said: hello 21 from outage-flapping-13644d-c1","prompt_source":"cached","degraded":true,"attempts":3,"code":"P1001"}`,
		`{"record":"op","index":40,"chat":"outage-flapping-13644d-c0","kind":"message","text":"hello 40 from outage-flapping-13644d-c0","invoke":2019831667,"complete":2340669242,"outcome":"info","attempts":0,"error":"read tcp 127.0.0.1:41234: connection reset by peer"}`,
		`{"record":"log","time":"2026-11-26T09:33:51.760930696Z","level":"INFO","msg":"[Config] connect_timeout capped by the retry policy's attempt timeout","attrs":{"attempt_timeout":"2s","connect_timeout":"2s"}}`,
		`{"record":"state"}`,
	}
	h, err := ReadJSONL(strings.NewReader(strings.Join(old, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Op{Index: 21, Chat: "outage-flapping-13644d-c1", Kind: Message, Text: "hello 21 from outage-flapping-13644d-c1",
		Invoke: 1050636315, Complete: 1143865711, Outcome: OK, Status: 200,
		Reply: botapi.Reply{Text: "[persona of outage-flapping-13644d-c1] You said: hello 21 from outage-flapping-13644d-c1",
			PromptSource: "cached", Degraded: true, Attempts: 3, Code: "P1001"}}
	if len(h.Ops) != 2 || !reflect.DeepEqual(h.Ops[0], want) {
		t.Fatalf("ops read as %+v, want the first %+v", h.Ops, want)
	}
	if l := h.Logs; len(l) != 1 || l[0].Attr("attempt_timeout") != "2s" {
		t.Errorf("log lines read as %+v", l)
	}
	var buf bytes.Buffer
	if err := h.WriteJSONL(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	for i, wantLine := range old[1:4] {
		if lines[i+1] != wantLine {
			t.Errorf("line %d written as\n%s\nwant\n%s", i+2, lines[i+1], wantLine)
		}
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
