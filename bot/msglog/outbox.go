// Package msglog holds the message-log records and the outbox that carries
// them to the database.
//
// Every record goes through the outbox, healthy or not, so a reply never
// waits for the database: one writer drains the queue in order, in
// batches. While the database is down the records wait, up to a fixed
// capacity; what does not fit is dropped and counted, never silently.
//
// With a Spool, every accepted record is also committed to local disk
// before Enqueue returns (synced before or just after, see Fsync), is deleted from it once the database has it, and
// what a previous run left there is queued first. On shutdown Drain
// flushes what it can; the rest is kept in the spool for the next start.
// Without one, the rest is reported as lost.
package msglog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Direction tells whether a record is the user's message or the bot's reply.
type Direction string

const (
	Inbound  Direction = "in"
	Outbound Direction = "out"
)

// Record is one line of the message log.
type Record struct {
	// Key is unique per record; the store ignores a key it already has, so
	// a batch can be written again after an ambiguous failure.
	Key       string
	ChatID    string
	Direction Direction
	Text      string
	// PromptSource and Degraded describe replies; Command names the
	// command a record belongs to, if any.
	PromptSource string
	Degraded     bool
	Command      string
	At           time.Time
}

// Writer stores a batch of records, in order, all or nothing.
type Writer interface {
	WriteLog(ctx context.Context, recs []Record) error
}

// Options configures an Outbox. Zero values take the defaults.
type Options struct {
	Capacity      int           // records held at most; default DefaultCapacity
	BatchSize     int           // records per write; default DefaultBatchSize
	RetryBase     time.Duration // first wait after a failed write; default DefaultRetryBase
	RetryMaxDelay time.Duration // longest wait between failed writes; default DefaultRetryMaxDelay
	// Permanent reports errors that retrying cannot fix (bad data, not an
	// outage). The batch is then written record by record and the records
	// that still fail are dropped and counted. Nil: nothing is permanent.
	Permanent func(error) bool
	Logger    *slog.Logger
	// Spool, when set, makes the outbox durable: see the package doc. The
	// outbox takes over the records it holds; the caller closes it after
	// Drain.
	Spool *Spool
	// SpoolMaxBytes bounds the records held in the spool (their encoded
	// size); records that would pass it are dropped as overflow, like
	// records past Capacity. Default DefaultSpoolMaxBytes.
	SpoolMaxBytes int64
	// FinalFlush bounds Drain with a spool: what the database has not
	// taken by then is safe in the spool anyway. Default DefaultFinalFlush.
	FinalFlush time.Duration
}

// Defaults of Options, which bot/config reads too.
const (
	DefaultCapacity      = 1000 // OUTBOX_CAPACITY
	DefaultBatchSize     = 100  // OUTBOX_BATCH_SIZE
	DefaultRetryBase     = 100 * time.Millisecond
	DefaultRetryMaxDelay = 2 * time.Second // OUTBOX_RETRY_MAX_DELAY
	DefaultSpoolMaxBytes = 64 << 20        // SPOOL_MAX_BYTES
	DefaultFinalFlush    = time.Second
)

// Stats are the outbox's counters since it was created.
type Stats struct {
	Depth           int
	Capacity        int
	Flushed         uint64 // records written
	DroppedOverflow uint64 // refused because the outbox was full
	DroppedRejected uint64 // refused by the database permanently
	Lost            uint64 // still queued when Drain gave up (no spool)
	FailedWrites    uint64 // failed batch writes (each retried)

	// With a spool.
	Durable       bool   // a spool is in use
	Kept          uint64 // left in the spool by Drain for the next start
	Replayed      uint64 // found in the spool at start, queued first
	SpoolBytes    int64  // encoded size of the records in the spool
	SpoolMaxBytes int64
	SpoolErrors   uint64 // failed spool writes or deletes (see Enqueue)
	SpoolCorrupt  uint64 // unreadable spool files moved aside at start
}

