package checks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/resilience"
	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// rules is a scenario's expect block read once, with the policy the bot
// ran with. The scenario comes from the
// loader (scenarios.Parse, or scenarios.Normalize for one built in code),
// which has filled in its defaults. Only this file knows the scenarios
// package's field names.
type rules struct {
	policy    resilience.Policy
	policyErr error // the bot would refuse this policy

	effect           string
	slowerBy         time.Duration
	attempts         int // exact attempts of a failed lookup
	sources          map[Phase][]string
	allAnswered      bool
	latencyBound     time.Duration // 0: the policy bounds nothing
	writeBound       time.Duration // of /setprompt text and /reset
	replyDeadline    time.Duration // REPLY_DEADLINE; 0: none
	recoveryWithin   time.Duration
	noAckedWriteLost bool
	outboxDrained    bool
	logLines         []string
	codes            map[string]scenarios.FaultCodes // by fault name
	staleness        time.Duration                   // PROMPT_MAX_STALENESS; 0: no cache
	botPath          string                          // the proxy the bot's DATABASE_URL goes through
	faults           map[string]scenarios.Fault      // planned faults by name
	minPerFault      int
	customPrompts    bool
	concurrency      int      // the traffic driver's slots (traffic.concurrency, default chats)
	planned          []string // planned fault names, in timeline order
}

// DefaultPromptMaxStaleness is the bot's PROMPT_MAX_STALENESS when a
// scenario leaves it unset (docs/bot.md).
const DefaultPromptMaxStaleness = 10 * time.Minute

// DefaultReplyDeadline is the bot's REPLY_DEADLINE (docs/bot.md, "Reply
// deadline"), which scenarios do not change: a reply that reads the prompt
// waits for the lookup at most this long, then answers from the fallback
// chain with code P1008 and the attempts started so far.
const DefaultReplyDeadline = time.Second

func rulesOf(s scenarios.Scenario, h history.History) rules {
	e := s.Expect
	r := rules{
		effect:           e.Effect,
		slowerBy:         e.SlowerBy.D(),
		attempts:         e.AttemptsPerFailedLookup,
		allAnswered:      e.AllAnswered,
		latencyBound:     e.ReplyLatencyBound.D(),
		writeBound:       e.WriteLatencyBound.D(),
		replyDeadline:    DefaultReplyDeadline,
		recoveryWithin:   e.RecoveryWithin.D(),
		noAckedWriteLost: e.NoAckedWriteLost,
		outboxDrained:    e.OutboxDrained,
		logLines:         e.LogLines,
		codes:            e.Codes,
		minPerFault:      e.MinMessagesPerFault,
		customPrompts:    s.Traffic.CustomPrompts,
		concurrency:      s.Traffic.Concurrency,
		staleness:        DefaultPromptMaxStaleness,
		botPath:          s.Bot.Database,
		faults:           map[string]scenarios.Fault{},
	}
	if s.Bot.PromptMaxStaleness != nil {
		r.staleness = s.Bot.PromptMaxStaleness.D()
	}
	if r.writeBound <= 0 {
		r.writeBound = r.latencyBound
	}
	r.policy = s.Policy()
	// A bot whose policy is fixed in its code does not take the
	// scenario's bot.retry and bot.breaker: it is held to its own.
	if h.Target != nil && h.Target.Policy != nil {
		r.policy = *h.Target.Policy
	}
	if err := r.policy.Validate(); err != nil {
		r.policyErr = fmt.Errorf("scenario %s: bot.retry/bot.breaker: %w", s.Name, err)
	}
	r.sources = map[Phase][]string{
		Healthy:  e.PromptSources.Healthy,
		Fault:    e.PromptSources.Fault,
		Recovery: e.PromptSources.Recovery,
	}
	r.sources[Transition] = union(r.sources[Fault], r.sources[Recovery])
	for _, f := range s.Faults {
		r.planned = append(r.planned, f.Name)
		r.faults[f.Name] = f
	}
	return r
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func list(v []string) string { return strings.Join(v, "|") }
