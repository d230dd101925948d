package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/environment"
)

// Expectation is what a fault must make the bot show.
type Expectation struct {
	ReplyCodes []string // the first degraded reply's code is one of them
	LogCodes   []string // each is the code of a [Prisma Retry] line of that lookup
	// ErrorText is in the error of its [getCustomPrompt] line (Prisma's
	// message, after the reply's code), Reason in its reason attribute.
	ErrorText, Reason string
	Meta              string // the reply's meta, "host:port" ("": no check)
	Attempts          AttemptRule
}

// AttemptRule is what a fault makes of the lookup's attempts.
type AttemptRule int

const (
	SomeRetries AttemptRule = iota // 2 to max: waiting attempts may spend the call's budget first
	AllAttempts                    // max, as for a fault that fails fast
	NotRetried                     // a refusal only new configuration or credentials fix (NonTransient)
)

// cantReach is Prisma's P1001 message for the pooler proxy (docs/bot.md).
const cantReach = "P1001: Can't reach database server at `toxiproxy`:`6543` Please make sure your database server is running at `toxiproxy`:`6543`."

// expectations says, per fault, what the bot shows with the runbook's
// DATABASE_URL on the real stack (README.md, "Reproduce P1001", explains
// each code). A fault that fails fast lets every attempt run; one that
// makes attempts wait for their timeout may spend the call's budget first.
func expectations(f scenarios.Fault) Expectation {
	switch f.Type {
	case scenarios.TypeTimeout, scenarios.TypeLatency: // the black hole; latency above the attempt timeout
		// The query on the open connection times out: P1008; a new
		// connection's handshake hangs: P1002; an idle one's liveness check
		// hangs: P1008 (the store tells both from an exhausted pool, P2024).
		return Expectation{ReplyCodes: []string{"P1002", "P1008"}, LogCodes: []string{"P1008"}}
	case scenarios.TypeResetPeer:
		// The query on the open connection is reset: P1017; reconnects are
		// reset in the handshake: P1001 by design (DESIGN.md section 4).
		return Expectation{ReplyCodes: []string{"P1001"}, LogCodes: []string{"P1017", "P1001"}, Attempts: AllAttempts,
			ErrorText: cantReach, Reason: "connection reset during connect", Meta: "toxiproxy:6543"}
	case scenarios.TypeClientLimit:
		// PgBouncer drops the bot's clients and refuses new ones: too many
		// connections, retried, as a place may free up.
		return Expectation{ReplyCodes: []string{"P2037"}, LogCodes: []string{"P2037"}, Attempts: AllAttempts,
			ErrorText: "P2037: Too many database connections opened", Reason: "max_client_conn", Meta: "toxiproxy:6543"}
	case scenarios.TypePasswordRotation:
		// On the direct path (main) the login is refused: P1000, never
		// retried (Supavisor blocks a project for repeated failed logins);
		// the session the fault ended may cost one attempt first (P1017).
		return Expectation{ReplyCodes: []string{"P1000"}, LogCodes: []string{"P1000"}, Attempts: NotRetried,
			ErrorText: "P1000: Authentication failed against database server at `toxiproxy`", Meta: "toxiproxy:5432"}
	}
	return Expectation{ReplyCodes: []string{"P1001"}, LogCodes: []string{"P1001"}, Attempts: AllAttempts,
		ErrorText: cantReach, Meta: "toxiproxy:6543"}
}

// Bounds of the narrated run, generous: they tell "the breaker answered"
// from "the retries ran", not fast from slow.
const (
	// fastFailBound: under one backoff; DESIGN.md's target is 50 ms.
	fastFailBound = 250 * time.Millisecond
	// recoveryBound: the breaker's delay plus an outbox retry, and margin.
	recoveryBound = 20 * time.Second
	// logWait: for a line to come through Docker's log stream after the
	// reply it explains; drainWait: for the outbox to write the message log.
	logWait, drainWait = 5 * time.Second, 20 * time.Second
	breakerMessages    = 3
	pollEvery          = 250 * time.Millisecond
	pollOutbox         = 100 * time.Millisecond
)

// Verdict records the promises of a run, kept or broken, as N shows them.
type Verdict struct {
	N        *Narrator
	failures []string
}

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

type Step struct {
	Title string
	Run   func(context.Context) error
}

