package msglog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	errDown = errors.New("P1001: Can't reach database server at db:5432")
	errBad  = errors.New("22021: invalid byte sequence")
)

// fakeWriter records what it stores; fail decides per batch whether to refuse it.
type fakeWriter struct {
	mu      sync.Mutex
	written []Record
	batches []int
	calls   int
	fail    func(batch []Record) error
}

func (w *fakeWriter) WriteLog(_ context.Context, recs []Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if w.fail != nil {
		if err := w.fail(recs); err != nil {
			return err
		}
	}
	w.written = append(w.written, recs...)
	w.batches = append(w.batches, len(recs))
	return nil
}

func (w *fakeWriter) setFail(f func([]Record) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail = f
}

func (w *fakeWriter) keys() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := make([]string, len(w.written))
	for i, r := range w.written {
		keys[i] = r.Key
	}
	return keys
}

func recs(from, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{Key: fmt.Sprintf("k%04d", from+i), ChatID: "c", Direction: Inbound, Text: "t"}
	}
	return out
}

func keysOf(rs []Record) []string {
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.Key
	}
	return keys
}

// waitFor polls cond; the generous limit only bounds a broken run.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func startRun(t testing.TB, o *Outbox, w Writer, ready <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx, w, ready) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestOutboxKeepsOrderInBatches(t *testing.T) {
	o := New(Options{Capacity: 1000, BatchSize: 7})
	w := &fakeWriter{}
	var want []string
	for i := 0; i < 50; i++ {
		pair := recs(2*i, 2)
		want = append(want, keysOf(pair)...)
		if !o.Enqueue(pair...) {
			t.Fatalf("enqueue %d refused", i)
		}
	}
	startRun(t, o, w, nil)
	waitFor(t, "all records written", func() bool { return len(w.keys()) == len(want) })
	if got := w.keys(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order changed:\n got %v\nwant %v", got, want)
	}
	w.mu.Lock()
	for _, n := range w.batches {
		if n > 7 {
			t.Errorf("batch of %d exceeds BatchSize 7", n)
		}
	}
	w.mu.Unlock()
	if s := o.Stats(); s.Flushed != 100 || s.Depth != 0 {
		t.Errorf("stats = %+v, want Flushed 100, Depth 0", s)
	}
}

