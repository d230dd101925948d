package botlog

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Lines as the bot logs them (LOG_FORMAT=json), from a real run (README,
// `make p1001`), with their real attributes.
const (
	retryJSON   = `{"time":"2026-11-26T09:32:39.854Z","level":"WARN","msg":"[Prisma Retry] Attempt 1/3 failed, retrying in 44ms...","op":"getCustomPrompt","code":"P1017","attempt":1,"max_attempts":3,"delay_ms":44,"err":"unexpected EOF"}`
	gaveUpJSON  = `{"time":"2026-11-26T09:32:39.932Z","level":"ERROR","msg":"[getCustomPrompt] Database connection error after retries, using fallback prompt","chat":"p1001-demo","code":"P1001","source":"cached","attempts":3,"reason":"connection refused","error":"P1001: Can't reach database server at ` + "`toxiproxy`:`6543`" + ` Please make sure your database server is running at ` + "`toxiproxy`:`6543`" + `."}`
	handlerJSON = `{"time":"2026-11-26T09:32:39.932Z","level":"WARN","msg":"[MessageHandler] Database connection error, replying in degraded mode","chat":"p1001-demo","code":"P1001","source":"cached","attempts":3}`
	servingJSON = `{"time":"2026-11-26T09:32:39.100Z","level":"INFO","msg":"[Bot] serving","addr":"[::]:8080","max_attempts":3,"breaker":true}`
	outboxJSON  = `{"time":"2026-11-26T09:32:40.100Z","level":"DEBUG","msg":"[Outbox] write failed, will retry","records":2}`
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantOK    bool
		wantLevel string
		wantMsg   string
		wantTime  time.Time
		wantAttrs int
	}{
		{name: "json", raw: retryJSON + "\n", wantOK: true, wantLevel: "WARN", wantMsg: "[Prisma Retry] Attempt 1/3 failed, retrying in 44ms...",
			wantTime: time.Date(2026, 11, 26, 9, 32, 39, 854e6, time.UTC), wantAttrs: 6},
		{name: "not json", raw: "panic: runtime error: index out of range", wantOK: true, wantMsg: "panic: runtime error: index out of range"},
		{name: "bad time", raw: `{"level":"INFO","msg":"no time","time":"yesterday"}`, wantOK: true, wantLevel: "INFO", wantMsg: "no time"},
		{name: "blank", raw: "  \n", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, ok := Parse([]byte(tt.raw))
			if ok != tt.wantOK || l.Level != tt.wantLevel || l.Msg != tt.wantMsg || !l.Time.Equal(tt.wantTime) || len(l.Attrs) != tt.wantAttrs {
				t.Errorf("Parse(%q) = %+v, %v", tt.raw, l, ok)
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, has := l.Attrs[k]; has {
					t.Errorf("%s left among the attributes: %v", k, l.Attrs)
				}
			}
			if tt.wantAttrs == 0 && l.Attrs != nil {
				t.Errorf("a line without attributes has %v, want none", l.Attrs)
			}
		})
	}
}

func TestParseAll(t *testing.T) {
	data := retryJSON + "\nnot json: panic\n\n" + servingJSON // no final newline
	lines := ParseAll([]byte(data))
	if len(lines) != 3 || lines[1].Msg != "not json: panic" || !lines[2].Is(BotServing) {
		t.Fatalf("ParseAll = %+v, want 3 lines (blank skipped, non-JSON kept whole)", lines)
	}
	if n, ok := lines[2].Int("max_attempts"); !ok || n != 3 {
		t.Errorf("Int(max_attempts) = %d, %v", n, ok)
	}
	if lines[0].Attr("op") != "getCustomPrompt" || lines[0].Attr("attempt") != "" {
		t.Errorf("Attr: op %q, attempt %q (a number is not a string)", lines[0].Attr("op"), lines[0].Attr("attempt"))
	}
}

