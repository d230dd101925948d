package checks

import (
	"fmt"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// Names of the checks of expect.attempts_per_retried_lookup and
// expect.max_connects_per_second (stable ids).
const (
	NameRetriedLookups = "retried-lookups"
	NameConnectRate    = "connect-rate"
)

// RetriedLookups: every prompt lookup answered without degradation after
// retries (attempts > 1) shows exactly expect.attempts_per_retried_lookup
// attempts, answers from the custom prompt and quotes the chat's own
// prompt (with the prompt cache off, only a database read can quote it:
// not a fallback to the default);
// and the retry layer's log agrees: at least as many "Succeeded on attempt
// N/Y" lines as such replies, and none with another N. Skipped when the
// scenario does not set the field.
func RetriedLookups(s scenarios.Scenario, h history.History) Result {
	want := s.Expect.AttemptsPerRetriedLookup
	v := newVerdict(NameRetriedLookups, false, fmt.Sprintf(
		"A lookup that succeeds after retries shows exactly %d attempts, answers from the custom prompt read just then, and the retry log says the same.", want))
	if want == 0 {
		return v.skip("expect.attempts_per_retried_lookup is not set")
	}
	if un, ok := v.unobservable(h, needsRetried); ok {
		return un
	}
	// The chat's own prompt is what postgres holds or a write set.
	quotes := v.part(h, "a retried lookup quotes the chat's own prompt", history.SeesPrompts)
	logs := v.part(h, "the retry layer's Succeeded on attempt lines", history.SeesRetryLog)
	writes := writesOf(h)
	// ownPrompt: the persona is one the chat's row held: what postgres
	// holds after the run, or a value a /setprompt of the chat may have
	// written. The default prompt is neither.
	ownPrompt := func(chat, persona string) bool {
		if p, ok := h.Prompts[chat]; ok && p == persona {
			return true
		}
		for _, w := range writes[chat] {
			if w.value != "" && w.value == persona {
				return true
			}
		}
		return false
	}
	replies := 0
	for _, o := range h.Ops {
		if o.Outcome != history.OK || o.Degraded || !isLookup(o) || o.Attempts <= 1 {
			continue
		}
		replies++
		persona, quoted := replyPersona(o)
		switch {
		case o.Attempts != want:
			v.op(o, "succeeded after %d attempts, want exactly %d", o.Attempts, want)
		case o.PromptSource != scenarios.SourceCustom:
			v.op(o, "retried lookup answered from prompt_source %q, not a fresh read", o.PromptSource)
		case quotes && o.Kind == history.Message && (!quoted || !ownPrompt(o.Chat, persona)):
			v.op(o, "retried lookup does not quote the chat's own prompt: %q", o.Reply.Text)
		}
	}
	logged := 0
	for i, l := range h.Logs {
		if !logs || !l.Is(botlog.SucceededAfterRetries) {
			continue
		}
		r, _ := botlog.RetryOf(l)
		if r.Attempt != want {
			v.log(i, l, "the retry layer succeeded on attempt %d, want %d", r.Attempt, want)
			continue
		}
		logged++
	}
	switch {
	case replies == 0:
		v.fail("no lookup needed a retry: nothing shows the retry succeeding")
	case logs && logged < replies:
		v.fail("%d replies succeeded after %d attempts, but the log has only %d %sSucceeded on attempt %d/Y lines",
			replies, want, logged, botlog.RetryPrefix, want)
	}
	return v.result()
}

// connectSettle is how long after a fault's start ConnectRate begins to
// count: the calls in flight when it began (up to traffic.concurrency)
// may each log in once, a burst bounded by the traffic, not a storm.
const connectSettle = time.Second

// ConnectRate: during each fault, from connectSettle after its start to
// its end, Postgres received at most expect.max_connects_per_second
// connections a second from the bot's direct path, by its own log
// (log_connections, counted by the runner in History.ServerConnects): the
// bot does not storm a server that refuses it. At least one connection
// must be logged in that span: without it the evidence is missing.
// Skipped when the field is not set.
func ConnectRate(s scenarios.Scenario, h history.History) Result {
	bound := s.Expect.MaxConnectsPerSecond
	v := newVerdict(NameConnectRate, false, fmt.Sprintf(
		"From %s into each fault, Postgres receives at most %g connections a second from the bot (its own log).", connectSettle, bound))
	if bound == 0 {
		return v.skip("expect.max_connects_per_second is not set")
	}
	r := rulesOf(s, h)
	tl := newTimeline(h, r.recoveryWithin)
	for _, w := range tl.windows {
		if w.stop == forever {
			continue
		}
		if w.start += connectSettle; w.stop-w.start < connectSettle {
			v.fail("fault %s lasted %s: too short to count its steady state after %s", w.fault, offset(w.stop-w.start+connectSettle), connectSettle)
			continue
		}
		n := 0
		for _, at := range h.ServerConnects {
			if at >= w.start && at < w.stop {
				n++
			}
		}
		rate := float64(n) / (w.stop - w.start).Seconds()
		switch {
		case n == 0:
			v.fail("fault %s [%s, %s): postgres logged no connection from the bot, so nothing shows its rate (log_connections off?)",
				w.fault, offset(w.start), offset(w.stop))
		case rate > bound:
			v.fail("fault %s [%s, %s): postgres received %d connections from the bot in %s, %.1f a second, over %g",
				w.fault, offset(w.start), offset(w.stop), n, (w.stop - w.start).Round(time.Millisecond), rate, bound)
		default:
			v.note("fault %s: %d connections in %s (%.1f a second)", w.fault, n, (w.stop - w.start).Round(time.Millisecond), rate)
		}
	}
	return v.result()
}