// Demo is the narrated reproduction of a fault (main adds the clean-up).
type Demo struct {
	*Verdict
	Bot         Bot
	Logs        *botlog.Watcher
	Target      scenarios.Target // the stack the fault is played on (environment.Env.Faults)
	Fault       scenarios.Fault
	Expect      Expectation
	Chat        string
	MaxAttempts int // the bot's retry policy's
	// The bounds above (tests shorten them).
	LogWait, PollEvery, RecoveryBound time.Duration
	// Doctor runs `bot doctor` against the bot's DATABASE_URL (nil: none).
	Doctor func(ctx context.Context) (*environment.DoctorResult, error)

	doctorDone chan struct{} // closed once doctor, doctorErr are set
	doctor     *environment.DoctorResult
	doctorErr  error
}

func (d *Demo) Steps() []Step {
	return []Step{
		{"set a custom prompt and show a reply that uses it", d.StepCustom},
		{"cut the database: " + d.Fault.Describe(), d.StepCut},
		{"send a message while the database is away; the bot's own log lines follow", d.StepDegraded},
		{"the circuit breaker fails the next messages fast", d.StepBreaker},
		{"restore the database and wait for custom replies", d.StepRestore},
	}
}

const persona = "You are a lighthouse keeper who answers in short, calm sentences."

func (d *Demo) send(ctx context.Context, text string) (Reply, error) {
	d.N.You(text)
	r, err := send(ctx, d.Bot, d.Chat, text)
	if err == nil {
		d.N.Bot(r)
	}
	return r, err
}

func fromHandler(chat string) func(botlog.Line) bool {
	return func(l botlog.Line) bool {
		return (l.Is(botlog.HandlerDegraded) || l.Is(botlog.HandlerError)) && l.Attr("chat") == chat
	}
}

func (d *Demo) StepCustom(ctx context.Context) error {
	set, err := d.send(ctx, "/setprompt "+persona)
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
	// Let the message log land: the fault then meets no write in flight.
	if _, err := botapi.WaitOutboxEmpty(ctx, d.Bot, drainWait, pollOutbox); err != nil {
		return err
	}
	d.N.Say("message log written (outbox empty): the database is idle")
	return nil
}

func (d *Demo) StepCut(ctx context.Context) error {
	if err := d.Fault.Apply(ctx, d.Target); err != nil {
		return err
	}
	d.N.OK("%s: %s", d.Fault.Where(), label(d.Fault))
	d.startDoctor(ctx)
	return nil
}

