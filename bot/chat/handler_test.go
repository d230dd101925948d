package chat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/bot/responder"
	"github.com/p1001/p1001/resilience"
)

// outage returns what the Executor returns after giving up on a server
// that failed every attempt with cause: the cause's verdict.
func outage(op string, cause error) error {
	return &resilience.Error{Classification: resilience.Classify(cause), Op: op, Target: pooler, Attempts: 3, Err: cause}
}

var (
	pooler  = resilience.Target{Host: "toxiproxy", Port: 6543}
	refused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED} // never reached the server
	cutOff  = fmt.Errorf("reading result: %w", io.ErrUnexpectedEOF)           // may have reached it
)

// fakeStore is an in-memory Store; err, when set, fails every call after `attempts` attempts.
type fakeStore struct {
	mu       sync.Mutex
	prompts  map[string]string
	err      error
	attempts int
	calls    int
}

func newFakeStore() *fakeStore { return &fakeStore{prompts: map[string]string{}, attempts: 1} }

func (s *fakeStore) down(err error, attempts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err, s.attempts = err, attempts
}

func (s *fakeStore) up() { s.down(nil, 1) }

func (s *fakeStore) GetPrompt(_ context.Context, chatID string) (StoredPrompt, resilience.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	res := resilience.Result{Attempts: s.attempts}
	if s.err != nil {
		return StoredPrompt{}, res, s.err
	}
	p, ok := s.prompts[chatID]
	return StoredPrompt{Text: p, Found: ok}, res, nil
}

func (s *fakeStore) SetPrompt(_ context.Context, chatID, prompt string) (resilience.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	res := resilience.Result{Attempts: s.attempts}
	if s.err != nil {
		return res, s.err
	}
	s.prompts[chatID] = prompt
	return res, nil
}

func (s *fakeStore) ResetPrompt(_ context.Context, chatID string) (resilience.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	res := resilience.Result{Attempts: s.attempts}
	if s.err != nil {
		return res, s.err
	}
	delete(s.prompts, chatID)
	return res, nil
}

func (s *fakeStore) prompt(chatID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.prompts[chatID]
	return p, ok
}

type fakeSink struct {
	mu   sync.Mutex
	recs []msglog.Record
}

func (s *fakeSink) Enqueue(recs ...msglog.Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, recs...)
	return true
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

type harness struct {
	h     *Handler
	store *fakeStore
	sink  *fakeSink
	clock *fakeClock
	logs  *bytes.Buffer
}

func newHarness(t *testing.T, staleness time.Duration) *harness {
	t.Helper()
	hs := &harness{store: newFakeStore(), sink: &fakeSink{}, clock: &fakeClock{t: time.Unix(1_700_000_000, 0)}, logs: &bytes.Buffer{}}
	keys := 0
	h, err := New(hs.store, responder.Template{}, hs.sink, Options{
		DefaultPrompt: "You are the default bot.",
		MaxStaleness:  staleness,
		Logger:        slog.New(slog.NewTextHandler(hs.logs, nil)),
		Now:           hs.clock.now,
		NewKey:        func() string { keys++; return fmt.Sprintf("key-%d", keys) },
	})
	if err != nil {
		t.Fatal(err)
	}
	hs.h = h
	return hs
}

func (hs *harness) send(t *testing.T, chatID, text string) Reply {
	t.Helper()
	r, err := hs.h.Handle(context.Background(), Message{ChatID: chatID, Text: text})
	if err != nil {
		t.Fatalf("Handle(%q): %v", text, err)
	}
	return r
}

