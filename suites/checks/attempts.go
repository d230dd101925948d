package checks

import (
	"fmt"
	"slices"

	"github.com/p1001/p1001/scenarios"
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

// AttemptsBounded: no request reports more attempts than the policy's max;
// a degraded prompt lookup that failed with a connection-class code after
// trying at all shows exactly expect.attempts_per_failed_lookup (0 is a
// fast fail by the open breaker, allowed). Writes (/setprompt text,
// /reset) are held to the max only: a write may rightly stop retrying
// early once its statement may have been sent.
func AttemptsBounded(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NameAttempts, false, fmt.Sprintf(
		"A prompt lookup that fails after retries shows exactly %d attempts, and no request takes more than the policy's %d.",
		r.attempts, r.policy.MaxAttempts))
	if r.policyErr != nil {
		v.fail("%v", r.policyErr)
		return v.result()
	}
	for _, o := range h.Ops {
		switch {
		case o.Attempts > r.policy.MaxAttempts:
			v.op(o, "%d attempts, more than the policy's max %d", o.Attempts, r.policy.MaxAttempts)
		case o.Attempts < 0:
			v.op(o, "negative attempt count %d", o.Attempts)
		case o.Outcome == history.OK && o.Degraded && isLookup(o) && isConnectionCode(o.Code) &&
			o.Attempts > 0 && o.Attempts != r.attempts:
			v.op(o, "degraded %s lookup after %d attempts, want exactly %d (or 0 when the breaker fails it fast)",
				o.Code, o.Attempts, r.attempts)
		}
	}
	return v.result()
}
