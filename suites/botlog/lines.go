package botlog

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RetryPrefix starts every line of the retry layer. It is the one place
// the harness spells it.
const RetryPrefix = "[Prisma Retry] "

// Kind is one documented line.
type Kind int

// The documented lines. The retry layer's come first (IsRetry).
const (
	Unknown Kind = iota

	// RetryScheduled: "[Prisma Retry] Attempt X/Y failed, retrying in D...",
	// logged after attempt X failed and before the bot waits D.
	RetryScheduled
	// AttemptFailed: "[Prisma Retry] Attempt X/Y failed" (DEBUG), the end of
	// every failed attempt.
	AttemptFailed
	// GaveUp: "[Prisma Retry] Giving up after X/Y attempts".
	GaveUp
	// NotRetrying: "[Prisma Retry] Not retrying: not an availability error" (DEBUG).
	NotRetrying
	// SucceededAfterRetries: "[Prisma Retry] Succeeded on attempt X/Y".
	SucceededAfterRetries
	// BreakerChanged: "[Prisma Retry] Circuit breaker S", S open, half-open or closed.
	BreakerChanged
	// BreakerRejected: "[Prisma Retry] Circuit breaker open, failing fast"
	// (DEBUG), a call the open breaker refused.
	BreakerRejected

	// LookupFellBack: the prompt lookup gave up on a connection error.
	LookupFellBack
	// LookupPastDeadline: a reply stopped waiting for the prompt lookup at
	// the reply deadline (REPLY_DEADLINE); the lookup runs on in the
	// background and logs its own end.
	LookupPastDeadline
	// LookupError: the prompt lookup met a database error that is not
	// about availability (code DB_ERROR).
	LookupError
	// HandlerDegraded: every reply degraded by a connection error.
	HandlerDegraded
	// HandlerError: a reply degraded by a DB_ERROR.
	HandlerError
	// SaveFailed and ResetFailed: a write gave up.
	SaveFailed
	ResetFailed
	// The others, in docs/bot.md's order; fixedLines has their text.
	MigrateRetrying
	MigrateReady
	OutboxFull
	OutboxAccepting
	OutboxKept
	OutboxLost
	SpoolReplaying
	SpoolMovedAside
	SpoolCannotOpen
	SpoolOff
	SpoolCannotWrite
	SpoolWritingAgain
	BotServing
	BotShuttingDown
	BotStopped
	BotNoAuth
	HTTPRefused
	ResponderFallback
	// PreparedThroughPooler: the bot's advice, once, when prepared
	// statements fail through a transaction pooler without pgbouncer=true.
	PreparedThroughPooler

	numKinds // how many kinds there are, Unknown included
)

// retryLines are the retry layer's lines after RetryPrefix; a submatch
// (\d+)/(\d+) is X/Y, one more is D or the breaker's state.
var retryLines = []struct {
	kind Kind
	doc  string
	re   *regexp.Regexp
}{
	{RetryScheduled, "Attempt X/Y failed, retrying in D...", retryRe(`Attempt (\d+)/(\d+) failed, retrying in (\S+?)\.\.\.`)},
	{AttemptFailed, "Attempt X/Y failed", retryRe(`Attempt (\d+)/(\d+) failed`)},
	{GaveUp, "Giving up after X/Y attempts", retryRe(`Giving up after (\d+)/(\d+) attempts`)},
	{NotRetrying, "Not retrying: not an availability error", retryRe(`Not retrying: not an availability error`)},
	{SucceededAfterRetries, "Succeeded on attempt X/Y", retryRe(`Succeeded on attempt (\d+)/(\d+)`)},
	{BreakerRejected, "Circuit breaker open, failing fast", retryRe(`Circuit breaker open, failing fast`)},
	{BreakerChanged, "Circuit breaker S", retryRe(`Circuit breaker (open|half-open|closed)`)},
}

func retryRe(rest string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(RetryPrefix) + rest + `$`)
}

