package resilience

import (
	"context"
	"sync/atomic"
)

// Progress counts the attempts of a call as they start, for a caller that
// stops waiting before the call ends (the bot's reply deadline): Result
// tells the attempts only once Do returns. The count is a lower bound of
// what the finished call reports.
type Progress struct{ n atomic.Int64 }

// Attempts is how many attempts have started so far.
func (p *Progress) Attempts() int { return int(p.n.Load()) }

type progressKey struct{}

// WithProgress returns ctx carrying p: NoteAttempt on a context derived
// from it counts into p.
func WithProgress(ctx context.Context, p *Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// NoteAttempt counts one attempt into the Progress ctx carries, if any.
// The function given to Executor.Do calls it first: the context Do hands
// it derives from the caller's, so the value reaches it.
func NoteAttempt(ctx context.Context) {
	if p, ok := ctx.Value(progressKey{}).(*Progress); ok {
		p.n.Add(1)
	}
}
