package scenarios

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/p1001/p1001/resilience"
)

// Target is the live environment the player acts on; suites/environment
// implements it.
type Target interface {
	Proxy(name string) (Proxy, error)
	Restart(ctx context.Context, container string) error    // stop+start, returns when running again
	PausePgBouncer(ctx context.Context) error               // PAUSE via the pgbouncer admin console
	ResumePgBouncer(ctx context.Context) error              // RESUME
	Disconnect(ctx context.Context, container string) error // network partition
	Reconnect(ctx context.Context, container string) error
	// Kill sends SIGKILL to the container and starts it again (same
	// volumes); BotRestart sends SIGTERM, waits for it to stop, and starts
	// it again. Both return once it serves again.
	Kill(ctx context.Context, container string) error
	BotRestart(ctx context.Context, container string) error
}

// Settings is what a Target offers when it can change the stack's settings
// for a fault of the types client_limit, server_limit, password_rotation
// and idle_reaping (Fault.IsSetting). Prepare readies, before the traffic,
// what would make Impose slow (the runner calls it); Impose puts the fault
// type's setting in place; Restore puts back exactly what Prepare and
// Impose changed (also after a failed Impose).
type Settings interface {
	Prepare(ctx context.Context, typ string) error
	Impose(ctx context.Context, typ string) error
	Restore(ctx context.Context, typ string) error
}

// Proxy is one Toxiproxy proxy.
type Proxy interface {
	AddToxic(ctx context.Context, name, typ, stream string, toxicity float32, attrs map[string]any) error
	RemoveToxic(ctx context.Context, name string) error
	Disable(ctx context.Context) error
	Enable(ctx context.Context) error
}

// FaultEvent is what the player did for one fault, with offsets measured
// from the same base as the traffic.
type FaultEvent struct {
	Fault string
	Type  string
	Where string // proxy or container
	// Start is when the fault took effect: after the toxic was added, the
	// proxy disabled (the first time, when flapping), PAUSE returned or the
	// bot disconnected. For a restart, kill or bot-restart it is when the
	// restart began.
	Start time.Duration
	// Applying is when the call that applies the fault began. The fault
	// may act from then on: adding a toxic takes effect on each open
	// connection while the call still runs, and a request that meets it
	// and fails fast (a non-transient refusal) can end before Start.
	// 0 in histories written before it was recorded.
	Applying time.Duration
	// Stop is when the fault was undone: after the toxic was removed, the
	// proxy enabled for good, RESUME returned, the bot reconnected, or the
	// restarted (killed) container ran again.
	Stop time.Duration
	// Undoing is when the call that undoes the fault began. The fault may
	// be gone from then on: removing a toxic frees each open connection
	// while the call still runs, so a request can succeed before Stop.
	// 0 for a restart, kill or bot-restart (one call, measured whole) and
	// in histories written before it was recorded.
	Undoing time.Duration
	// Err is set when applying or undoing the fault failed (passwords
	// redacted). A fault that failed to apply has Stop == Start.
	Err string
}

// Time limits of the player's own calls to the Target. They do not follow
// the caller's context: an action, once begun, is finished, so the player
// always knows what it has to undo.
const (
	opTimeout      = 30 * time.Second
	restartTimeout = 2 * time.Minute
)

// Play runs s's fault timeline against t, with offsets relative to base
// (the traffic's monotonic base: offsets are time.Since(base)). Faults run
// concurrently, each applied at base+At and undone at base+At+For. Play
// returns when every fault has stopped. When ctx ends first, every applied
// fault is undone at once with a fresh short context, and the error says
// the timeline was interrupted. Events cover every fault that was applied
// or failed to apply, ordered by Start; the error joins every failure.
func Play(ctx context.Context, s Scenario, t Target, base time.Time) ([]FaultEvent, error) {
	for i, f := range s.Faults {
		if err := playable(f); err != nil {
			return nil, fmt.Errorf("scenario %s: faults[%d] %q: %w", s.Name, i, f.Name, err)
		}
	}
	type outcome struct {
		ev      FaultEvent
		started bool
		err     error
	}
	outcomes := make([]outcome, len(s.Faults))
	var wg sync.WaitGroup
	for i, f := range s.Faults {
		wg.Go(func() {
			p := faultPlayer{f: f, t: t, base: base, ev: FaultEvent{Fault: f.Name, Type: f.Type, Where: f.Where()}}
			started, err := p.play(ctx)
			outcomes[i] = outcome{p.ev, started, err}
		})
	}
	wg.Wait()

	var (
		events []FaultEvent
		errs   []error
	)
	for _, o := range outcomes {
		if o.started {
			events = append(events, o.ev)
		}
		if o.err != nil {
			errs = append(errs, o.err)
		}
	}
	slices.SortStableFunc(events, func(a, b FaultEvent) int { return cmp.Compare(a.Start, b.Start) })
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("scenario %s: fault timeline interrupted: %w", s.Name, context.Cause(ctx)))
	}
	return events, errors.Join(errs...)
}

