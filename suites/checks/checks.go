package checks

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// Names of the behaviour checks (stable ids).
const (
	NameAnswered      = "every-message-answered"
	NameAttempts      = "attempts-bounded"
	NameLogLines      = "log-lines"
	NameCodes         = "codes-by-cause"
	NamePromptSources = "prompt-sources"
	NameLatency       = "latency-bound"
	NameRecovered     = "recovered"
	NameAckedWrites   = "no-acked-write-lost"
	NameOutbox        = "outbox-drained"
)

// connectionCodes are the availability codes a lookup is retried on, so a
// lookup that failed with one of them used every attempt it had.
var connectionCodes = []string{"P1001", "P1002", "P1008", "P1017", "P2024"}

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

// EveryMessageAnswered: every request got exactly one HTTP 200 reply with
// text, except that a request overlapping a kill or bot-restart may have
// an unknown outcome (info: cut by the kill, or sent while the bot was
// down), never counted as answered; each op index is recorded once with
// none missing; and (when the history has the message_log counts and
// expect.outbox_drained is set) message_log holds every message and reply
// exactly once after recovery, across restarts: see checkLogged.
func EveryMessageAnswered(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NameAnswered, false, "Every request gets exactly one HTTP 200 reply, and every answered message and its reply are in message_log exactly once.")
	if !r.allAnswered {
		return v.skip("expect.all_answered is false")
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
	if r.outboxDrained {
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

// LogLines: every expect.log_lines entry is a substring of some log line
// (its msg, or its rendered "msg key=value ..." text); every [DB Retry]
// line counting attempts says X/Y with Y the policy's max and 1 <= X <= Y;
// and the lines the history makes necessary are there: "Attempt 1/Y
// failed" once any reply reports 2 or more attempts (a retry happened),
// the [MessageHandler] and (for lookups) [getCustomPrompt] connection-error
// lines once a reply is degraded with a connection-class code, and the
// "P1001: Can't reach database server at host:port" text once a reply is
// degraded with P1001.
func LogLines(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NameLogLines, false, fmt.Sprintf(
		"The documented log lines are present, and every %sline counts attempts as X/%d.", botlog.RetryPrefix, r.policy.MaxAttempts))
	if r.policyErr != nil {
		v.fail("%v", r.policyErr)
		return v.result()
	}
	rendered := make([]string, len(h.Logs))
	for i, l := range h.Logs {
		rendered[i] = l.String()
	}
	anyLine := func(match func(l botlog.Line, text string) bool) bool {
		for i, l := range h.Logs {
			if match(l, rendered[i]) {
				return true
			}
		}
		return false
	}
	for _, want := range r.logLines {
		if !anyLine(func(_ botlog.Line, text string) bool { return strings.Contains(text, want) }) {
			v.fail("no log line contains %q (expect.log_lines)", want)
		}
	}
	for i, l := range h.Logs {
		rl, ok := botlog.RetryOf(l)
		if !ok || rl.MaxAttempts == 0 {
			continue // not a line that counts attempts
		}
		x, y := rl.Attempt, rl.MaxAttempts
		switch {
		case y != r.policy.MaxAttempts:
			v.log(i, l, "counts out of %d, the policy's max is %d", y, r.policy.MaxAttempts)
		case x < 1 || x > y:
			v.log(i, l, "attempt %d is outside 1..%d", x, y)
		}
	}
	firstRetry := fmt.Sprintf("%sAttempt 1/%d failed", botlog.RetryPrefix, r.policy.MaxAttempts)
	isFirstRetry := func(l botlog.Line, _ string) bool {
		rl, ok := botlog.RetryOf(l)
		return ok && (rl.Kind == botlog.AttemptFailed || rl.Kind == botlog.RetryScheduled) &&
			rl.Attempt == 1 && rl.MaxAttempts == r.policy.MaxAttempts
	}
	var retried, degraded, lookup, p1001 *history.Op
	for i := range h.Ops {
		o := &h.Ops[i]
		if o.Attempts >= 2 && retried == nil {
			retried = o
		}
		if o.Outcome != history.OK || !o.Degraded || !isConnectionCode(o.Code) {
			continue
		}
		if degraded == nil {
			degraded = o
		}
		if lookup == nil && isLookup(*o) {
			lookup = o
		}
		if p1001 == nil && o.Code == "P1001" {
			p1001 = o
		}
	}
	if retried != nil && !anyLine(isFirstRetry) {
		v.op(*retried, "reports %d attempts, but no log line starts with %q", retried.Attempts, firstRetry)
	}
	if degraded != nil && !anyLine(func(l botlog.Line, _ string) bool { return l.Is(botlog.HandlerDegraded) }) {
		v.op(*degraded, "degraded with %s, but no log line says %q", degraded.Code, botlog.HandlerDegraded)
	}
	if lookup != nil && !anyLine(func(l botlog.Line, _ string) bool { return l.Is(botlog.LookupFellBack) }) {
		v.op(*lookup, "lookup degraded with %s, but no log line says %q", lookup.Code, botlog.LookupFellBack)
	}
	if p1001 != nil && !anyLine(func(_ botlog.Line, text string) bool { return botlog.HasCantReach(text) }) {
		v.op(*p1001, "degraded with P1001, but no log line carries \"P1001: Can't reach database server at host:port\"")
	}
	if v.count > 0 && len(h.Logs) == 0 {
		v.note("the history has no log lines at all")
	}
	return v.result()
}

// PromptSources: every answered request's prompt_source is allowed in its
// phase (see Phase; transition allows the fault and recovery sets). A
// fresh, non-degraded "default" counts as "custom" for a chat that may
// have no custom prompt at that moment (never seeded, or reset).
func PromptSources(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NamePromptSources, false, fmt.Sprintf(
		"Replies use %s prompts when healthy, %s during a fault, and %s after recovery.",
		list(r.sources[Healthy]), list(r.sources[Fault]), list(r.sources[Recovery])))
	tl := newTimeline(h, r.recoveryWithin)
	p := newPrompts(s, h)
	for _, o := range h.Ops {
		if o.Outcome != history.OK {
			continue
		}
		ph := tl.phase(o)
		if allowed := r.sources[ph]; !slices.Contains(allowed, p.source(o)) {
			v.op(o, "%s phase, prompt_source %q, allowed %s", ph, o.PromptSource, list(allowed))
		}
	}
	return v.result()
}

