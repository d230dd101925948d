package chat

import (
	"sync"
	"time"
)

// promptCache keeps each chat's last successfully read prompt (or the fact
// that it had none), so that an outage can fall back to it while it is
// younger than maxAge. It is bounded; when full, an arbitrary entry (Go's
// map order) makes room, which is enough for a last-known-good cache.
// A small map rather than an LRU library because the clock must be
// injectable for the staleness tests.
type promptCache struct {
	maxAge time.Duration
	size   int
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	prompt string
	custom bool
	at     time.Time
}

func newPromptCache(size int, maxAge time.Duration, now func() time.Time) *promptCache {
	return &promptCache{maxAge: maxAge, size: size, now: now, entries: make(map[string]cacheEntry)}
}

func (c *promptCache) put(chatID, prompt string, custom bool) {
	if c.maxAge <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[chatID]; !ok && len(c.entries) >= c.size {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[chatID] = cacheEntry{prompt: prompt, custom: custom, at: c.now()}
}

// get returns the entry if it is fresh enough; ok is false otherwise.
func (c *promptCache) get(chatID string) (prompt string, custom bool, age time.Duration, ok bool) {
	if c.maxAge <= 0 {
		return "", false, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.entries[chatID]
	if !found {
		return "", false, 0, false
	}
	age = c.now().Sub(e.at)
	if age > c.maxAge {
		delete(c.entries, chatID)
		return "", false, 0, false
	}
	return e.prompt, e.custom, age, true
}

func (c *promptCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