// entry is a queued record with its place in the spool (id 0: memory only).
type entry struct {
	rec  Record
	id   uint64
	size int
}

// Outbox is a bounded FIFO of records with a single writer.
type Outbox struct {
	opts Options
	log  *slog.Logger
	wake chan struct{}

	mu    sync.Mutex
	queue []entry // queue[head:] are pending, oldest first
	head  int
	full  bool // for logging the start and end of an overflow episode
	// reserved counts records and bytes accepted but still being written
	// to the spool, so that concurrent Enqueues respect the bounds.
	reservedN     int
	reservedBytes int64
	spoolFailing  bool // for logging the start and end of a spool-error episode
	stats         Stats
}

// New returns an empty outbox.
func New(opts Options) *Outbox {
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultCapacity
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = DefaultRetryBase
	}
	if opts.RetryMaxDelay < opts.RetryBase {
		opts.RetryMaxDelay = max(DefaultRetryMaxDelay, opts.RetryBase)
	}
	if opts.Permanent == nil {
		opts.Permanent = func(error) bool { return false }
	}
	if opts.SpoolMaxBytes <= 0 {
		opts.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if opts.FinalFlush <= 0 {
		opts.FinalFlush = DefaultFinalFlush
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{opts: opts, log: log, wake: make(chan struct{}, 1), stats: Stats{Capacity: opts.Capacity}}
	if sp := opts.Spool; sp != nil {
		o.stats.Durable, o.stats.SpoolMaxBytes = true, opts.SpoolMaxBytes
		o.queue = sp.takeLoaded()
		for _, e := range o.queue {
			o.stats.SpoolBytes += int64(e.size)
		}
		st := sp.Stats()
		o.stats.Replayed, o.stats.SpoolCorrupt = uint64(len(o.queue)), st.Corrupt
		if n := len(o.queue); n > 0 {
			// Possibly more than Capacity: durable records are never dropped.
			log.Info("[Spool] replaying message-log records left by the last run",
				"records", n, "bytes", o.stats.SpoolBytes, "path", sp.Path())
		}
	}
	return o
}

// Enqueue adds recs at the tail, all or none: a conversation is never half
// logged. It reports whether they were accepted; refused records are counted
// as overflow.
//
// With a spool, Enqueue returns once the records are committed to it. If the spool
// cannot be written, they are queued in memory only (logged once per
// episode, counted in Stats.SpoolErrors): the reply is not held back.
func (o *Outbox) Enqueue(recs ...Record) bool {
	if len(recs) == 0 {
		return true
	}
	entries := make([]entry, len(recs))
	var vals [][]byte
	var size int64
	for i, r := range recs {
		entries[i].rec = r
	}
	if o.opts.Spool != nil {
		vals = make([][]byte, len(recs))
		for i, r := range recs {
			v := encode(r)
			vals[i] = v
			entries[i].size = len(v) + 8
			size += int64(entries[i].size)
		}
	}

	o.mu.Lock()
	depth := len(o.queue) - o.head + o.reservedN
	overBytes := o.opts.Spool != nil && o.stats.SpoolBytes+o.reservedBytes+size > o.opts.SpoolMaxBytes
	if depth+len(recs) > o.opts.Capacity || overBytes {
		o.stats.DroppedOverflow += uint64(len(recs))
		first := !o.full
		o.full = true
		dropped := o.stats.DroppedOverflow
		o.mu.Unlock()
		if first {
			attrs := []any{"capacity", o.opts.Capacity, "dropped_total", dropped}
			if o.opts.Spool != nil {
				attrs = append(attrs, "spool_max_bytes", o.opts.SpoolMaxBytes)
			}
			o.log.Warn("[Outbox] full, dropping message-log records until it drains", attrs...)
		}
		return false
	}
	if o.opts.Spool == nil {
		o.push(entries)
		o.mu.Unlock()
		o.Kick()
		return true
	}
	o.reservedN += len(recs)
	o.reservedBytes += size
	o.mu.Unlock()

	ids, err := o.opts.Spool.append(vals)

	o.mu.Lock()
	o.reservedN -= len(recs)
	o.reservedBytes -= size
	if err == nil {
		for i := range entries {
			entries[i].id = ids[i]
		}
		o.stats.SpoolBytes += size
	} else {
		for i := range entries {
			entries[i].size = 0
		}
		o.stats.SpoolErrors++
	}
	o.push(entries)
	logStart := err != nil && !o.spoolFailing
	logEnd := err == nil && o.spoolFailing
	o.spoolFailing = err != nil
	o.mu.Unlock()
	switch {
	case logStart:
		o.log.Error("[Spool] cannot write the spool, message-log records are held in memory only until it works again",
			"path", o.opts.Spool.Path(), "error", err.Error())
	case logEnd:
		o.log.Info("[Spool] writing the spool again")
	}
	o.Kick()
	return true
}

// push appends entries at the tail; o.mu is held.
func (o *Outbox) push(entries []entry) {
	if o.head > 0 && len(o.queue)+len(entries) > cap(o.queue) {
		// Reuse the consumed prefix instead of growing.
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue = o.queue[:n]
		o.head = 0
	}
	o.queue = append(o.queue, entries...)
}

// Kick wakes the writer: new records, or a sign that the database is back.
func (o *Outbox) Kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Len is the number of records waiting.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue) - o.head
}

