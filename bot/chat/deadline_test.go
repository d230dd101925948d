package chat

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p1001/p1001/bot/responder"
	"github.com/p1001/p1001/resilience"

	"github.com/p1001/p1001/internal/syncbuf"
)

// blackHole is a Store whose prompt reads hang until released, the way a
// black-holed pooler hangs them: each read notes `attempts` attempts and
// then blocks. It counts the reads that reach it and the most that were
// in it at once: the evidence the herd test reads, not the handler's word.
type blackHole struct {
	*fakeStore
	attempts int
	release  chan struct{} // closed: the hung reads return fail (nil: the store's answer)
	fail     error

	reads, now, max atomic.Int64
	writeDelay      time.Duration
}

func newBlackHole(attempts int) *blackHole {
	return &blackHole{fakeStore: newFakeStore(), attempts: attempts, release: make(chan struct{})}
}

func (b *blackHole) GetPrompt(ctx context.Context, chatID string) (StoredPrompt, resilience.Result, error) {
	b.reads.Add(1)
	n := b.now.Add(1)
	defer b.now.Add(-1)
	for m := b.max.Load(); n > m && !b.max.CompareAndSwap(m, n); m = b.max.Load() {
	}
	for range b.attempts {
		resilience.NoteAttempt(ctx)
	}
	<-b.release
	if b.fail != nil {
		return StoredPrompt{}, resilience.Result{Attempts: b.attempts}, b.fail
	}
	p, res, err := b.fakeStore.GetPrompt(ctx, chatID)
	res.Attempts = b.attempts
	return p, res, err
}

func (b *blackHole) SetPrompt(ctx context.Context, chatID, prompt string) (resilience.Result, error) {
	time.Sleep(b.writeDelay) // a slow but healthy write
	return b.fakeStore.SetPrompt(ctx, chatID, prompt)
}

func newDeadlineHandler(t *testing.T, store Store, deadline time.Duration, maxLookups int) (*Handler, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	h, err := New(store, responder.Template{}, &fakeSink{}, Options{
		DefaultPrompt: "You are the default bot.",
		MaxStaleness:  time.Minute,
		ReplyDeadline: deadline,
		MaxLookups:    maxLookups,
		Logger:        slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, logs
}

// deadlineMargin is what a reply may take past the deadline here: timer
// wake-up, the template responder and the race detector on a loaded
// 2-core machine.
const deadlineMargin = 500 * time.Millisecond

const slowLine = "[getCustomPrompt] Database slow, replying with the fallback prompt while the lookup continues"

func TestReplyDeadline(t *testing.T) {
	const deadline = 200 * time.Millisecond
	tests := []struct {
		name         string
		warm         bool  // the chat's prompt was read before the fault
		fail         error // what the hung lookup ends with; nil: the prompt
		wantSource   PromptSource
		wantAfter    PromptSource // the next message, once the lookup ended
		wantDegraded bool         // of the next message
		wantLogs     []string
	}{
		{name: "cached prompt, lookup then succeeds", warm: true, wantSource: SourceCached, wantAfter: SourceCustom,
			wantLogs: []string{slowLine, "[MessageHandler] Database connection error, replying in degraded mode"}},
		{name: "no cache, lookup then succeeds", wantSource: SourceDefault, wantAfter: SourceCustom},
		{name: "lookup then fails after retries", warm: true, fail: outage("getCustomPrompt", refused),
			wantSource: SourceCached, wantAfter: SourceCached, wantDegraded: true,
			wantLogs: []string{slowLine, "[getCustomPrompt] Database connection error after retries, using fallback prompt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newBlackHole(2)
			store.prompts["c1"] = "You are a pirate."
			h, logs := newDeadlineHandler(t, store, deadline, 0)
			if tt.warm {
				close(store.release)
				if r, _ := h.Handle(context.Background(), Message{ChatID: "c1", Text: "warm"}); r.PromptSource != SourceCustom {
					t.Fatalf("warm-up reply: %+v", r)
				}
				store.release = make(chan struct{})
			}
			store.fail = tt.fail

			start := time.Now()
			r, err := h.Handle(context.Background(), Message{ChatID: "c1", Text: "hello"})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if took < deadline || took > deadline+deadlineMargin {
				t.Errorf("reply took %s, want the deadline %s (+%s)", took, deadline, deadlineMargin)
			}
			if !r.Degraded || r.Code != "P1008" || r.PromptSource != tt.wantSource || r.Attempts != 2 {
				t.Errorf("deadline reply = degraded %v code %q source %s attempts %d, want degraded P1008 %s with the 2 attempts made so far",
					r.Degraded, r.Code, r.PromptSource, r.Attempts, tt.wantSource)
			}

			close(store.release) // the fault ends; the background lookup finishes
			h.Wait()
			if tt.fail != nil {
				store.down(tt.fail, 3) // still down: the next lookup fails at once
			}
			next, err := h.Handle(context.Background(), Message{ChatID: "c1", Text: "again"})
			if err != nil {
				t.Fatal(err)
			}
			if next.PromptSource != tt.wantAfter || next.Degraded != tt.wantDegraded {
				t.Errorf("next reply = %s degraded %v, want %s degraded %v", next.PromptSource, next.Degraded, tt.wantAfter, tt.wantDegraded)
			}
			for _, want := range tt.wantLogs {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("logs lack %q:\n%s", want, logs)
				}
			}
		})
	}
}

// TestNoThunderingHerd: 100 messages at once across 10 chats into a black
// hole start one lookup per chat, all answered at the deadline.
func TestNoThunderingHerd(t *testing.T) {
	const (
		chats, perChat = 10, 10
		deadline       = 300 * time.Millisecond
	)
	store := newBlackHole(1)
	h, _ := newDeadlineHandler(t, store, deadline, 0)
	var wg sync.WaitGroup
	var late, wrong atomic.Int64
	var inFlightSeen atomic.Int64
	for i := range chats * perChat {
		wg.Go(func() {
			start := time.Now()
			r, err := h.Handle(context.Background(), Message{ChatID: fmt.Sprintf("chat-%d", i%chats), Text: "hi"})
			if err != nil || !r.Degraded || r.Code != "P1008" {
				wrong.Add(1)
			}
			if time.Since(start) > deadline+deadlineMargin {
				late.Add(1)
			}
			inFlightSeen.Store(int64(h.LookupsInFlight()))
		})
	}
	wg.Wait()
	if n := store.max.Load(); n > chats {
		t.Errorf("%d lookups in the store at once, want at most %d (one per chat)", n, chats)
	}
	if n := store.reads.Load(); n != chats {
		t.Errorf("%d lookups reached the store, want %d (one per chat)", n, chats)
	}
	if n := late.Load(); n > 0 {
		t.Errorf("%d of %d replies took longer than the deadline %s + %s", n, chats*perChat, deadline, deadlineMargin)
	}
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d replies were not degraded P1008 deadline replies", n)
	}
	if n := inFlightSeen.Load(); n != chats {
		t.Errorf("LookupsInFlight = %d during the fault, want %d", n, chats)
	}
	close(store.release)
	h.Wait()
	if n := h.LookupsInFlight(); n != 0 {
		t.Errorf("LookupsInFlight = %d after the lookups ended", n)
	}
}

