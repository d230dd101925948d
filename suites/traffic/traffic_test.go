package traffic

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/history"
	"github.com/p1001/p1001/targets"
)

// p1001 is p1001's API, as its target file maps it.
var p1001 = targets.P1001().API

// fakeBot answers like bot/httpapi: degraded for chat c1, 500 for texts
// containing "boom", and a slow reply for "slow".
func fakeBot(t *testing.T) (*httptest.Server, *sync.Map) {
	t.Helper()
	var seen sync.Map
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chats/{id}/messages", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
			return
		}
		chat := r.PathValue("id")
		seen.Store(req.Text, chat)
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(req.Text, "boom") {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"boom"}`))
			return
		}
		source, degraded, attempts := "custom", false, 1
		if strings.HasSuffix(chat, "-c1") {
			source, degraded, attempts = "default", true, 3
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"reply": "ok " + req.Text, "prompt_source": source, "degraded": degraded, "attempts": attempts,
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestRunRecordsEveryRequest(t *testing.T) {
	srv, seen := fakeBot(t)
	base := time.Now()
	d, err := New(Config{
		API: p1001, BotURL: srv.URL, ChatPrefix: "t", Chats: 2, Rate: 200, Duration: 100 * time.Millisecond,
		Commands: map[string]float64{"setprompt": 0.25}, Seed: 1,
	}, base)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 20 {
		t.Fatalf("got %d ops, want 20 (200/s for 100ms)", len(ops))
	}
	setprompts := 0
	for i, op := range ops {
		if op.Index != i {
			t.Errorf("op %d has index %d", i, op.Index)
		}
		if op.Outcome != history.OK || op.Status != http.StatusOK {
			t.Errorf("op %d: outcome %s status %d (%s)", i, op.Outcome, op.Status, op.Error)
		}
		if op.Complete < op.Invoke || op.Invoke < 0 {
			t.Errorf("op %d: invoke %v complete %v", i, op.Invoke, op.Complete)
		}
		if _, ok := seen.Load(op.Text); !ok {
			t.Errorf("op %d (%q) never reached the bot", i, op.Text)
		}
		wantDegraded := op.Chat == "t-c1"
		if op.Degraded != wantDegraded || (wantDegraded && (op.PromptSource != "default" || op.Attempts != 3)) {
			t.Errorf("op %d (%s): degraded %v source %s attempts %d", i, op.Chat, op.Degraded, op.PromptSource, op.Attempts)
		}
		if op.Kind == history.SetPrompt {
			setprompts++
			if !strings.HasPrefix(op.Text, "/setprompt ") {
				t.Errorf("op %d is a setprompt with text %q", i, op.Text)
			}
			// p1001 acknowledges by its degraded field.
			if op.Acked() == wantDegraded || op.Unacked != wantDegraded {
				t.Errorf("op %d (%s): acked %v, unacked %v", i, op.Chat, op.Acked(), op.Unacked)
			}
		}
	}
	if setprompts == 0 || setprompts == len(ops) {
		t.Errorf("setprompt share 0.25 gave %d of %d", setprompts, len(ops))
	}
}

func TestRunOutcomes(t *testing.T) {
	srv, _ := fakeBot(t)
	unreachable := httptest.NewServer(http.NotFoundHandler())
	unreachable.Close() // a closed port: the request cannot be sent

	tests := []struct {
		name string
		url  string
		text string
		want history.Outcome
	}{
		{"server error is fail", srv.URL, "boom", history.Fail},
		{"refused connection is info", unreachable.URL, "hello", history.Info},
		{"answer is ok", srv.URL, "hello", history.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(Config{API: p1001, BotURL: tt.url, ChatPrefix: "t", Chats: 1, Rate: 1, Duration: time.Second}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			op := d.send(context.Background(), history.Op{Chat: "t-c0", Kind: history.Message, Text: tt.text})
			if op.Outcome != tt.want {
				t.Fatalf("outcome %s (%s), want %s", op.Outcome, op.Error, tt.want)
			}
		})
	}
}

// TestRunFollowsTheBot: the bot goes away mid-run (a kill) and comes back
// on another port; the requests sent while it was away are unknown
// outcomes (info), and once SetBotURL names the new port the rest are
// answered there.
func TestRunFollowsTheBot(t *testing.T) {
	first, _ := fakeBot(t)
	second, seen := fakeBot(t)
	d, err := New(Config{API: p1001, BotURL: first.URL, ChatPrefix: "t", Chats: 2, Rate: 100, Duration: 300 * time.Millisecond}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, first.Close)
	time.AfterFunc(200*time.Millisecond, func() { d.SetBotURL(second.URL) })
	ops, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var info, late int
	for _, op := range ops {
		switch {
		case op.Outcome == history.Info:
			info++
		case op.Invoke >= 250*time.Millisecond:
			late++
			if _, ok := seen.Load(op.Text); !ok || op.Outcome != history.OK {
				t.Errorf("op %d at %s: outcome %s, reached the new bot %v", op.Index, op.Invoke, op.Outcome, ok)
			}
		}
	}
	if info == 0 || late == 0 {
		t.Errorf("%d info ops while the bot was away and %d ops after it came back; want some of each", info, late)
	}
}

// TestExtendTo: a running traffic extended mid-run sends on at the same
// rate until the new end; an earlier end never shortens it.
func TestExtendTo(t *testing.T) {
	srv, _ := fakeBot(t)
	d, err := New(Config{API: p1001, BotURL: srv.URL, ChatPrefix: "t", Chats: 2, Rate: 100, Duration: 100 * time.Millisecond}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(10*time.Millisecond, func() { d.ExtendTo(200 * time.Millisecond); d.ExtendTo(150 * time.Millisecond) })
	ops, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 20 {
		t.Fatalf("got %d ops, want 20 (100/s until 200ms)", len(ops))
	}
	for i, op := range ops {
		if op.Index != i || op.Outcome != history.OK {
			t.Errorf("op %d: index %d outcome %s", i, op.Index, op.Outcome)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Chats: 1, Rate: 1, Duration: time.Second}, "BotURL"},
		{Config{BotURL: "x", Rate: 1, Duration: time.Second}, "chats"},
		{Config{BotURL: "x", Chats: 1, Duration: time.Second}, "rate"},
		{Config{BotURL: "x", Chats: 1, Rate: 1}, "duration"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg, time.Now()); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tt.cfg, err, tt.want)
		}
	}
}

// TestTargetCommands: the commands are the target's texts, a target
// without one sends a plain message instead, and an answer the target's
// rule does not count as saved is recorded as not acknowledged.
func TestTargetCommands(t *testing.T) {
	var mu sync.Mutex
	var texts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		texts = append(texts, req.Text)
		mu.Unlock()
		reply := "You said: " + req.Text
		if strings.HasPrefix(req.Text, "!set ") {
			reply = "Could not save"
			if strings.Contains(req.Text, "persona-0 ") {
				reply = "Saved"
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"message": map[string]string{"text": reply}})
	}))
	defer srv.Close()
	api := p1001
	api.Path, api.Reply = "/c/{chat}", botapi.ReplyPaths{Text: botapi.JSONPath{"message", "text"}}
	api.Commands = botapi.Commands{SetPrompt: "!set {prompt}", AckText: regexp.MustCompile(`^Saved$`)}
	d, err := New(Config{API: api, BotURL: srv.URL, ChatPrefix: "t", Chats: 1, Rate: 200, Duration: 50 * time.Millisecond,
		Commands: map[string]float64{"setprompt": 0.5, "reset": 0.5}, Seed: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ops, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sets, acked int
	for _, op := range ops {
		switch op.Kind {
		case history.SetPrompt:
			sets++
			if !strings.HasPrefix(op.Text, "!set persona-") {
				t.Errorf("op %d: setprompt text %q", op.Index, op.Text)
			}
			if op.Acked() {
				acked++
				if op.Index != 0 {
					t.Errorf("op %d: %q acknowledged", op.Index, op.Reply.Text)
				}
			}
		case history.Reset:
			t.Errorf("op %d: a reset, and the target has none", op.Index)
		}
	}
	if sets == 0 || sets == len(ops) {
		t.Errorf("setprompt share 0.5 gave %d of %d", sets, len(ops))
	}
	if ops[0].Kind == history.SetPrompt && acked != 1 {
		t.Errorf("%d acknowledged writes, want op 0's only", acked)
	}
}
