package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/environment"
)

// Expectation is what a fault must make the bot show.
type Expectation struct {
	// ReplyCodes are the codes the first degraded reply may carry: the code
	// the retry layer gave up with.
	ReplyCodes []string
	// LogCodes must each appear as the code of at least one documented
	// line of that first lookup (a retry line or the give-up line).
	LogCodes []string
	// ErrorText must appear in the error of the [getCustomPrompt] line,
	// which always starts with the reply's code (Prisma's message).
	ErrorText string
	// Reason must appear in that line's reason attribute, the cause the
	// bot logs beside Prisma's message.
	Reason string
	// Meta is the server the degraded reply must name ("host:port" of
	// its meta), "" for no check.
	Meta string
	// Attempts is what the lookup's attempts must be.
	Attempts AttemptRule
}

// AttemptRule is what a fault makes of the lookup's attempts.
type AttemptRule int

const (
	// SomeRetries: at least two (one retry), at most the policy's maximum:
	// attempts that wait for a timeout run into the call's budget first.
	SomeRetries AttemptRule = iota
	// AllAttempts: the policy's maximum, as for a fault that fails fast.
	AllAttempts
	// NotRetried: one attempt, given up at once: a refusal that only a
	// change of configuration or credentials fixes (NonTransient).
	NotRetried
)

// DemoBot is what the narrated run needs from the bot: a *botapi.Client.
type DemoBot interface {
	ConsoleBot
	Metrics(ctx context.Context) (map[string]float64, error)
}

