package checks

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// Names of the retry-timing checks (stable ids).
const (
	NameBackoff        = "backoff"
	NameAttemptTimeout = "attempt-timeout"
)

const (
	// logSlack absorbs the log's resolution: slog prints times to the
	// millisecond and delay_ms is truncated to it.
	logSlack = 2 * time.Millisecond
	// AttemptTimeoutMargin is how much longer than the policy's attempt
	// timeout an attempt may last in the log's timing: the deadline firing,
	// the driver returning, and goroutines waiting for one of the two
	// shared cores.
	AttemptTimeoutMargin = 250 * time.Millisecond
	// jitterAlpha is the chance that an honest full-jitter bot fails the
	// uniformity test of one retry number (or of all pooled).
	jitterAlpha = 1e-6
	// minJitterSamples is the fewest delays the uniformity test judges;
	// below it no honest sample could be told from a broken one anyway.
	minJitterSamples = 8
)

// retryLine is one logged retry: attempt failed, next one after delay.
type retryLine struct {
	log     int // position in History.Logs
	at      time.Time
	op      string
	attempt int
	delay   time.Duration
}

// due is the earliest time the next attempt may have ended, if the bot
// waited the delay it logged.
func (r retryLine) due() time.Time { return r.at.Add(r.delay) }

// attemptEnd is the logged end of one attempt.
type attemptEnd struct {
	log     int
	at      time.Time
	op      string
	attempt int
}

