package scenarios

import (
	"fmt"
	"github.com/p1001/p1001/internal/strictyaml"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/resilience"
)

// Proxies, streams, targets and databases a scenario may name.
const (
	ProxyPooler = "pooler" // toxiproxy :6543 -> pgbouncer, the runbook's pooler URL
	ProxyDirect = "direct" // toxiproxy :5432 -> postgres

	StreamUpstream   = "upstream"   // client -> server
	StreamDownstream = "downstream" // server -> client

	TargetPostgres  = "postgres"
	TargetPgBouncer = "pgbouncer"
	TargetBot       = "bot"
)

// Effects: the evidence that the faults took effect (a validity guard).
const (
	EffectDegraded = "degraded" // at least one degraded reply during a fault window
	EffectSlower   = "slower"   // p50 latency during faults >= healthy p50 + slower_by
	EffectRetried  = "retried"  // at least one reply during a fault window took more than one attempt
	// EffectUnanswered: at least one request during a fault window got no
	// answer at all (the bot was down: kill, bot-restart).
	EffectUnanswered = "unanswered"
	EffectNone       = "none" // baseline only (label fault:none)
)

// Prompt sources, as the bot reports them.
const (
	SourceCustom  = "custom"
	SourceCached  = "cached"
	SourceDefault = "default"
)

// Defaults applied by Load and Parse where the YAML leaves a field out.
const (
	DefaultDatabase            = ProxyPooler
	DefaultStream              = StreamDownstream
	DefaultToxicity            = 1.0
	DefaultRestartWindow       = 3 * time.Second // planned window of a restart, kill or bot-restart (see Fault.For)
	DefaultRecoveryWithin      = 5 * time.Second
	DefaultMinMessagesPerFault = 5
	// DefaultLatencyMargin is added to the policy's worst case (budget, or
	// attempts x attempt timeout + delays) for the default reply_latency_bound.
	DefaultLatencyMargin = time.Second
)

// Duration is a time.Duration written in Go syntax ("300ms", "2s") in YAML
// and JSON.
type Duration = strictyaml.Duration

// Error is one problem of a scenario file: "file:line: field.path: message".
// Load, Parse and LoadDir return every problem of a file, each as an
// *Error, joined with errors.Join and sorted by line.
type Error = strictyaml.Error

// Scenario is one scenario file, with defaults applied.
type Scenario struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Labels      []string `yaml:"labels"`
	Bot         Bot      `yaml:"bot"`
	Traffic     Traffic  `yaml:"traffic"`
	Faults      []Fault  `yaml:"faults,omitempty"`
	Expect      Expect   `yaml:"expect"`
	// File is the path the scenario was loaded from (the name given to Parse).
	File string `yaml:"-"`
}

// Bot configures the bot container for one scenario. Unset (nil) retry and
// breaker fields keep the bot's own defaults: BotEnv leaves them out.
type Bot struct {
	// Database is the toxiproxy proxy the bot's DATABASE_URL goes through:
	// "pooler" (default) or "direct".
	Database string `yaml:"database"`
	// URLParams are Prisma parameters set on the bot's DATABASE_URL,
	// replacing the same keys of the environment's runbook URL.
	URLParams map[string]string `yaml:"url_params,omitempty"`
	Retry     Retry             `yaml:"retry,omitempty"`
	Breaker   Breaker           `yaml:"breaker,omitempty"`
	// PromptMaxStaleness -> PROMPT_MAX_STALENESS; nil keeps the bot's default.
	PromptMaxStaleness *Duration `yaml:"prompt_max_staleness,omitempty"`
	// Env is extra environment for the bot container.
	Env map[string]string `yaml:"env,omitempty"`
}

// Retry -> DB_RETRY_*. nil keeps the bot's default.
type Retry struct {
	MaxAttempts    *int      `yaml:"max_attempts,omitempty"`
	BaseDelay      *Duration `yaml:"base_delay,omitempty"`
	MaxDelay       *Duration `yaml:"max_delay,omitempty"`
	Factor         *float64  `yaml:"factor,omitempty"`
	Jitter         *bool     `yaml:"jitter,omitempty"`
	AttemptTimeout *Duration `yaml:"attempt_timeout,omitempty"`
	Budget         *Duration `yaml:"budget,omitempty"`
}

// Breaker -> DB_BREAKER_*. nil keeps the bot's default.
type Breaker struct {
	Enabled          *bool     `yaml:"enabled,omitempty"`
	FailureThreshold *int      `yaml:"failure_threshold,omitempty"`
	Delay            *Duration `yaml:"delay,omitempty"`
	SuccessThreshold *int      `yaml:"success_threshold,omitempty"`
}

