package scenarios

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The fault vocabulary: every fault type the scenario format, the player,
// make p1001 and make bench know, each defined once in recipes below.
// After Toxiproxy's toxics/ (one registered type per toxic, each with its
// attributes and its own way to act): a recipe says what a fault acts on,
// which attributes it takes, how to apply, undo and describe it. Validation
// reads the same table.

// Fault types: Toxiproxy's toxics plus the seven that act on containers,
// whole proxies or their names.
const (
	TypeOutage    = "outage"    // proxy disabled (connections refused), optionally flapping
	TypeRestart   = "restart"   // container stopped and started again
	TypePause     = "pause"     // PgBouncer PAUSE ... RESUME through its admin console
	TypePartition = "partition" // container disconnected from the network, then reconnected
	// TypeKill is SIGKILL of the bot, then a start of the same container
	// with the same spool volume: a crash.
	TypeKill = "kill"
	// TypeBotRestart is SIGTERM of the bot (a graceful stop), then a start
	// of the same container with the same spool volume: a deploy.
	TypeBotRestart = "bot-restart"
	// TypeDNS: the name the bot reaches a proxy by (HostName) stops
	// resolving, then comes back: Toxiproxy leaves the network that carries
	// the names, and joins it again.
	TypeDNS = "dns"

	TypeLatency   = "latency"
	TypeBandwidth = "bandwidth"
	TypeSlowClose = "slow_close"
	TypeTimeout   = "timeout"
	TypeResetPeer = "reset_peer"
	TypeSlicer    = "slicer"
	TypeLimitData = "limit_data"
	// TypePgError is p1001's own toxic (suites/toxics/pgerror): a pooler's
	// refusal of new connections in the Postgres protocol (Fault.Refusal).
	TypePgError = "pgerror"

	// Stack settings, changed for the window and restored exactly after
	// (Settings; suites/environment/stack.go says how).
	TypeClientLimit      = "client_limit"      // PgBouncer admits no new client (max_client_conn)
	TypeServerLimit      = "server_limit"      // every Postgres connection slot taken (max_connections)
	TypePasswordRotation = "password_rotation" // the role's password changed, then changed back
	TypeIdleReaping      = "idle_reaping"      // PgBouncer closes idle clients and servers at once
)

// Fault kinds that are not fault types. A kind is what a fault:<kind> label
// names; see Scenario.Kinds.
const (
	KindNone           = "none"            // no faults: the healthy baseline
	KindFlapping       = "flapping"        // outage with flap
	KindJitter         = "jitter"          // latency with jitter > 0
	KindBlackHole      = "black_hole"      // timeout toxic with timeout 0 (see NamedFault)
	KindPoolExhaustion = "pool_exhaustion" // label only: the bot's own pool is the bottleneck
)

// attrSpec describes one toxic attribute.
type attrSpec struct {
	name     string
	unit     string
	required bool
	min      int64
}

// recipe is one fault type.
type recipe struct {
	typ string
	// onProxy: the fault acts on a Toxiproxy proxy (Fault.Proxy);
	// otherwise on a container, one of targets (Fault.Target).
	onProxy bool
	targets []string
	// usesTarget: the action names its container (pause has one only).
	usesTarget bool
	// attrs are a toxic's attributes, as Toxiproxy names them; a recipe
	// with attrs is a toxic (stream, toxicity, attributes).
	attrs []attrSpec
	// restart: one action that stops a container and starts it again;
	// its window is measured, not planned, and there is nothing to undo.
	restart bool
	// cutsBot: the fault takes the bot itself down for a while.
	cutsBot bool
	// flaps: the fault may toggle (Fault.Flap).
	flaps bool
	// stream: the one stream the toxic works on ("" = either).
	stream string
	// refusal: the fault names a refusal (Fault.Refusal), sent as the
	// toxic's attributes severity, code and message.
	refusal bool
	// kinds are the fault kinds a fault adds to its type (e.g. black_hole
	// for a timeout toxic with timeout 0); derived lists every one.
	kinds   func(Fault) []string
	derived []string
	// check adds rules across attributes; problems go to report(attr, msg).
	check func(f Fault, report func(attr, msg string))
	// setting: the fault changes a stack setting (Settings).
	setting bool
	// what says in a few words what the fault does.
	what func(Fault) string
	// apply puts the fault in place; undo takes it off (nil for a
	// restart, whose apply is the whole fault).
	apply, undo func(context.Context, Target, Fault) error
}

