// Package fakestore is an in-memory chat.Store and msglog.Writer for tests
// and benchmarks of the layers above the database. Down makes every call
// fail the way the retry layer reports an unreachable server.
package fakestore

import (
	"context"
	"net"
	"sync"
	"syscall"

	"github.com/p1001/p1001/bot/chat"
	"github.com/p1001/p1001/bot/msglog"
	"github.com/p1001/p1001/resilience"
)

// Store is safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	prompts map[string]string
	log     []msglog.Record
	down    bool
}

// New returns an empty, healthy store.
func New() *Store { return &Store{prompts: map[string]string{}} }

// SetDown switches the simulated outage on or off.
func (s *Store) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Attempts is what a failed call reports, as with the default policy.
const Attempts = 3

// ok and failed are the Results of a healthy and a failed call.
var (
	ok     = resilience.Result{Attempts: 1}
	failed = resilience.Result{Attempts: Attempts}
)

// outage is what the Executor returns after every attempt was refused: the
// refusal's verdict (P1001, nothing sent).
func outage(op string) error {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	return &resilience.Error{Classification: resilience.Classify(refused), Op: op, Target: resilience.Target{Host: "fake", Port: 5432}, Attempts: Attempts, Err: refused}
}

func (s *Store) GetPrompt(_ context.Context, chatID string) (chat.StoredPrompt, resilience.Result, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.down {
		return chat.StoredPrompt{}, failed, outage("getCustomPrompt")
	}
	p, found := s.prompts[chatID]
	return chat.StoredPrompt{Text: p, Found: found}, ok, nil
}

func (s *Store) SetPrompt(_ context.Context, chatID, prompt string) (resilience.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return failed, outage("setCustomPrompt")
	}
	s.prompts[chatID] = prompt
	return ok, nil
}

func (s *Store) ResetPrompt(_ context.Context, chatID string) (resilience.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return failed, outage("resetCustomPrompt")
	}
	delete(s.prompts, chatID)
	return ok, nil
}

func (s *Store) WriteLog(_ context.Context, recs []msglog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return outage("logMessages")
	}
	s.log = append(s.log, recs...)
	return nil
}

// Prompt returns the stored prompt.
func (s *Store) Prompt(chatID string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.prompts[chatID]
	return p, ok
}

// Log returns a copy of the written message log.
func (s *Store) Log() []msglog.Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]msglog.Record(nil), s.log...)
}
