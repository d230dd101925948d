// Package checks decides whether the bot kept its promises in one recorded
// scenario run. Every checker is a pure function of the scenario (its
// expect block, retry policy and fault plan) and the history (ops, measured
// fault events, logs, metrics, what postgres holds afterwards): no clock,
// no I/O, so a recorded run can be re-checked offline.
//
// # API
//
//	Run(s, h) []Result         every guard and check, in the order of Checks()
//	Failed(rs) []Result        the results that broke their promise
//	Inconclusive(rs) bool      nothing broke, and no behaviour check was observable
//	Measure(s, h) Figures      the report row's numbers
//	PhaseOf(s, h, op) Phase    healthy | fault | transition | recovery
//	KeepPromises(s)            Gomega matcher over history.History (or *History):
//	                           Expect(h).To(checks.KeepPromises(s))
//
// Each checker is also exported (EveryMessageAnswered, AttemptsBounded, ...)
// with its stable name as a constant (NameAnswered = "every-message-answered",
// ...). A Result carries the name, whether it is a validity guard, the
// verdict, the promise in one sentence (with the scenario's numbers), a
// Detail quoting at most 5 offenders and counting the rest ("op #12
// (message in chat c2 at 2.31s): ..."), and the indexes of every offending
// op (Ops) and log line (Logs). Skipped is set, with Passed, when the
// scenario does not ask for the promise or it cannot apply (no faults to
// recover from); a score should leave skipped results out. NotObservable
// is set, with Passed false, when the history's target does not show what
// the check needs (see Observability); read State (met, broken, skipped,
// not observable), never Passed alone. The matcher's failure message is
// one line per broken result, "[name] promise — detail", guards first.
//
// # Observability
//
// Every target shows each reply's status, text and timing; the harness
// also sees what it measures itself (fault events, its probes, Postgres's
// connection log). The rest is evidence a target may not show
// (history.Evidence: reply fields prompt_source, degraded, attempts,
// code, prompt_age; retry and fallback log lines; prompts in Postgres,
// message_log, metrics, commands). History.Target names the target and
// what it shows; a history without one is p1001's own bot, which shows
// everything, and is judged exactly as before.
//
// Each Check declares the evidence it needs (Needs, all of them; AnyOf,
// one of them; effect-on-replies by its effect, EffectNeeds). Against a
// target that does not show it the check is not observable: neither met
// nor broken, with Unseen naming the evidence and Detail the reason
// ("not observable: target naive does not show attempts"), and Run turns
// any verdict a checker gave without it into that. A check with a part
// that needs more judges the rest, and names the part it left out in
// Unseen and Detail ("not judged (target naive does not show
// message_log): ..."). Where the parts are lenient allowances (the reply
// deadline), leaving them out makes the check stricter, and it says so.
// Not observable results fail nothing (Failed, KeepPromises); a run in
// which no behaviour check was observable and nothing broke is
// Inconclusive, which the report never calls a pass. docs/report.md has
// the table of what each check needs and does without it.
//
//   - Black-box, against any target: guard-faults-played, guard-traffic,
//     guard-effect, connect-rate, latency-bound; every-message-answered
//     (its message_log part needs message_log); guard-steady-state's
//     answers (not degraded needs degraded, the chat's own prompt
//     prompt_source and degraded); recovered (see below);
//     effect-on-replies slower, unanswered and none.
//   - recovered: not degraded needs degraded, the recovery sources
//     prompt_source and degraded. With neither, answers are all that show
//     recovery, so every request invoked from recovery_within after the
//     last stop on must be answered (outcome ok, HTTP 200, text), not only
//     some: a bot still answering 500 has not recovered.
//   - attempts-bounded needs attempts (exact attempts of a failed lookup:
//     degraded and code; the fallback line's: fallback_log); retried-lookups
//     degraded, attempts, prompt_source (its quote: prompts; its log:
//     retry_log); log-lines retry_log or fallback_log, each line's rule
//     the kinds it reads (expect.log_lines: bot_log, p1001's own lines
//     under the scenario's configuration); codes-by-cause code and a source (replies with
//     degraded and attempts, or a log), its must codes every source.
//   - prompt-sources needs prompt_source and degraded; prompt-claims
//     degraded (its cached part prompt_source); cache-staleness
//     prompt_source, degraded, code; cache-age those and prompt_age;
//     backoff and attempt-timeout retry_log; no-acked-write-lost prompts
//     and commands; outbox-drained metrics; effect-on-replies degraded
//     (effect degraded) or attempts (retried).
//
// # Phases
//
// Phases come from the measured fault events (FaultEvent.Start/Stop), not
// the plan. Events of the same fault (a flapping outage) merge into one
// window from the first start to the last stop; a fault with Stop < Start
// never stopped. An op is in the fault phase when its [invoke, complete]
// interval overlaps a window, counted for this from the moment the call
// applying the fault began (FaultEvent.Applying: the fault may act before
// that call returns), even if it was invoked just before: its lookup may
// have met the fault (Jepsen ops are intervals). Otherwise it is
// healthy when invoked before the first fault could act, in transition when
// invoked less than expect.recovery_within after any fault stopped, and in
// recovery after that (also between two faults). Transition allows the
// union of the fault and recovery prompt sources.
//
// # Checks
//
//   - every-message-answered: every op has outcome ok, status 200 and a
//     non-empty reply, except that an op overlapping a kill or bot-restart
//     window may be info (cut by the kill, or sent while the bot was down):
//     an unknown outcome, never counted as answered. Op indexes are unique
//     and contiguous. When the history has message_log counts (Logged,
//     LoggedReplies) and expect.outbox_drained is set, message_log holds
//     every message and every reply exactly once, across restarts: each
//     text (and reply text) at least once per answered request and at most
//     once per request that may have reached the bot (ok or info; fail never
//     did), and no row that no request explains (each info op may explain
//     one reply row of any text, its reply being unknown).
//   - attempts-bounded: no op reports more attempts than the policy's max
//     (Scenario.Policy()). A degraded prompt lookup (message, /prompt,
//     /setprompt without text) with a connection-class code (P1001, P1002,
//     P1008, P1017, P2024, P2037) and attempts > 0 shows exactly
//     expect.attempts_per_failed_lookup; 0 is the open breaker failing fast.
//     Writes (/setprompt text, /reset) are held to the max only, since the
//     retry layer may rightly stop a write whose statement may have been sent.
//   - log-lines: each expect.log_lines entry is a substring of some line's
//     rendered text ("msg key=value ...", attributes in key order); every
//     "[Prisma Retry] Attempt X/Y", "Giving up after X/Y" and "Succeeded on
//     attempt X/Y" line has Y = the policy's max and 1 <= X <= Y. Lines the
//     history makes necessary: "[Prisma Retry] Attempt 1/Y failed" once any op
//     reports 2+ attempts (a retry happened; a degraded reply alone does not
//     imply one, since the breaker may have been open all along); the
//     [MessageHandler] connection-error line once a reply is degraded with a
//     connection-class code, the [getCustomPrompt] one once such a reply is a
//     lookup; Prisma's "P1001: Can't reach database server at `host`:`port`"
//     somewhere in a line once a reply is degraded with P1001, with the
//     host and port of that reply's meta (a P1001 reply without meta fails).
//   - codes-by-cause: per fault with declared codes (expect.codes), each
//     must code shows on a degraded reply that tried the database (attempts
//     > 0: fast fails carry the breaker's P1001) or a [Prisma Retry] line with a
//     code (not the breaker's "failing fast"), from 100ms before the fault's
//     start to recovery_within after its stop (replies by the harness's
//     clock, log lines by theirs); and every code seen in that span is a
//     must or may code of a fault active then (not judged while a fault
//     without declared codes is active, nor outside every span).
//   - effect-on-replies: expect.effect, as the replies show it. degraded:
//     one degraded reply in a fault or transition phase; slower: the median
//     latency of answered ops in the fault phase is at least
//     expect.slower_by above the healthy phase's; retried: one reply in a
//     fault or transition phase took more than one attempt; none: no fault
//     planned or measured.
//   - prompt-claims: no op answered without degradation lies entirely
//     inside the window of a fault that cuts the bot's database path, up to
//     the start of the call that undid it (FaultEvent.Undoing: removing a
//     toxic frees the bot's connections before that call returns)
//     (outage without flap, timeout, reset_peer 0, dns on bot.database's proxy;
//     pause on the pooler path; partition of the bot) and that a probe
//     proved (guard-effect); no degraded "default" reply while an op of that
//     chat that read or saved its custom prompt (custom and not degraded)
//     ended before it began and began within PROMPT_MAX_STALENESS of its
//     end, with no /reset invoked in between.
//   - cache-staleness: every "cached" reply quotes (template responder:
//     "[persona] You said: ...") a persona that an op of the same chat read
//     or saved (custom and not degraded; a /setprompt's "I'll answer as:")
//     that began before the reply ended and ended at most
//     PROMPT_MAX_STALENESS (+1ms) before it began; none with the cache off.
//   - cache-age: every "cached" reply carries prompt_age_ms, at most
//     PROMPT_MAX_STALENESS, and within the harness's bounds: at least its
//     invoke minus the latest end of a fill that could have filled the
//     cache (as cache-staleness reads fills), at most its completion minus
//     the earliest moment of the youngest fill that ended before its
//     invoke (1ms, the field's unit, allowed). With expect.cache_expiry,
//     some chat shows a degraded cached reply followed by a degraded
//     default one invoked more than the limit after the latest end of
//     every fill of that chat before it. Skipped without cached replies
//     and without cache_expiry.
//   - backoff: from the bot's log timestamps (LOG_LEVEL=debug marks every
//     attempt's end): every "Attempt n/Y failed, retrying in D" has D at
//     most Policy.BackoffCeiling(n) (equal without jitter); per op and n,
//     when the k-th end of an attempt n+1 is logged, at least k of those
//     lines have had their D run out (2ms of log resolution allowed); with
//     jitter, D/ceiling of each n (and pooled) passes a Kolmogorov-Smirnov
//     test against U[0,1] at alpha 1e-6 (from 8 samples). Skipped when the
//     log has no retry.
//   - attempt-timeout: per op and n, the ends of attempts n+1 are matched
//     first-due first to retry lines whose D ran out; an end whose only
//     candidates were due more than attempt timeout + AttemptTimeoutMargin
//     (250ms) earlier outlasted its timeout. Skipped without an attempt
//     timeout or retries.
//   - prompt-sources: each answered op's prompt_source is allowed in its
//     phase. A non-degraded "default" counts as "custom" when the chat may
//     have had no custom prompt then (not seeded, or a /reset that was not
//     followed by an acknowledged /setprompt): it is the chat's own prompt.
//   - latency-bound: every op in a fault or transition phase, whatever its
//     outcome, took at most expect.reply_latency_bound; an op with no
//     completion time fails.
//   - recovered: at least one op invoked from last stop + recovery_within on
//     is answered, and every such answered op is in the recovery set and not
//     degraded. Skipped without faults.
//   - no-acked-write-lost: per chat with an acknowledged write, the final
//     prompt in postgres (History.Prompts; absent = none) equals the value of
//     a write that may have been the last to take effect. A /setprompt text
//     sets the text, /reset deletes it. An acknowledged write (ok, not
//     degraded) takes effect within [invoke, complete]; an unknown one (info,
//     or a degraded reply) at any time after its invoke, or never (a COMMIT
//     delayed by a toxic may land after the bot gave up); a failed one
//     never. w may be last unless an acknowledged write other than w was
//     invoked after w's latest effect. On failure the acknowledged writes
//     that nothing acknowledged followed are named: one of them had to
//     survive. Chats without an acknowledged write are not checked (their
//     seeded prompt is not in the history).
//   - outbox-drained: after recovery bot_outbox_depth is 0 and
//     bot_outbox_dropped_total (all label sets summed) is reported and 0;
//     bot_outbox_rejected_total and bot_outbox_lost_total, when reported,
//     are 0. The scenario format has no allowance for drops: a scenario that
//     overflows its outbox on purpose sets expect.outbox_drained: false.
//
// # Validity guards
//
//   - guard-faults-played: every planned fault (default name "<type>-<i>")
//     has measured events, none with Err, and stopped; no measured fault is
//     missing from the plan. Without it an unplayed fault would make every op
//     healthy and every check vacuously true.
//   - guard-traffic: at least expect.min_messages_per_fault ops met each
//     measured window: invoked inside it or in flight when it began (a bot
//     hanging through a fault throttles the driver; its hung requests still
//     met the fault). A window where the bot held all traffic.concurrency
//     slots of the driver for 90% of it passes with a note.
//   - guard-effect: every measured fault window holds a probe of the
//     harness's own (History.Probes, run entirely inside the window) that
//     shows the fault: an SQL probe that failed (outage, restart,
//     reset_peer, limit_data) or got no answer (timeout, pause), one slowed
//     by at least latency - jitter (latency), Toxiproxy listing the toxic
//     (bandwidth, slicer, slow_close), Docker showing the target detached
//     (partition) or the proxy's name gone (dns). The bot's replies play
//     no part: a bot that masks a fault fails behaviour checks, and
//     "invalid" means the fault did not happen.
//   - guard-steady-state: before the first fault, and from last stop +
//     recovery_within on, at least 3 ops each, every one answered, not
//     degraded, with its chat's own prompt (as in prompt-sources). Without
//     faults the whole run is the steady state.
//
// # Figures
//
// Messages counts ops of every kind; Custom/Cached/Default/Degraded count
// answered ops by reported source. P50/P99 are nearest-rank over answered
// ops. TimeToFallback runs from the first fault start to the completion of
// the first degraded reply completed after it (0 if none). Recovery runs
// from the last fault stop to the invoke of the first answered op after it
// from which on every answered op is recovered (as in "recovered"); -1 if
// never. With no faults (Faults == 0) both are 0. Figures the target does
// not let the harness measure are zero and named in NotObservable
// (custom, cached, default: prompt_source; degraded, time_to_fallback:
// degraded; max_attempts: attempts). Time to fallback has no black-box
// stand-in: the first failed request after a fault began would measure
// how soon the bot broke, not how soon it fell back.
//
// The checks read a scenario as the loader made it, defaults filled in
// (scenarios.Parse; scenarios.Normalize for one built in code): they apply
// no defaults of their own.
package checks