// retryTiming reads the retry lines ("Attempt n/Y failed, retrying in
// D...", logged after attempt n failed and before the bot sleeps) and the
// attempt ends (the debug-level "Attempt n/Y failed", logged for every
// failed attempt, or "Succeeded on attempt n/Y") of the bot's log, by op
// and attempt number. Lines without a time cannot be placed and are left
// out.
func retryTiming(h history.History) (retries map[string]map[int][]retryLine, ends map[string]map[int][]attemptEnd, bad []string) {
	retries, ends = map[string]map[int][]retryLine{}, map[string]map[int][]attemptEnd{}
	for i, l := range h.Logs {
		rl, ok := botlog.RetryOf(l)
		if l.Time.IsZero() || !ok {
			continue
		}
		op, n := l.Attr("op"), rl.Attempt
		switch rl.Kind {
		case botlog.RetryScheduled:
			if !rl.DelayKnown {
				bad = append(bad, fmt.Sprintf("log line %d %q has no readable delay", i, l.Msg))
				continue
			}
			if retries[op] == nil {
				retries[op] = map[int][]retryLine{}
			}
			retries[op][n] = append(retries[op][n], retryLine{i, l.Time, op, n, rl.Delay})
		case botlog.AttemptFailed, botlog.SucceededAfterRetries:
			if ends[op] == nil {
				ends[op] = map[int][]attemptEnd{}
			}
			ends[op][n] = append(ends[op][n], attemptEnd{i, l.Time, op, n})
		}
	}
	for _, byN := range retries {
		for _, rs := range byN {
			slices.SortStableFunc(rs, func(a, b retryLine) int { return a.due().Compare(b.due()) })
		}
	}
	for _, byN := range ends {
		for _, es := range byN {
			slices.SortStableFunc(es, func(a, b attemptEnd) int { return a.at.Compare(b.at) })
		}
	}
	return retries, ends, bad
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Backoff: the bot waits between attempts as the policy says, judged from
// its log's timestamps, not from what it reports:
//   - every logged delay after attempt n is at most the policy's bound for
//     n (BaseDelay*Factor^(n-1), capped at MaxDelay), and equal to it
//     without jitter;
//   - the attempts really waited: for every op and n, by the time attempt
//     n+1 of some call ended, at least as many "Attempt n failed, retrying
//     in D" lines had their D run out as attempts n+1 had ended (lines carry
//     no call id, so calls are matched by counting, which an honest bot
//     always passes and a bot that logs a delay but does not wait fails);
//   - with jitter, the logged delays of each retry number, divided by
//     their bound, are spread uniformly over [0, 1] (Kolmogorov-Smirnov,
//     alpha jitterAlpha, from minJitterSamples delays): a bot that never
//     waits, or whose delays do not grow, fails once there are enough.
func Backoff(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	p := r.policy
	v := newVerdict(NameBackoff, false, fmt.Sprintf(
		"Retries wait as the policy says, by the log's clock: after attempt n a delay up to min(%s x %g^(n-1), %s)%s, really waited.",
		p.BaseDelay, p.Factor, p.MaxDelay, map[bool]string{true: ", uniformly spread", false: ", exactly"}[p.Jitter]))
	// Before the skip below: a log the target does not show has no retry.
	if un, ok := v.unobservable(h, needsRetryLog); ok {
		return un
	}
	if r.policyErr != nil {
		v.fail("%v", r.policyErr)
		return v.result()
	}
	retries, ends, bad := retryTiming(h)
	for _, b := range bad {
		v.fail("%s", b)
	}
	if len(retries) == 0 {
		if len(bad) > 0 {
			return v.result()
		}
		return v.skip("the bot's log has no retry")
	}
	// 1. Each logged delay against the policy's bound.
	byN := map[int][]float64{} // delay / bound, per retry number
	var pooled []float64
	for _, op := range sortedKeys(retries) {
		for n, rs := range retries[op] {
			ceil := p.BackoffCeiling(n)
			for _, rl := range rs {
				switch {
				case rl.delay > ceil+time.Millisecond:
					v.log(rl.log, h.Logs[rl.log], "delay %s after attempt %d is above the policy's bound %s", rl.delay, n, ceil)
				case !p.Jitter && rl.delay < ceil-time.Millisecond:
					v.log(rl.log, h.Logs[rl.log], "delay %s after attempt %d, but without jitter it is %s", rl.delay, n, ceil)
				}
				if ceil > 0 {
					// +0.5ms centres the millisecond the log truncated.
					u := min((float64(rl.delay)+float64(time.Millisecond)/2)/float64(ceil), 1)
					byN[n] = append(byN[n], u)
					pooled = append(pooled, u)
				}
			}
		}
	}
	// 2. The waits, by the log's clock.
	anyEnd := false
	for _, op := range sortedKeys(retries) {
		for _, n := range sortedIntKeys(retries[op]) {
			dues := retries[op][n]
			next := ends[op][n+1]
			anyEnd = anyEnd || len(next) > 0
			for _, k := range unwaited(dues, next) {
				e := next[k]
				v.log(e.log, h.Logs[e.log], "attempt %d of %s ended at %s, when only %d of the %d %q lines before it had waited out their delay: the bot did not wait as it logged",
					n+1, op, e.at.Format("15:04:05.000"), readyBy(dues, e.at), countBefore(dues, e.at), fmt.Sprintf("Attempt %d failed, retrying in", n))
			}
		}
	}
	if !anyEnd {
		v.fail("the log has %d retry lines but no line marking the end of a retried attempt (debug %q or %q), so the waits cannot be timed (does the bot run with LOG_LEVEL=debug?)", countRetries(retries), botlog.AttemptFailed, botlog.SucceededAfterRetries)
	}
	// 3. Full jitter spreads the delays uniformly.
	if p.Jitter {
		for _, n := range sortedIntKeys(byN) {
			uniform(v, fmt.Sprintf("retry %d (bound %s)", n, p.BackoffCeiling(n)), byN[n], p.BackoffCeiling(n))
		}
		if len(byN) > 1 {
			uniform(v, "all retries", pooled, 0)
		}
	}
	return v.result()
}

// uniform fails v when the delays (as fractions of their bound) are not
// plausibly uniform on [0, 1].
func uniform(v *verdict, what string, us []float64, ceil time.Duration) {
	if len(us) < minJitterSamples {
		return
	}
	d, pv := ksUniform(us)
	if pv >= jitterAlpha {
		return
	}
	med := percentileF(us, 0.5)
	medText := fmt.Sprintf("median %.2f of the bound (want about 0.5)", med)
	if ceil > 0 {
		// Undo the half millisecond that centred the truncated delays.
		medText = fmt.Sprintf("median %s (want about %s)", (time.Duration(med*float64(ceil)) - time.Millisecond/2).Round(time.Millisecond), ceil/2)
	}
	v.fail("the %d logged delays of %s are not spread over [0, bound] as full jitter spreads them: %s, Kolmogorov-Smirnov D %.2f, p %.1g",
		len(us), what, medText, d, pv)
}

// ksUniform is the one-sample Kolmogorov-Smirnov test of xs against the
// uniform distribution on [0, 1]: the statistic D and its p-value
// (asymptotic, with Stephens' small-sample correction).
func ksUniform(xs []float64) (d, p float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := float64(len(s))
	for i, x := range s {
		d = max(d, float64(i+1)/n-x, x-float64(i)/n)
	}
	sq := math.Sqrt(n)
	lambda := (sq + 0.12 + 0.11/sq) * d
	if lambda < 0.2 {
		return d, 1
	}
	for j := 1; j <= 100; j++ {
		term := 2 * math.Exp(-2*float64(j*j)*lambda*lambda)
		if j%2 == 0 {
			term = -term
		}
		p += term
		if math.Abs(term) < 1e-12 {
			break
		}
	}
	return d, min(max(p, 0), 1)
}

func percentileF(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func sortedIntKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// unwaited returns the indexes of the ends (sorted by time) that came
// when fewer retries had waited out their logged delay (dues, sorted by
// due time) than attempts had ended: Hall's condition for matching every
// end to its own retry, which an honest bot always meets.
func unwaited(dues []retryLine, ends []attemptEnd) []int {
	var out []int
	ready := 0
	for k, e := range ends {
		for ready < len(dues) && !dues[ready].due().After(e.at.Add(logSlack)) {
			ready++
		}
		if k+1 > ready {
			out = append(out, k)
		}
	}
	return out
}

func readyBy(dues []retryLine, t time.Time) int {
	n := 0
	for _, d := range dues {
		if !d.due().After(t.Add(logSlack)) {
			n++
		}
	}
	return n
}

func countBefore(rs []retryLine, t time.Time) int {
	n := 0
	for _, r := range rs {
		if r.at.Before(t) {
			n++
		}
	}
	return n
}

func countRetries(retries map[string]map[int][]retryLine) int {
	n := 0
	for _, byN := range retries {
		for _, rs := range byN {
			n += len(rs)
		}
	}
	return n
}

// AttemptTimeout: no retried attempt lasts longer than the policy's
// attempt timeout plus AttemptTimeoutMargin, by the log's clock: attempt
// n+1 starts no earlier than its retry line's time plus the logged delay,
// and ends at its end line. Calls are matched first-due first among the
// retries whose delay was over (all windows have the same length, so this
// finds a matching whenever one exists); an end that only retries due
// longer ago than the bound could have started is an attempt that
// outlasted its timeout. First attempts have no start in the log; the
// reply's latency (latency-bound) bounds them. Attempts the bot started
// without waiting (see Backoff) have no known start and are not judged.
func AttemptTimeout(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	p := r.policy
	bound := p.AttemptTimeout + AttemptTimeoutMargin
	v := newVerdict(NameAttemptTimeout, false, fmt.Sprintf(
		"No attempt lasts longer than the attempt timeout %s plus %s, by the log's clock.", p.AttemptTimeout, AttemptTimeoutMargin))
	if r.policyErr != nil {
		v.fail("%v", r.policyErr)
		return v.result()
	}
	if p.AttemptTimeout <= 0 {
		return v.skip("the policy has no attempt timeout")
	}
	if un, ok := v.unobservable(h, needsRetryLog); ok {
		return un
	}
	retries, ends, _ := retryTiming(h)
	if len(retries) == 0 {
		return v.skip("the bot's log has no retry")
	}
	for _, op := range sortedKeys(retries) {
		for _, n := range sortedIntKeys(retries[op]) {
			dues := retries[op][n]
			if len(unwaited(dues, ends[op][n+1])) > 0 {
				// Attempts that did not wait have no known start: backoff
				// fails them, and their durations cannot be judged.
				v.note("attempts %d of %s are not timed: the bot did not wait before them (see %s)", n+1, op, NameBackoff)
				continue
			}
			next, expired := 0, -1 // dues[next:] are unmatched; expired: the latest due that ran out unmatched
			for _, e := range ends[op][n+1] {
				for next < len(dues) && dues[next].due().Add(bound).Before(e.at.Add(-logSlack)) {
					expired = next
					next++
				}
				if next < len(dues) && !dues[next].due().After(e.at.Add(logSlack)) {
					next++
					continue
				}
				if expired >= 0 {
					v.log(e.log, h.Logs[e.log], "attempt %d of %s ended %s after the latest retry that could have started it was due (%s + %s): longer than %s",
						n+1, op, e.at.Sub(dues[expired].due()).Round(time.Millisecond),
						dues[expired].at.Format("15:04:05.000"), dues[expired].delay, bound)
				}
			}
		}
	}
	return v.result()
}
