package msglog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The spool is the outbox's durable copy on local disk: a bbolt file whose
// one bucket maps a growing sequence number (big-endian, so cursor order is
// arrival order) to a JSON record. A record is written, and fsynced, before
// Enqueue returns, and deleted once the database has it. Appends and
// deletes that arrive while a commit is running share the next commit:
// one fsync for a group of concurrent replies, without a fixed batching
// delay on the reply path.

var bucketName = []byte("records.v1")

// ErrSpoolClosed is returned by writes after Close.
var ErrSpoolClosed = errors.New("spool closed")

// maxGroup bounds the requests one commit takes, so one commit stays short.
const maxGroup = 512

// SpoolStats are the spool's own counters.
type SpoolStats struct {
	Path string
	// Corrupt counts spool files found unreadable at open and moved aside.
	Corrupt uint64
	// Replayed is how many records the last run left for this one.
	Replayed uint64
}

// Spool is a durable FIFO of records. Its methods are safe for concurrent use.
type Spool struct {
	db   *bolt.DB
	path string
	log  *slog.Logger

	reqs    chan *spoolReq
	closing chan struct{}
	stopped chan struct{}
	once    sync.Once

	loaded []entry // what the last run left, handed to the outbox once
	stats  SpoolStats
}

// spoolReq is one append or delete waiting for a commit.
type spoolReq struct {
	puts [][]byte // encoded records to append
	ids  []uint64 // filled in for puts
	dels []uint64
	done chan error
}

// OpenSpool opens the spool at path, creating it and its directory when
// missing, and reads what a previous run left in it. A file that is not a
// readable spool (garbage, truncated, failing bbolt's consistency check)
// never stops the bot: it is renamed to path.unreadable-<UTC time>, one
// line is logged, SpoolStats.Corrupt counts it, and a fresh spool is
// created. OpenSpool fails only when no spool can be had at all (for
// example the directory is read-only, or another process holds the file).
func OpenSpool(path string, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", path, err)
	}
	s := &Spool{path: path, log: log, stats: SpoolStats{Path: path}}
	db, loaded, err := openAndLoad(path)
	if errors.Is(err, errBusy) {
		return nil, fmt.Errorf("spool %s: %w", path, err)
	}
	if err != nil {
		aside := fmt.Sprintf("%s.unreadable-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("spool %s is unreadable (%v) and cannot be moved aside: %w", path, err, rerr)
		}
		s.stats.Corrupt++
		log.Error("[Spool] unreadable spool moved aside, starting with an empty one: its records are not replayed",
			"path", path, "moved_to", aside, "error", err.Error())
		db, loaded, err = openAndLoad(path)
		if err != nil {
			return nil, fmt.Errorf("spool %s (fresh): %w", path, err)
		}
	}
	s.db, s.loaded = db, loaded
	s.stats.Replayed = uint64(len(loaded))
	s.reqs = make(chan *spoolReq, 4*maxGroup)
	s.closing = make(chan struct{})
	s.stopped = make(chan struct{})
	go s.commitLoop()
	return s, nil
}

// errBusy: another process holds the file lock; the file is not ours to move.
var errBusy = errors.New("locked by another process")

// openAndLoad opens path and reads every record, checking the file first:
// bbolt trusts its pages, and a page past the end of a truncated file
// would fault when read.
func openAndLoad(path string) (db *bolt.DB, loaded []entry, err error) {
	// A fault while reading a mapped page becomes a panic instead of
	// killing the process, and bbolt panics on some corrupt pages: both are
	// recovered here. Everything bbolt reads at open runs in this goroutine
	// (the freelist is synced, so it is read, not rebuilt in another one).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt spool: %v", r)
		}
		if err != nil && db != nil {
			db.Close()
			db, loaded = nil, nil
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, nil, errBusy
	}
	if err != nil {
		return nil, nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return db, nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if tx.Size() > info.Size() {
			return fmt.Errorf("truncated: %d bytes, its pages need %d", info.Size(), tx.Size())
		}
		var err error
		for cerr := range tx.Check() {
			if err == nil {
				err = fmt.Errorf("consistency check: %w", cerr)
			}
		}
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("key %x is not a sequence number", k)
			}
			var rec Record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			loaded = append(loaded, entry{rec: rec, id: binary.BigEndian.Uint64(k), size: len(k) + len(v)})
			return nil
		})
	})
	return db, loaded, err
}

// Path is the spool file.
func (s *Spool) Path() string { return s.path }

// Stats returns the spool's counters.
func (s *Spool) Stats() SpoolStats { return s.stats }

// takeLoaded hands what the last run left to the outbox, once.
func (s *Spool) takeLoaded() []entry {
	l := s.loaded
	s.loaded = nil
	return l
}

// encode is a record as the spool stores it.
func encode(r Record) []byte {
	v, err := json.Marshal(r)
	if err != nil { // strings, a bool and a time.Time: it cannot fail
		panic(fmt.Sprintf("msglog: encoding a record: %v", err))
	}
	return v
}

// append stores the encoded records durably, in order, and returns their ids.
func (s *Spool) append(vals [][]byte) ([]uint64, error) {
	r := &spoolReq{puts: vals, done: make(chan error, 1)}
	if err := s.do(r); err != nil {
		return nil, err
	}
	return r.ids, nil
}

// delete removes records by id; ids not stored are ignored.
func (s *Spool) delete(ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.do(&spoolReq{dels: ids, done: make(chan error, 1)})
}

func (s *Spool) do(r *spoolReq) error {
	select {
	case s.reqs <- r:
	case <-s.closing:
		return ErrSpoolClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-s.stopped:
		// The loop may have answered just before stopping.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrSpoolClosed
		}
	}
}

// commitLoop commits what is waiting, one transaction (and fsync) per
// group, until Close.
func (s *Spool) commitLoop() {
	defer close(s.stopped)
	for {
		var first *spoolReq
		select {
		case first = <-s.reqs:
		case <-s.closing:
			return
		}
		group := []*spoolReq{first}
	gather:
		for len(group) < maxGroup {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break gather
			}
		}
		err := s.commit(group)
		if err != nil {
			// One bad request must not fail the others: retry them alone.
			for _, r := range group {
				r.done <- s.commit([]*spoolReq{r})
			}
			continue
		}
		for _, r := range group {
			r.done <- nil
		}
	}
}

func (s *Spool) commit(group []*spoolReq) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		for _, r := range group {
			for _, id := range r.dels {
				if err := b.Delete(key(id)); err != nil {
					return err
				}
			}
			r.ids = r.ids[:0]
			for _, v := range r.puts {
				id, err := b.NextSequence()
				if err != nil {
					return err
				}
				if err := b.Put(key(id), v); err != nil {
					return err
				}
				r.ids = append(r.ids, id)
			}
		}
		return nil
	})
}

func key(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// Close stops the commit loop and closes the file. Records still in it stay
// for the next run.
func (s *Spool) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		<-s.stopped
		err = s.db.Close()
	})
	return err
}