// TestLookupCap: with every slot held by a hung lookup, a third chat's
// reply does not start one; it answers at the deadline with 0 attempts.
func TestLookupCap(t *testing.T) {
	const deadline = 100 * time.Millisecond
	store := newBlackHole(1)
	h, logs := newDeadlineHandler(t, store, deadline, 2)
	for _, c := range []string{"a", "b", "c"} {
		r, err := h.Handle(context.Background(), Message{ChatID: c, Text: "hi"})
		if err != nil || r.Code != "P1008" {
			t.Fatalf("chat %s: %+v, %v", c, r, err)
		}
		if want := map[string]int{"a": 1, "b": 1, "c": 0}[c]; r.Attempts != want {
			t.Errorf("chat %s: attempts %d, want %d", c, r.Attempts, want)
		}
	}
	if n := store.reads.Load(); n != 2 {
		t.Errorf("%d lookups reached the store, want the cap 2", n)
	}
	if !strings.Contains(logs.String(), "lookup slots is busy") {
		t.Errorf("no log says the slots were busy:\n%s", logs)
	}
	close(store.release)
	h.Wait()
}

// TestWritesKeepTheirBudget: a write slower than the deadline is waited
// for, and its answer is the truth.
func TestWritesKeepTheirBudget(t *testing.T) {
	const deadline = 50 * time.Millisecond
	store := newBlackHole(1)
	store.writeDelay = 4 * deadline
	h, _ := newDeadlineHandler(t, store, deadline, 0)
	r, err := h.Handle(context.Background(), Message{ChatID: "c1", Text: "/setprompt You are a cat."})
	if err != nil {
		t.Fatal(err)
	}
	if r.Degraded || r.PromptSource != SourceCustom {
		t.Errorf("slow write = %+v, want saved (not degraded)", r)
	}
	if p, _ := store.prompt("c1"); p != "You are a cat." {
		t.Errorf("stored prompt %q", p)
	}
	close(store.release)
	h.Wait()
}

// TestWriteOutdatesRunningLookup: a lookup that read before a write must
// neither answer later messages nor overwrite the cache with the old prompt.
func TestWriteOutdatesRunningLookup(t *testing.T) {
	const deadline = 50 * time.Millisecond
	store := newBlackHole(1)
	store.prompts["c1"] = "You are old."
	h, _ := newDeadlineHandler(t, store, deadline, 0)
	if r, _ := h.Handle(context.Background(), Message{ChatID: "c1", Text: "hi"}); r.Code != "P1008" {
		t.Fatalf("first reply %+v, want a deadline reply", r)
	}
	// The hung lookup already "read": the old prompt is what it returns.
	if r, _ := h.Handle(context.Background(), Message{ChatID: "c1", Text: "/setprompt You are new."}); r.Degraded {
		t.Fatalf("write %+v", r)
	}
	store.mu.Lock()
	store.prompts["c1"] = "You are old." // what the lookup read before the write
	store.mu.Unlock()
	close(store.release)
	h.Wait()
	store.down(outage("getCustomPrompt", refused), 3)
	r, err := h.Handle(context.Background(), Message{ChatID: "c1", Text: "/prompt"})
	if err != nil {
		t.Fatal(err)
	}
	if r.PromptSource != SourceCached || !strings.Contains(r.Text, "You are new.") {
		t.Errorf("after the write, the cache answers %q (%s), want the new prompt", r.Text, r.PromptSource)
	}
}