// LatencyBound: every request in a fault or transition phase completes
// within expect.reply_latency_bound, whatever its outcome.
func LatencyBound(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NameLatency, false, fmt.Sprintf(
		"Every reply during a fault or within %s after it arrives within %s.", r.recoveryWithin, r.latencyBound))
	tl := newTimeline(h, r.recoveryWithin)
	switch {
	case r.latencyBound <= 0:
		return v.skip("expect.reply_latency_bound is unset and the policy bounds no call (no budget, no attempt timeout)")
	case !tl.hasFaults():
		return v.skip("no faults")
	}
	for _, o := range h.Ops {
		ph := tl.phase(o)
		if ph != Fault && ph != Transition {
			continue
		}
		switch {
		case o.Complete < o.Invoke:
			v.op(o, "%s phase, no completion time recorded", ph)
		case o.Latency() > r.latencyBound:
			v.op(o, "%s phase, took %s (outcome %s)", ph, o.Latency().Round(1e6), o.Outcome)
		}
	}
	return v.result()
}

// Recovered: at least one request is answered after the last fault stop
// plus expect.recovery_within, and every one answered from then on is
// back to the recovery set (custom by default) and not degraded.
func Recovered(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NameRecovered, false, fmt.Sprintf(
		"Replies are %s and not degraded again within %s after the last fault clears.", list(r.sources[Recovery]), r.recoveryWithin))
	tl := newTimeline(h, r.recoveryWithin)
	if !tl.hasFaults() {
		return v.skip("no faults to recover from")
	}
	if tl.lastStop == forever {
		v.fail("a fault never stopped")
		return v.result()
	}
	deadline := tl.lastStop + r.recoveryWithin
	p := newPrompts(s, h)
	answered := 0
	for _, o := range byInvoke(h.Ops) {
		if o.Outcome != history.OK || o.Invoke < deadline {
			continue
		}
		answered++
		if !recoveredReply(r, p, o) {
			v.op(o, "invoked %s after the last fault stopped (at %s), prompt_source %q%s",
				offset(o.Invoke-tl.lastStop), offset(tl.lastStop), o.PromptSource, degradedNote(o))
		}
	}
	if answered == 0 {
		v.fail("no request invoked after %s (last fault stop %s + %s) was answered, so nothing shows recovery (see %s)",
			offset(deadline), offset(tl.lastStop), r.recoveryWithin, NameSteadyState)
	}
	return v.result()
}

func recoveredReply(r rules, p prompts, o history.Op) bool {
	return o.Outcome == history.OK && !o.Degraded && slices.Contains(r.sources[Recovery], p.source(o))
}

func degradedNote(o history.Op) string {
	if o.Degraded {
		return ", degraded " + o.Code
	}
	return ""
}

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
	r := rulesOf(s)
	v := newVerdict(NameAckedWrites, false,
		"Every /setprompt acknowledged as saved is what postgres holds after recovery, unless a later write may have replaced it.")
	if !r.noAckedWriteLost {
		return v.skip("expect.no_acked_write_lost is false")
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

// Outbox metrics (bot/metrics).
const (
	metricOutboxDepth    = "bot_outbox_depth"
	metricOutboxDropped  = "bot_outbox_dropped_total"
	metricOutboxRejected = "bot_outbox_rejected_total"
	metricOutboxLost     = "bot_outbox_lost_total"
)

// OutboxDrained: after recovery bot_outbox_depth is 0 and
// bot_outbox_dropped_total is reported and 0; bot_outbox_rejected_total
// and bot_outbox_lost_total, when reported, are 0. The scenario format has
// no way to allow drops: a scenario that overflows its outbox on purpose
// sets outbox_drained: false.
func OutboxDrained(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s)
	v := newVerdict(NameOutbox, false, "After recovery the message-log outbox is empty and dropped nothing.")
	if !r.outboxDrained {
		return v.skip("expect.outbox_drained is false")
	}
	if h.MetricsAfter == nil {
		v.fail("no metrics were read after recovery")
		return v.result()
	}
	for _, m := range []struct {
		name     string
		required bool
		what     string
	}{
		{metricOutboxDepth, true, "records still queued"},
		{metricOutboxDropped, true, "records dropped on overflow"},
		{metricOutboxRejected, false, "records rejected by the database"},
		{metricOutboxLost, false, "records lost at shutdown"},
	} {
		val, ok := metric(h.MetricsAfter, m.name)
		switch {
		case !ok && m.required:
			v.fail("%s was not reported", m.name)
		case ok && val != 0:
			v.fail("%s is %g: %s", m.name, val, m.what)
		}
	}
	return v.result()
}

// metric sums every series of name ("name" or "name{labels}").
func metric(samples map[string]float64, name string) (float64, bool) {
	var sum float64
	found := false
	for k, val := range samples {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += val
			found = true
		}
	}
	return sum, found
}
