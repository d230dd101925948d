package checks

import (
	"fmt"
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// Names of the prompt-claim checks (stable ids).
const (
	NamePromptClaims = "prompt-claims"
	NameStaleness    = "cache-staleness"
)

// replyPersona is the persona a reply quotes: the template responder's
// "[<persona>] You said: ..." (docs/bot.md), or a /setprompt's "Saved.
// I'll answer as: <persona>". ok is false when the reply quotes none.
func replyPersona(o history.Op) (string, bool) {
	if rest, ok := strings.CutPrefix(o.Reply.Text, "["); ok {
		if i := strings.Index(rest, "] You said: "); i >= 0 {
			return rest[:i], true
		}
	}
	if i := strings.Index(o.Reply.Text, "I'll answer as: "); i >= 0 && o.Kind == history.SetPrompt {
		return strings.TrimSpace(o.Reply.Text[i+len("I'll answer as: "):]), true
	}
	return "", false
}

// fill is a moment the bot's prompt cache may have taken a chat's custom
// prompt: a reply that read it fresh (custom, not degraded) or an
// acknowledged /setprompt, within [earliest, op.Complete]; or, maybe, the
// lookup behind a reply that stopped waiting at the reply deadline: it
// goes on in the background and, if it succeeds, refreshes the cache
// after that reply began (it was still running then) and at most one
// call's worst case after it (latest).
type fill struct {
	op      history.Op
	persona string
	known   bool // the reply quotes the persona
	// earliest is the op's invoke, or, when it was invoked inside a
	// proven fault that cuts the bot's path, that fault's stop: no read
	// could succeed before it.
	earliest time.Duration
	// maybe: a background lookup, which may have failed; latest bounds
	// its end.
	maybe  bool
	latest time.Duration
}

// end is the latest the fill can have reached the cache, as far as a
// reply that ended at before can tell: a background lookup may have ended
// any time until then.
func (f fill) end(before time.Duration) time.Duration {
	if f.maybe {
		return min(f.latest, before)
	}
	return f.op.Complete
}

func fillsOf(r rules, h history.History, cut []window) map[string][]fill {
	out := map[string][]fill{}
	for _, o := range h.Ops {
		if pastDeadline(r, o) {
			out[o.Chat] = append(out[o.Chat], fill{op: o, earliest: o.Invoke, maybe: true, latest: o.Invoke + r.policy.WorstCaseCall()})
			continue
		}
		if o.Outcome != history.OK || o.Degraded || o.PromptSource != scenarios.SourceCustom {
			continue
		}
		if o.Kind == history.Reset {
			continue
		}
		p, ok := replyPersona(o)
		earliest := o.Invoke
		for _, w := range cut {
			if earliest >= w.start && earliest < w.stop {
				earliest = w.stop
			}
		}
		out[o.Chat] = append(out[o.Chat], fill{op: o, persona: p, known: ok, earliest: earliest})
	}
	return out
}

// cutWindows are the measured windows of the faults that cut the bot's
// database path (see cuts) and that a probe proved in effect.
func cutWindows(r rules, h history.History) []window {
	tl := newTimeline(h, r.recoveryWithin)
	proofs := proven(r, tl, h)
	var out []window
	for _, w := range tl.windows {
		if f, ok := r.faults[w.fault]; ok && cuts(f, r.botPath) && proofs[w.fault].ok && w.stop != forever {
			out = append(out, w)
		}
	}
	return out
}

// CacheStaleness: a reply that claims the cached prompt quotes a prompt
// that the history shows the bot read or saved for that chat (a custom,
// non-degraded reply, or an acknowledged /setprompt) no longer than
// PROMPT_MAX_STALENESS before it: some such op could have read before the
// reply ended (it began before, and not inside a proven fault that cuts
// the bot's path, or that fault stopped before), and ended at most the
// limit before the reply began (the most lenient reading of both
// intervals). With the cache off (0) no reply may claim it.
func CacheStaleness(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameStaleness, false, fmt.Sprintf(
		"A cached reply quotes the chat's own prompt, read or saved by the bot at most %s (PROMPT_MAX_STALENESS) before, as the history shows.", r.staleness))
	// Fills are fresh (custom, not degraded) replies, and lookups past the
	// reply deadline (degraded, P1008): without these fields, a missing
	// fill would break the promise falsely.
	if un, ok := v.unobservable(h, needsStaleness); ok {
		return un
	}
	fills := fillsOf(r, h, cutWindows(r, h))
	for _, o := range h.Ops {
		if o.Outcome != history.OK || o.PromptSource != scenarios.SourceCached {
			continue
		}
		if r.staleness <= 0 {
			v.op(o, "claims the cached prompt, but the cache is off (PROMPT_MAX_STALENESS 0)")
			continue
		}
		persona, known := replyPersona(o)
		var youngest *fill
		for i, f := range fills[o.Chat] {
			if f.earliest >= o.Complete || (known && f.known && f.persona != persona) {
				continue
			}
			if youngest == nil || f.end(o.Complete) > youngest.end(o.Complete) {
				youngest = &fills[o.Chat][i]
			}
		}
		quoted := ""
		if known {
			quoted = fmt.Sprintf(" quoting %q", persona)
		}
		switch {
		case youngest == nil:
			v.op(o, "claims the cached prompt%s, but the history shows no read or save of it by the bot before", quoted)
		case o.Invoke-youngest.end(o.Complete) > r.staleness+time.Millisecond:
			v.op(o, "claims the cached prompt%s, but the bot last read or saved it in op #%d, which ended %s before this request began: older than %s",
				quoted, youngest.op.Index, (o.Invoke - youngest.end(o.Complete)).Round(time.Millisecond), r.staleness)
		}
	}
	return v.result()
}