// Traffic is what the traffic driver sends.
type Traffic struct {
	Chats int     `yaml:"chats"`
	Rate  float64 `yaml:"rate"` // messages per second, all chats together
	// Duration is the total traffic time; every fault ends before it.
	Duration Duration `yaml:"duration"`
	// Concurrency is the most requests in flight (default: Chats).
	Concurrency int `yaml:"concurrency"`
	// CustomPrompts seeds every chat with a custom prompt first (default true).
	CustomPrompts bool `yaml:"custom_prompts"`
	// Commands maps a command (setprompt, prompt, reset, help) to the
	// fraction of sends that are that command.
	Commands map[string]float64 `yaml:"commands,omitempty"`
}

// Fault is one entry of the timeline.
type Fault struct {
	// Name is unique in the scenario (default "<type>-<index>"); it is also
	// the toxic's name in Toxiproxy.
	Name string `yaml:"name"`
	// At is the offset from the start of traffic.
	At Duration `yaml:"at"`
	// For is how long the fault lasts. For a restart, kill or bot-restart
	// it is the planned window (default 3s), used for validation and
	// FaultWindows; the player records the real one.
	For  Duration `yaml:"for,omitempty"`
	Type string   `yaml:"type"`
	// Proxy is set for outage and the toxics.
	Proxy string `yaml:"proxy,omitempty"`
	// Target is the container: restart postgres|pgbouncer, pause pgbouncer,
	// partition, kill and bot-restart bot.
	Target string `yaml:"target,omitempty"`
	// Stream and Toxicity are set for toxics (defaults downstream, 1).
	Stream   string  `yaml:"stream,omitempty"`
	Toxicity float32 `yaml:"toxicity,omitempty"`
	// Flap toggles an outage every Flap within the window (0 = steady).
	Flap Duration `yaml:"flap,omitempty"`
	// Attributes are the toxic's attributes, every one of its type filled
	// in (Toxiproxy's units: ms, KB/s, bytes, µs for slicer delay).
	Attributes map[string]int64 `yaml:"attributes,omitempty"`
	// Refusal names the pooler refusal a pgerror fault sends (Refusals).
	Refusal string `yaml:"refusal,omitempty"`
}

// End is At+For.
func (f Fault) End() time.Duration { return time.Duration(f.At) + time.Duration(f.For) }

// Expect is what the checkers assert.
type Expect struct {
	Effect   string   `yaml:"effect"`
	SlowerBy Duration `yaml:"slower_by,omitempty"`
	// AttemptsPerFailedLookup is the exact attempt count of a degraded reply
	// whose lookup failed after retries (default: the policy's max
	// attempts). Replies fast-failed by the open breaker report 0.
	AttemptsPerFailedLookup int           `yaml:"attempts_per_failed_lookup"`
	PromptSources           PromptSources `yaml:"prompt_sources"`
	AllAnswered             bool          `yaml:"all_answered"`
	// ReplyLatencyBound bounds every reply during faults (default: the
	// policy's worst case + DefaultLatencyMargin); writes (/setprompt
	// text, /reset) are held to WriteLatencyBound instead.
	ReplyLatencyBound Duration `yaml:"reply_latency_bound"`
	// WriteLatencyBound bounds the writes during faults (default:
	// ReplyLatencyBound): they keep the policy's full budget while the
	// replies that read the prompt stop waiting at the bot's reply
	// deadline, so a bound tightened to that deadline needs its own for them.
	WriteLatencyBound   Duration `yaml:"write_latency_bound,omitempty"`
	RecoveryWithin      Duration `yaml:"recovery_within"`
	NoAckedWriteLost    bool     `yaml:"no_acked_write_lost"`
	OutboxDrained       bool     `yaml:"outbox_drained"`
	LogLines            []string `yaml:"log_lines,omitempty"`
	MinMessagesPerFault int      `yaml:"min_messages_per_fault"`
	// CacheExpiry: some chat must switch from its cached prompt to the
	// default once PROMPT_MAX_STALENESS passed during a fault (check
	// cache-age); needs bot.prompt_max_staleness and a fault longer.
	CacheExpiry bool `yaml:"cache_expiry,omitempty"`
	// Codes says, per fault name, which Prisma codes the fault's cause
	// implies: each Must code shows up during that fault (on a degraded
	// reply or a [Prisma Retry] log line), and no code other than Must and May
	// does. A fault left out is not checked for codes.
	Codes map[string]FaultCodes `yaml:"codes,omitempty"`
	// AttemptsPerRetriedLookup is the exact attempt count of a lookup that
	// succeeded after retries (0: not checked).
	AttemptsPerRetriedLookup int `yaml:"attempts_per_retried_lookup,omitempty"`
	// MaxConnectsPerSecond bounds, during each fault, the connections
	// postgres logs from the bot's direct path (0: not checked).
	MaxConnectsPerSecond float64 `yaml:"max_connects_per_second,omitempty"`
}

