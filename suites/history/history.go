// Package history records what happened during one scenario, Jepsen style:
// every request's invocation and completion, every fault's start and stop,
// on one monotonic base, next to the bot's logs and metrics. Checkers read
// it; the report writer renders it; history.jsonl stores it.
package history

import (
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
)

// Outcome of one operation, as in Jepsen: ok (the bot answered), fail (it
// certainly did not act: a 4xx/5xx answer), info (unknown: the request
// timed out or the connection broke, so the bot may or may not have acted).
type Outcome string

const (
	OK   Outcome = "ok"
	Fail Outcome = "fail"
	Info Outcome = "info"
)

// Kind of request the driver sent.
type Kind string

const (
	Message   Kind = "message"
	SetPrompt Kind = "setprompt"
	GetPrompt Kind = "prompt"
	Reset     Kind = "reset"
)

// Op is one request and its reply. Invoke and Complete are offsets from
// History.Base on the monotonic clock. The reply is the bot's own JSON
// (botapi.Reply), its fields flat in the op's record; Op.Text is the
// message sent, Op.Reply.Text the reply's text.
type Op struct {
	Index    int           `json:"index"`
	Chat     string        `json:"chat"`
	Kind     Kind          `json:"kind"`
	Text     string        `json:"text"`
	Invoke   time.Duration `json:"invoke"`
	Complete time.Duration `json:"complete"`
	Outcome  Outcome       `json:"outcome"`

	Status int `json:"status,omitempty"`
	botapi.Reply
	// Unacked: a /setprompt answered 200 that the target's
	// acknowledgement rule (commands.ack) does not count as saved.
	Unacked bool   `json:"unacked,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Latency is how long the reply took.
func (o Op) Latency() time.Duration { return o.Complete - o.Invoke }

// Acked reports whether the bot acknowledged a /setprompt as saved.
func (o Op) Acked() bool {
	return o.Kind == SetPrompt && o.Outcome == OK && !o.Degraded && !o.Unacked
}

// History is everything recorded for one scenario run.
type History struct {
	Scenario string `json:"scenario"`
	// Target is the bot under test and what of it the harness saw; nil
	// for p1001's own bot recorded before targets (it shows everything).
	Target *TargetInfo `json:"target,omitempty"`
	// Base is the wall-clock time of offset 0 (traffic start).
	Base   time.Time              `json:"base"`
	Ops    []Op                   `json:"ops"`
	Faults []scenarios.FaultEvent `json:"faults"`
	Logs   []botlog.Line          `json:"logs"`
	// MetricsAfter are the bot's /metrics samples read after recovery,
	// keyed by name{labels} as Prometheus prints them.
	MetricsAfter map[string]float64 `json:"metrics_after,omitempty"`
	// Prompts is what postgres holds per chat after recovery, read straight
	// from postgres (not through the bot).
	Prompts map[string]string `json:"prompts,omitempty"`
	// Logged counts, per inbound message text, the rows of the bot's
	// message_log in postgres after recovery (direction 'in').
	Logged map[string]int `json:"logged,omitempty"`
	// LoggedReplies counts the same per reply text (direction 'out').
	LoggedReplies map[string]int `json:"logged_replies,omitempty"`
	// Probes are the harness's own looks at the stack during the faults
	// (see Probe): the evidence that a fault took effect which does not
	// depend on the bot.
	Probes []Probe `json:"probes,omitempty"`
	// ServerConnects are the offsets at which postgres logged a connection
	// from the bot's direct path (log_connections, host Toxiproxy), when
	// the scenario bounds them (expect.max_connects_per_second).
	ServerConnects []time.Duration `json:"server_connects,omitempty"`
}

// Probe kinds.
const (
	// ProbeSQL is a connection of the harness's own through the fault's
	// path (a Toxiproxy proxy, so the fault applies to it) running SELECT 1.
	ProbeSQL = "sql"
	// ProbeToxics reads Toxiproxy's own state of the proxy: its toxics and
	// whether it is enabled.
	ProbeToxics = "toxics"
	// ProbeNetwork asks Docker whether the container is attached to the
	// stack's network.
	ProbeNetwork = "network"
	// ProbeContainer asks Docker whether the bot's container runs, and
	// when it was last started.
	ProbeContainer = "container"
)

// Probe is one look of the harness at the stack while a fault was planned,
// made without the bot. Start and End are offsets from Base, like ops.
type Probe struct {
	Fault string        `json:"fault"`
	Kind  string        `json:"kind"`
	Where string        `json:"where"` // the proxy or container probed
	Start time.Duration `json:"start"`
	End   time.Duration `json:"end"`
	// OK: the SQL probe was answered; the network probe found the
	// container attached; the container probe found it running. For toxics
	// probes, whether the API answered.
	OK bool `json:"ok"`
	// TimedOut: the SQL probe got no answer within its deadline.
	TimedOut bool `json:"timed_out,omitempty"`
	// Err is the probe's error (passwords redacted).
	Err string `json:"err,omitempty"`
	// Toxics lists, for a toxics probe, the proxy's toxics as
	// "name:type:stream" and Enabled whether the proxy accepted connections.
	Toxics  []string `json:"toxics,omitempty"`
	Enabled bool     `json:"enabled,omitempty"`
	// StartedAt is, for a container probe, when Docker last started the
	// container (OK: it was running).
	StartedAt time.Time `json:"started_at,omitzero"`
}

// Took is how long the probe ran.
func (p Probe) Took() time.Duration { return p.End - p.Start }
