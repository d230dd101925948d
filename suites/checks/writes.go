package checks

import (
	"slices"
	"sort"
	"strconv"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// Name of the acknowledged-writes check (stable id).
const NameAckedWrites = "no-acked-write-lost"

// NoAckedWriteLost: per chat, the prompt postgres holds after recovery
// (History.Prompts; absent = none) must be explained by a write that may
// have been the last to take effect, once the chat has an acknowledged
// write. Writes are /setprompt text (value: the text) and /reset (value:
// none). An acknowledged write takes effect between its invoke and its
// completion; an unknown one (outcome info, or a degraded reply) may take
// effect at any time after its invoke, or never; a failed one never. A
// write w can be last unless an acknowledged write other than w was
// invoked after w's latest effect. A chat with no acknowledged write is
// not checked: its seeded prompt is not in the history.
func NoAckedWriteLost(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameAckedWrites, false,
		"Every /setprompt acknowledged as saved is what postgres holds after recovery, unless a later write may have replaced it.")
	if !r.noAckedWriteLost {
		return v.skip("expect.no_acked_write_lost is false")
	}
	if un, ok := v.unobservable(h, needsAckedWrites); ok {
		return un
	}
	writes := writesOf(h)
	chats := make([]string, 0, len(writes))
	for c, ws := range writes {
		if slices.ContainsFunc(ws, func(w write) bool { return w.acked }) {
			chats = append(chats, c)
		}
	}
	if len(chats) == 0 {
		return v.skip("no /setprompt or /reset was acknowledged")
	}
	sort.Strings(chats)
	if h.Prompts == nil {
		v.fail("the prompts in postgres were not read after recovery (History.Prompts is empty), so %d chats with acknowledged writes are unchecked", len(chats))
		return v.result()
	}
	for _, c := range chats {
		ws := writes[c]
		final := h.Prompts[c]
		if slices.ContainsFunc(ws, func(w write) bool { return w.value == final && canBeLast(w, ws) }) {
			continue
		}
		// Name the acknowledged writes nothing acknowledged came after:
		// one of them had to survive.
		for _, w := range ws {
			if w.acked && canBeLast(w, ws) {
				v.op(w.op, "acknowledged %s, but postgres holds %s and no write that may have come later explains it",
					describePrompt(w.value), describePrompt(final))
			}
		}
	}
	return v.result()
}

// canBeLast reports whether w may be the last write to take effect: no
// acknowledged write other than w began after w's latest possible effect.
func canBeLast(w write, ws []write) bool {
	for _, a := range ws {
		if a.acked && a.op.Index != w.op.Index && a.op.Invoke > w.end {
			return false
		}
	}
	return true
}

func describePrompt(p string) string {
	if p == "" {
		return "no custom prompt"
	}
	return strconv.Quote(clip(p, 60))
}