// FaultCodes are the Prisma codes one fault must and may produce.
type FaultCodes struct {
	// Must: each shows up at least once during the fault.
	Must []string `yaml:"must,omitempty"`
	// May: allowed as well (e.g. P1017 for the pooled connections an
	// outage closes, next to its P1001 for the refused reconnects).
	May []string `yaml:"may,omitempty"`
}

// Allows reports whether code is one the fault must or may produce.
func (c FaultCodes) Allows(code string) bool {
	return slices.Contains(c.Must, code) || slices.Contains(c.May, code)
}

// PromptSources lists the prompt sources allowed in each phase.
type PromptSources struct {
	Healthy  []string `yaml:"healthy"`  // before the first fault starts
	Fault    []string `yaml:"fault"`    // inside a fault window, and until RecoveryWithin after the last
	Recovery []string `yaml:"recovery"` // from RecoveryWithin after the last fault end
}

// Window is the planned [Start, End) of one fault, as offsets from the
// start of traffic.
type Window struct {
	Fault      string
	Start, End time.Duration
}

// FaultWindows returns the planned window of every fault, in timeline
// order. A restart's (kill's, bot-restart's) window is its planned For;
// the player's FaultEvent has the measured one.
func (s Scenario) FaultWindows() []Window {
	ws := make([]Window, 0, len(s.Faults))
	for _, f := range s.Faults {
		ws = append(ws, Window{Fault: f.Name, Start: f.At.D(), End: f.End()})
	}
	slices.SortStableFunc(ws, func(a, b Window) int { return int(a.Start - b.Start) })
	return ws
}

// Policy returns the retry policy the bot runs with: resilience's defaults
// overlaid with what the scenario sets, read the way the bot reads its
// environment (resilience.PolicyVars). A value the bot could not read (a
// negative threshold) keeps the default; validation reports it.
func (s Scenario) Policy() resilience.Policy {
	p := resilience.DefaultPolicy()
	for _, v := range resilience.PolicyVars() {
		if val, ok := s.Bot.policyValue(v); ok {
			_ = v.Set(&p, val)
		}
	}
	return p
}

// BotEnv returns the bot container's environment for the scenario: the
// policy variable (resilience.PolicyVars) of every retry and breaker field
// the scenario sets, PROMPT_MAX_STALENESS when set, and Bot.Env. Fields left
// unset are left out, so the bot's own defaults apply. DATABASE_URL is the
// environment's to build (from Bot.Database and Bot.URLParams).
func (s Scenario) BotEnv() map[string]string {
	env := make(map[string]string, len(s.Bot.Env)+12)
	for k, v := range s.Bot.Env {
		env[k] = v
	}
	for _, v := range resilience.PolicyVars() {
		if val, ok := s.Bot.policyValue(v); ok {
			env[v.Env] = val
		}
	}
	if d := s.Bot.PromptMaxStaleness; d != nil {
		env["PROMPT_MAX_STALENESS"] = d.String()
	}
	return env
}

// policyPath is the YAML path of a policy variable's field: DB_RETRY_<KEY>
// is bot.retry.<key>, DB_BREAKER_<KEY> bot.breaker.<key>. The convention
// is the whole mapping: a new resilience.PolicyVars entry needs only its
// typed field in Retry or Breaker (TestPolicyFieldsMatchResilience).
func policyPath(v resilience.PolicyVar) (section, key string) {
	section, key, _ = strings.Cut(strings.ToLower(strings.TrimPrefix(v.Env, "DB_")), "_")
	return section, key
}

// typedField returns the typed field (a pointer) of b that sets v, and its
// YAML path; the Value is invalid when Retry and Breaker have no such field.
func (b Bot) typedField(v resilience.PolicyVar) (reflect.Value, string) {
	section, key := policyPath(v)
	path := "bot." + section + "." + key
	var sv reflect.Value
	switch section {
	case "retry":
		sv = reflect.ValueOf(b.Retry)
	case "breaker":
		sv = reflect.ValueOf(b.Breaker)
	default:
		return reflect.Value{}, path
	}
	for i := range sv.NumField() {
		if name, _, _ := strings.Cut(sv.Type().Field(i).Tag.Get("yaml"), ","); name == key {
			return sv.Field(i), path
		}
	}
	return reflect.Value{}, path
}

// policyValue is what the scenario sets for v, in the syntax of the bot's
// environment; false when the field is unset.
func (b Bot) policyValue(v resilience.PolicyVar) (string, bool) {
	f, _ := b.typedField(v)
	if !f.IsValid() || f.IsNil() {
		return "", false
	}
	// fmt writes int, bool and float64 (shortest 'g') as strconv does, and
	// Duration through its String: what v.Set reads.
	return fmt.Sprint(f.Elem().Interface()), true
}

// HasLabel reports whether the scenario carries label.
func (s Scenario) HasLabel(label string) bool { return slices.Contains(s.Labels, label) }