func TestPromptResolution(t *testing.T) {
	tests := []struct {
		name         string
		staleness    time.Duration
		setup        func(t *testing.T, hs *harness) // before the outage, if any
		outage       error
		wait         time.Duration // clock advance between setup and the message
		wantSource   PromptSource
		wantPersona  string
		wantDegraded bool
		wantCode     string
		wantAttempts int
		wantLogs     []string
	}{
		{
			name:         "custom prompt from a healthy database",
			staleness:    time.Minute,
			setup:        func(t *testing.T, hs *harness) { hs.store.prompts["c1"] = "You are a pirate." },
			wantSource:   SourceCustom,
			wantPersona:  "[You are a pirate.]",
			wantAttempts: 1,
		},
		{
			name:         "no custom prompt: default",
			staleness:    time.Minute,
			wantSource:   SourceDefault,
			wantPersona:  "[You are the default bot.]",
			wantAttempts: 1,
		},
		{
			name:      "outage with a fresh cached prompt: cached",
			staleness: time.Minute,
			setup: func(t *testing.T, hs *harness) {
				hs.store.prompts["c1"] = "You are a pirate."
				hs.send(t, "c1", "warm the cache")
			},
			outage:       outage("getCustomPrompt", refused),
			wait:         59 * time.Second,
			wantSource:   SourceCached,
			wantPersona:  "[You are a pirate.]",
			wantDegraded: true,
			wantCode:     "P1001",
			wantAttempts: 3,
			wantLogs: []string{
				// The cause is an attribute of its own; the error is Prisma's message.
				`msg="[getCustomPrompt] Database connection error after retries, using fallback prompt" chat=c1 code=P1001 source=cached attempts=3 reason="connection refused" ` +
					"error=\"P1001: Can't reach database server at `toxiproxy`:`6543` Please make sure your database server is running at `toxiproxy`:`6543`.\"",
				`msg="[MessageHandler] Database connection error, replying in degraded mode" chat=c1 code=P1001 source=cached attempts=3`,
			},
		},
		{
			name:      "outage with a stale cached prompt: default",
			staleness: time.Minute,
			setup: func(t *testing.T, hs *harness) {
				hs.store.prompts["c1"] = "You are a pirate."
				hs.send(t, "c1", "warm the cache")
			},
			outage:       outage("getCustomPrompt", refused),
			wait:         61 * time.Second,
			wantSource:   SourceDefault,
			wantPersona:  "[You are the default bot.]",
			wantDegraded: true,
			wantCode:     "P1001",
			wantAttempts: 3,
			wantLogs:     []string{"source=default", "[getCustomPrompt] Database connection error after retries, using fallback prompt"},
		},
		{
			name:         "outage for a chat never seen: default",
			staleness:    time.Minute,
			outage:       outage("getCustomPrompt", refused),
			wantSource:   SourceDefault,
			wantPersona:  "[You are the default bot.]",
			wantDegraded: true,
			wantCode:     "P1001",
			wantAttempts: 3,
		},
		{
			name:      "outage for a chat known to have no custom prompt: default",
			staleness: time.Minute,
			setup: func(t *testing.T, hs *harness) {
				hs.send(t, "c1", "warm the cache")
			},
			outage:       outage("getCustomPrompt", refused),
			wantSource:   SourceDefault,
			wantPersona:  "[You are the default bot.]",
			wantDegraded: true,
			wantCode:     "P1001",
			wantAttempts: 3,
		},
		{
			name:      "PROMPT_MAX_STALENESS=0 disables the cache",
			staleness: 0,
			setup: func(t *testing.T, hs *harness) {
				hs.store.prompts["c1"] = "You are a pirate."
				hs.send(t, "c1", "warm the cache")
			},
			outage:       outage("getCustomPrompt", refused),
			wantSource:   SourceDefault,
			wantPersona:  "[You are the default bot.]",
			wantDegraded: true,
			wantCode:     "P1001",
			wantAttempts: 3,
		},
		{
			name:      "breaker open: fast fail, still answered",
			staleness: time.Minute,
			setup: func(t *testing.T, hs *harness) {
				hs.store.prompts["c1"] = "You are a pirate."
				hs.send(t, "c1", "warm the cache")
			},
			outage: &resilience.Error{Classification: resilience.Classification{Code: resilience.CodeUnreachable, Reason: "circuit breaker open",
				Retryable: true, Connection: true, NotSent: true}, Op: "getCustomPrompt", Target: pooler},
			wantSource:   SourceCached,
			wantPersona:  "[You are a pirate.]",
			wantDegraded: true,
			wantCode:     "P1001",
			wantAttempts: 0,
		},
		{
			name:      "a database error that is not an outage: default, DB_ERROR",
			staleness: time.Minute,
			outage: &resilience.Error{Classification: resilience.Classification{Reason: "relation does not exist"}, Op: "getCustomPrompt", Attempts: 1,
				Err: errors.New(`relation "chat_prompts" does not exist`)},
			wantSource:   SourceDefault,
			wantPersona:  "[You are the default bot.]",
			wantDegraded: true,
			wantCode:     "DB_ERROR",
			wantAttempts: 1,
			wantLogs:     []string{"[getCustomPrompt] Database error, using fallback prompt", "[MessageHandler] Database error, replying in degraded mode"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.staleness)
			if tt.setup != nil {
				tt.setup(t, hs)
			}
			if tt.outage != nil {
				hs.store.down(tt.outage, tt.wantAttempts)
			}
			hs.clock.t = hs.clock.t.Add(tt.wait)
			hs.logs.Reset()
			r := hs.send(t, "c1", "hello")
			if r.PromptSource != tt.wantSource || r.Degraded != tt.wantDegraded || r.Code != tt.wantCode || r.Attempts != tt.wantAttempts {
				t.Errorf("reply = %+v, want source %s degraded %t code %q attempts %d", r, tt.wantSource, tt.wantDegraded, tt.wantCode, tt.wantAttempts)
			}
			// A failure the retry layer judged names its server, as Prisma's meta does.
			var wantMeta *resilience.Meta
			if tt.wantDegraded && tt.wantCode != "DB_ERROR" {
				wantMeta = &resilience.Meta{DatabaseHost: "toxiproxy", DatabasePort: 6543}
			}
			if (r.Meta == nil) != (wantMeta == nil) || r.Meta != nil && *r.Meta != *wantMeta {
				t.Errorf("meta = %+v, want %+v", r.Meta, wantMeta)
			}
			// The cached prompt's age is the clock's advance since the
			// cache was warmed; every other source reports none.
			if wantAge := map[bool]time.Duration{true: tt.wait}[tt.wantSource == SourceCached]; r.PromptAge != wantAge {
				t.Errorf("prompt age = %s, want %s", r.PromptAge, wantAge)
			}
			if want := tt.wantPersona + " You said: hello"; r.Text != want {
				t.Errorf("text = %q, want %q", r.Text, want)
			}
			for _, w := range tt.wantLogs {
				if !strings.Contains(hs.logs.String(), w) {
					t.Errorf("logs lack %q:\n%s", w, hs.logs.String())
				}
			}
			if !tt.wantDegraded && strings.Contains(hs.logs.String(), "[MessageHandler]") {
				t.Errorf("healthy reply logged a degraded line:\n%s", hs.logs.String())
			}
		})
	}
}