// StepDegraded sends one message through the fault: the retries and the
// fallback show in the bot's log, and the reply still comes.
func (d *Demo) StepDegraded(ctx context.Context) error {
	mark := d.Logs.Mark()
	const text = "Are you still there?"
	d.N.You(text)
	r, err := send(ctx, d.Bot, d.Chat, text)
	if err != nil {
		return err
	}
	// The handler logs before it replies: the log reads in order.
	d.Logs.WaitFor(ctx, mark, d.LogWait, func(ls []botlog.Line) bool { return botlog.Count(ls, fromHandler(d.Chat)) > 0 })
	d.N.Bot(r)
	e, maxA := d.Expect, d.MaxAttempts
	d.expect(r.Degraded && r.PromptSource == scenarios.SourceCached && strings.Contains(r.Text, "lighthouse keeper"),
		"a reply still arrived (after %s), from the cached custom prompt (prompt_source=%s, degraded=%v)",
		roundDuration(r.Latency), r.PromptSource, r.Degraded)
	d.expect(slices.Contains(e.ReplyCodes, r.Code), "code %s (want %s)", r.Code, strings.Join(e.ReplyCodes, " or "))
	if e.Meta != "" {
		d.expect(r.Meta.String() == e.Meta, "the reply names the server: meta %s (want %s)", r.Meta, e.Meta)
	}
	switch e.Attempts {
	case AllAttempts:
		d.expect(r.Attempts == maxA, "the lookup made %d attempt(s) (want all %d)", r.Attempts, maxA)
	case NotRetried:
		// An attempt on a connection the fault closed may come first.
		d.expect(r.Attempts >= 1 && r.Attempts < maxA,
			"the lookup gave up early: %d attempt(s) of %d (retrying cannot fix %s, and would make it worse)", r.Attempts, maxA, r.Code)
	default:
		d.expect(r.Attempts >= 2 && r.Attempts <= maxA,
			"the lookup retried: %d attempt(s), at most %d (waiting attempts may spend the call's budget first)", r.Attempts, maxA)
	}
	// The documented line that shows the policy at work: the first retry
	// scheduled, or for a refusal not retried, the give-up right after the
	// attempt it refused, with its code.
	lookup := func(l botlog.Line) bool { return l.Attr("op") == "getCustomPrompt" }
	want, firstText := botlog.Retry{Kind: botlog.RetryScheduled, Attempt: 1}, fmt.Sprintf("Attempt 1/%d failed, retrying in ... op=getCustomPrompt", maxA)
	if e.Attempts == NotRetried {
		want, firstText = botlog.Retry{Kind: botlog.GaveUp, Attempt: r.Attempts}, fmt.Sprintf("Giving up after %d/%d attempts op=getCustomPrompt code=%s", r.Attempts, maxA, r.Code)
	}
	first := func(l botlog.Line) bool {
		rl, ok := botlog.RetryOf(l)
		return ok && rl.Kind == want.Kind && rl.Attempt == want.Attempt && rl.MaxAttempts == maxA && lookup(l) &&
			(want.Kind != botlog.GaveUp || l.Attr("code") == r.Code)
	}
	fellBack := func(l botlog.Line) bool { return l.Is(botlog.LookupFellBack) && l.Attr("chat") == d.Chat }
	opened := func(l botlog.Line) bool {
		rl, ok := botlog.RetryOf(l)
		return ok && rl.Kind == botlog.BreakerChanged && rl.State == botlog.BreakerOpen
	}
	var lines []botlog.Line
	d.Logs.WaitFor(ctx, mark, d.LogWait, func(ls []botlog.Line) bool {
		lines = slices.Clone(ls)
		return botlog.Count(ls, first) > 0 && botlog.Count(ls, fellBack) > 0 && botlog.Count(ls, opened) > 0
	})
	d.expect(botlog.Count(lines, first) > 0, "log: %s%s", botlog.RetryPrefix, firstText)
	var gaveUp botlog.Line
	codes := map[string]bool{}
	for _, l := range lines {
		if fellBack(l) {
			gaveUp = l
		}
		if botlog.IsRetry(l) && lookup(l) {
			codes[l.Attr("code")] = true
		}
	}
	errText := gaveUp.Attr("error")
	d.expect(errText != "", "log: %s", botlog.LookupFellBack)
	holds := ""
	if e.ErrorText != "" {
		holds = fmt.Sprintf(" and holds %q", e.ErrorText)
	}
	d.expect(strings.HasPrefix(errText, r.Code+": ") && strings.Contains(errText, e.ErrorText),
		"its error is the reply's code in Prisma's words%s (error=%q)", holds, errText)
	if e.Reason != "" {
		d.expect(strings.Contains(gaveUp.Attr("reason"), e.Reason), "its reason says %q (reason=%q)", e.Reason, gaveUp.Attr("reason"))
	}
	d.expect(botlog.Count(lines, func(l botlog.Line) bool { return l.Is(botlog.HandlerDegraded) && l.Attr("chat") == d.Chat }) > 0,
		"log: %s", botlog.HandlerDegraded)
	for _, code := range e.LogCodes {
		d.expect(codes[code], "log: a %sline with code=%s", botlog.RetryPrefix, code)
	}
	d.expect(botlog.Count(lines, opened) > 0, "log: %sCircuit breaker %s", botlog.RetryPrefix, botlog.BreakerOpen)
	return nil
}

// StepBreaker sends a few messages back to back while the breaker is open
// (only for its delay): each is answered at once, without the database.
func (d *Demo) StepBreaker(ctx context.Context) error {
	mark := d.Logs.Mark()
	fast, slowest := 0, time.Duration(0)
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
	d.Logs.WaitFor(ctx, mark, d.LogWait, func(ls []botlog.Line) bool { return botlog.Count(ls, fromHandler(d.Chat)) >= breakerMessages })
	d.expect(fast == breakerMessages,
		"%d/%d replies failed fast by the breaker (attempts 0, prompt_source cached, under %s; slowest %s)",
		fast, breakerMessages, fastFailBound, roundDuration(slowest))
	d.showDoctor(ctx)
	return nil
}