// playable rejects what Play cannot act on, before anything starts.
func playable(f Fault) error {
	r, ok := recipeOf(f.Type)
	switch {
	case !ok:
		return fmt.Errorf("unknown fault type %q", f.Type)
	case r.onProxy && f.Proxy == "":
		return errors.New("no proxy")
	case r.usesTarget && f.Target == "":
		return errors.New("no target")
	}
	if f.For <= 0 || f.At < 0 {
		return fmt.Errorf("bad window at %s for %s", f.At, f.For)
	}
	return nil
}

type faultPlayer struct {
	f    Fault
	t    Target
	base time.Time
	ev   FaultEvent
	errs []error
}

func (p *faultPlayer) now() time.Duration { return time.Since(p.base) }

// fail records a failed step on the event and for Play's error.
func (p *faultPlayer) fail(step string, err error) {
	p.errs = append(p.errs, &redactedError{
		msg: fmt.Sprintf("fault %q (%s on %s): %s: %v", p.f.Name, p.f.Type, p.ev.Where, step, err),
		err: err,
	})
	if p.ev.Err != "" {
		p.ev.Err += "; "
	}
	p.ev.Err += step + ": " + resilience.RedactText(err.Error())
}

// op runs one Target call under its own deadline, detached from the
// caller's cancellation.
func op(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return fn(ctx)
}

// play applies and undoes the fault. started is false when ctx ended
// before the fault's start.
func (p *faultPlayer) play(ctx context.Context) (started bool, err error) {
	defer func() { err = errors.Join(p.errs...) }()
	if SleepUntil(ctx, p.base.Add(p.f.At.D())) != nil {
		return false, nil
	}
	p.ev.Applying = p.now()
	switch {
	case p.f.IsRestart():
		// One action, applied whole: its window is measured.
		p.ev.Start = p.now()
		if err := op(ctx, restartTimeout, func(c context.Context) error { return p.f.Apply(c, p.t) }); err != nil {
			p.fail(p.f.Type, err)
		}
		p.ev.Stop = p.now()
	case p.f.Flap > 0:
		return p.flap(ctx), nil
	default:
		if err := op(ctx, opTimeout, func(c context.Context) error { return p.f.Apply(c, p.t) }); err != nil {
			p.ev.Start = p.now()
			p.ev.Stop = p.ev.Start
			p.fail("apply", err)
			return true, nil
		}
		p.ev.Start = p.now()
		_ = SleepUntil(ctx, p.base.Add(p.f.End())) // on ctx end: undo now
		p.ev.Undoing = p.now()
		if err := op(ctx, opTimeout, func(c context.Context) error { return p.f.Undo(c, p.t) }); err != nil {
			p.fail("undo", err)
		}
		p.ev.Stop = p.now()
	}
	return true, nil
}

// flap applies the fault at At, then undoes and applies it in turn every
// Flap until the end of the window, and leaves it undone. It reports
// whether it acted (or failed trying) before ctx ended.
func (p *faultPlayer) flap(ctx context.Context) (started bool) {
	apply := func(c context.Context) error { return p.f.Apply(c, p.t) }
	undo := func(c context.Context) error { return p.f.Undo(c, p.t) }
	end := p.base.Add(p.f.End())
	down, applied := false, false
	for next := p.base.Add(p.f.At.D()); next.Before(end); next = next.Add(p.f.Flap.D()) {
		if SleepUntil(ctx, next) != nil {
			break
		}
		toggle, step := apply, "disable"
		if down {
			toggle, step = undo, "enable"
		}
		if err := op(ctx, opTimeout, toggle); err != nil {
			if !applied {
				p.ev.Start = p.now()
			}
			p.fail(step, err)
			break
		}
		down = !down
		if !applied {
			p.ev.Start = p.now()
			applied = true
		}
	}
	if len(p.errs) == 0 {
		_ = SleepUntil(ctx, end)
	}
	if down {
		p.ev.Undoing = p.now()
		if err := op(ctx, opTimeout, undo); err != nil {
			p.fail("undo", err)
		}
	}
	p.ev.Stop = p.now()
	return applied || len(p.errs) > 0
}

// SleepUntil waits for the deadline t or the end of ctx (the player's clock,
// also the harness's probes').
func SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// redactedError shows a message with DSN passwords masked and still
// unwraps to the Target's error.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return resilience.RedactText(e.msg) }
func (e *redactedError) Unwrap() error { return e.err }