func TestOutboxBoundsAndCountsOverflow(t *testing.T) {
	var logs bytes.Buffer
	o := New(Options{Capacity: 5, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tests := []struct {
		n      int
		accept bool
		depth  int
	}{
		{2, true, 2},
		{2, true, 4},
		{2, false, 4}, // would make 6: refused whole, never half a conversation
		{1, true, 5},
		{1, false, 5},
	}
	for i, tt := range tests {
		if got := o.Enqueue(recs(10*i, tt.n)...); got != tt.accept {
			t.Errorf("step %d: Enqueue = %t, want %t", i, got, tt.accept)
		}
		if got := o.Len(); got != tt.depth {
			t.Errorf("step %d: Len = %d, want %d", i, got, tt.depth)
		}
	}
	if s := o.Stats(); s.DroppedOverflow != 3 {
		t.Errorf("DroppedOverflow = %d, want 3", s.DroppedOverflow)
	}
	if got := strings.Count(logs.String(), "[Outbox] full"); got != 1 {
		t.Errorf("logged 'full' %d times, want once per episode:\n%s", got, logs.String())
	}
	// Draining ends the episode; the next overflow is logged again.
	w := &fakeWriter{}
	if err := o.Drain(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "accepting records again") {
		t.Errorf("end of overflow not logged:\n%s", logs.String())
	}
	if got := strings.Join(w.keys(), ","); got != "k0000,k0001,k0010,k0011,k0030" {
		t.Errorf("kept %s, want the accepted records in order", got)
	}
}

func TestOutboxHoldsDuringOutageAndFlushesOnRecovery(t *testing.T) {
	// RetryMaxDelay is long so that only Kick can explain a prompt flush.
	o := New(Options{BatchSize: 3, RetryBase: time.Hour, RetryMaxDelay: time.Hour})
	w := &fakeWriter{fail: func([]Record) error { return errDown }}
	startRun(t, o, w, nil)
	o.Enqueue(recs(0, 2)...)
	waitFor(t, "a failed write", func() bool { return o.Stats().FailedWrites >= 1 })
	o.Enqueue(recs(2, 2)...)
	o.Enqueue(recs(4, 2)...)
	if got := o.Len(); got != 6 {
		t.Fatalf("Len during outage = %d, want 6", got)
	}
	w.setFail(nil)
	o.Kick() // what the health tracker does when a query succeeds again
	waitFor(t, "flush after recovery", func() bool { return o.Len() == 0 })
	if got := strings.Join(w.keys(), ","); got != "k0000,k0001,k0002,k0003,k0004,k0005" {
		t.Errorf("flushed %s, want k0000..k0005 in order", got)
	}
}

func TestOutboxWaitsForReady(t *testing.T) {
	o := New(Options{})
	w := &fakeWriter{}
	ready := make(chan struct{})
	startRun(t, o, w, ready)
	o.Enqueue(recs(0, 2)...)
	time.Sleep(20 * time.Millisecond)
	w.mu.Lock()
	calls := w.calls
	w.mu.Unlock()
	if calls != 0 {
		t.Fatalf("wrote %d times before the schema was ready", calls)
	}
	close(ready)
	waitFor(t, "flush once ready", func() bool { return o.Len() == 0 })
}

func TestOutboxDropsOnlyPermanentlyRejectedRecords(t *testing.T) {
	var logs bytes.Buffer
	o := New(Options{
		BatchSize: 10,
		Permanent: func(err error) bool { return errors.Is(err, errBad) },
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	})
	w := &fakeWriter{fail: func(batch []Record) error {
		for _, r := range batch {
			if r.Key == "k0002" {
				return errBad
			}
		}
		return nil
	}}
	o.Enqueue(recs(0, 5)...)
	startRun(t, o, w, nil)
	waitFor(t, "outbox empty", func() bool { return o.Len() == 0 })
	if got := strings.Join(w.keys(), ","); got != "k0000,k0001,k0003,k0004" {
		t.Errorf("written %s, want all but k0002, in order", got)
	}
	if s := o.Stats(); s.DroppedRejected != 1 || s.Flushed != 4 {
		t.Errorf("stats = %+v, want DroppedRejected 1, Flushed 4", s)
	}
	if !strings.Contains(logs.String(), "key=k0002") {
		t.Errorf("dropped record not logged:\n%s", logs.String())
	}
}

func TestOutboxDrain(t *testing.T) {
	tests := []struct {
		name     string
		fail     func([]Record) error
		wantErr  error
		wantLost uint64
		wantLog  string
	}{
		{"healthy database: everything flushed", nil, nil, 0, "flushed on shutdown"},
		{"database down: counted and logged as lost", func([]Record) error { return errDown }, ErrLost, 4, "lost=4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			o := New(Options{RetryBase: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			o.Enqueue(recs(0, 4)...)
			w := &fakeWriter{fail: tt.fail}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := o.Drain(ctx, w); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Drain = %v, want %v", err, tt.wantErr)
			}
			if s := o.Stats(); s.Lost != tt.wantLost || s.Depth != 0 {
				t.Errorf("stats = %+v, want Lost %d and Depth 0", s, tt.wantLost)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			if tt.fail != nil && w.calls < 2 {
				t.Errorf("Drain tried %d times, want retries until the deadline", w.calls)
			}
		})
	}
}

func TestOutboxConcurrentEnqueueKeepsEveryAcceptedRecord(t *testing.T) {
	o := New(Options{Capacity: 64, BatchSize: 5})
	w := &fakeWriter{}
	startRun(t, o, w, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if o.Enqueue(recs(g*1000+2*i, 2)...) {
					mu.Lock()
					accepted += 2
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "outbox empty", func() bool { return o.Len() == 0 })
	s := o.Stats()
	if int(s.Flushed) != accepted || int(s.Flushed+s.DroppedOverflow) != 1600 {
		t.Errorf("flushed %d + dropped %d, accepted %d, want flushed == accepted and a total of 1600", s.Flushed, s.DroppedOverflow, accepted)
	}
	if len(w.keys()) != accepted {
		t.Errorf("writer got %d records, want %d", len(w.keys()), accepted)
	}
}