// recipes is the table of fault types, in the order they are documented.
var recipes = []recipe{
	{typ: TypeOutage, onProxy: true, flaps: true,
		kinds: func(f Fault) []string { return when(f.Flap > 0, KindFlapping) }, derived: []string{KindFlapping},
		what: func(f Fault) string {
			s := "disabled: new connections refused, open ones closed"
			if f.Flap > 0 {
				s += fmt.Sprintf(", toggled every %s", f.Flap)
			}
			return s
		},
		apply: onProxy(proxyOnly(Proxy.Disable)), undo: onProxy(proxyOnly(Proxy.Enable))},
	{typ: TypeRestart, targets: []string{TargetPostgres, TargetPgBouncer}, usesTarget: true, restart: true,
		what:  func(Fault) string { return "stopped and started again" },
		apply: onTarget(Target.Restart)},
	{typ: TypePause, targets: []string{TargetPgBouncer},
		what:  func(Fault) string { return "PAUSE on its admin console, then RESUME: queries held" },
		apply: func(ctx context.Context, t Target, _ Fault) error { return t.PausePgBouncer(ctx) },
		undo:  func(ctx context.Context, t Target, _ Fault) error { return t.ResumePgBouncer(ctx) }},
	{typ: TypePartition, targets: []string{TargetBot}, usesTarget: true,
		what:  func(Fault) string { return "disconnected from the private network, then reconnected" },
		apply: onTarget(Target.Disconnect), undo: onTarget(Target.Reconnect)},
	{typ: TypeKill, targets: []string{TargetBot}, usesTarget: true, restart: true, cutsBot: true,
		what:  func(Fault) string { return "killed (SIGKILL) and started again on the same spool: a crash" },
		apply: onTarget(Target.Kill)},
	{typ: TypeBotRestart, targets: []string{TargetBot}, usesTarget: true, restart: true, cutsBot: true,
		what:  func(Fault) string { return "stopped (SIGTERM) and started again on the same spool: a deploy" },
		apply: onTarget(Target.BotRestart)},
	{typ: TypeDNS, onProxy: true,
		what: func(f Fault) string {
			return fmt.Sprintf("the name %s stops resolving on the private network, then resolves again", HostName(f.Proxy))
		},
		apply: func(ctx context.Context, t Target, f Fault) error { return t.Disconnect(ctx, HostName(f.Proxy)) },
		undo:  func(ctx context.Context, t Target, f Fault) error { return t.Reconnect(ctx, HostName(f.Proxy)) }},

	toxic(TypeLatency, func(f Fault) string { return "delays data by latency ± jitter" },
		attrSpec{"latency", "ms", true, 0}, attrSpec{"jitter", "ms", false, 0}).with(func(r *recipe) {
		r.kinds = func(f Fault) []string { return when(f.Attributes["jitter"] > 0, KindJitter) }
		r.derived = []string{KindJitter}
		r.check = func(f Fault, report func(string, string)) {
			if f.Attributes["latency"] == 0 && f.Attributes["jitter"] == 0 {
				report("latency", "latency and jitter are both 0: the toxic would do nothing")
			}
		}
	}),
	// A rate of 0 would mean unlimited: no fault.
	toxic(TypeBandwidth, func(Fault) string { return "limits the rate" }, attrSpec{"rate", "KB/s", true, 1}),
	toxic(TypeSlowClose, func(Fault) string { return "delays the close" }, attrSpec{"delay", "ms", true, 1}),
	toxic(TypeTimeout, func(f Fault) string {
		if f.Attributes["timeout"] == 0 {
			return "drops every byte and never closes: a black hole"
		}
		return "drops every byte and closes after timeout"
	}, attrSpec{"timeout", "ms, 0 = black hole", true, 0}).with(func(r *recipe) {
		r.kinds = func(f Fault) []string { return when(f.Attributes["timeout"] == 0, KindBlackHole) }
		r.derived = []string{KindBlackHole}
	}),
	toxic(TypeResetPeer, func(f Fault) string {
		if f.Attributes["timeout"] == 0 {
			return "resets the connection (TCP RST) on its first data"
		}
		return "resets the connection (TCP RST) timeout after its first data"
	},
		attrSpec{"timeout", "ms", false, 0}),
	toxic(TypeSlicer, func(Fault) string { return "slices data into small pieces, delay apart" },
		attrSpec{"average_size", "bytes", true, 1}, attrSpec{"size_variation", "bytes", false, 0}, attrSpec{"delay", "µs", false, 0}).with(func(r *recipe) {
		r.check = func(f Fault, report func(string, string)) {
			// Toxiproxy needs the variation below the average size.
			if avg, vr := f.Attributes["average_size"], f.Attributes["size_variation"]; avg > 0 && vr >= avg {
				report("size_variation", fmt.Sprintf("must be smaller than average_size (%d), got %d", avg, vr))
			}
		}
	}),
	toxic(TypeLimitData, func(Fault) string { return "closes the connection after bytes" }, attrSpec{"bytes", "bytes", true, 1}),
	// Downstream only: a toxic can write to the client only there.
	toxic(TypePgError, func(f Fault) string {
		rf, _ := RefusalOf(f.Refusal)
		return fmt.Sprintf("answers new connections with %s %s %q (%s), closes the open ones", rf.Severity, rf.Code, rf.Message, rf.Pooler)
	}, attrSpec{"delay", "ms", false, 0}).with(func(r *recipe) { r.stream, r.refusal = StreamDownstream, true }),

	// Stack settings (issue 14): they act on the pooler or the server itself.
	setting(TypeClientLimit, TargetPgBouncer, "max_client_conn lowered to the clients the harness keeps, the bot's client connections killed (KILL_CLIENT): every new client refused"),
	setting(TypeServerLimit, TargetPostgres, "every free connection slot taken by the harness, the bot's sessions ended: new connections refused (too many clients)"),
	setting(TypePasswordRotation, TargetPostgres, "the role's password changed (ALTER ROLE) and the bot's sessions ended, then the old password restored"),
	setting(TypeIdleReaping, TargetPgBouncer, "client_idle_timeout and server_idle_timeout set to 200ms: idle connections closed between messages"),
}