func TestCommands(t *testing.T) {
	type step struct {
		text         string
		outage       error // nil: database up
		wantText     string
		wantSource   PromptSource
		wantDegraded bool
		wantCommand  string
	}
	tests := []struct {
		name       string
		steps      []step
		wantStored string // "" means no custom prompt stored
	}{
		{
			name: "/setprompt saves and the next message uses it",
			steps: []step{
				{text: "/setprompt You are a pirate. Say arr.", wantText: "Saved. I'll answer as: You are a pirate.", wantSource: SourceCustom, wantCommand: "/setprompt"},
				{text: "hi", wantText: "[You are a pirate.] You said: hi", wantSource: SourceCustom},
			},
			wantStored: "You are a pirate. Say arr.",
		},
		{
			name: "/setprompt that provably never reached the database says NOT saved",
			steps: []step{
				{text: "/setprompt You are a pirate.", outage: outage("setCustomPrompt", refused),
					wantText:   "Your prompt was NOT saved: the database is unavailable right now (P1001). Please try again later. Until then I'm using the default prompt.",
					wantSource: SourceDefault, wantDegraded: true, wantCommand: "/setprompt"},
				// Never claimed as saved: the next outage reply does not use it either.
				{text: "hi", outage: outage("getCustomPrompt", refused), wantText: "[You are the default bot.] You said: hi", wantSource: SourceDefault, wantDegraded: true},
			},
		},
		{
			name: "/setprompt cut off mid-statement says it could not confirm",
			steps: []step{
				{text: "/setprompt You are a pirate.", outage: &resilience.Error{Classification: resilience.Classify(cutOff), Op: "setCustomPrompt", Attempts: 3, Err: cutOff},
					wantText:   "I could not confirm that your prompt was saved: the database is unavailable right now (P1017). Please try again later. Until then I'm using the default prompt.",
					wantSource: SourceDefault, wantDegraded: true, wantCommand: "/setprompt"},
			},
		},
		{
			name: "/setprompt that made no attempt (breaker open, schema not in place) says NOT saved",
			steps: []step{
				{text: "/setprompt You are a pirate.", outage: &resilience.Error{Classification: resilience.Classification{Code: resilience.CodeAuthFailed, Reason: "schema not in place yet",
					Connection: true, NotSent: true, NonTransient: true}, Op: "setCustomPrompt", Attempts: 0, Err: errors.New("schema not in place yet")},
					wantText:   "Your prompt was NOT saved: the database is unavailable right now (P1000). Please try again later. Until then I'm using the default prompt.",
					wantSource: SourceDefault, wantDegraded: true, wantCommand: "/setprompt"},
			},
		},
		{
			name: "/setprompt with no text shows usage and saves nothing",
			steps: []step{
				{text: "/setprompt   ", wantText: "Usage: /setprompt <text>: the prompt (persona) I should use in this chat.", wantSource: SourceDefault, wantCommand: "/setprompt"},
			},
		},
		{
			name: "/setprompt over the limit saves nothing",
			steps: []step{
				{text: "/setprompt " + strings.Repeat("x", 2001), wantText: "That prompt is 2001 characters; the limit is 2000. Nothing was saved.", wantSource: SourceDefault, wantCommand: "/setprompt"},
			},
		},
		{
			name: "/prompt shows custom, then cached during an outage",
			steps: []step{
				{text: "/setprompt You are a pirate.", wantText: "Saved. I'll answer as: You are a pirate.", wantSource: SourceCustom, wantCommand: "/setprompt"},
				{text: "/prompt", wantText: "Custom prompt: You are a pirate.", wantSource: SourceCustom, wantCommand: "/prompt"},
				{text: "/prompt", outage: outage("getCustomPrompt", refused), wantText: "I can't reach the database right now (P1001). Last known custom prompt (from 0s ago): You are a pirate.",
					wantSource: SourceCached, wantDegraded: true, wantCommand: "/prompt"},
			},
			wantStored: "You are a pirate.",
		},
		{
			name: "/prompt with no custom prompt, healthy and down",
			steps: []step{
				{text: "/prompt", wantText: "No custom prompt set; using the default: You are the default bot.", wantSource: SourceDefault, wantCommand: "/prompt"},
				{text: "/PROMPT@p1001_bot", outage: outage("getCustomPrompt", refused), wantText: "I can't reach the database right now (P1001), so I'm using the default prompt: You are the default bot.",
					wantSource: SourceDefault, wantDegraded: true, wantCommand: "/prompt"},
			},
		},
		{
			name: "/reset goes back to the default and forgets the cached prompt",
			steps: []step{
				{text: "/setprompt You are a pirate.", wantText: "Saved. I'll answer as: You are a pirate.", wantSource: SourceCustom, wantCommand: "/setprompt"},
				{text: "/reset", wantText: "Reset. I'll answer with the default prompt: You are the default bot.", wantSource: SourceDefault, wantCommand: "/reset"},
				{text: "hi", outage: outage("getCustomPrompt", refused), wantText: "[You are the default bot.] You said: hi", wantSource: SourceDefault, wantDegraded: true},
			},
		},
		{
			name: "/reset that fails says NOT reset and keeps the cached prompt",
			steps: []step{
				{text: "/setprompt You are a pirate.", wantText: "Saved. I'll answer as: You are a pirate.", wantSource: SourceCustom, wantCommand: "/setprompt"},
				{text: "/reset", outage: outage("resetCustomPrompt", refused),
					wantText:   "Your prompt was NOT reset: the database is unavailable right now (P1001). Please try again later. Until then I'm using the cached prompt.",
					wantSource: SourceCached, wantDegraded: true, wantCommand: "/reset"},
			},
			wantStored: "You are a pirate.",
		},
		{
			name: "/help, also addressed to the bot in a group",
			steps: []step{
				{text: "/help", wantText: helpText, wantSource: SourceDefault, wantCommand: "/help"},
				{text: "/help@p1001_bot", wantText: helpText, wantSource: SourceDefault, wantCommand: "/help"},
			},
		},
		{
			name: "unknown command",
			steps: []step{
				{text: "/dance now", wantText: "Unknown command /dance. Try /help.", wantSource: SourceDefault, wantCommand: "/dance"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, time.Minute)
			for i, s := range tt.steps {
				if s.outage != nil {
					hs.store.down(s.outage, 3)
				} else {
					hs.store.up()
				}
				r := hs.send(t, "c1", s.text)
				if r.Text != s.wantText {
					t.Errorf("step %d %q: text\n got %q\nwant %q", i, s.text, r.Text, s.wantText)
				}
				if r.PromptSource != s.wantSource || r.Degraded != s.wantDegraded || r.Command != s.wantCommand {
					t.Errorf("step %d %q: reply %+v, want source %s degraded %t command %q", i, s.text, r, s.wantSource, s.wantDegraded, s.wantCommand)
				}
				if s.wantDegraded && r.Code == "" {
					t.Errorf("step %d: degraded reply without a code", i)
				}
			}
			got, ok := hs.store.prompt("c1")
			if (tt.wantStored == "") == ok || got != tt.wantStored {
				t.Errorf("stored prompt = %q (%t), want %q", got, ok, tt.wantStored)
			}
		})
	}
}

