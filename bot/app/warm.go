package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/p1001/p1001/resilience"
)

// warmPool keeps POOL_MIN_CONNS connections open once the database has
// answered: a prompt lookup on an open connection is one round trip, on a
// new one about four (TCP, startup, SCRAM, the query), which under 300 ms
// of latency is past the reply deadline.
//
// pgxpool's own MinConns would also connect while nothing has succeeded
// yet (a wrong password: ten logins at start and every minute, past the
// breaker), so the top-up follows the retry layer instead: after a
// successful call, when the pool is below the minimum and no connection
// is in use (a top-up never competes with a request for one), it opens
// the missing connections at once, in the background, and returns them
// to the pool. One top-up at a time, at most one a second.
type warmPool struct {
	pool    warmable
	min     int
	timeout time.Duration // of one top-up: the connects' own bound

	busy atomic.Bool
	mu   sync.Mutex
	last time.Time
	wg   sync.WaitGroup
}

// warmable is what the warmer needs of the pool (pgxPool for *pgxpool.Pool).
type warmable interface {
	counts() (total, acquired int)
	acquire(ctx context.Context) (release func(), err error)
}

type pgxPool struct{ *pgxpool.Pool }

func (p pgxPool) counts() (int, int) {
	st := p.Stat()
	return int(st.TotalConns()), int(st.AcquiredConns())
}

func (p pgxPool) acquire(ctx context.Context) (func(), error) {
	c, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return c.Release, nil
}

const warmEvery = time.Second

func newWarmPool(pool warmable, min int, timeout time.Duration) *warmPool {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &warmPool{pool: pool, min: min, timeout: timeout}
}

// Observe implements resilience.Observer.
func (w *warmPool) Observe(e resilience.Event) {
	if w.min <= 0 || e.Kind != resilience.EventSucceeded && e.Kind != resilience.EventSucceededAfterRetries {
		return
	}
	total, acquired := w.pool.counts()
	if total >= w.min || acquired > 0 || !w.busy.CompareAndSwap(false, true) {
		return
	}
	w.mu.Lock()
	if time.Since(w.last) < warmEvery {
		w.mu.Unlock()
		w.busy.Store(false)
		return
	}
	w.last = time.Now()
	w.mu.Unlock()
	w.wg.Go(func() {
		defer w.busy.Store(false)
		w.topUp(w.min)
	})
}

// topUp holds n connections at once, so that the pool opens those it
// lacks, then gives them all back. A connect that fails is left to the
// next top-up: the requests' own calls report the database's state.
func (w *warmPool) topUp(n int) {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	releases := make([]func(), n)
	var wg sync.WaitGroup
	for i := range releases {
		wg.Go(func() {
			if release, err := w.pool.acquire(ctx); err == nil {
				releases[i] = release
			}
		})
	}
	wg.Wait()
	for _, release := range releases {
		if release != nil {
			release()
		}
	}
}

// Wait returns once the running top-up, if any, has ended.
func (w *warmPool) Wait() { w.wg.Wait() }