// Refusal is a pooler's refusal of a new connection as the client reads
// it: the ErrorResponse a pgerror fault answers the startup with.
type Refusal struct {
	Name                    string // Fault.Refusal
	Pooler                  string
	Severity, Code, Message string
}

// refusals are Supavisor's, word for word as its clients receive them
// (supabase/supavisor lib/supavisor/errors/*.ex: FATAL, XX000, "(ECODE) "
// and the message; limit, tenant and timeout as Supabase's transaction
// pooler on port 6543 reports them).
var refusals = []Refusal{
	{"emaxconn", "Supavisor", "FATAL", "XX000", "(EMAXCONN) max client connections reached, limit: 200"},
	{"enotfound", "Supavisor", "FATAL", "XX000", "(ENOTFOUND) tenant/user postgres.p1001 not found"},
	{"ecircuitbreaker", "Supavisor", "FATAL", "XX000", "(ECIRCUITBREAKER) too many authentication failures, new connections are temporarily blocked"},
	{"echeckouttimeout", "Supavisor", "FATAL", "XX000", "(ECHECKOUTTIMEOUT) unable to check out connection from the pool after 15000ms in Transaction mode"},
}

// Refusals lists the refusals a pgerror fault may name.
func Refusals() []Refusal { return slices.Clone(refusals) }

