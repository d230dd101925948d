package scenarios

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/resilience"
)

// TestRecipes: every fault type has a complete recipe, and what the table
// says agrees with itself.
func TestRecipes(t *testing.T) {
	for _, r := range recipes {
		switch {
		case r.what == nil || r.apply == nil:
			t.Errorf("%s: no description or no apply", r.typ)
		case r.restart != (r.undo == nil):
			t.Errorf("%s: a restart has nothing to undo, every other fault has (restart %v)", r.typ, r.restart)
		case r.onProxy == (len(r.targets) > 0):
			t.Errorf("%s: acts on a proxy or on one of its targets, not both or neither", r.typ)
		case r.attrs != nil && !r.onProxy:
			t.Errorf("%s: a toxic acts on a proxy", r.typ)
		case r.cutsBot && !slices.Equal(r.targets, []string{TargetBot}):
			t.Errorf("%s: cuts the bot but acts on %v", r.typ, r.targets)
		}
		for _, k := range r.derived {
			if !slices.Contains(FaultKinds(), k) {
				t.Errorf("%s: derived kind %s is not in FaultKinds", r.typ, k)
			}
		}
	}
	if len(faultTypes) != len(recipes) || len(slices.Compact(slices.Sorted(slices.Values(faultTypes)))) != len(recipes) {
		t.Errorf("fault types %v are not unique", faultTypes)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		f    Fault
		want string
	}{
		{Fault{Type: TypeOutage, Proxy: ProxyPooler}, "outage pooler: disabled: new connections refused, open ones closed"},
		{Fault{Type: TypeOutage, Proxy: ProxyDirect, Flap: Duration(300 * time.Millisecond)}, "outage direct: disabled: new connections refused, open ones closed, toggled every 300ms"},
		{Fault{Type: TypeKill, Target: TargetBot}, "kill bot: killed (SIGKILL) and started again on the same spool: a crash"},
		{Fault{Type: TypeTimeout, Proxy: ProxyPooler, Stream: StreamDownstream, Toxicity: 1, Attributes: map[string]int64{"timeout": 0}},
			"timeout toxic (downstream, timeout=0 ms) on pooler: drops every byte and never closes: a black hole"},
		{Fault{Type: TypeLatency, Proxy: ProxyPooler, Stream: StreamUpstream, Toxicity: 0.5, Attributes: map[string]int64{"latency": 300, "jitter": 50}},
			"latency toxic (upstream, toxicity 0.5, latency=300 ms, jitter=50 ms) on pooler: delays data by latency ± jitter"},
		{Fault{Type: TypePgError, Proxy: ProxyPooler, Stream: StreamDownstream, Toxicity: 1, Attributes: map[string]int64{"delay": 0}, Refusal: "emaxconn"},
			`pgerror toxic (downstream, delay=0 ms) on pooler: answers new connections with FATAL XX000 "(EMAXCONN) max client connections reached, limit: 200" (Supavisor), closes the open ones`},
		{Fault{Type: "flood"}, `unknown fault type "flood"`},
	}
	for _, tt := range tests {
		if got := tt.f.Describe(); got != tt.want {
			t.Errorf("Describe(%+v)\n got %q\nwant %q", tt.f, got, tt.want)
		}
	}
}

// TestApplyUndo: Apply and Undo act through the recipe, on the fault's
// proxy or container; a restart's Undo does nothing.
func TestApplyUndo(t *testing.T) {
	tests := []struct {
		f           Fault
		apply, undo []string
	}{
		{Fault{Name: "down", Type: TypeOutage, Proxy: ProxyPooler}, []string{"pooler.Disable"}, []string{"pooler.Enable"}},
		{Fault{Name: "bh", Type: TypeTimeout, Proxy: ProxyDirect, Stream: StreamDownstream, Toxicity: 1, Attributes: map[string]int64{"timeout": 0}},
			[]string{"direct.AddToxic bh timeout downstream 1"}, []string{"direct.RemoveToxic bh"}},
		{Fault{Name: "r", Type: TypeRestart, Target: TargetPostgres}, []string{"Restart postgres"}, nil},
		{Fault{Name: "p", Type: TypePause}, []string{"PausePgBouncer"}, []string{"ResumePgBouncer"}},
	}
	for _, tt := range tests {
		t.Run(tt.f.Type, func(t *testing.T) {
			fake := newFake(time.Now())
			ops := func() []string {
				var out []string
				for _, c := range fake.Calls() {
					out = append(out, strings.TrimSpace(c.op+" "+c.arg))
				}
				fake.calls = nil
				return out
			}
			if err := tt.f.Apply(context.Background(), fake); err != nil {
				t.Fatal(err)
			}
			if got := ops(); !slices.Equal(got, tt.apply) {
				t.Errorf("Apply: calls %q, want %q", got, tt.apply)
			}
			if err := tt.f.Undo(context.Background(), fake); err != nil {
				t.Fatal(err)
			}
			if got := ops(); !slices.Equal(got, tt.undo) {
				t.Errorf("Undo: calls %q, want %q", got, tt.undo)
			}
		})
	}
	if err := (Fault{Type: "flood"}).Apply(context.Background(), newFake(time.Now())); err == nil {
		t.Error("Apply of an unknown type: no error")
	}
}

