package scenarios

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// call is one Target or Proxy call the fake saw, with its offset from the
// base the player was given.
type call struct {
	op    string // e.g. "pooler.AddToxic", "Restart", "PausePgBouncer"
	arg   string
	at    time.Duration
	ctxOK bool // the call's context was alive when the call ended
}

// fakeTarget records every call. delay makes Restart take that long;
// fail makes the named op return an error.
type fakeTarget struct {
	base  time.Time
	delay time.Duration
	fail  map[string]error

	mu    sync.Mutex
	calls []call
	toxic map[string]map[string]any // proxy -> toxic name -> attrs
}

func newFake(base time.Time) *fakeTarget {
	return &fakeTarget{base: base, fail: map[string]error{}, toxic: map[string]map[string]any{}}
}

func (f *fakeTarget) record(ctx context.Context, op, arg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{op: op, arg: arg, at: time.Since(f.base), ctxOK: ctx.Err() == nil})
	return f.fail[op]
}

func (f *fakeTarget) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeTarget) find(op string) []call {
	var out []call
	for _, c := range f.Calls() {
		if c.op == op {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeTarget) Proxy(name string) (Proxy, error) {
	if name != ProxyPooler && name != ProxyDirect {
		return nil, fmt.Errorf("no proxy %q", name)
	}
	return fakeProxy{f, name}, nil
}

func (f *fakeTarget) Restart(ctx context.Context, container string) error {
	return f.restart(ctx, "Restart", container)
}
func (f *fakeTarget) Kill(ctx context.Context, container string) error {
	return f.restart(ctx, "Kill", container)
}
func (f *fakeTarget) BotRestart(ctx context.Context, container string) error {
	return f.restart(ctx, "BotRestart", container)
}

func (f *fakeTarget) restart(ctx context.Context, op, container string) error {
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
	}
	return f.record(ctx, op, container)
}
func (f *fakeTarget) PausePgBouncer(ctx context.Context) error {
	return f.record(ctx, "PausePgBouncer", "")
}
func (f *fakeTarget) ResumePgBouncer(ctx context.Context) error {
	return f.record(ctx, "ResumePgBouncer", "")
}
func (f *fakeTarget) Prepare(ctx context.Context, typ string) error {
	return f.record(ctx, "Prepare", typ)
}
func (f *fakeTarget) Impose(ctx context.Context, typ string) error {
	return f.record(ctx, "Impose", typ)
}
func (f *fakeTarget) Restore(ctx context.Context, typ string) error {
	return f.record(ctx, "Restore", typ)
}
func (f *fakeTarget) Disconnect(ctx context.Context, c string) error {
	return f.record(ctx, "Disconnect", c)
}
func (f *fakeTarget) Reconnect(ctx context.Context, c string) error {
	return f.record(ctx, "Reconnect", c)
}

type fakeProxy struct {
	f    *fakeTarget
	name string
}

func (p fakeProxy) AddToxic(ctx context.Context, name, typ, stream string, toxicity float32, attrs map[string]any) error {
	p.f.mu.Lock()
	if p.f.toxic[p.name] == nil {
		p.f.toxic[p.name] = map[string]any{}
	}
	p.f.toxic[p.name][name] = attrs
	p.f.mu.Unlock()
	return p.f.record(ctx, p.name+".AddToxic", fmt.Sprintf("%s %s %s %g", name, typ, stream, toxicity))
}
func (p fakeProxy) RemoveToxic(ctx context.Context, name string) error {
	return p.f.record(ctx, p.name+".RemoveToxic", name)
}
func (p fakeProxy) Disable(ctx context.Context) error { return p.f.record(ctx, p.name+".Disable", "") }
func (p fakeProxy) Enable(ctx context.Context) error  { return p.f.record(ctx, p.name+".Enable", "") }

const ms = time.Millisecond

// The player's tests run in a synctest bubble: its clock is virtual and
// moves only while every goroutine waits, so an action lands exactly when
// the player schedules it, however loaded the machine (with a real clock
// these tests failed under load).

// within checks that an action happened exactly at its time.
func within(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if got != want {
		t.Errorf("%s at %s, want %s", what, got, want)
	}
}

func TestPlaySteadyFaults(t *testing.T) {
	tests := []struct {
		fault      Fault
		apply      string
		applyArg   string
		undo       string
		undoArg    string
		wantWhere  string
		checkAttrs bool
	}{
		{
			fault:      Fault{Name: "lat", Type: TypeLatency, Proxy: ProxyPooler, Stream: StreamUpstream, Toxicity: 0.5, Attributes: map[string]int64{"latency": 300, "jitter": 50}},
			apply:      "pooler.AddToxic",
			applyArg:   "lat latency upstream 0.5",
			undo:       "pooler.RemoveToxic",
			undoArg:    "lat",
			wantWhere:  ProxyPooler,
			checkAttrs: true,
		},
		{
			fault: Fault{Name: "cut", Type: TypeOutage, Proxy: ProxyDirect},
			apply: "direct.Disable", undo: "direct.Enable", wantWhere: ProxyDirect,
		},
		{
			fault: Fault{Name: "pause", Type: TypePause, Target: TargetPgBouncer},
			apply: "PausePgBouncer", undo: "ResumePgBouncer", wantWhere: TargetPgBouncer,
		},
		{
			fault: Fault{Name: "split", Type: TypePartition, Target: TargetBot},
			apply: "Disconnect", applyArg: "bot", undo: "Reconnect", undoArg: "bot", wantWhere: TargetBot,
		},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Type, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := tt.fault
				f.At, f.For = Duration(30*ms), Duration(60*ms)
				base := time.Now()
				fake := newFake(base)
				events, err := Play(context.Background(), Scenario{Name: "s", Faults: []Fault{f}}, fake, base)
				if err != nil {
					t.Fatalf("Play: %v", err)
				}
				calls := fake.Calls()
				if len(calls) != 2 || calls[0].op != tt.apply || calls[0].arg != tt.applyArg || calls[1].op != tt.undo || calls[1].arg != tt.undoArg {
					t.Fatalf("calls = %+v, want %s(%s) then %s(%s)", calls, tt.apply, tt.applyArg, tt.undo, tt.undoArg)
				}
				within(t, "apply", calls[0].at, 30*ms)
				within(t, "undo", calls[1].at, 90*ms)
				if len(events) != 1 {
					t.Fatalf("events = %+v", events)
				}
				ev := events[0]
				if ev.Fault != f.Name || ev.Type != f.Type || ev.Where != tt.wantWhere || ev.Err != "" {
					t.Errorf("event = %+v", ev)
				}
				// Measured: after the apply call returned (before the undo),
				// after the undo did. Not a minimum length: a late apply (a
				// loaded machine) shortens the window, the undo stays on time.
				if ev.Start < calls[0].at || ev.Start > calls[1].at || ev.Stop < calls[1].at {
					t.Errorf("event %s..%s does not match calls at %s and %s", ev.Start, ev.Stop, calls[0].at, calls[1].at)
				}
				// Applying: when the apply call began, from the fault's At.
				if ev.Applying < f.At.D() || ev.Applying > calls[0].at {
					t.Errorf("applying at %s, want between at (%s) and the apply call (%s)", ev.Applying, f.At, calls[0].at)
				}
				// Undoing: when the undo call began, after the fault's end.
				if ev.Undoing < f.End() || ev.Undoing > calls[1].at {
					t.Errorf("undoing at %s, want between the end (%s) and the undo call (%s)", ev.Undoing, f.End(), calls[1].at)
				}
				if tt.checkAttrs {
					got := fake.toxic[ProxyPooler]["lat"]
					want := map[string]any{"latency": int64(300), "jitter": int64(50)}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("toxic attributes = %v, want %v", got, want)
					}
				}
			})
		})
	}
}

func TestPlayConcurrentFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Scenario{Name: "s", Faults: []Fault{
			{Name: "late", At: Duration(80 * ms), For: Duration(40 * ms), Type: TypeTimeout, Proxy: ProxyDirect, Stream: StreamDownstream, Toxicity: 1, Attributes: map[string]int64{"timeout": 0}},
			{Name: "early", At: Duration(10 * ms), For: Duration(100 * ms), Type: TypeOutage, Proxy: ProxyPooler},
		}}
		base := time.Now()
		fake := newFake(base)
		events, err := Play(context.Background(), s, fake, base)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Fault != "early" || events[1].Fault != "late" {
			t.Fatalf("events = %+v, want early then late", events)
		}
		// The outage is still on when the toxic goes in: they overlap.
		add, enable := fake.find("direct.AddToxic"), fake.find("pooler.Enable")
		if len(add) != 1 || len(enable) != 1 || add[0].at > enable[0].at {
			t.Errorf("calls = %+v", fake.Calls())
		}
		within(t, "toxic removed", fake.find("direct.RemoveToxic")[0].at, 120*ms)
	})
}

func TestPlayFlapping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := Fault{Name: "flap", Type: TypeOutage, Proxy: ProxyPooler, At: Duration(20 * ms), For: Duration(100 * ms), Flap: Duration(30 * ms)}
		base := time.Now()
		fake := newFake(base)
		events, err := Play(context.Background(), Scenario{Name: "s", Faults: []Fault{f}}, fake, base)
		if err != nil {
			t.Fatal(err)
		}
		calls := fake.Calls()
		// Toggles at 20, 50, 80, 110ms: down, up, down, up; the window ends
		// at 120ms with the proxy up.
		want := []string{"pooler.Disable", "pooler.Enable", "pooler.Disable", "pooler.Enable"}
		var ops []string
		for i, c := range calls {
			ops = append(ops, c.op)
			if i < len(want) {
				within(t, fmt.Sprintf("toggle %d", i), c.at, 20*ms+time.Duration(i)*30*ms)
			}
		}
		if !slices.Equal(ops, want) {
			t.Fatalf("calls = %v, want %v", ops, want)
		}
		if len(events) != 1 || events[0].Start < calls[0].at || events[0].Stop < 120*ms {
			t.Errorf("events = %+v", events)
		}
	})
}

func TestPlayFlappingEndsEnabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Toggles at 0, 40ms: down, up, down at 80 - then the window ends at
		// 100ms with the proxy down, so the player enables it.
		f := Fault{Name: "flap", Type: TypeOutage, Proxy: ProxyDirect, For: Duration(100 * ms), Flap: Duration(40 * ms)}
		base := time.Now()
		fake := newFake(base)
		if _, err := Play(context.Background(), Scenario{Name: "s", Faults: []Fault{f}}, fake, base); err != nil {
			t.Fatal(err)
		}
		calls := fake.Calls()
		if len(calls) != 4 || calls[3].op != "direct.Enable" || calls[2].op != "direct.Disable" {
			t.Fatalf("calls = %+v", calls)
		}
		within(t, "final enable", calls[3].at, 100*ms)
	})
}

// TestPlayRestart: restart, kill and bot-restart each make one call, and
// their window is measured, not planned (For is 3s).
func TestPlayRestart(t *testing.T) {
	for _, tc := range []struct {
		typ, target, call string
	}{
		{TypeRestart, TargetPostgres, "Restart"},
		{TypeKill, TargetBot, "Kill"},
		{TypeBotRestart, TargetBot, "BotRestart"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := Fault{Name: "r", Type: tc.typ, Target: tc.target, At: Duration(20 * ms), For: Duration(3 * time.Second)}
				base := time.Now()
				fake := newFake(base)
				fake.delay = 50 * ms
				events, err := Play(context.Background(), Scenario{Name: "s", Faults: []Fault{f}}, fake, base)
				if err != nil {
					t.Fatal(err)
				}
				calls := fake.Calls()
				if len(calls) != 1 || calls[0].op != tc.call || calls[0].arg != tc.target {
					t.Fatalf("calls = %+v", calls)
				}
				ev := events[0]
				if ev.Type != tc.typ || ev.Where != tc.target {
					t.Errorf("event %+v, want type %s on %s", ev, tc.typ, tc.target)
				}
				within(t, tc.typ+" start", ev.Start, 20*ms)
				within(t, tc.typ+" stop (the fake takes 50ms)", ev.Stop, 70*ms)
			})
		})
	}
}

// TestPlayKillFails: a kill that cannot start the bot again is an error
// on the event and in Play's error, named by the fault's type.
func TestPlayKillFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := time.Now()
		fake := newFake(base)
		fake.fail["Kill"] = errors.New("bot did not serve again within 30s")
		events, err := Play(context.Background(), Scenario{Name: "s", Faults: []Fault{
			{Name: "crash", Type: TypeKill, Target: TargetBot, For: Duration(time.Second)},
		}}, fake, base)
		if err == nil || !strings.Contains(err.Error(), `fault "crash" (kill on bot): kill: bot did not serve again`) {
			t.Fatalf("Play error = %v", err)
		}
		if len(events) != 1 || !strings.Contains(events[0].Err, "kill: bot did not serve again") {
			t.Errorf("events = %+v", events)
		}
	})
}