func TestString(t *testing.T) {
	l, _ := Parse([]byte(handlerJSON))
	want := "[MessageHandler] Database connection error, replying in degraded mode attempts=3 chat=p1001-demo code=P1001 source=cached"
	if got := l.String(); got != want {
		t.Errorf("String:\n got %s\nwant %s", got, want)
	}
}

// TestKindOf reads every documented line, its message copied from
// docs/bot.md ("Documented log lines") and, for the retry layer's, from
// resilience.NewSlogObserver's doc and the README's real run.
func TestKindOf(t *testing.T) {
	tests := []struct {
		msg  string
		want Kind
	}{
		{"[Prisma Retry] Attempt 1/3 failed, retrying in 56ms...", RetryScheduled},
		{"[Prisma Retry] Attempt 3/3 failed", AttemptFailed},
		{"[Prisma Retry] Giving up after 3/3 attempts", GaveUp},
		{"[Prisma Retry] Not retrying: not an availability error", NotRetrying},
		{"[Prisma Retry] Succeeded on attempt 2/3", SucceededAfterRetries},
		{"[Prisma Retry] Circuit breaker open", BreakerChanged},
		{"[Prisma Retry] Circuit breaker half-open", BreakerChanged},
		{"[Prisma Retry] Circuit breaker closed", BreakerChanged},
		{"[Prisma Retry] Circuit breaker open, failing fast", BreakerRejected},
		{"[getCustomPrompt] Database connection error after retries, using fallback prompt", LookupFellBack},
		{"[getCustomPrompt] Database slow, replying with the fallback prompt while the lookup continues", LookupPastDeadline},
		{"[MessageHandler] Database connection error, replying in degraded mode", HandlerDegraded},
		{"[setCustomPrompt] Database error after retries, prompt not saved", SaveFailed},
		{"[resetCustomPrompt] Database error after retries, prompt not reset", ResetFailed},
		{"[getCustomPrompt] Database error, using fallback prompt", LookupError},
		{"[MessageHandler] Database error, replying in degraded mode", HandlerError},
		{"[Migrate] schema not applied yet, retrying", MigrateRetrying},
		{"[Migrate] schema ready", MigrateReady},
		{"[Config] Prepared statements fail through a transaction pooler: add pgbouncer=true to DATABASE_URL, or use the direct (non-pooler) URL", PreparedThroughPooler},
		{"[Outbox] full, dropping message-log records until it drains", OutboxFull},
		{"[Outbox] accepting records again", OutboxAccepting},
		{"[Outbox] shutdown before the database took these records: KEPT in the spool for the next start", OutboxKept},
		{"[Outbox] shutdown before the database took these records: message-log records lost", OutboxLost},
		{"[Spool] replaying message-log records left by the last run", SpoolReplaying},
		{"[Spool] unreadable spool moved aside, starting with an empty one: its records are not replayed", SpoolMovedAside},
		{"[Spool] cannot open the spool: message-log records are held in memory only, a crash loses them", SpoolCannotOpen},
		{"[Spool] off (SPOOL_PATH=off): message-log records are held in memory only, a crash loses them", SpoolOff},
		{"[Spool] cannot write the spool, message-log records are held in memory only until it works again", SpoolCannotWrite},
		{"[Spool] writing the spool again", SpoolWritingAgain},
		{"[Bot] serving", BotServing},
		{"[Bot] shutting down", BotShuttingDown},
		{"[Bot] stopped", BotStopped},
		{"[Bot] the message API has no authentication (API_AUTH=none): anyone who reaches it can talk as any chat", BotNoAuth},
		{"[HTTP] request refused: missing or wrong API token", HTTPRefused},
		{"[Responder] language model unreachable, replying with the fallback", ResponderFallback},

		// Near misses: undocumented lines, and documented ones cut short or
		// run on.
		{"[Bot] serving /metrics on its own listener", Unknown},
		{"[Outbox] write failed, will retry", Unknown},
		{"[Prisma Retry] Circuit breaker ajar", Unknown},
		{"[Prisma Retry] Attempt 1/3 failed, retrying in 56ms", Unknown},
		{"[MessageHandler] Database connection error", Unknown},
		{"[getCustomPrompt] Database slow, replying with the fallback prompt", Unknown},
		{"[resetCustomPrompt] prompt not reset", Unknown},
		{"note: [MessageHandler] Database connection error, replying in degraded mode", Unknown},
		{"panic: runtime error", Unknown},
	}
	seen := map[Kind]bool{}
	for _, tt := range tests {
		if got := KindOf(Line{Msg: tt.msg}); got != tt.want {
			t.Errorf("KindOf(%q) = %v, want %v", tt.msg, got, tt.want)
		}
		seen[tt.want] = true
	}
	for k := Unknown + 1; k < numKinds; k++ {
		if !seen[k] {
			t.Errorf("no test line for %v", k)
		}
	}
}

