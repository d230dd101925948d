package checks

import (
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// write is one request that may have changed a chat's prompt.
type write struct {
	op    history.Op
	value string // the prompt set; "" for /reset (the row is deleted)
	acked bool   // the bot said it was committed
	// end is the latest offset at which the write may take effect: its
	// completion when acknowledged, forever when unknown (a COMMIT delayed
	// by a toxic can still land after the bot gave up on it).
	end time.Duration
}

// writesOf returns, per chat in history order, the /setprompt and /reset
// requests that may have taken effect: acknowledged ones, and unknown ones
// (outcome info, or a degraded reply: "could not confirm"). An op with
// outcome fail certainly did nothing, and a /setprompt without text is a
// usage answer, not a write.
func writesOf(h history.History) map[string][]write {
	out := map[string][]write{}
	for _, o := range h.Ops {
		var value string
		switch o.Kind {
		case history.SetPrompt:
			value = commandArg(o.Text)
			if value == "" {
				continue
			}
		case history.Reset:
		default:
			continue
		}
		if o.Outcome == history.Fail {
			continue
		}
		w := write{op: o, value: value, end: forever}
		// Unacked: the target's acknowledgement rule (commands.ack) did
		// not count the 200 as saved (naive-fixed's "Could not save ...").
		if o.Outcome == history.OK && !o.Degraded && !o.Unacked {
			w.acked, w.end = true, o.Complete
		}
		out[o.Chat] = append(out[o.Chat], w)
	}
	return out
}

// commandArg is the argument of "/cmd arg", parsed as the bot does: the
// command ends at the first space, tab or newline; the rest is trimmed.
func commandArg(text string) string {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "/") {
		return ""
	}
	i := strings.IndexAny(text, " \t\n")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(text[i+1:])
}

// prompts answers "which prompt should this reply have used" from the
// history's writes.
type prompts struct {
	writes        map[string][]write
	customPrompts bool // every chat was seeded with a custom prompt
}

func newPrompts(s scenarios.Scenario, h history.History) prompts {
	return prompts{writes: writesOf(h), customPrompts: rulesOf(s, h).customPrompts}
}

// mayHaveNoCustom reports whether o's chat may have had no custom prompt
// when o read it: never seeded, or reset (or maybe reset) before o ended,
// and not set again by an acknowledged /setprompt that began after that
// and finished before o began.
func (p prompts) mayHaveNoCustom(o history.Op) bool {
	ws := p.writes[o.Chat]
	clearedAfter := func(since time.Duration) bool {
		for _, w := range ws {
			if w.acked && w.value != "" && w.op.Invoke > since && w.op.Complete < o.Invoke {
				return true
			}
		}
		return false
	}
	if !p.customPrompts && !clearedAfter(-forever) {
		return true
	}
	for _, w := range ws {
		if w.value == "" && w.op.Invoke <= end(o) && !clearedAfter(w.end) {
			return true
		}
	}
	return false
}

// source is the reply's prompt source as the promises mean it: a fresh,
// non-degraded "default" for a chat that may have no custom prompt is the
// chat's own prompt read just now, which is what "custom" promises.
func (p prompts) source(o history.Op) string {
	if o.PromptSource == scenarios.SourceDefault && !o.Degraded && p.mayHaveNoCustom(o) {
		return scenarios.SourceCustom
	}
	return o.PromptSource
}