// TestPlayCancel: when ctx ends, every applied fault is undone at once
// with a live context, and faults not yet due never start.
func TestPlayCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Scenario{Name: "s", Faults: []Fault{
			{Name: "tox", At: 0, For: Duration(time.Minute), Type: TypeSlicer, Proxy: ProxyPooler, Stream: StreamDownstream, Toxicity: 1, Attributes: map[string]int64{"average_size": 10}},
			{Name: "cut", At: Duration(5 * ms), For: Duration(time.Minute), Type: TypeOutage, Proxy: ProxyDirect},
			{Name: "flap", At: 0, For: Duration(time.Minute), Type: TypeOutage, Proxy: ProxyPooler, Flap: Duration(10 * time.Second)},
			{Name: "pause", At: 0, For: Duration(time.Minute), Type: TypePause, Target: TargetPgBouncer},
			{Name: "split", At: 0, For: Duration(time.Minute), Type: TypePartition, Target: TargetBot},
			{Name: "restart", At: 0, For: Duration(time.Minute), Type: TypeRestart, Target: TargetPgBouncer},
			{Name: "crash", At: 0, For: Duration(time.Minute), Type: TypeKill, Target: TargetBot},
			{Name: "never", At: Duration(time.Minute), For: Duration(time.Second), Type: TypeLatency, Proxy: ProxyDirect, Attributes: map[string]int64{"latency": 1}},
		}}
		base := time.Now()
		fake := newFake(base)
		fake.delay = 100 * ms // the restart outlives the cancel
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*ms, cancel)
		start := time.Now()
		events, err := Play(ctx, s, fake, base)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("Play took %s after cancel", took)
		}
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "fault timeline interrupted") {
			t.Fatalf("Play error = %v, want an interruption wrapping context.Canceled", err)
		}
		for _, undo := range []string{"pooler.RemoveToxic", "direct.Enable", "pooler.Enable", "ResumePgBouncer", "Reconnect"} {
			got := fake.find(undo)
			if len(got) != 1 {
				t.Errorf("%s called %d times, want once: %+v", undo, len(got), fake.Calls())
				continue
			}
			within(t, undo, got[0].at, 50*ms)
			if !got[0].ctxOK {
				t.Errorf("%s ran with a dead context", undo)
			}
		}
		for _, restart := range []string{"Restart", "Kill"} {
			if r := fake.find(restart); len(r) != 1 || !r[0].ctxOK || r[0].at < 100*ms {
				t.Errorf("%s = %+v, want one that completed with a live context", restart, r)
			}
		}
		if len(fake.find("direct.AddToxic")) != 0 {
			t.Error("a fault due after the cancel was applied")
		}
		if len(events) != 7 || slices.ContainsFunc(events, func(e FaultEvent) bool { return e.Fault == "never" }) {
			t.Errorf("events = %+v, want the seven started faults", events)
		}
	})
}