// Stats returns a snapshot of the counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.stats
	s.Depth = len(o.queue) - o.head
	if o.opts.Spool != nil {
		s.SpoolErrors += o.opts.Spool.deleteErrors()
	}
	return s
}

// peek returns up to n of the oldest entries, copied.
func (o *Outbox) peek(n int) []entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	pending := o.queue[o.head:]
	return append([]entry(nil), pending[:min(n, len(pending))]...)
}

// records are the entries' records.
func records(es []entry) []Record {
	out := make([]Record, len(es))
	for i, e := range es {
		out[i] = e.rec
	}
	return out
}

// pop removes the oldest entries, es, which the caller has just written or
// dropped, from the queue and from the spool (see Spool.forget).
func (o *Outbox) pop(es []entry, written bool) {
	n := len(es)
	var ids []uint64
	var size int64
	for _, e := range es {
		if e.id != 0 {
			ids = append(ids, e.id)
			size += int64(e.size)
		}
	}
	if len(ids) > 0 {
		o.opts.Spool.forget(ids)
	}
	o.mu.Lock()
	o.stats.SpoolBytes -= size
	clear(o.queue[o.head : o.head+n])
	o.head += n
	if o.head == len(o.queue) {
		o.queue = o.queue[:0]
		o.head = 0
	}
	if written {
		o.stats.Flushed += uint64(n)
	} else {
		o.stats.DroppedRejected += uint64(n)
	}
	endOfOverflow := o.full && len(o.queue)-o.head < o.opts.Capacity
	if endOfOverflow {
		o.full = false
	}
	dropped := o.stats.DroppedOverflow
	o.mu.Unlock()
	if endOfOverflow {
		o.log.Info("[Outbox] accepting records again", "dropped_total", dropped)
	}
}

// Run writes queued records to w until ctx is done. It starts writing only
// once ready is closed (the schema exists); a nil ready means at once.
func (o *Outbox) Run(ctx context.Context, w Writer, ready <-chan struct{}) {
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			return
		}
	}
	delay := time.Duration(0)
	for {
		if delay == 0 && o.Len() == 0 {
			select {
			case <-o.wake:
			case <-ctx.Done():
				return
			}
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-o.wake: // the database looks healthy again: try now
				t.Stop()
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		if err := o.flushOnce(ctx, w); err != nil {
			if ctx.Err() != nil {
				return
			}
			delay = min(max(2*delay, o.opts.RetryBase), o.opts.RetryMaxDelay)
			continue
		}
		delay = 0
	}
}