// gauge reads one unlabelled gauge or counter from /metrics.
func gauge(ctx context.Context, bot DemoBot, name string) (float64, error) {
	metrics, err := bot.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	v, ok := metrics[name]
	if !ok {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	return v, nil
}

// Bounds of the narrated run. They are generous: they tell "the breaker
// answered" from "the retries ran", not fast from slow.
const (
	// fastFailBound: a reply the breaker failed fast comes back well under
	// one attempt's backoff; DESIGN.md's target is 50 ms.
	fastFailBound = 250 * time.Millisecond
	// recoveryBound: the breaker's delay (DB_BREAKER_DELAY, 1 s by
	// default) plus one outbox retry (2 s at most), with a wide margin.
	recoveryBound = 20 * time.Second
	// logWait: how long a documented line may take to come through
	// Docker's log stream after the reply it explains.
	logWait = 5 * time.Second
	// drainWait: how long the bot's outbox may take to write the message
	// log once the database answers.
	drainWait = 20 * time.Second
	// breakerMessages is how many messages step 4 sends.
	breakerMessages = 3
	pollEvery       = 250 * time.Millisecond
)

type Timing struct {
	LogWait       time.Duration
	PollEvery     time.Duration
	RecoveryBound time.Duration
}

// Verdict records the promises of a narrated run, each kept or broken,
// as the narrator shows them.
type Verdict struct {
	N        *Narrator
	failures []string
}

// Failures are the broken promises, in order.
func (v *Verdict) Failures() []string { return slices.Clone(v.failures) }

// expect records one promise: ok is whether it was kept.
func (v *Verdict) expect(ok bool, format string, args ...any) bool {
	msg := fmt.Sprintf(format, args...)
	if ok {
		v.N.OK("%s", msg)
	} else {
		v.failures = append(v.failures, msg)
		v.N.Fail("%s", msg)
	}
	return ok
}

// Step is one narrated step.
type Step struct {
	Title string
	Run   func(context.Context) error
}

// Demo is the narrated reproduction: steps 1 to 5 (main does the clean-up).
type Demo struct {
	Verdict
	Bot  DemoBot
	Logs *botlog.Watcher
	// Target is the stack the fault is played on (environment.Env.Faults).
	Target scenarios.Target
	Fault  scenarios.Fault
	Expect Expectation
	Chat   string
	// MaxAttempts is the bot's retry policy (from its [Bot] serving line).
	MaxAttempts int
	// Timing is the constants above but in tests, which shorten it.
	Timing Timing
	// Doctor, when set, runs `bot doctor` against the bot's DATABASE_URL
	// while the fault is on; its verdict shows after the breaker step.
	Doctor func(ctx context.Context) (*environment.DoctorResult, error)

	persona string
	doctor  chan doctorOutcome
}

// Steps are steps 1 to 5, in order.
func (d *Demo) Steps() []Step {
	return []Step{
		{"set a custom prompt and show a reply that uses it", d.StepCustom},
		{"cut the database: " + d.Fault.Describe(), d.StepCut},
		{"send a message while the database is away; the bot's own log lines follow", d.StepDegraded},
		{"the circuit breaker fails the next messages fast", d.StepBreaker},
		{"restore the database and wait for custom replies", d.StepRestore},
	}
}

func (d *Demo) send(ctx context.Context, text string) (Reply, error) {
	d.N.You(text)
	r, err := send(ctx, d.Bot, d.Chat, text)
	if err != nil {
		return r, err
	}
	d.N.Bot(r)
	return r, nil
}

// StepCustom sets the chat's prompt and shows a reply that quotes it.
func (d *Demo) StepCustom(ctx context.Context) error {
	d.persona = "You are a lighthouse keeper who answers in short, calm sentences."
	set, err := d.send(ctx, "/setprompt "+d.persona)
	if err != nil {
		return err
	}
	d.expect(!set.Degraded, "/setprompt committed (degraded=%v)", set.Degraded)
	r, err := d.send(ctx, "Hello, who am I talking to?")
	if err != nil {
		return err
	}
	d.expect(r.PromptSource == scenarios.SourceCustom && !r.Degraded && strings.Contains(r.Text, "lighthouse keeper"),
		"the reply uses the custom prompt (prompt_source=%s, degraded=%v)", r.PromptSource, r.Degraded)
	// The message log is written after the reply; let it land, so that the
	// fault meets no write in flight and the first failure is the message's.
	if err := d.waitOutboxEmpty(ctx); err != nil {
		return err
	}
	d.N.Say("message log written (outbox empty): the database is idle")
	return nil
}

func (d *Demo) waitOutboxEmpty(ctx context.Context) error {
	deadline := time.Now().Add(drainWait)
	for {
		depth, err := gauge(ctx, d.Bot, "bot_outbox_depth")
		if err != nil {
			return err
		}
		if depth == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the bot's outbox still holds %v record(s) after %s", depth, drainWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *Demo) StepCut(ctx context.Context) error {
	if err := d.Fault.Apply(ctx, d.Target); err != nil {
		return err
	}
	d.N.OK("%s: %s", d.Fault.Where(), label(d.Fault))
	d.startDoctor(ctx)
	return nil
}

// StepDegraded sends one message through the fault: the retries, the P1001
// line and the fallback show in the bot's log, and the reply still comes.
func (d *Demo) StepDegraded(ctx context.Context) error {
	mark := d.Logs.Mark()
	const text = "Are you still there?"
	d.N.You(text)
	r, err := send(ctx, d.Bot, d.Chat, text)
	if err != nil {
		return err
	}
	chat := map[string]string{"chat": d.Chat}
	fromHandler := func(l botlog.Line) bool {
		return (l.Is(botlog.HandlerDegraded) || l.Is(botlog.HandlerError)) && l.Has(chat)
	}
	// The handler logs before it replies; wait for the line to come through
	// so that the log reads in the order things happened.
	d.Logs.WaitFor(ctx, mark, d.Timing.LogWait, func(lines []botlog.Line) bool {
		return botlog.Count(lines, fromHandler) > 0
	})
	d.N.Bot(r)

	d.expect(r.Degraded && r.PromptSource == scenarios.SourceCached && strings.Contains(r.Text, "lighthouse keeper"),
		"a reply still arrived (after %s), from the cached custom prompt (prompt_source=%s, degraded=%v)",
		roundDuration(r.Latency), r.PromptSource, r.Degraded)
	d.expect(slices.Contains(d.Expect.ReplyCodes, r.Code), "code %s (want %s)", r.Code, strings.Join(d.Expect.ReplyCodes, " or "))
	if d.Expect.Meta != "" {
		d.expect(r.Meta.String() == d.Expect.Meta, "the reply names the server: meta %s (want %s)", r.Meta, d.Expect.Meta)
	}
	switch d.Expect.Attempts {
	case AllAttempts:
		d.expect(r.Attempts == d.MaxAttempts, "the lookup made %d attempt(s) (want all %d)", r.Attempts, d.MaxAttempts)
	case NotRetried:
		// An attempt on a connection the fault closed may come first.
		d.expect(r.Attempts >= 1 && r.Attempts < d.MaxAttempts,
			"the lookup gave up early: %d attempt(s) of %d (retrying cannot fix %s, and would make it worse)", r.Attempts, d.MaxAttempts, r.Code)
	default:
		d.expect(r.Attempts >= 2 && r.Attempts <= d.MaxAttempts,
			"the lookup retried: %d attempt(s), at most %d (waiting attempts may spend the call's budget first)", r.Attempts, d.MaxAttempts)
	}

	lookup := map[string]string{"op": "getCustomPrompt"}
	// The documented line that shows the policy at work: the first retry
	// scheduled, or for a refusal not retried, the give-up right after the
	// attempt it refused, with its code.
	firstRetry := func(l botlog.Line) bool {
		rl, ok := botlog.RetryOf(l)
		return ok && rl.Kind == botlog.RetryScheduled && rl.Attempt == 1 && rl.MaxAttempts == d.MaxAttempts && l.Has(lookup)
	}
	firstText := fmt.Sprintf("Attempt 1/%d failed, retrying in ... op=getCustomPrompt", d.MaxAttempts)
	if d.Expect.Attempts == NotRetried {
		firstRetry = func(l botlog.Line) bool {
			rl, ok := botlog.RetryOf(l)
			return ok && rl.Kind == botlog.GaveUp && rl.Attempt == r.Attempts && rl.MaxAttempts == d.MaxAttempts &&
				l.Has(lookup) && l.Attr("code") == r.Code
		}
		firstText = fmt.Sprintf("Giving up after %d/%d attempts op=getCustomPrompt code=%s", r.Attempts, d.MaxAttempts, r.Code)
	}
	fellBack := func(l botlog.Line) bool { return l.Is(botlog.LookupFellBack) && l.Has(chat) }
	breakerOpened := func(l botlog.Line) bool {
		r, ok := botlog.RetryOf(l)
		return ok && r.Kind == botlog.BreakerChanged && r.State == botlog.BreakerOpen
	}
	var lines []botlog.Line
	d.Logs.WaitFor(ctx, mark, d.Timing.LogWait, func(ls []botlog.Line) bool {
		lines = slices.Clone(ls)
		return botlog.Count(ls, firstRetry) > 0 && botlog.Count(ls, fellBack) > 0 && botlog.Count(ls, breakerOpened) > 0
	})
	d.expect(botlog.Count(lines, firstRetry) > 0, "log: %s%s", botlog.RetryPrefix, firstText)
	var gaveUp, reason string
	for _, l := range lines {
		if fellBack(l) {
			gaveUp, reason = l.Attr("error"), l.Attr("reason")
		}
	}
	d.expect(gaveUp != "", "log: %s", botlog.LookupFellBack)
	d.expect(strings.HasPrefix(gaveUp, r.Code+": ") && strings.Contains(gaveUp, d.Expect.ErrorText),
		"its error is the reply's code in Prisma's words%s (error=%q)", quoteIf(" and holds ", d.Expect.ErrorText), gaveUp)
	if d.Expect.Reason != "" {
		d.expect(strings.Contains(reason, d.Expect.Reason), "its reason says %q (reason=%q)", d.Expect.Reason, reason)
	}
	d.expect(botlog.Count(lines, func(l botlog.Line) bool { return l.Is(botlog.HandlerDegraded) && l.Has(chat) }) > 0,
		"log: %s", botlog.HandlerDegraded)
	seen := map[string]bool{}
	for _, l := range lines {
		if botlog.IsRetry(l) && l.Has(lookup) {
			seen[l.Attr("code")] = true
		}
	}
	for _, code := range d.Expect.LogCodes {
		d.expect(seen[code], "log: a %sline with code=%s", botlog.RetryPrefix, code)
	}
	d.expect(botlog.Count(lines, breakerOpened) > 0, "log: %sCircuit breaker %s", botlog.RetryPrefix, botlog.BreakerOpen)
	return nil
}

// StepBreaker sends a few more messages while the breaker is open: each is
// answered at once, without touching the database. They go back to back:
// the breaker stays open only for its delay (DB_BREAKER_DELAY).
func (d *Demo) StepBreaker(ctx context.Context) error {
	mark := d.Logs.Mark()
	fast := 0
	var slowest time.Duration
	for i := 1; i <= breakerMessages; i++ {
		r, err := d.send(ctx, fmt.Sprintf("Still there? (%d/%d)", i, breakerMessages))
		if err != nil {
			return err
		}
		slowest = max(slowest, r.Latency)
		if r.Degraded && r.Attempts == 0 && r.Latency < fastFailBound && r.PromptSource == scenarios.SourceCached {
			fast++
		}
	}
	// Let their log lines through before the next step speaks.
	chat := map[string]string{"chat": d.Chat}
	d.Logs.WaitFor(ctx, mark, d.Timing.LogWait, func(lines []botlog.Line) bool {
		return botlog.Count(lines, func(l botlog.Line) bool {
			return (l.Is(botlog.HandlerDegraded) || l.Is(botlog.HandlerError)) && l.Has(chat)
		}) >= breakerMessages
	})
	d.expect(fast == breakerMessages,
		"%d/%d replies failed fast by the breaker (attempts 0, prompt_source cached, under %s; slowest %s)",
		fast, breakerMessages, fastFailBound, roundDuration(slowest))
	d.showDoctor(ctx)
	return nil
}

// StepRestore clears the fault and sends a message every pollEvery until a
// reply uses the custom prompt again; the recovery time runs from the
// moment the fault is gone.
func (d *Demo) StepRestore(ctx context.Context) error {
	if err := d.Fault.Undo(ctx, d.Target); err != nil {
		return err
	}
	restored := time.Now()
	d.N.OK("%s restored", d.Fault.Where())
	t := d.Timing
	d.N.Say("sending a message every %s until a reply uses the custom prompt again", t.PollEvery)
	d.N.Say("(the bot's log lines meanwhile are counted, and shown once the custom prompt is back)")
	mark := d.Logs.Mark()
	d.Logs.Mute(true)
	defer func() {
		// The probe that closed the breaker is logged before the reply that
		// shows it; wait for its line so that the count is complete.
		d.Logs.WaitFor(ctx, mark, t.LogWait, func(lines []botlog.Line) bool {
			return botlog.Count(lines, func(l botlog.Line) bool {
				r, ok := botlog.RetryOf(l)
				return ok && r.Kind == botlog.BreakerChanged && r.State == botlog.BreakerClosed
			}) > 0
		})
		d.Logs.Mute(false)
		for _, g := range GroupNarrated(d.Logs.Since(mark)) {
			d.N.LogCount(g)
		}
	}()

	var last string
	repeats := 0
	flush := func() {
		if repeats > 0 {
			d.N.Say("... and %d more like it", repeats)
			repeats = 0
		}
	}
	recovered := false
	for n := 1; time.Since(restored) < t.RecoveryBound; n++ {
		text := fmt.Sprintf("Back yet? (%d)", n)
		r, err := send(ctx, d.Bot, d.Chat, text)
		if err != nil {
			return err
		}
		// Replies that say the same (source, degraded, attempts) are
		// counted, not repeated.
		if sig := fmt.Sprintf("%s/%v/%d", r.PromptSource, r.Degraded, r.Attempts); sig != last {
			flush()
			d.N.You(text)
			d.N.Bot(r)
			last = sig
		} else {
			repeats++
		}
		if r.PromptSource == scenarios.SourceCustom && !r.Degraded {
			flush()
			recovered = true
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(t.PollEvery):
		}
	}
	flush()
	recovery := time.Since(restored)
	if !d.expect(recovered, "custom replies again %s after the restore (bound %s)", recovery.Round(10*time.Millisecond), t.RecoveryBound) {
		return nil
	}
	d.N.Say("(the breaker lets no call through until its delay, DB_BREAKER_DELAY, has passed; then one probe closes it)")
	r, err := d.send(ctx, "Good to have you back. Who are you?")
	if err != nil {
		return err
	}
	d.expect(r.PromptSource == scenarios.SourceCustom && !r.Degraded && r.Attempts == 1,
		"and the next one too (prompt_source=%s, degraded=%v, attempts %d)", r.PromptSource, r.Degraded, r.Attempts)
	if err := d.waitOutboxEmpty(ctx); err != nil {
		d.N.Say("message log: %v", err)
	} else {
		d.N.Say("message log: the outbox is empty again (what was said during the fault is in postgres)")
	}
	return nil
}

func quoteIf(prefix, s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("%s%q", prefix, s)
}