// StepRestore clears the fault and sends a message every PollEvery until a
// reply uses the custom prompt again, timing the recovery.
func (d *Demo) StepRestore(ctx context.Context) error {
	if err := d.Fault.Undo(ctx, d.Target); err != nil {
		return err
	}
	restored := time.Now()
	d.N.OK("%s restored", d.Fault.Where())
	d.N.Say("sending a message every %s until a reply uses the custom prompt again", d.PollEvery)
	d.N.Say("(the bot's log lines meanwhile are counted, and shown once the custom prompt is back)")
	mark := d.Logs.Mark()
	d.Logs.Mute(true)
	defer func() {
		// The probe that closed the breaker is logged before its reply.
		d.Logs.WaitFor(ctx, mark, d.LogWait, func(lines []botlog.Line) bool {
			return botlog.Count(lines, func(l botlog.Line) bool {
				r, ok := botlog.RetryOf(l)
				return ok && r.Kind == botlog.BreakerChanged && r.State == botlog.BreakerClosed
			}) > 0
		})
		d.Logs.Mute(false)
		d.N.LogGroups(d.Logs.Since(mark), FormatLine)
	}()

	// Replies that read the same are counted, not repeated.
	last, repeats, recovered := "", 0, false
	flush := func() {
		if repeats > 0 {
			d.N.Say("... and %d more like it", repeats)
		}
	}
	for n := 1; !recovered && time.Since(restored) < d.RecoveryBound; n++ {
		text := fmt.Sprintf("Back yet? (%d)", n)
		r, err := send(ctx, d.Bot, d.Chat, text)
		if err != nil {
			return err
		}
		if sig := fmt.Sprintf("%s/%v/%d", r.PromptSource, r.Degraded, r.Attempts); sig == last {
			repeats++
		} else {
			flush()
			d.N.You(text)
			d.N.Bot(r)
			last, repeats = sig, 0
		}
		if recovered = r.PromptSource == scenarios.SourceCustom && !r.Degraded; !recovered {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d.PollEvery):
			}
		}
	}
	flush()
	recovery := time.Since(restored)
	if !d.expect(recovered, "custom replies again %s after the restore (bound %s)", recovery.Round(10*time.Millisecond), d.RecoveryBound) {
		return nil
	}
	d.N.Say("(the breaker lets no call through until its delay, DB_BREAKER_DELAY, has passed; then one probe closes it)")
	r, err := d.send(ctx, "Good to have you back. Who are you?")
	if err != nil {
		return err
	}
	d.expect(r.PromptSource == scenarios.SourceCustom && !r.Degraded && r.Attempts == 1,
		"and the next one too (prompt_source=%s, degraded=%v, attempts %d)", r.PromptSource, r.Degraded, r.Attempts)
	if _, err := botapi.WaitOutboxEmpty(ctx, d.Bot, drainWait, pollOutbox); err != nil {
		d.N.Say("message log: %v", err)
	} else {
		d.N.Say("message log: the outbox is empty again (what was said during the fault is in postgres)")
	}
	return nil
}

// startDoctor runs the doctor beside the steps: they cannot wait for it.
func (d *Demo) startDoctor(ctx context.Context) {
	if d.Doctor != nil {
		d.doctorDone = make(chan struct{})
		go func() {
			defer close(d.doctorDone)
			d.doctor, d.doctorErr = d.Doctor(ctx)
		}()
	}
}

// showDoctor shows the doctor's verdict, which must name the fault.
func (d *Demo) showDoctor(ctx context.Context) {
	if d.doctorDone == nil {
		return
	}
	select {
	case <-d.doctorDone:
	case <-ctx.Done():
		return
	}
	if d.doctorErr != nil {
		d.expect(false, "bot doctor ran against the bot's DATABASE_URL: %v", d.doctorErr)
		return
	}
	doc := func(format string, args ...any) { d.N.line("doc", "| "+fmt.Sprintf(format, args...)) }
	doc("bot doctor, against the bot's DATABASE_URL inside the network:")
	rep := d.doctor.Report
	for _, s := range rep.Steps {
		if s.Status == "skipped" {
			continue
		}
		doc("%s %-8s %s", map[string]string{"ok": "✔", "warn": "⚠", "fail": "✗"}[s.Status], s.Name, s.Summary)
		if s.Status == "fail" {
			code := s.Code
			if s.BotCode != "" {
				code += " (the bot logs " + s.BotCode + ")"
			}
			doc("  %s: %s", code, s.Reason)
			doc("  advice: %s", s.Advice)
		}
	}
	d.expect(!rep.Healthy && rep.FailedStep != "", "bot doctor names the fault: %s", rep.Verdict())
}