// cuts reports whether f, once in effect, leaves no database call of the
// bot a chance to succeed: the bot's own path disabled, black-holed or
// reset on every exchange, its pooler paused, or the bot cut off.
func cuts(f scenarios.Fault, botPath string) bool {
	switch f.Type {
	case scenarios.TypeOutage:
		return f.Proxy == botPath && f.Flap == 0
	case scenarios.TypeTimeout, scenarios.TypeDNS:
		return f.Proxy == botPath
	case scenarios.TypeResetPeer:
		return f.Proxy == botPath && f.Attributes["timeout"] == 0
	case scenarios.TypePgError: // refuses every new connection, closes the open ones on their next answer
		return f.Proxy == botPath && f.Toxicity == 1
	case scenarios.TypePause:
		return botPath == scenarios.ProxyPooler
	case scenarios.TypePartition:
		return f.Target == scenarios.TargetBot
	case scenarios.TypeClientLimit:
		// The bot's pooler connections killed, new ones refused.
		return botPath == scenarios.ProxyPooler
	case scenarios.TypeServerLimit, scenarios.TypePasswordRotation:
		// The bot's direct sessions ended, new logins refused.
		return botPath == scenarios.ProxyDirect
	}
	return false
}

// PromptClaims: what a reply says about its prompt is possible given what
// the database path was doing, as the history and the harness's probes
// show it, not as the bot reports it:
//   - a reply that is not degraded read (or wrote) the database just now,
//     so it cannot lie entirely inside a fault that cuts the bot's path
//     (see cuts) once a probe proved the fault in effect (guard-effect);
//   - a degraded reply that falls back to the default prompt had no usable
//     cached prompt: no op of that chat read or saved its custom prompt
//     (ended before the reply began) within PROMPT_MAX_STALENESS of the
//     reply's end, with no /reset and no kill or restart of the bot (its
//     cache lives in memory) in between. (A cached reply is judged by
//     cache-staleness.)
func PromptClaims(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NamePromptClaims, false,
		"A reply's prompt source is possible: not a fresh read while a proven fault cuts the bot's database path, nor the default prompt while the chat's cached prompt was fresh.")
	if un, ok := v.unobservable(h, needsClaims); ok {
		return un
	}
	cut := cutWindows(r, h)
	for _, w := range cut {
		f := r.faults[w.fault]
		for _, o := range h.Ops {
			// Until the undo began, not until it returned: a toxic's removal
			// frees the bot's connections while the call still runs.
			if o.Outcome != history.OK || o.Degraded || o.Invoke < w.start || end(o) > w.until {
				continue
			}
			undoing := ""
			if w.until < w.stop {
				undoing = ", undone from " + offset(w.until)
			}
			v.op(o, "answered from a fresh database read (prompt_source %q, not degraded) between %s and %s, inside fault %s (%s on %s, [%s, %s)%s), when no database call could succeed",
				o.PromptSource, offset(o.Invoke), offset(o.Complete), w.fault, f.Type, f.Where(), offset(w.start), offset(w.stop), undoing)
		}
	}
	if r.staleness > 0 && v.part(h, "no default prompt while the chat's cached prompt was fresh", history.SeesPromptSource) {
		fills := fillsOf(r, h, cut)
		writes := writesOf(h)
		tl := newTimeline(h, r.recoveryWithin)
		for _, o := range h.Ops {
			if o.Outcome != history.OK || !o.Degraded || o.PromptSource != scenarios.SourceDefault {
				continue
			}
			var youngest *history.Op
			for _, f := range fills[o.Chat] {
				// A background lookup may have failed: it never makes the
				// cached prompt certain.
				if f.maybe || f.op.Complete >= o.Invoke || o.Complete-f.op.Invoke > r.staleness || resetBetween(writes[o.Chat], f.op.Invoke, o.Complete) ||
					tl.botRestartedBetween(f.op.Invoke, o.Complete) {
					continue
				}
				if youngest == nil || f.op.Complete > youngest.Complete {
					youngest = &f.op
				}
			}
			if youngest != nil {
				v.op(o, "fell back to the default prompt, but op #%d read or saved the chat's prompt between %s and %s, within %s (PROMPT_MAX_STALENESS) of it: the cached prompt was due",
					youngest.Index, offset(youngest.Invoke), offset(youngest.Complete), r.staleness)
			}
		}
	}
	return v.result()
}

// resetBetween reports whether a /reset that may have taken effect was
// invoked in [from, to].
func resetBetween(ws []write, from, to time.Duration) bool {
	for _, w := range ws {
		if w.value == "" && w.op.Invoke >= from && w.op.Invoke <= to {
			return true
		}
	}
	return false
}
