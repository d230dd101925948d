// Package msglog holds the message-log records and the outbox that carries
// them to the database.
//
// Every record goes through the outbox, healthy or not, so a reply never
// waits for the message log: one writer drains the queue in order, in
// batches. While the database is down the records wait, up to a fixed
// capacity; what does not fit is dropped and counted, never silently. On
// shutdown Drain flushes what it can and reports the rest as lost.
package msglog

import (
	"context"
	"errors"
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
	Capacity      int           // records held at most; default 1000
	BatchSize     int           // records per write; default 100
	RetryBase     time.Duration // first wait after a failed write; default 100ms
	RetryMaxDelay time.Duration // longest wait between failed writes; default 2s
	// Permanent reports errors that retrying cannot fix (bad data, not an
	// outage). The batch is then written record by record and the records
	// that still fail are dropped and counted. Nil: nothing is permanent.
	Permanent func(error) bool
	Logger    *slog.Logger
}

// Stats are the outbox's counters since it was created.
type Stats struct {
	Depth           int
	Capacity        int
	Flushed         uint64 // records written
	DroppedOverflow uint64 // refused because the outbox was full
	DroppedRejected uint64 // refused by the database permanently
	Lost            uint64 // still queued when Drain gave up
	FailedWrites    uint64 // failed batch writes (each retried)
}

// Outbox is a bounded FIFO of records with a single writer.
type Outbox struct {
	opts Options
	log  *slog.Logger
	wake chan struct{}

	mu    sync.Mutex
	queue []Record // queue[head:] are pending, oldest first
	head  int
	full  bool // for logging the start and end of an overflow episode
	stats Stats
}

// New returns an empty outbox.
func New(opts Options) *Outbox {
	if opts.Capacity <= 0 {
		opts.Capacity = 1000
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 100 * time.Millisecond
	}
	if opts.RetryMaxDelay < opts.RetryBase {
		opts.RetryMaxDelay = max(2*time.Second, opts.RetryBase)
	}
	if opts.Permanent == nil {
		opts.Permanent = func(error) bool { return false }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{opts: opts, log: log, wake: make(chan struct{}, 1), stats: Stats{Capacity: opts.Capacity}}
}

// Enqueue adds recs at the tail, all or none: a conversation is never half
// logged. It reports whether they were accepted; refused records are counted
// as overflow.
func (o *Outbox) Enqueue(recs ...Record) bool {
	if len(recs) == 0 {
		return true
	}
	o.mu.Lock()
	depth := len(o.queue) - o.head
	if depth+len(recs) > o.opts.Capacity {
		o.stats.DroppedOverflow += uint64(len(recs))
		first := !o.full
		o.full = true
		dropped := o.stats.DroppedOverflow
		o.mu.Unlock()
		if first {
			o.log.Warn("[Outbox] full, dropping message-log records until it drains",
				"capacity", o.opts.Capacity, "dropped_total", dropped)
		}
		return false
	}
	if o.head > 0 && len(o.queue)+len(recs) > cap(o.queue) {
		// Reuse the consumed prefix instead of growing.
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue = o.queue[:n]
		o.head = 0
	}
	o.queue = append(o.queue, recs...)
	o.mu.Unlock()
	o.Kick()
	return true
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
	return s
}

// peek returns up to n of the oldest records, copied.
func (o *Outbox) peek(n int) []Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	pending := o.queue[o.head:]
	return append([]Record(nil), pending[:min(n, len(pending))]...)
}

// pop removes the n oldest records, which the caller has just written or dropped.
func (o *Outbox) pop(n int, written bool) {
	o.mu.Lock()
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
	err := w.WriteLog(ctx, batch)
	if err == nil {
		o.pop(len(batch), true)
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
	for _, rec := range batch {
		err := w.WriteLog(ctx, []Record{rec})
		switch {
		case err == nil:
			o.pop(1, true)
		case ctx.Err() == nil && o.opts.Permanent(err):
			o.log.Error("[Outbox] database rejected a message-log record, dropping it",
				"chat", rec.ChatID, "key", rec.Key, "direction", string(rec.Direction), "error", err.Error())
			o.pop(1, false)
		default:
			return err
		}
	}
	return nil
}

// ErrLost is returned by Drain when records remain unwritten.
var ErrLost = errors.New("message-log records lost")

// Drain writes what is queued until the outbox is empty or ctx is done,
// retrying failed writes. Whatever remains is counted and logged as lost,
// and Drain returns ErrLost. Call it after Run has returned.
func (o *Outbox) Drain(ctx context.Context, w Writer) error {
	delay := time.Duration(0)
	for o.Len() > 0 && ctx.Err() == nil {
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
	n := len(pending)
	var first, last time.Time
	if n > 0 {
		first, last = pending[0].At, pending[n-1].At
	}
	o.stats.Lost += uint64(n)
	o.queue, o.head = nil, 0
	flushed := o.stats.Flushed
	o.mu.Unlock()
	if n == 0 {
		o.log.Info("[Outbox] flushed on shutdown", "flushed_total", flushed)
		return nil
	}
	o.log.Error("[Outbox] shutdown before the database took these records: message-log records lost",
		"lost", n, "oldest", first, "newest", last)
	return ErrLost
}
