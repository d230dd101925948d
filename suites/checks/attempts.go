package checks

import (
	"fmt"
	"slices"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// Name of the attempts check (stable id).
const NameAttempts = "attempts-bounded"

// connectionCodes are the availability codes a lookup is retried on, so a
// lookup that failed with one of them used every attempt it had.
var connectionCodes = []string{"P1001", "P1002", "P1008", "P1017", "P2024", "P2037"}

func isConnectionCode(code string) bool { return slices.Contains(connectionCodes, code) }

// isLookup reports whether the op's reply rests on a prompt read (a
// message, /prompt, or /setprompt without text, which answers its usage),
// as opposed to a write (/setprompt text, /reset).
func isLookup(o history.Op) bool {
	switch o.Kind {
	case history.Message, history.GetPrompt:
		return true
	case history.SetPrompt:
		return commandArg(o.Text) == ""
	}
	return false
}

// pastDeadline reports whether o is a reply that stopped waiting for its
// prompt lookup at the bot's reply deadline (docs/bot.md): a degraded
// lookup reply with P1008 that took at least the deadline, as the harness
// timed it. The bot stops waiting at the deadline, so no lookup reply
// that waited for its lookup's end takes that long; one that gave up with
// P1008 just before it and arrived just after is read as a deadline reply,
// whose attempts are a lower bound, which exact attempts also satisfy.
func pastDeadline(r rules, o history.Op) bool {
	return r.replyDeadline > 0 && o.Outcome == history.OK && o.Degraded && o.Code == "P1008" && isLookup(o) &&
		o.Complete >= o.Invoke && o.Latency() >= r.replyDeadline
}

// isWrite reports whether the op writes the prompt (/setprompt text,
// /reset): writes keep the policy's full budget, the reply deadline does
// not apply to them.
func isWrite(o history.Op) bool {
	return o.Kind == history.Reset || o.Kind == history.SetPrompt && commandArg(o.Text) != ""
}

// AttemptsBounded: no request reports more attempts than the policy's max;
// a degraded prompt lookup that failed with a connection-class code after
// trying at all shows exactly expect.attempts_per_failed_lookup (0 is a
// fast fail by the open breaker, allowed). A reply that stopped waiting at
// the reply deadline (pastDeadline) shows the attempts started so far, at
// most that many; its lookup ran on, and every lookup that gave up says
// its attempts on its [getCustomPrompt] fallback line, which must show
// exactly that many (or 0). Writes (/setprompt text, /reset) are held to
// the max only: a write may rightly stop retrying early once its
// statement may have been sent.
func AttemptsBounded(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameAttempts, false, fmt.Sprintf(
		"A prompt lookup that fails after retries shows exactly %d attempts (on its reply, or on its log line when the reply stopped waiting at the %s reply deadline, whose reply shows at most that many), and no request takes more than the policy's %d.",
		r.attempts, r.replyDeadline, r.policy.MaxAttempts))
	if un, ok := v.unobservable(h, needsAttempts); ok {
		return un
	}
	if r.policyErr != nil {
		v.fail("%v", r.policyErr)
		return v.result()
	}
	// A failed lookup is a degraded reply with a connection-class code:
	// without both fields only the max is judged.
	exact := v.part(h, "a failed lookup's exact attempts", history.SeesDegraded, history.SeesCode)
	for _, o := range h.Ops {
		switch {
		case !exact && o.Attempts >= 0 && o.Attempts <= r.policy.MaxAttempts:
		case o.Attempts > r.policy.MaxAttempts:
			v.op(o, "%d attempts, more than the policy's max %d", o.Attempts, r.policy.MaxAttempts)
		case o.Attempts < 0:
			v.op(o, "negative attempt count %d", o.Attempts)
		case pastDeadline(r, o):
			if o.Attempts > r.attempts {
				v.op(o, "reply past the reply deadline shows %d attempts so far, more than a failed lookup's %d", o.Attempts, r.attempts)
			}
		case o.Outcome == history.OK && o.Degraded && isLookup(o) && isConnectionCode(o.Code) &&
			o.Attempts > 0 && o.Attempts != r.attempts:
			v.op(o, "degraded %s lookup after %d attempts, want exactly %d (or 0 when the breaker fails it fast)",
				o.Code, o.Attempts, r.attempts)
		}
	}
	if !exact || !v.part(h, "the attempts on the lookup's fallback log line", history.SeesFallbackLog) {
		return v.result()
	}
	for i, l := range h.Logs {
		if !l.Is(botlog.LookupFellBack) || !isConnectionCode(l.Attr("code")) {
			continue
		}
		if n, ok := l.Int("attempts"); ok && n > 0 && n != r.attempts {
			v.log(i, l, "the lookup gave up %s after %d attempts, want exactly %d (or 0 when the breaker fails it fast)",
				l.Attr("code"), n, r.attempts)
		}
	}
	return v.result()
}