// RefusalOf returns the refusal named name.
func RefusalOf(name string) (Refusal, bool) {
	i := slices.IndexFunc(refusals, func(r Refusal) bool { return r.Name == name })
	if i < 0 {
		return Refusal{}, false
	}
	return refusals[i], true
}

// toxic is the recipe of a Toxiproxy toxic: added under the fault's name
// (which makes it the toxic's name), removed by that name.
func toxic(typ string, what func(Fault) string, attrs ...attrSpec) recipe {
	return recipe{typ: typ, onProxy: true, attrs: attrs, what: what,
		apply: onProxy(func(px Proxy, ctx context.Context, f Fault) error {
			attrs := make(map[string]any, len(f.Attributes)+3)
			for k, v := range f.Attributes {
				attrs[k] = v
			}
			if rf, ok := RefusalOf(f.Refusal); ok {
				attrs["severity"], attrs["code"], attrs["message"] = rf.Severity, rf.Code, rf.Message
			}
			return px.AddToxic(ctx, f.Name, f.Type, f.Stream, f.Toxicity, attrs)
		}),
		undo: onProxy(func(px Proxy, ctx context.Context, f Fault) error { return px.RemoveToxic(ctx, f.Name) }),
	}
}

func (r recipe) with(edit func(*recipe)) recipe { edit(&r); return r }

// setting is the recipe of a stack setting changed for the fault's window
// on its one target, through the Target's Settings.
func setting(typ, target, what string) recipe {
	act := func(do func(Settings, context.Context, string) error) func(context.Context, Target, Fault) error {
		return func(ctx context.Context, t Target, f Fault) error {
			s, ok := t.(Settings)
			if !ok {
				return fmt.Errorf("%s: this stack cannot change its settings", f.Type)
			}
			return do(s, ctx, f.Type)
		}
	}
	return recipe{typ: typ, targets: []string{target}, what: func(Fault) string { return what },
		apply: act(Settings.Impose), undo: act(Settings.Restore), setting: true}
}

// onProxy lifts a proxy action to a recipe action on Fault.Proxy.
func onProxy(act func(Proxy, context.Context, Fault) error) func(context.Context, Target, Fault) error {
	return func(ctx context.Context, t Target, f Fault) error {
		px, err := t.Proxy(f.Proxy)
		if err != nil {
			return err
		}
		return act(px, ctx, f)
	}
}

// proxyOnly is a proxy action that needs nothing of the fault (Proxy.Disable).
func proxyOnly(act func(Proxy, context.Context) error) func(Proxy, context.Context, Fault) error {
	return func(px Proxy, ctx context.Context, _ Fault) error { return act(px, ctx) }
}

// onTarget lifts a container action to a recipe action on Fault.Target.
func onTarget(act func(Target, context.Context, string) error) func(context.Context, Target, Fault) error {
	return func(ctx context.Context, t Target, f Fault) error { return act(t, ctx, f.Target) }
}

func when(cond bool, kind string) []string {
	if cond {
		return []string{kind}
	}
	return nil
}

// recipeOf returns the recipe of a fault type.
func recipeOf(typ string) (recipe, bool) {
	i := slices.IndexFunc(recipes, func(r recipe) bool { return r.typ == typ })
	if i < 0 {
		return recipe{}, false
	}
	return recipes[i], true
}

// Derived from recipes, for the validation and the defaults.
var (
	faultTypes = func() []string {
		out := make([]string, len(recipes))
		for i, e := range recipes {
			out[i] = e.typ
		}
		return out
	}()
	// toxicAttrs lists every toxic type's attributes.
	toxicAttrs = func() map[string][]attrSpec {
		out := map[string][]attrSpec{}
		for _, e := range recipes {
			if e.attrs != nil {
				out[e.typ] = e.attrs
			}
		}
		return out
	}()
	// labelOnlyKinds are fault kinds that no fault type implies.
	labelOnlyKinds = []string{KindPoolExhaustion}
)

