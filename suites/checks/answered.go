package checks

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// Name of the message-answered check (stable id).
const NameAnswered = "every-message-answered"

// EveryMessageAnswered: every request got exactly one HTTP 200 reply with
// text, except that a request overlapping a kill or bot-restart may have
// an unknown outcome (info: cut by the kill, or sent while the bot was
// down), never counted as answered; each op index is recorded once with
// none missing; and (when the history has the message_log counts and
// expect.outbox_drained is set) message_log holds every message and reply
// exactly once after recovery, across restarts: see checkLogged.
func EveryMessageAnswered(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameAnswered, false, "Every request gets exactly one HTTP 200 reply, and every answered message and its reply are in message_log exactly once.")
	if !r.allAnswered {
		return v.skip("expect.all_answered is false")
	}
	if !h.Sees(history.SeesMessageLog) {
		// The promise says what is judged: the table's part is left out.
		v.res.Promise = "Every request gets exactly one HTTP 200 reply."
	}
	byIndex := map[int][]history.Op{}
	for _, o := range h.Ops {
		byIndex[o.Index] = append(byIndex[o.Index], o)
	}
	idx := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		if ops := byIndex[i]; len(ops) > 1 {
			v.op(ops[0], "index %d recorded %d times", i, len(ops))
		}
	}
	if len(idx) > 0 {
		var missing []string
		for i, want := 0, idx[0]; want <= idx[len(idx)-1]; want++ {
			if idx[i] == want {
				i++
				continue
			}
			missing = append(missing, strconv.Itoa(want))
		}
		if len(missing) > 0 {
			shown := missing[:min(len(missing), maxExamples)]
			v.fail("op indexes missing from the history: %s (%d in all)", strings.Join(shown, ", "), len(missing))
		}
	}
	tl := newTimeline(h, r.recoveryWithin)
	cut := 0
	for _, o := range h.Ops {
		switch {
		case o.Outcome == history.Info && tl.botDown(o):
			cut++ // unknown: checkLogged allows it either way
		case o.Outcome != history.OK:
			v.op(o, "outcome %s%s", o.Outcome, statusAndError(o))
		case o.Status != 200:
			v.op(o, "answered with HTTP %d", o.Status)
		case strings.TrimSpace(o.Reply.Text) == "":
			v.op(o, "answered with an empty reply")
		}
	}
	if cut > 0 {
		v.note("%d requests overlapping a kill or bot-restart got no answer: unknown outcomes, not counted as answered", cut)
	}
	if r.outboxDrained && v.part(h, "message_log holds every message and reply exactly once", history.SeesMessageLog) {
		if h.Logged == nil {
			v.note("message_log was not read, so logging was not checked")
		} else {
			checkLogged(v, h)
		}
	}
	return v.result()
}

// checkLogged compares message_log after recovery with the requests, both
// ways, for messages (History.Logged) and replies (History.LoggedReplies,
// when read): each answered request's text and reply are logged (no gap),
// a request with an unknown outcome may have been logged, a failed one was
// not (no duplicate); and no row is there that no request explains. The
// reply to an unknown outcome is not known, so each such request may
// explain one reply row of any text.
func checkLogged(v *verdict, h history.History) {
	unknown := 0
	for _, o := range h.Ops {
		if o.Outcome == history.Info {
			unknown++
		}
	}
	countLogged(v, h.Ops, h.Logged, "message", "its text", func(o history.Op) string { return o.Text }, 0)
	if h.LoggedReplies == nil {
		v.note("the replies in message_log were not read, so only messages were checked")
		return
	}
	countLogged(v, h.Ops, h.LoggedReplies, "reply", "its reply", func(o history.Op) string {
		if o.Outcome != history.OK {
			return "" // no reply known
		}
		return o.Reply.Text
	}, unknown)
}

// countLogged checks one direction of message_log: logged maps a body to
// its row count, key gives an op's body ("" when unknown). spare is how
// many rows of bodies no op names may exist (replies to unknown outcomes).
func countLogged(v *verdict, ops []history.Op, logged map[string]int, what, whose string, key func(history.Op) string, spare int) {
	type group struct {
		ops         []history.Op
		least, most int
	}
	groups := map[string]*group{}
	var bodies []string
	for _, o := range ops {
		k := key(o)
		if k == "" {
			continue
		}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			bodies = append(bodies, k)
		}
		g.ops = append(g.ops, o)
		switch o.Outcome {
		case history.OK:
			g.least++
			g.most++
		case history.Info:
			g.most++
		}
	}
	for _, b := range bodies {
		g := groups[b]
		got := logged[b]
		var why string
		switch {
		case got < g.least:
			why = fmt.Sprintf("logged %d times in message_log, but %d answered requests sent it (lost)", got, g.least)
		case got > g.most+spare:
			why = fmt.Sprintf("logged %d times in message_log, but at most %d requests may have reached the bot (duplicate)", got, g.most+spare)
		default:
			continue
		}
		v.op(g.ops[0], "%s %s", whose, why)
		for _, o := range g.ops[1:] {
			v.also(o)
		}
	}
	// Rows no request explains: a phantom, or a duplicate of a reply whose
	// text the history does not know.
	var extra []string
	rows := 0
	for _, b := range slices.Sorted(maps.Keys(logged)) {
		if _, ok := groups[b]; ok || logged[b] == 0 {
			continue
		}
		extra = append(extra, fmt.Sprintf("%q ×%d", clip(b, 60), logged[b]))
		rows += logged[b]
	}
	if rows > spare {
		shown := extra[:min(len(extra), maxExamples)]
		v.fail("message_log holds %d %s rows that no request explains (at most %d unknown outcomes could): %s",
			rows, what, spare, strings.Join(shown, ", "))
	}
}

// clip shortens s to n runes.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func statusAndError(o history.Op) string {
	var b strings.Builder
	if o.Status != 0 {
		fmt.Fprintf(&b, ", HTTP %d", o.Status)
	}
	if o.Error != "" {
		fmt.Fprintf(&b, ", %s", redact(o.Error))
	}
	return b.String()
}