// flushOnce writes one batch from the head. A nil error means progress (or
// nothing to do).
func (o *Outbox) flushOnce(ctx context.Context, w Writer) error {
	batch := o.peek(o.opts.BatchSize)
	if len(batch) == 0 {
		return nil
	}
	err := w.WriteLog(ctx, records(batch))
	if err == nil {
		o.pop(batch, true)
		return nil
	}
	o.mu.Lock()
	o.stats.FailedWrites++
	o.mu.Unlock()
	if ctx.Err() != nil || !o.opts.Permanent(err) {
		o.log.Debug("[Outbox] write failed, will retry", "records", len(batch), "error", err.Error())
		return err
	}
	// Bad data, not an outage: find the offending records one by one so the
	// rest keep their order and reach the database.
	for _, e := range batch {
		rec := e.rec
		err := w.WriteLog(ctx, []Record{rec})
		switch {
		case err == nil:
			o.pop([]entry{e}, true)
		case ctx.Err() == nil && o.opts.Permanent(err):
			o.log.Error("[Outbox] database rejected a message-log record, dropping it",
				"chat", rec.ChatID, "key", rec.Key, "direction", string(rec.Direction), "error", err.Error())
			o.pop([]entry{e}, false)
		default:
			return err
		}
	}
	return nil
}

// ErrLost is returned by Drain when records remain unwritten and are not
// in the spool.
var ErrLost = errors.New("message-log records lost")

// Drain writes what is queued until the outbox is empty or ctx is done.
// Call it after Run has returned.
//
// Without a spool it retries failed writes until ctx ends; whatever
// remains is counted and logged as lost, and Drain returns ErrLost.
//
// With a spool it makes one pass, bounded by FinalFlush, and stops at the
// first failed write: the database is away and the records are on disk.
// What remains is counted and logged as kept, for the next start, and
// Drain returns nil (unless some records never reached the spool: those
// are lost).
func (o *Outbox) Drain(ctx context.Context, w Writer) error {
	if o.opts.Spool != nil {
		fctx, cancel := context.WithTimeout(ctx, o.opts.FinalFlush)
		defer cancel()
		for o.Len() > 0 && fctx.Err() == nil {
			if err := o.flushOnce(fctx, w); err != nil {
				break
			}
		}
	}
	delay := time.Duration(0)
	for o.opts.Spool == nil && o.Len() > 0 && ctx.Err() == nil {
		if err := o.flushOnce(ctx, w); err != nil {
			delay = min(max(2*delay, o.opts.RetryBase), o.opts.RetryMaxDelay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		delay = 0
	}
	o.mu.Lock()
	pending := o.queue[o.head:]
	var kept, lost []Record
	for _, e := range pending {
		if e.id != 0 {
			kept = append(kept, e.rec)
		} else {
			lost = append(lost, e.rec)
		}
	}
	o.stats.Kept += uint64(len(kept))
	o.stats.Lost += uint64(len(lost))
	o.queue, o.head = nil, 0
	flushed := o.stats.Flushed
	o.mu.Unlock()
	if len(kept) == 0 && len(lost) == 0 {
		o.log.Info("[Outbox] flushed on shutdown", "flushed_total", flushed)
		return nil
	}
	if len(kept) > 0 {
		first, last := span(kept)
		o.log.Warn("[Outbox] shutdown before the database took these records: KEPT in the spool for the next start",
			"kept", len(kept), "oldest", first, "newest", last, "path", o.opts.Spool.Path())
	}
	if len(lost) == 0 {
		return nil
	}
	first, last := span(lost)
	o.log.Error("[Outbox] shutdown before the database took these records: message-log records lost",
		"lost", len(lost), "oldest", first, "newest", last)
	return fmt.Errorf("%w: %d", ErrLost, len(lost))
}

// span is the time of the first and the last record.
func span(recs []Record) (first, last time.Time) {
	return recs[0].At, recs[len(recs)-1].At
}
