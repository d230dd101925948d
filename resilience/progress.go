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

// WithProgress returns ctx carrying p: Executor.Do on ctx (or a context
// derived from it) counts each attempt into p as it starts.
func WithProgress(ctx context.Context, p *Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

func progressOf(ctx context.Context) *Progress {
	p, _ := ctx.Value(progressKey{}).(*Progress)
	return p
}

// NoteAttempt counts one attempt into the Progress ctx carries, if any:
// for fakes that stand in for Executor.Do in tests.
func NoteAttempt(ctx context.Context) {
	if p := progressOf(ctx); p != nil {
		p.n.Add(1)
	}
}
