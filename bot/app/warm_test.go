package app

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/p1001/p1001/resilience"
)

// fakeWarmable is a pool of open connections, some in use; acquire
// opens one when none is idle (as pgxpool does), or fails when down.
type fakeWarmable struct {
	mu                  sync.Mutex
	open, inUse, opened int
	down                bool
}

func (p *fakeWarmable) counts() (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, p.inUse
}

func (p *fakeWarmable) acquire(context.Context) (func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse == p.open {
		if p.down {
			return nil, errors.New("refused")
		}
		p.open++
		p.opened++
	}
	p.inUse++
	return func() { p.mu.Lock(); p.inUse--; p.mu.Unlock() }, nil
}

func TestWarmPool(t *testing.T) {
	ok := resilience.Event{Kind: resilience.EventSucceeded}
	tests := []struct {
		name        string
		open, inUse int
		down        bool
		min         int
		event       resilience.Event
		wantOpened  int
	}{
		{"tops up to the minimum after a success", 1, 0, false, 10, ok, 9},
		{"nothing before a success", 1, 0, false, 10, resilience.Event{Kind: resilience.EventGaveUp}, 0},
		{"never while a connection is in use", 2, 1, false, 10, ok, 0},
		{"already warm", 10, 0, false, 10, ok, 0},
		{"off", 1, 0, false, 0, ok, 0},
		{"a failed connect is left for later", 1, 0, true, 10, ok, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeWarmable{open: tt.open, inUse: tt.inUse, down: tt.down}
			busy := tt.inUse
			w := newWarmPool(p, tt.min, 0)
			w.Observe(tt.event)
			w.Observe(tt.event) // within warmEvery: no second top-up
			w.Wait()
			if p.opened != tt.wantOpened || p.inUse != busy {
				t.Errorf("opened %d, %d in use after; want %d opened, all given back (%d in use)", p.opened, p.inUse, tt.wantOpened, busy)
			}
		})
	}
}
