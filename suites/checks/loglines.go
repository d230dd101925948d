package checks

import (
	"fmt"
	"strings"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
	"github.com/p1001/p1001/suites/history"
)

// Name of the log-lines check (stable id).
const NameLogLines = "log-lines"

// LogLines: every expect.log_lines entry is a substring of some log line
// (its msg, or its rendered "msg key=value ..." text); every [Prisma Retry]
// line counting attempts says X/Y with Y the policy's max and 1 <= X <= Y;
// and the lines the history makes necessary are there: "Attempt 1/Y
// failed" once any reply reports 2 or more attempts (a retry happened),
// the [MessageHandler] and (for lookups) [getCustomPrompt] connection-error
// lines once a reply is degraded with a connection-class code (for a reply
// past the reply deadline, the [getCustomPrompt] "Database slow" line
// instead: its lookup may yet succeed), and Prisma's
// "P1001: Can't reach database server at `host`:`port`" text once a reply
// is degraded with P1001, naming the host and port of that reply's meta
// (which it must carry).
func LogLines(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameLogLines, false, fmt.Sprintf(
		"The documented log lines are present, and every %sline counts attempts as X/%d.", botlog.RetryPrefix, r.policy.MaxAttempts))
	if un, ok := v.unobservable(h, nil, anyLog...); ok {
		return un
	}
	if r.policyErr != nil {
		v.fail("%v", r.policyErr)
		return v.result()
	}
	// Each part reads the lines of one kind, and the reply fields that
	// make a line necessary; the target may map some and not others.
	counts := v.part(h, "the retry lines' X/Y counts", history.SeesRetryLog)
	firstRetry := v.part(h, "a first-retry line once a reply shows 2 or more attempts", history.SeesRetryLog, history.SeesAttempts)
	fellBack := v.part(h, "the fallback lines once a reply is degraded with a connection-class code", history.SeesFallbackLog, history.SeesDegraded, history.SeesCode)
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
		// The scenario's literal lines are p1001's, under the scenario's
		// configuration ("Attempt 1/4" with its bot.retry): another bot is
		// judged by the rules below, which read its mapped lines.
		if !v.part(h, fmt.Sprintf("the line %q of expect.log_lines", want), history.SeesBotLog) {
			continue
		}
		if !anyLine(func(_ botlog.Line, text string) bool { return strings.Contains(text, want) }) {
			v.fail("no log line contains %q (expect.log_lines)", want)
		}
	}
	for i, l := range h.Logs {
		rl, ok := botlog.RetryOf(l)
		if !counts || !ok || rl.MaxAttempts == 0 {
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
	firstRetryLine := fmt.Sprintf("%sAttempt 1/%d failed", botlog.RetryPrefix, r.policy.MaxAttempts)
	isFirstRetry := func(l botlog.Line, _ string) bool {
		rl, ok := botlog.RetryOf(l)
		return ok && (rl.Kind == botlog.AttemptFailed || rl.Kind == botlog.RetryScheduled) &&
			rl.Attempt == 1 && rl.MaxAttempts == r.policy.MaxAttempts
	}
	var retried, degraded, lookup, late, p1001 *history.Op
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
		switch {
		case late == nil && pastDeadline(r, *o):
			late = o
		case lookup == nil && isLookup(*o) && !pastDeadline(r, *o):
			lookup = o
		}
		if p1001 == nil && o.Code == "P1001" {
			p1001 = o
		}
	}
	if !fellBack {
		degraded, lookup, late, p1001 = nil, nil, nil, nil
	}
	if firstRetry && retried != nil && !anyLine(isFirstRetry) {
		v.op(*retried, "reports %d attempts, but no log line starts with %q", retried.Attempts, firstRetryLine)
	}
	if degraded != nil && !anyLine(func(l botlog.Line, _ string) bool { return l.Is(botlog.HandlerDegraded) }) {
		v.op(*degraded, "degraded with %s, but no log line says %q", degraded.Code, botlog.HandlerDegraded)
	}
	if lookup != nil && !anyLine(func(l botlog.Line, _ string) bool { return l.Is(botlog.LookupFellBack) }) {
		v.op(*lookup, "lookup degraded with %s, but no log line says %q", lookup.Code, botlog.LookupFellBack)
	}
	if late != nil && !anyLine(func(l botlog.Line, _ string) bool { return l.Is(botlog.LookupPastDeadline) }) {
		v.op(*late, "reply past the %s reply deadline (%s, %s), but no log line says %q",
			r.replyDeadline, late.Code, late.Latency().Round(1e6), botlog.LookupPastDeadline)
	}
	if p1001 != nil {
		want := "P1001: Can't reach database server at `host`:`port`"
		switch m := p1001.Meta; {
		case m == nil:
			v.op(*p1001, "degraded with P1001, but the reply carries no meta (database_host, database_port)")
		case !anyLine(func(_ botlog.Line, text string) bool {
			host, port, ok := botlog.CantReach(text)
			return ok && host == m.DatabaseHost && port == m.DatabasePort
		}):
			v.op(*p1001, "degraded with P1001 (meta %s), but no log line carries %q with that host and port", m, want)
		}
	}
	if v.count > 0 && len(h.Logs) == 0 {
		v.note("the history has no log lines at all")
	}
	return v.result()
}
