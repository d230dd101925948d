package msglog

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openSpool(t *testing.T, path string, log *slog.Logger) *Spool {
	t.Helper()
	sp, err := OpenSpool(path, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// spooled lists the keys of the records in the spool at path, in order.
func spooled(t *testing.T, path string) []string {
	t.Helper()
	sp := openSpool(t, path, nil)
	defer sp.Close()
	return keysOf(records(sp.takeLoaded()))
}

func TestSpoolKeepsRecordsAcrossRestartsUntilTheDatabaseHasThem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "spool.db") // the directory is created
	sp := openSpool(t, path, nil)
	o := New(Options{Spool: sp})
	var want []string
	for i := range 5 {
		pair := recs(2*i, 2)
		want = append(want, keysOf(pair)...)
		if !o.Enqueue(pair...) {
			t.Fatalf("enqueue %d refused", i)
		}
	}
	if s := o.Stats(); !s.Durable || s.Depth != 10 || s.SpoolBytes <= 0 {
		t.Fatalf("stats = %+v, want durable, 10 deep, bytes counted", s)
	}
	sp.Close() // as a crash would leave it: nothing flushed

	var logs bytes.Buffer
	sp2 := openSpool(t, path, slog.New(slog.NewTextHandler(&logs, nil)))
	o2 := New(Options{Spool: sp2, BatchSize: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if s := o2.Stats(); s.Replayed != 10 || s.Depth != 10 {
		t.Fatalf("after reopening: stats = %+v, want 10 replayed and queued", s)
	}
	if !strings.Contains(logs.String(), "[Spool] replaying message-log records left by the last run") {
		t.Errorf("replay not logged:\n%s", logs.String())
	}
	more := recs(100, 2)
	o2.Enqueue(more...)
	want = append(want, keysOf(more)...)
	w := &fakeWriter{}
	startRun(t, o2, w, nil)
	waitFor(t, "replay flushed", func() bool { return o2.Len() == 0 })
	if got := strings.Join(w.keys(), ","); got != strings.Join(want, ",") {
		t.Errorf("written %s,\nwant the replayed records first, in order: %s", got, strings.Join(want, ","))
	}
	if s := o2.Stats(); s.SpoolBytes != 0 {
		t.Errorf("SpoolBytes = %d after the flush, want 0", s.SpoolBytes)
	}
	sp2.Close()
	if left := spooled(t, path); len(left) != 0 {
		t.Errorf("the spool still holds %v after the database took everything", left)
	}
}

func TestSpoolDrainKeepsWhatTheDatabaseDidNotTake(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	var logs bytes.Buffer
	sp := openSpool(t, path, nil)
	o := New(Options{Spool: sp, FinalFlush: 300 * time.Millisecond, RetryBase: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	o.Enqueue(recs(0, 4)...)
	w := &fakeWriter{fail: func([]Record) error { return errDown }}
	start := time.Now()
	// A long shutdown timeout: the spool, not the deadline, ends Drain.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := o.Drain(ctx, w); err != nil {
		t.Fatalf("Drain = %v, want nil: the records are kept", err)
	}
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Errorf("Drain took %s with the database down, want one try within FinalFlush", took)
	}
	if s := o.Stats(); s.Kept != 4 || s.Lost != 0 || s.Depth != 0 {
		t.Errorf("stats = %+v, want Kept 4, Lost 0", s)
	}
	if !strings.Contains(logs.String(), "KEPT in the spool for the next start") || !strings.Contains(logs.String(), "kept=4") ||
		strings.Contains(logs.String(), "lost") {
		t.Errorf("logs:\n%s\nwant the records logged as kept, not lost", logs.String())
	}
	sp.Close()
	if got := strings.Join(spooled(t, path), ","); got != "k0000,k0001,k0002,k0003" {
		t.Errorf("spool holds %s after shutdown, want k0000..k0003", got)
	}
}

func TestSpoolUnreadableFileIsMovedAside(t *testing.T) {
	// A spool with enough records to span several pages, then cut in half.
	truncated := func(t *testing.T, path string) {
		sp := openSpool(t, path, nil)
		o := New(Options{Spool: sp, Capacity: 10000})
		for i := range 200 {
			r := recs(i, 1)
			r[0].Text = strings.Repeat("x", 500)
			o.Enqueue(r...)
		}
		sp.Close()
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, info.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		spoil func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat(rand.Text(), 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated bbolt file", truncated},
		{"zeroed pages", func(t *testing.T, path string) {
			if err := os.WriteFile(path, make([]byte, 64<<10), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "spool.db")
			tt.spoil(t, path)
			before, _ := os.ReadFile(path)

			var logs bytes.Buffer
			sp, err := OpenSpool(path, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("OpenSpool = %v, want a fresh spool", err)
			}
			defer sp.Close()
			o := New(Options{Spool: sp})
			if s := o.Stats(); s.SpoolCorrupt != 1 || s.Replayed != 0 || !s.Durable {
				t.Errorf("stats = %+v, want SpoolCorrupt 1, nothing replayed, durable", s)
			}
			if n := strings.Count(logs.String(), "[Spool] unreadable spool moved aside, starting with an empty one"); n != 1 {
				t.Errorf("logged %d times, want one line:\n%s", n, logs.String())
			}
			aside, _ := filepath.Glob(path + ".unreadable-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files = %v, want one", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, before) {
				t.Error("the moved-aside file is not the original")
			}
			// The fresh spool works.
			if !o.Enqueue(recs(0, 2)...) || o.Stats().SpoolBytes == 0 || o.Stats().SpoolErrors != 0 {
				t.Errorf("the fresh spool does not take records: %+v", o.Stats())
			}
		})
	}
}

func TestSpoolHeldByAnotherProcessIsLeftAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	openSpool(t, path, nil)
	if _, err := OpenSpool(path, nil); err == nil || !errors.Is(err, errBusy) {
		t.Fatalf("second OpenSpool = %v, want a lock error", err)
	}
	if aside, _ := filepath.Glob(path + ".unreadable-*"); len(aside) != 0 {
		t.Errorf("a spool in use was moved aside: %v", aside)
	}
}

func TestSpoolMaxBytesDropsLikeAFullOutbox(t *testing.T) {
	var logs bytes.Buffer
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.db"), nil)
	size := int64(len(encode(recs(0, 1)[0])) + 8)
	o := New(Options{Spool: sp, SpoolMaxBytes: 5 * size, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	accepted := 0
	for i := range 5 {
		if o.Enqueue(recs(2*i, 2)...) {
			accepted += 2
		}
	}
	if s := o.Stats(); accepted != 4 || s.DroppedOverflow != 6 || s.SpoolBytes != 4*size {
		t.Errorf("accepted %d, stats %+v; want 4 accepted (5 fit, pairs stay whole), 6 dropped, %d bytes", accepted, s, 4*size)
	}
	if n := strings.Count(logs.String(), "[Outbox] full, dropping message-log records until it drains"); n != 1 {
		t.Errorf("logged 'full' %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "spool_max_bytes=") {
		t.Errorf("the 'full' line does not name the byte bound:\n%s", logs.String())
	}
}

func TestSpoolWriteFailureKeepsTheRecordInMemory(t *testing.T) {
	var logs bytes.Buffer
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.db"), nil)
	o := New(Options{Spool: sp, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sp.Close() // every write now fails
	for range 3 {
		if !o.Enqueue(recs(0, 2)...) {
			t.Fatal("a record was refused because the spool failed")
		}
	}
	if s := o.Stats(); s.Depth != 6 || s.SpoolErrors != 3 || s.SpoolBytes != 0 {
		t.Errorf("stats = %+v, want 6 queued in memory, 3 spool errors", s)
	}
	if n := strings.Count(logs.String(), "[Spool] cannot write the spool"); n != 1 {
		t.Errorf("logged %d times, want once per episode:\n%s", n, logs.String())
	}
	// Not on disk, so not kept: lost, and said so.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Drain(ctx, &fakeWriter{}); !errors.Is(err, ErrLost) {
		t.Errorf("Drain = %v, want ErrLost", err)
	}
	if s := o.Stats(); s.Lost != 6 || s.Kept != 0 {
		t.Errorf("stats = %+v, want Lost 6", s)
	}
}

func TestSpoolConcurrentEnqueuesAreAllDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	sp := openSpool(t, path, nil)
	o := New(Options{Spool: sp, Capacity: 10000})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				o.Enqueue(recs(g*1000+2*i, 2)...)
			}
		})
	}
	wg.Wait()
	sp.Close()
	got := spooled(t, path)
	seen := map[string]bool{}
	for _, k := range got {
		seen[k] = true
	}
	if len(got) != 640 || len(seen) != 640 {
		t.Errorf("spool holds %d records (%d distinct), want 640", len(got), len(seen))
	}
}