func TestRetryOf(t *testing.T) {
	tests := []struct {
		name  string
		line  Line
		want  Retry
		isNot bool
	}{
		{name: "retry with delay_ms", line: Line{Msg: "[Prisma Retry] Attempt 2/3 failed, retrying in 27ms...", Attrs: map[string]any{"delay_ms": 27.0}},
			want: Retry{Kind: RetryScheduled, Attempt: 2, MaxAttempts: 3, Delay: 27 * time.Millisecond, DelayKnown: true}},
		{name: "retry, delay from the text", line: Line{Msg: "[Prisma Retry] Attempt 1/5 failed, retrying in 1.5s..."},
			want: Retry{Kind: RetryScheduled, Attempt: 1, MaxAttempts: 5, Delay: 1500 * time.Millisecond, DelayKnown: true}},
		{name: "retry, no readable delay", line: Line{Msg: "[Prisma Retry] Attempt 1/3 failed, retrying in soon..."},
			want: Retry{Kind: RetryScheduled, Attempt: 1, MaxAttempts: 3}},
		{name: "attempt end", line: Line{Msg: "[Prisma Retry] Attempt 3/3 failed"}, want: Retry{Kind: AttemptFailed, Attempt: 3, MaxAttempts: 3}},
		{name: "give up", line: Line{Msg: "[Prisma Retry] Giving up after 3/3 attempts"}, want: Retry{Kind: GaveUp, Attempt: 3, MaxAttempts: 3}},
		{name: "success", line: Line{Msg: "[Prisma Retry] Succeeded on attempt 2/4"}, want: Retry{Kind: SucceededAfterRetries, Attempt: 2, MaxAttempts: 4}},
		{name: "breaker", line: Line{Msg: "[Prisma Retry] Circuit breaker half-open"}, want: Retry{Kind: BreakerChanged, State: BreakerHalfOpen}},
		{name: "rejection", line: Line{Msg: "[Prisma Retry] Circuit breaker open, failing fast"}, want: Retry{Kind: BreakerRejected}},
		{name: "another layer's line", line: Line{Msg: "[MessageHandler] Database connection error, replying in degraded mode"}, isNot: true},
		{name: "an undocumented retry line", line: Line{Msg: "[Prisma Retry] Attempt 1/3 exploded"}, isNot: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RetryOf(tt.line)
			if ok == tt.isNot || got != tt.want {
				t.Errorf("RetryOf(%q) = %+v, %v; want %+v, %v", tt.line.Msg, got, ok, tt.want, !tt.isNot)
			}
		})
	}
}

