package history

import "github.com/p1001/p1001/resilience"

// Evidence is one thing the harness can see of a bot beyond its reply's
// text, status and timing (which every target shows). A target description
// (targets.Target) lists what it maps; a check that needs evidence the
// history's target did not show is "not observable", never met.
type Evidence string

const (
	// Reply fields, when the target's replies state them.
	SeesPromptSource Evidence = "prompt_source" // custom | cached | default
	SeesDegraded     Evidence = "degraded"
	SeesAttempts     Evidence = "attempts"
	SeesCode         Evidence = "code" // a Prisma-style error code (P1001, ...)
	SeesPromptAge    Evidence = "prompt_age"
	// The bot's log lines, when the target maps their patterns: retries
	// ("Attempt X/Y failed", "Giving up", "Succeeded on attempt") and
	// fallbacks (the connection-error and lookup lines).
	SeesRetryLog    Evidence = "retry_log"
	SeesFallbackLog Evidence = "fallback_log"
	// Every documented line of docs/bot.md as p1001's bot logs it (JSON):
	// a target whose text lines are mapped by pattern shows only the
	// retry and fallback kinds.
	SeesBotLog Evidence = "bot_log"
	// Postgres, read by the harness: the chat prompts a write acknowledged
	// (the target names the query) and the message log table.
	SeesPrompts    Evidence = "prompts"
	SeesMessageLog Evidence = "message_log"
	// The bot's /metrics (outbox depth and drops).
	SeesMetrics Evidence = "metrics"
	// Commands that set and reset a chat's custom prompt, with their
	// acknowledgement.
	SeesCommands Evidence = "commands"
)

// AllEvidence is every kind, in a fixed order.
var AllEvidence = []Evidence{
	SeesPromptSource, SeesDegraded, SeesAttempts, SeesCode, SeesPromptAge,
	SeesRetryLog, SeesFallbackLog, SeesBotLog, SeesPrompts, SeesMessageLog, SeesMetrics, SeesCommands,
}

// TargetInfo names the bot a history was recorded against and what of it
// the harness could see.
type TargetInfo struct {
	// Name is the target file's name (e.g. "p1001", "naive").
	Name string `json:"name"`
	// Observes lists the evidence the target shows.
	Observes []Evidence `json:"observes"`
	// Policy, when set, is the retry policy fixed in the bot's code
	// (targets' policy block): the scenario's bot.retry and bot.breaker
	// do not reach it, and the checks hold its retries to this one.
	Policy *resilience.Policy `json:"policy,omitempty"`
}

// Sees reports whether the history's target showed e. A history without a
// target (recorded before targets existed) is p1001's own bot, which shows
// everything.
func (h History) Sees(e Evidence) bool {
	if h.Target == nil {
		return true
	}
	for _, o := range h.Target.Observes {
		if o == e {
			return true
		}
	}
	return false
}