func TestWriteFailureIsLogged(t *testing.T) {
	hs := newHarness(t, time.Minute)
	hs.store.down(outage("setCustomPrompt", refused), 3)
	hs.send(t, "c9", "/setprompt You are a pirate.")
	for _, w := range []string{
		`[setCustomPrompt] Database error after retries, prompt not saved" chat=c9 code=P1001 attempts=3`,
		"[MessageHandler] Database connection error, replying in degraded mode",
	} {
		if !strings.Contains(hs.logs.String(), w) {
			t.Errorf("logs lack %q:\n%s", w, hs.logs.String())
		}
	}
}

func TestMessagesAreLogged(t *testing.T) {
	hs := newHarness(t, time.Minute)
	hs.store.prompts["c1"] = "You are a pirate."
	hs.send(t, "c1", "hello")
	hs.store.down(outage("getCustomPrompt", refused), 3)
	hs.send(t, "c1", "/prompt")
	want := []msglog.Record{
		{Key: "key-1", ChatID: "c1", Direction: msglog.Inbound, Text: "hello"},
		{Key: "key-2", ChatID: "c1", Direction: msglog.Outbound, Text: "[You are a pirate.] You said: hello", PromptSource: "custom"},
		{Key: "key-3", ChatID: "c1", Direction: msglog.Inbound, Text: "/prompt", Command: "/prompt"},
		{Key: "key-4", ChatID: "c1", Direction: msglog.Outbound, PromptSource: "cached", Degraded: true, Command: "/prompt"},
	}
	if len(hs.sink.recs) != len(want) {
		t.Fatalf("logged %d records, want %d: %+v", len(hs.sink.recs), len(want), hs.sink.recs)
	}
	for i, w := range want {
		got := hs.sink.recs[i]
		got.At = time.Time{}
		if w.Text == "" {
			w.Text = got.Text // the reply text is checked elsewhere
		}
		if got != w {
			t.Errorf("record %d = %+v, want %+v", i, got, w)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	tests := []struct {
		name  string
		msg   Message
		field string
	}{
		{"empty text", Message{ChatID: "c", Text: "  \n"}, "text"},
		{"NUL in text", Message{ChatID: "c", Text: "a\x00b"}, "text"},
		{"invalid UTF-8", Message{ChatID: "c", Text: "\xff"}, "text"},
		{"too long", Message{ChatID: "c", Text: strings.Repeat("é", 4097)}, "text"},
		{"empty chat id", Message{Text: "hi"}, "chat id"},
		{"long chat id", Message{ChatID: strings.Repeat("c", 129), Text: "hi"}, "chat id"},
		{"control char in chat id", Message{ChatID: "c\n1", Text: "hi"}, "chat id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, time.Minute)
			_, err := hs.h.Handle(context.Background(), tt.msg)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tt.field {
				t.Fatalf("Handle = %v, want an InputError for %q", err, tt.field)
			}
			if hs.store.calls != 0 || len(hs.sink.recs) != 0 {
				t.Errorf("bad input reached the store (%d calls) or the log (%d records)", hs.store.calls, len(hs.sink.recs))
			}
		})
	}
	hs := newHarness(t, time.Minute)
	if _, err := hs.h.Handle(context.Background(), Message{ChatID: "c", Text: strings.Repeat("é", 4096)}); err != nil {
		t.Errorf("4096 characters refused: %v", err)
	}
}

func TestCallerGoneIsAnErrorNotAFallback(t *testing.T) {
	hs := newHarness(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hs.store.down(&resilience.Error{Classification: resilience.Classification{Reason: "canceled by caller", Canceled: true},
		Op: "getCustomPrompt", Err: context.Canceled}, 1)
	if _, err := hs.h.Handle(ctx, Message{ChatID: "c", Text: "hi"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Handle = %v, want context.Canceled", err)
	}
	if strings.Contains(hs.logs.String(), "[MessageHandler]") || len(hs.sink.recs) != 0 {
		t.Errorf("a caller that left produced a degraded reply or a log record")
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct{ text, cmd, arg string }{
		{"hello", "", ""},
		{"  /help  ", "/help", ""},
		{"/setprompt You are a pirate.", "/setprompt", "You are a pirate."},
		{"/SetPrompt@p1001_bot  Be brief ", "/setprompt", "Be brief"},
		{"/setprompt\nline one\nline two", "/setprompt", "line one\nline two"},
		{"not /a command", "", ""},
	}
	for _, tt := range tests {
		cmd, arg := parseCommand(tt.text)
		if cmd != tt.cmd || arg != tt.arg {
			t.Errorf("parseCommand(%q) = %q, %q; want %q, %q", tt.text, cmd, arg, tt.cmd, tt.arg)
		}
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newPromptCache(3, time.Minute, time.Now)
	for i := 0; i < 10; i++ {
		c.put(fmt.Sprintf("c%d", i), "p", true)
	}
	if n := c.len(); n != 3 {
		t.Errorf("cache holds %d entries, want 3", n)
	}
	if _, _, _, ok := c.get("c9"); !ok {
		t.Error("latest entry evicted")
	}
}

type countingObserver struct{ replies []Reply }

func (o *countingObserver) ObserveReply(r Reply, _ time.Duration) { o.replies = append(o.replies, r) }

func TestObserverSeesEveryReply(t *testing.T) {
	obs := &countingObserver{}
	h, err := New(newFakeStore(), responder.Template{}, &fakeSink{}, Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"hi", "/help", "/setprompt x"} {
		if _, err := h.Handle(context.Background(), Message{ChatID: "c", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	if len(obs.replies) != 3 || obs.replies[2].PromptSource != SourceCustom {
		t.Errorf("observed %+v", obs.replies)
	}
}
