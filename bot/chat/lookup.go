package chat

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/p1001/p1001/resilience"
)

// flight is one prompt lookup, shared by every message of its chat that
// arrives while it runs. It outlives the replies that wait for it: past
// the reply deadline they answer from the fallback chain, and the lookup
// runs on within its own attempts and budget to refresh the cache and to
// tell the breaker how the database is.
type flight struct {
	done     chan struct{} // closed when the fields below are set
	progress resilience.Progress
	stored   StoredPrompt
	res      resilience.Result
	err      error
	stale    bool // a write for the chat succeeded meanwhile: do not cache the result (guarded by flights.mu)
}

// flights is the set of running lookups, one per chat at most, with a
// global cap. A small map rather than x/sync/singleflight: a reply that
// stops waiting reads the shared lookup's attempts so far, and a write
// must detach a running lookup from its chat; the cap is taken before a
// flight is registered.
type flights struct {
	mu    sync.Mutex
	byID  map[string]*flight
	slots chan struct{} // one token per running lookup
	wg    sync.WaitGroup
}

func newFlights(max int) *flights {
	return &flights{byID: make(map[string]*flight), slots: make(chan struct{}, max)}
}

// errNoSlot: every lookup slot stayed busy until the reply's deadline.
var errNoSlot = errors.New("chat: every prompt lookup slot is busy")

// join returns the chat's running lookup, or starts one with run once a
// slot is free. It gives up with errNoSlot when expired fires first, or
// with ctx's error.
func (fs *flights) join(ctx context.Context, chatID string, expired <-chan time.Time, run func(f *flight)) (*flight, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the caller left: no lookup for nobody
	}
	fs.mu.Lock()
	f, ok := fs.byID[chatID]
	fs.mu.Unlock()
	if ok {
		return f, nil
	}
	select {
	case fs.slots <- struct{}{}:
	case <-expired:
		return nil, errNoSlot
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fs.mu.Lock()
	if f, ok := fs.byID[chatID]; ok { // started while this one waited for a slot
		fs.mu.Unlock()
		<-fs.slots
		return f, nil
	}
	f = &flight{done: make(chan struct{})}
	fs.byID[chatID] = f
	fs.mu.Unlock()
	fs.wg.Go(func() {
		defer func() {
			fs.mu.Lock()
			if fs.byID[chatID] == f {
				delete(fs.byID, chatID)
			}
			fs.mu.Unlock()
			<-fs.slots
			close(f.done)
		}()
		run(f)
	})
	return f, nil
}

// detach stops new messages of the chat from joining its running lookup,
// whose read a write has made old, and runs put (the write's cache update)
// under the same lock that settle holds, so that the old read can never
// land in the cache after it.
func (fs *flights) detach(chatID string, put func()) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.byID[chatID]; ok {
		f.stale = true
		delete(fs.byID, chatID)
	}
	put()
}

// settle runs put (the lookup's cache update) unless a write detached f.
func (fs *flights) settle(f *flight, put func()) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !f.stale {
		put()
	}
}

// inFlight is the number of running lookups.
func (fs *flights) inFlight() int { return len(fs.slots) }