// TestRetryPrefixIsTheOnlySpelling: every retry form is built on
// RetryPrefix, so a new prefix is one edit.
func TestRetryPrefixIsTheOnlySpelling(t *testing.T) {
	for _, r := range retryLines {
		if !strings.HasPrefix(r.re.String(), "^"+regexp.QuoteMeta(RetryPrefix)) {
			t.Errorf("%v: %s does not start with RetryPrefix", r.kind, r.re)
		}
		if !strings.HasPrefix(r.kind.String(), RetryPrefix) {
			t.Errorf("%v does not read with RetryPrefix", r.kind)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		RetryScheduled:  "[Prisma Retry] Attempt X/Y failed, retrying in D...",
		HandlerDegraded: "[MessageHandler] Database connection error, replying in degraded mode",
		ResetFailed:     "[resetCustomPrompt] ... prompt not reset",
		Unknown:         "an undocumented line",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}

func TestCantReach(t *testing.T) {
	l, _ := Parse([]byte(gaveUpJSON))
	tests := []struct {
		name     string
		text     string
		wantHost string
		wantPort int
		wantOK   bool
	}{
		{"the bot's line", l.String(), "toxiproxy", 6543, true},
		{"IPv6", "P1001: Can't reach database server at `::1`:`5432` Please make sure ...", "::1", 5432, true},
		{"without host and port", "P1001: Can't reach database server: connection refused", "", 0, false},
		// The former text, without Prisma's backticks, is no longer the documented one.
		{"host:port unquoted", "P1001: Can't reach database server at toxiproxy:6543: connection refused (3 attempts)", "", 0, false},
	}
	for _, tt := range tests {
		host, port, ok := CantReach(tt.text)
		if host != tt.wantHost || port != tt.wantPort || ok != tt.wantOK {
			t.Errorf("%s: CantReach = %q, %d, %t; want %q, %d, %t", tt.name, host, port, ok, tt.wantHost, tt.wantPort, tt.wantOK)
		}
	}
}

func TestWatcherEchoesUnlessMutedAndKeepsAll(t *testing.T) {
	var mu sync.Mutex
	var echoed []string
	w := NewWatcher(func(l Line) {
		mu.Lock()
		defer mu.Unlock()
		echoed = append(echoed, l.Msg)
	})
	// Docker may hand over several lines at once.
	w.Accept([]byte(servingJSON + "\n" + retryJSON + "\n\n"))
	w.Mute(true)
	w.Accept([]byte(handlerJSON))
	w.Mute(false)
	mark := w.Mark()
	w.Accept([]byte(gaveUpJSON))
	w.Accept([]byte(outboxJSON))

	mu.Lock()
	got := strings.Join(echoed, " | ")
	mu.Unlock()
	want := "[Bot] serving | [Prisma Retry] Attempt 1/3 failed, retrying in 44ms... | " +
		"[getCustomPrompt] Database connection error after retries, using fallback prompt | [Outbox] write failed, will retry"
	if got != want {
		t.Errorf("echoed %q, want %q (none while muted)", got, want)
	}
	if since := w.Since(mark); len(since) != 2 || since[0].Attr("chat") != "p1001-demo" || since[1].Msg != "[Outbox] write failed, will retry" {
		t.Errorf("Since(mark) = %+v, want the two lines after the mark", since)
	}
	if all := w.Since(0); len(all) != 5 {
		t.Errorf("kept %d lines, want all 5 (muted ones too)", len(all))
	}
	if w.Since(99) != nil {
		t.Error("Since past the end returned lines")
	}
}

func TestWatcherWaitFor(t *testing.T) {
	w := NewWatcher(nil)
	chat := map[string]string{"chat": "p1001-demo"}
	hasHandler := func(lines []Line) bool {
		return Count(lines, func(l Line) bool { return l.Is(HandlerDegraded) && l.Has(chat) }) > 0
	}
	release := make(chan struct{})
	go func() {
		<-release
		w.Accept([]byte(retryJSON))
		w.Accept([]byte(handlerJSON))
	}()
	close(release)
	if !w.WaitFor(context.Background(), 0, 5*time.Second, hasHandler) {
		t.Fatal("WaitFor missed a line that came later")
	}
	if w.WaitFor(context.Background(), w.Mark(), 30*time.Millisecond, hasHandler) {
		t.Fatal("WaitFor saw a line before the mark")
	}
	other := map[string]string{"chat": "someone-else"}
	if n := Count(w.Since(0), func(l Line) bool { return l.Is(HandlerDegraded) && l.Has(other) }); n != 0 {
		t.Errorf("matched another chat's line %d time(s)", n)
	}
}