func TestPlayErrors(t *testing.T) {
	sentinel := errors.New("toxiproxy said no to postgresql://u:hunter2@toxiproxy:6543/db")
	t.Run("apply fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := Scenario{Name: "s", Faults: []Fault{
				{Name: "bad", For: Duration(20 * ms), Type: TypeLatency, Proxy: ProxyPooler, Attributes: map[string]int64{"latency": 1}},
				{Name: "good", For: Duration(20 * ms), Type: TypeOutage, Proxy: ProxyDirect},
			}}
			base := time.Now()
			fake := newFake(base)
			fake.fail["pooler.AddToxic"] = sentinel
			events, err := Play(context.Background(), s, fake, base)
			if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), `fault "bad" (latency on pooler): apply:`) {
				t.Fatalf("Play error = %v", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
			if len(fake.find("pooler.RemoveToxic")) != 0 {
				t.Error("undid a fault that was never applied")
			}
			if len(fake.find("direct.Enable")) != 1 {
				t.Error("the other fault was not played")
			}
			i := slices.IndexFunc(events, func(e FaultEvent) bool { return e.Fault == "bad" })
			if i < 0 || !strings.HasPrefix(events[i].Err, "apply: toxiproxy said no") || strings.Contains(events[i].Err, "hunter2") || events[i].Stop != events[i].Start {
				t.Errorf("events = %+v", events)
			}
		})
	})
	t.Run("undo fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := time.Now()
			fake := newFake(base)
			fake.fail["ResumePgBouncer"] = sentinel
			events, err := Play(context.Background(), Scenario{Name: "s", Faults: []Fault{{Name: "p", For: Duration(10 * ms), Type: TypePause}}}, fake, base)
			if !errors.Is(err, sentinel) || len(events) != 1 || !strings.HasPrefix(events[0].Err, "undo: ") || events[0].Stop < 10*ms {
				t.Fatalf("Play = %+v, %v", events, err)
			}
		})
	})
	t.Run("flap toggle fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := time.Now()
			fake := newFake(base)
			fake.fail["pooler.Enable"] = sentinel
			f := Fault{Name: "f", For: Duration(100 * ms), Flap: Duration(20 * ms), Type: TypeOutage, Proxy: ProxyPooler}
			events, err := Play(context.Background(), Scenario{Name: "s", Faults: []Fault{f}}, fake, base)
			if !errors.Is(err, sentinel) || len(events) != 1 {
				t.Fatalf("Play = %+v, %v", events, err)
			}
			// It stops toggling and still tries to leave the proxy enabled.
			ops := []string{}
			for _, c := range fake.Calls() {
				ops = append(ops, c.op)
			}
			if !slices.Equal(ops, []string{"pooler.Disable", "pooler.Enable", "pooler.Enable"}) {
				t.Errorf("calls = %v", ops)
			}
		})
	})
	t.Run("unknown proxy", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := time.Now()
			_, err := Play(context.Background(), Scenario{Name: "s", Faults: []Fault{{Name: "x", For: Duration(ms), Type: TypeOutage, Proxy: "replica"}}}, newFake(base), base)
			if err == nil || !strings.Contains(err.Error(), `no proxy "replica"`) {
				t.Fatalf("Play error = %v", err)
			}
		})
	})
	t.Run("unplayable scenario", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := time.Now()
			fake := newFake(base)
			s := Scenario{Name: "s", Faults: []Fault{
				{Name: "ok", For: Duration(ms), Type: TypePause},
				{Name: "x", For: Duration(ms), Type: "earthquake"},
			}}
			if _, err := Play(context.Background(), s, fake, base); err == nil || !strings.Contains(err.Error(), `faults[1] "x": unknown fault type "earthquake"`) {
				t.Fatalf("Play error = %v", err)
			}
			if len(fake.Calls()) != 0 {
				t.Errorf("Play acted on an unplayable scenario: %+v", fake.Calls())
			}
		})
	})
}

func TestPlayNoFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		events, err := Play(context.Background(), Scenario{Name: "baseline"}, newFake(time.Now()), time.Now())
		if err != nil || len(events) != 0 {
			t.Fatalf("Play(baseline) = %v, %v", events, err)
		}
	})
}

// TestPlayCatalogFault plays each catalog scenario's timeline against the
// fake, compressed: every fault must be playable and undone.
func TestPlayCatalogFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		list, err := LoadDir(".")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			for i := range s.Faults {
				// Keep the shape, not the length: 1s becomes 1ms.
				s.Faults[i].At /= 1000
				s.Faults[i].For /= 1000
				s.Faults[i].Flap /= 1000
			}
			base := time.Now()
			fake := newFake(base)
			events, err := Play(context.Background(), s, fake, base)
			if err != nil || len(events) != len(s.Faults) {
				t.Errorf("%s: Play = %d events, %v", s.Name, len(events), err)
			}
			var applied, undone int
			for _, c := range fake.Calls() {
				switch {
				case strings.HasSuffix(c.op, "AddToxic"), strings.HasSuffix(c.op, "Disable"), c.op == "PausePgBouncer", c.op == "Disconnect", c.op == "Impose":
					applied++
				case strings.HasSuffix(c.op, "RemoveToxic"), strings.HasSuffix(c.op, "Enable"), c.op == "ResumePgBouncer", c.op == "Reconnect", c.op == "Restore":
					undone++
				}
			}
			if applied != undone {
				t.Errorf("%s: %d faults applied, %d undone: %+v", s.Name, applied, undone, fake.Calls())
			}
		}
	})
}
