package botlog

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"
)

// Watcher keeps every line a running bot logs, as it logs it, and passes
// each to an echo function unless muted. Callers wait on it for the lines
// they expect.
type Watcher struct {
	echo func(Line)

	mu      sync.Mutex
	lines   []Line
	muted   bool
	changed chan struct{} // closed and replaced on every new line
}

// NewWatcher returns a watcher that passes each line to echo (nil: none).
func NewWatcher(echo func(Line)) *Watcher {
	return &Watcher{echo: echo, changed: make(chan struct{})}
}

// Mute stops (true) or resumes (false) the echo; lines are kept either way.
func (w *Watcher) Mute(muted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.muted = muted
}

// Accept takes raw lines from the container (environment.BotOptions.LogLines);
// Docker may hand over several at once.
func (w *Watcher) Accept(raw []byte) {
	for part := range bytes.Lines(raw) {
		line, ok := Parse(part)
		if !ok {
			continue
		}
		w.mu.Lock()
		w.lines = append(w.lines, line)
		close(w.changed)
		w.changed = make(chan struct{})
		muted := w.muted
		w.mu.Unlock()
		if w.echo != nil && !muted {
			w.echo(line)
		}
	}
}

// Mark is a position in the log: lines after it are "since the mark".
func (w *Watcher) Mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lines)
}

// Since returns the lines logged after mark.
func (w *Watcher) Since(mark int) []Line {
	w.mu.Lock()
	defer w.mu.Unlock()
	if mark > len(w.lines) {
		return nil
	}
	return slices.Clone(w.lines[mark:])
}

// WaitFor waits until the lines after mark satisfy done, up to timeout,
// and reports whether they did. The bot's lines reach the host through
// Docker's log stream, a little after the HTTP reply that they explain.
func (w *Watcher) WaitFor(ctx context.Context, mark int, timeout time.Duration, done func([]Line) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		w.mu.Lock()
		var lines []Line
		if mark <= len(w.lines) {
			lines = w.lines[mark:]
		}
		ok := done(lines)
		changed := w.changed
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}