// fixedLines are the other documented lines, as docs/bot.md writes them:
// a line is one of them when its message is that text, where "..." (text
// the table elides) stands for anything.
var fixedLines = []struct {
	kind Kind
	text string
}{
	{LookupFellBack, "[getCustomPrompt] Database connection error after retries, using fallback prompt"},
	{LookupPastDeadline, "[getCustomPrompt] Database slow, replying with the fallback prompt while the lookup continues"},
	{LookupError, "[getCustomPrompt] Database error, using fallback prompt"},
	{HandlerDegraded, "[MessageHandler] Database connection error, replying in degraded mode"},
	{HandlerError, "[MessageHandler] Database error, replying in degraded mode"},
	{SaveFailed, "[setCustomPrompt] Database error after retries, prompt not saved"},
	{ResetFailed, "[resetCustomPrompt] ... prompt not reset"},
	{MigrateRetrying, "[Migrate] schema not applied yet, retrying"},
	{MigrateReady, "[Migrate] schema ready"},
	{OutboxFull, "[Outbox] full, dropping message-log records until it drains"},
	{OutboxAccepting, "[Outbox] accepting records again"},
	{OutboxKept, "[Outbox] shutdown before the database took these records: KEPT in the spool for the next start"},
	{OutboxLost, "[Outbox] shutdown before the database took these records: message-log records lost"},
	{SpoolReplaying, "[Spool] replaying message-log records left by the last run"},
	{SpoolMovedAside, "[Spool] unreadable spool moved aside, starting with an empty one: its records are not replayed"},
	{SpoolCannotOpen, "[Spool] cannot open the spool: message-log records are held in memory only, a crash loses them"},
	{SpoolOff, "[Spool] off (SPOOL_PATH=off): ..."},
	{SpoolCannotWrite, "[Spool] cannot write the spool, message-log records are held in memory only until it works again"},
	{SpoolWritingAgain, "[Spool] writing the spool again"},
	{BotServing, "[Bot] serving"},
	{BotShuttingDown, "[Bot] shutting down"},
	{BotStopped, "[Bot] stopped"},
	{BotNoAuth, "[Bot] the message API has no authentication (API_AUTH=none): ..."},
	{HTTPRefused, "[HTTP] request refused: missing or wrong API token"},
	{ResponderFallback, "[Responder] language model unreachable, replying with the fallback"},
	{PreparedThroughPooler, "[Config] Prepared statements fail through a transaction pooler: add pgbouncer=true to DATABASE_URL, or use the direct (non-pooler) URL"},
}

// fits reports whether msg is text, "..." in text standing for anything.
func fits(msg, text string) bool {
	prefix, suffix, elided := strings.Cut(text, "...")
	if !elided {
		return msg == text
	}
	return len(msg) >= len(prefix)+len(suffix) && strings.HasPrefix(msg, prefix) && strings.HasSuffix(msg, suffix)
}

// String is the line as the documentation writes it, with X, Y and D for
// the numbers and "..." for elided text.
func (k Kind) String() string {
	for _, r := range retryLines {
		if r.kind == k {
			return RetryPrefix + r.doc
		}
	}
	for _, f := range fixedLines {
		if f.kind == k {
			return f.text
		}
	}
	return "an undocumented line"
}

// KindOf recognises a documented line; Unknown for any other.
func KindOf(l Line) Kind {
	if IsRetry(l) {
		r, _ := RetryOf(l)
		return r.Kind
	}
	for _, f := range fixedLines {
		if fits(l.Msg, f.text) {
			return f.kind
		}
	}
	return Unknown
}

// Is reports whether the line is the documented line k.
func (l Line) Is(k Kind) bool { return KindOf(l) == k }

// IsRetry reports whether the retry layer logged the line.
func IsRetry(l Line) bool { return strings.HasPrefix(l.Msg, RetryPrefix) }

// Breaker states as the retry layer logs them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// Retry is a line of the retry layer, read.
type Retry struct {
	Kind Kind
	// Attempt and MaxAttempts are its X/Y (0 on lines without them).
	Attempt, MaxAttempts int
	// Delay is what a RetryScheduled line announces: its delay_ms
	// attribute, else the D of its text; DelayKnown is false when neither
	// reads as a duration of at least 0.
	Delay      time.Duration
	DelayKnown bool
	// State is a BreakerChanged line's new state.
	State string
}

// RetryOf reads a line of the retry layer. ok is false for any other
// line, and for a retry-layer line that none of the documented forms fits
// (Kind Unknown).
func RetryOf(l Line) (r Retry, ok bool) {
	if !IsRetry(l) {
		return Retry{}, false
	}
	for _, form := range retryLines {
		m := form.re.FindStringSubmatch(l.Msg)
		if m == nil {
			continue
		}
		r.Kind = form.kind
		switch form.kind {
		case BreakerChanged:
			r.State = m[1]
		case NotRetrying, BreakerRejected:
		default:
			r.Attempt, _ = strconv.Atoi(m[1])
			r.MaxAttempts, _ = strconv.Atoi(m[2])
		}
		if form.kind == RetryScheduled {
			r.Delay, r.DelayKnown = delay(l, m[3])
		}
		return r, true
	}
	return Retry{}, false
}

// delay is a retry line's announced delay: delay_ms (whole milliseconds),
// else the text of the message.
func delay(l Line, text string) (time.Duration, bool) {
	if v, ok := l.Attrs["delay_ms"].(float64); ok && v >= 0 {
		return time.Duration(v * float64(time.Millisecond)), true
	}
	d, err := time.ParseDuration(text)
	return d, err == nil && d >= 0
}

// reCantReach is Prisma's P1001 message as docs/bot.md writes it, host and
// port in backticks as Prisma's template has them ("P1001: Can't reach
// database server at `toxiproxy`:`6543` Please make sure ..."), as the
// prompt lookup's error attribute carries it.
var reCantReach = regexp.MustCompile("P1001: Can't reach database server at `([^`\\s]+)`:`(\\d+)`")

// CantReach finds "P1001: Can't reach database server at `host`:`port`" in
// text and returns its host and port.
func CantReach(text string) (host string, port int, ok bool) {
	m := reCantReach.FindStringSubmatch(text)
	if m == nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(m[2])
	return m[1], port, err == nil
}