// FaultKinds returns every kind a fault:<kind> label may name: every fault
// type, the kinds recipes derive, none and the label-only kinds.
func FaultKinds() []string {
	kinds := slices.Concat(faultTypes, []string{KindNone}, labelOnlyKinds)
	for _, e := range recipes {
		kinds = append(kinds, e.derived...)
	}
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// Kinds returns the sorted fault kinds of the scenario: each fault's type,
// plus what its recipe derives (flapping, jitter, black_hole); ["none"]
// when there are no faults. Every kind is also a fault:<kind> label.
func (s Scenario) Kinds() []string {
	if len(s.Faults) == 0 {
		return []string{KindNone}
	}
	var kinds []string
	for _, f := range s.Faults {
		kinds = append(kinds, f.Kinds()...)
	}
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// Kinds returns the fault's kinds: its type, then what its recipe derives.
func (f Fault) Kinds() []string {
	kinds := []string{f.Type}
	if r, ok := recipeOf(f.Type); ok && r.kinds != nil {
		kinds = append(kinds, r.kinds(f)...)
	}
	return kinds
}

// IsRestart reports whether the fault stops a container and starts it
// again (restart, kill, bot-restart): its window is measured, not planned.
func (f Fault) IsRestart() bool { r, _ := recipeOf(f.Type); return r.restart }

// CutsBot reports whether the fault takes the bot itself down for a while
// (kill, bot-restart): requests in its window may get no answer at all.
func (f Fault) CutsBot() bool { r, _ := recipeOf(f.Type); return r.cutsBot }

// IsSetting reports whether the fault changes a stack setting through
// the Target's Settings (which the runner prepares before the traffic).
func (f Fault) IsSetting() bool { r, _ := recipeOf(f.Type); return r.setting }

// IsToxic reports whether the fault is a Toxiproxy toxic.
func (f Fault) IsToxic() bool { r, _ := recipeOf(f.Type); return r.attrs != nil }

// ThroughToxiproxy reports whether the fault is played through Toxiproxy's
// API alone (a toxic, or a proxy disabled): the faults an existing stack,
// whose containers the harness does not own, can play. The others act on
// containers, their networks (dns takes Toxiproxy off one) or the stack's
// settings.
func (f Fault) ThroughToxiproxy() bool {
	r, _ := recipeOf(f.Type)
	return r.onProxy && f.Type != TypeDNS
}

// Where is the proxy or container the fault acts on.
func (f Fault) Where() string {
	if f.Proxy != "" {
		return f.Proxy
	}
	return f.Target
}

// Describe says in plain words what the fault does, e.g. "timeout toxic
// (downstream, timeout=0) on pooler: drops every byte and never closes: a
// black hole".
func (f Fault) Describe() string {
	r, ok := recipeOf(f.Type)
	if !ok {
		return fmt.Sprintf("unknown fault type %q", f.Type)
	}
	if r.attrs == nil {
		return fmt.Sprintf("%s %s: %s", f.Type, f.Where(), r.what(f))
	}
	params := []string{f.Stream}
	if f.Toxicity != 0 && f.Toxicity != 1 {
		params = append(params, fmt.Sprintf("toxicity %g", f.Toxicity))
	}
	for _, a := range r.attrs {
		if v, ok := f.Attributes[a.name]; ok {
			unit, _, _ := strings.Cut(a.unit, ",")
			params = append(params, fmt.Sprintf("%s=%d %s", a.name, v, unit))
		}
	}
	return fmt.Sprintf("%s toxic (%s) on %s: %s", f.Type, strings.Join(params, ", "), f.Where(), r.what(f))
}

// Apply puts the fault in place on t: adds the toxic, disables the proxy,
// pauses, disconnects; a restart, kill or bot-restart happens whole and
// returns once the container runs again. A flapping outage is applied as a
// steady one: the toggling is the player's (Play).
func (f Fault) Apply(ctx context.Context, t Target) error {
	r, ok := recipeOf(f.Type)
	if !ok {
		return fmt.Errorf("unknown fault type %q", f.Type)
	}
	return r.apply(ctx, t, f)
}

// Undo takes the fault off t again; for a restart there is nothing to undo.
func (f Fault) Undo(ctx context.Context, t Target) error {
	r, ok := recipeOf(f.Type)
	switch {
	case !ok:
		return fmt.Errorf("unknown fault type %q", f.Type)
	case r.undo == nil:
		return nil
	}
	return r.undo(ctx, t, f)
}

// named are the faults a kind stands for when a tool names it alone (make
// p1001 FAULT=<kind>, make bench): steady faults on the pooler proxy or a
// stack setting, every field filled in as Load fills in a scenario's. A scenario of the catalog
// plays the same fault (named_test.go ties each to it).
var named = map[string]Fault{
	// Connections refused: the runbook's P1001.
	TypeOutage: {Type: TypeOutage, Proxy: ProxyPooler},
	// Black hole: downstream (docs/scenarios.md "Black hole" says why).
	KindBlackHole: {Type: TypeTimeout, Proxy: ProxyPooler, Stream: StreamDownstream, Toxicity: DefaultToxicity,
		Attributes: map[string]int64{"timeout": 0}},
	// Reset as soon as the bot sends, handshakes included.
	TypeResetPeer: {Type: TypeResetPeer, Proxy: ProxyPooler, Stream: StreamUpstream, Toxicity: DefaultToxicity,
		Attributes: map[string]int64{"timeout": 0}},
	// Above the bot's 2 s attempt timeout, so that attempts time out.
	TypeLatency: {Type: TypeLatency, Proxy: ProxyPooler, Stream: StreamDownstream, Toxicity: DefaultToxicity,
		Attributes: map[string]int64{"latency": 3000, "jitter": 0}},
	// The pooler admits no new client (max_client_conn): too many connections.
	TypeClientLimit: {Type: TypeClientLimit, Target: TargetPgBouncer},
	// The role's password changed under the bot, then put back: P1000.
	TypePasswordRotation: {Type: TypePasswordRotation, Target: TargetPostgres},
}

// formerNames are the spellings make p1001 (FAULT=blackhole, reset) and
// make bench (-outages refused,blackhole,reset) took before they shared
// this table; they still work.
var formerNames = map[string]string{"blackhole": KindBlackHole, "reset": TypeResetPeer, "refused": TypeOutage}

// NamedKinds lists the kinds NamedFault knows, sorted.
func NamedKinds() []string { return slices.Sorted(maps.Keys(named)) }

// NamedFault returns the fault a kind names on its own, named after the
// kind (its toxic's name). A kind may be written with - for _
// ("black-hole"), or in a former spelling (formerNames).
func NamedFault(kind string) (Fault, error) {
	k := strings.ReplaceAll(kind, "-", "_")
	if now, ok := formerNames[k]; ok {
		k = now
	}
	f, ok := named[k]
	if !ok {
		return Fault{}, fmt.Errorf("fault %q: want one of %s", kind, strings.Join(NamedKinds(), ", "))
	}
	f.Name = k
	f.Attributes = maps.Clone(f.Attributes)
	return f, nil
}

// HostName is the DNS name a bot reaches a proxy by in a scenario with a
// dns fault (the environment gives the bot these names then, on a network
// of their own, instead of "toxiproxy"): "db-pooler" or "db-direct".
func HostName(proxy string) string { return "db-" + proxy }

// ByName reports whether the bot must reach its proxy by HostName: the
// scenario takes that name away (a dns fault).
func (s Scenario) ByName() bool {
	return slices.ContainsFunc(s.Faults, func(f Fault) bool { return f.Type == TypeDNS })
}
