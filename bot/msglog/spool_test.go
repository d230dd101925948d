package msglog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

func openSpool(t *testing.T, path string, log *slog.Logger) *Spool {
	t.Helper()
	sp, err := OpenSpool(path, FsyncReply, log)
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

// writeSpool leaves a spool at path holding n records, k0000.., of about
// 500 bytes each, as a run that stopped before the database took them.
func writeSpool(t *testing.T, path string, n int) {
	t.Helper()
	sp := openSpool(t, path, nil)
	o := New(Options{Spool: sp, Capacity: 10000})
	for i := range n {
		r := recs(i, 1)
		r[0].Text = strings.Repeat("x", 500)
		o.Enqueue(r...)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolUnreadableFileIsMovedAside(t *testing.T) {
	tests := []struct {
		name     string
		spoil    func(t *testing.T, path string)
		salvaged int // records before the damage, still replayed
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat(rand.Text(), 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"zeroed pages", func(t *testing.T, path string) {
			if err := os.WriteFile(path, make([]byte, 64<<10), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"a flipped byte in the 101st record", func(t *testing.T, path string) {
			writeSpool(t, path, 200)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			frame := (len(data) - len(spoolMagic)) / 200
			data[len(spoolMagic)+100*frame+frameHeader+20] ^= 0xff
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 100},
		{"truncated file of the previous format (bbolt)", func(t *testing.T, path string) {
			writeBoltSpool(t, path, 200)
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, info.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "spool.db")
			tt.spoil(t, path)
			before, _ := os.ReadFile(path)

			var logs bytes.Buffer
			sp, err := OpenSpool(path, FsyncBackground, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("OpenSpool = %v, want a fresh spool", err)
			}
			defer sp.Close()
			o := New(Options{Spool: sp, Capacity: 10000})
			if s := o.Stats(); s.SpoolCorrupt != 1 || s.Replayed != uint64(tt.salvaged) || !s.Durable {
				t.Errorf("stats = %+v, want SpoolCorrupt 1, %d replayed, durable", s, tt.salvaged)
			}
			if n := strings.Count(logs.String(), "[Spool] unreadable spool moved aside"); n != 1 {
				t.Errorf("logged %d times, want one line:\n%s", n, logs.String())
			}
			aside, _ := filepath.Glob(path + ".unreadable-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files = %v, want one", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, before) {
				t.Error("the moved-aside file is not the original")
			}
			// The fresh spool works, and holds the salvaged records too.
			if !o.Enqueue(recs(1000, 2)...) || o.Stats().SpoolBytes == 0 || o.Stats().SpoolErrors != 0 {
				t.Errorf("the fresh spool does not take records: %+v", o.Stats())
			}
			sp.Close()
			if got := len(spooled(t, path)); got != tt.salvaged+2 {
				t.Errorf("the fresh spool holds %d records, want %d", got, tt.salvaged+2)
			}
		})
	}
}

func TestSpoolTornLastWriteIsDroppedNotMovedAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	writeSpool(t, path, 10)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A power cut in the middle of the last write: its frame is cut short.
	if err := os.Truncate(path, info.Size()-100); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	sp := openSpool(t, path, slog.New(slog.NewTextHandler(&logs, nil)))
	if st := sp.Stats(); st.Replayed != 9 || st.Corrupt != 0 {
		t.Errorf("stats = %+v, want the 9 whole records replayed, nothing corrupt", st)
	}
	if !strings.Contains(logs.String(), "[Spool] the last write was cut short") {
		t.Errorf("the torn write is not logged:\n%s", logs.String())
	}
	if aside, _ := filepath.Glob(path + ".unreadable-*"); len(aside) != 0 {
		t.Errorf("a torn last write moved the spool aside: %v", aside)
	}
}

func TestSpoolOfThePreviousFormatIsImported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	writeBoltSpool(t, path, 5)
	var logs bytes.Buffer
	sp := openSpool(t, path, slog.New(slog.NewTextHandler(&logs, nil)))
	if got := strings.Join(keysOf(records(sp.takeLoaded())), ","); got != "k0000,k0001,k0002,k0003,k0004" {
		t.Errorf("imported %s, want k0000..k0004", got)
	}
	if !strings.Contains(logs.String(), "[Spool] imported the records of the previous spool format") {
		t.Errorf("the import is not logged:\n%s", logs.String())
	}
	sp.Close()
	if data, _ := os.ReadFile(path); !bytes.HasPrefix(data, spoolMagic) {
		t.Error("the spool was not rewritten in the current format")
	}
}

// writeBoltSpool writes a spool of the previous format: one bbolt bucket
// of big-endian sequence numbers to JSON records.
func writeBoltSpool(t *testing.T, path string, n int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(boltBucket)
		if err != nil {
			return err
		}
		for i, r := range recs(0, n) {
			r.Text = strings.Repeat("x", 500)
			if err := b.Put(binary.BigEndian.AppendUint64(nil, uint64(i+1)), encode(r)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSpoolCompactsOnceMostRecordsAreAcked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	sp, err := OpenSpool(path, FsyncBackground, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := New(Options{Spool: sp, Capacity: 1 << 20, BatchSize: 1000})
	// Far more than compactMin through the spool, all but the last 10
	// records taken by the database.
	total := passCompactMin(t, o, 10)
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > compactMin+compactMin/4 {
		t.Errorf("the spool file is %d bytes after %d records mostly acked, want it compacted below %d", info.Size(), total, compactMin+compactMin/4)
	}
	left := spooled(t, path)
	if want := total - total/1000*1000; len(left) != want || left[len(left)-1] != fmt.Sprintf("k%04d", total-1) {
		t.Errorf("after compaction the spool holds %d records ending %v, want the %d not acked", len(left), left[len(left)-1:], want)
	}
}

func TestSpoolHeldByAnotherProcessIsLeftAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	openSpool(t, path, nil)
	if _, err := OpenSpool(path, FsyncReply, nil); err == nil || !errors.Is(err, errBusy) {
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
	for _, mode := range []Fsync{FsyncReply, FsyncBackground} {
		t.Run(string(mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db")
			sp, err := OpenSpool(path, mode, nil)
			if err != nil {
				t.Fatal(err)
			}
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
			if err := sp.Close(); err != nil {
				t.Fatal(err)
			}
			got := spooled(t, path)
			seen := map[string]bool{}
			for _, k := range got {
				seen[k] = true
			}
			if len(got) != 640 || len(seen) != 640 {
				t.Errorf("spool holds %d records (%d distinct), want 640", len(got), len(seen))
			}
		})
	}
}

func TestSpoolRefusesAnUnknownFsyncMode(t *testing.T) {
	if _, err := OpenSpool(filepath.Join(t.TempDir(), "spool.db"), "sometimes", nil); err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Errorf("OpenSpool = %v, want an error naming the mode", err)
	}
}

func TestSpoolWriteCutShortLeavesNoHole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	sp := openSpool(t, path, nil)
	o := New(Options{Spool: sp, Capacity: 100})
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A file size limit just past the header: the next write is cut short
	// (EFBIG, as on a full disk), then the limit is lifted again.
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limited := old
	limited.Cur = uint64(info.Size()) + 100
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &limited); err != nil {
		t.Fatal(err)
	}
	big := recs(0, 1)
	big[0].Text = strings.Repeat("x", 500)
	o.Enqueue(big...)
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if s := o.Stats(); s.SpoolErrors != 1 {
		t.Fatalf("stats = %+v, want the cut-short write counted as a spool error", s)
	}
	o.Enqueue(recs(1, 1)...)
	sp.Close()

	var logs bytes.Buffer
	sp2 := openSpool(t, path, slog.New(slog.NewTextHandler(&logs, nil)))
	if got := strings.Join(keysOf(records(sp2.takeLoaded())), ","); got != "k0001" || sp2.Stats().Corrupt != 0 {
		t.Errorf("after a write cut short, the spool holds %q (corrupt %d), want the next record whole:\n%s", got, sp2.Stats().Corrupt, logs.String())
	}
}

func TestSpoolFailedSyncStillCompacts(t *testing.T) {
	var logs bytes.Buffer
	path := filepath.Join(t.TempDir(), "spool.db")
	sp, err := OpenSpool(path, FsyncReply, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// The write of record 0 reaches the file, its fdatasync fails (EIO).
	var syncs atomic.Int64
	sp.syncData = func(f *os.File) error {
		if syncs.Add(1) == 1 {
			return unix.EIO
		}
		return fdatasync(f)
	}
	o := New(Options{Spool: sp, Capacity: 1 << 20, BatchSize: 1000})
	total := passCompactMin(t, o, 0)
	if s := o.Stats(); s.SpoolErrors != 1 {
		t.Fatalf("stats = %+v, want the failed sync counted as one spool error", s)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "cannot compact") {
		t.Errorf("compaction refused after a failed sync:\n%s", logs.String())
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > compactMin+compactMin/4 {
		t.Errorf("the spool file is %d bytes, want it compacted below %d", info.Size(), compactMin+compactMin/4)
	}
	if left, want := spooled(t, path), total%1000; len(left) != want {
		t.Errorf("the spool holds %d records, want the %d not acked", len(left), want)
	}
}

// passCompactMin enqueues 1 kB records through o's spool, three times
// compactMin in all, the database taking each thousand as it fills except
// from the last keep records on; it returns how many it enqueued.
func passCompactMin(t *testing.T, o *Outbox, keep int) int {
	t.Helper()
	big := strings.Repeat("y", 1000)
	total := 3 * compactMin / 1000
	for i := range total {
		r := recs(i, 1)
		r[0].Text = big
		o.Enqueue(r...)
		if i%1000 == 999 && i < total-keep {
			if err := o.flushOnce(context.Background(), &fakeWriter{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return total
}