// TestPgErrorAttributes: a pgerror fault sends its refusal's severity,
// code and message as the toxic's attributes, next to its delay.
func TestPgErrorAttributes(t *testing.T) {
	for _, rf := range Refusals() {
		fake := newFake(time.Now())
		f := Fault{Name: rf.Name, Type: TypePgError, Proxy: ProxyPooler, Stream: StreamDownstream, Toxicity: 1,
			Attributes: map[string]int64{"delay": 5}, Refusal: rf.Name}
		if err := f.Apply(context.Background(), fake); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"severity": rf.Severity, "code": rf.Code, "message": rf.Message, "delay": int64(5)}
		if got := fake.toxic[ProxyPooler][rf.Name]; !maps.Equal(got.(map[string]any), want) {
			t.Errorf("%s: attributes %v, want %v", rf.Name, got, want)
		}
	}
}

// TestRefusalsAreRecognized: the bot's classification knows every refusal
// the catalog sends by its words (resilience.PoolerMessages), so a
// scenario's codes follow from that one table.
func TestRefusalsAreRecognized(t *testing.T) {
	for _, rf := range Refusals() {
		if !slices.ContainsFunc(resilience.PoolerMessages, func(pm resilience.PoolerMessage) bool {
			return pm.Pooler == rf.Pooler && pm.Class != (resilience.Classification{}) && pm.Matches(rf.Message)
		}) {
			t.Errorf("%s: no %s entry of resilience.PoolerMessages with a classification matches %q", rf.Name, rf.Pooler, rf.Message)
		}
	}
}

// TestNamedFaults: a kind named alone (make p1001 FAULT=, make bench) is
// the very fault the catalog's scenario of that kind plays, after Load's
// defaults; only the latency's delay differs.
func TestNamedFaults(t *testing.T) {
	twins := map[string]struct{ file, fault string }{
		TypeOutage:           {"outage-pooler", "outage"},
		KindBlackHole:        {"black-hole", "black-hole"},
		TypeResetPeer:        {"reset-peer-upstream", "reset-upstream"},
		TypeLatency:          {"latency-above-timeout", "slow-1s"},
		TypeClientLimit:      {"client-limit", "limit"},
		TypePasswordRotation: {"password-rotation", "rotated"},
	}
	if got := NamedKinds(); !slices.Equal(got, slices.Sorted(maps.Keys(twins))) {
		t.Fatalf("NamedKinds() = %v, want one catalog twin each", got)
	}
	for kind, twin := range twins {
		t.Run(kind, func(t *testing.T) {
			f, err := NamedFault(kind)
			if err != nil {
				t.Fatal(err)
			}
			if f.Name != kind || !slices.Contains(f.Kinds(), kind) {
				t.Errorf("NamedFault(%q) is named %q with kinds %v", kind, f.Name, f.Kinds())
			}
			s, err := Load(filepath.Join(".", twin.file+Ext))
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(s.Faults, func(g Fault) bool { return g.Name == twin.fault })
			if i < 0 {
				t.Fatalf("%s has no fault %q", twin.file, twin.fault)
			}
			g := s.Faults[i]
			// The named fault in the twin's place is a valid scenario.
			f.Name, f.At, f.For = g.Name, g.At, g.For
			s.Faults[i] = f
			if err := s.Validate(); err != nil {
				t.Errorf("%s with the named fault: %v", twin.file, err)
			}
			if kind == TypeLatency {
				g.Attributes["latency"] = f.Attributes["latency"]
			}
			if f.Describe() != g.Describe() || !maps.Equal(f.Attributes, g.Attributes) {
				t.Errorf("NamedFault(%q)\n  = %s\nthe catalog's %s plays\n    %s", kind, f.Describe(), twin.file, g.Describe())
			}
		})
	}
}

func TestNamedFaultSpelling(t *testing.T) {
	for kind, want := range map[string]string{"black-hole": KindBlackHole, "black_hole": KindBlackHole, "reset-peer": TypeResetPeer,
		"blackhole": KindBlackHole, "reset": TypeResetPeer, "refused": TypeOutage} {
		if f, err := NamedFault(kind); err != nil || f.Name != want {
			t.Errorf("NamedFault(%q) = %q, %v; want %s", kind, f.Name, err, want)
		}
	}
	_, err := NamedFault("blackout")
	if err == nil || !strings.Contains(err.Error(), "black_hole, client_limit, latency, outage, password_rotation, reset_peer") {
		t.Errorf("NamedFault(blackout) = %v, want the list of kinds", err)
	}
	// A caller's change does not reach the table.
	f, _ := NamedFault(TypeLatency)
	f.Attributes["latency"] = 1
	if g, _ := NamedFault(TypeLatency); g.Attributes["latency"] != 3000 {
		t.Error("NamedFault shares its attributes with the table")
	}
}
