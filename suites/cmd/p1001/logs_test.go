package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/p1001/p1001/suites/botlog"
)

// Lines as the bot logs them (LOG_FORMAT=json), with their real attributes.
const (
	retryLine   = `{"time":"2026-11-26T09:32:39.854Z","level":"WARN","msg":"[Prisma Retry] Attempt 1/3 failed, retrying in 44ms...","op":"getCustomPrompt","code":"P1017","attempt":1,"max_attempts":3,"delay_ms":44,"err":"unexpected EOF"}`
	refusedLine = `{"time":"2026-11-26T09:32:39.900Z","level":"WARN","msg":"[Prisma Retry] Attempt 2/3 failed, retrying in 28ms...","op":"getCustomPrompt","code":"P1001","attempt":2,"max_attempts":3,"delay_ms":28,"err":"acquire connection: failed to connect:\n\t172.30.0.3:6543 (toxiproxy): dial error: connection refused"}`
	gaveUpLine  = `{"time":"2026-11-26T09:32:39.932Z","level":"ERROR","msg":"[getCustomPrompt] Database connection error after retries, using fallback prompt","chat":"p1001-demo","code":"P1001","source":"cached","attempts":3,"reason":"connection refused","error":"P1001: Can't reach database server at ` + "`toxiproxy`:`6543`" + ` Please make sure your database server is running at ` + "`toxiproxy`:`6543`" + `."}`
	handlerLine = `{"time":"2026-11-26T09:32:39.932Z","level":"WARN","msg":"[MessageHandler] Database connection error, replying in degraded mode","chat":"p1001-demo","code":"P1001","source":"cached","attempts":3}`
	servingLine = `{"time":"2026-11-26T09:32:39.100Z","level":"INFO","msg":"[Bot] serving","addr":"[::]:8080","max_attempts":3,"breaker":true}`
	outboxLine  = `{"time":"2026-11-26T09:32:40.100Z","level":"DEBUG","msg":"[Outbox] write failed, will retry","records":2}`
)

func parse(t *testing.T, raw string) botlog.Line {
	t.Helper()
	l, ok := botlog.Parse([]byte(raw))
	if !ok {
		t.Fatalf("blank line %q", raw)
	}
	return l
}

func TestNarratedAndFormat(t *testing.T) {
	tests := []struct {
		raw      string
		narrated bool
		format   string
	}{
		{raw: retryLine, narrated: true,
			format: `WARN  [Prisma Retry] Attempt 1/3 failed, retrying in 44ms... op=getCustomPrompt code=P1017 err="unexpected EOF"`},
		{raw: refusedLine, narrated: true,
			format: `WARN  [Prisma Retry] Attempt 2/3 failed, retrying in 28ms... op=getCustomPrompt code=P1001 err="acquire connection: failed to connect: 172.30.0.3:6543 (toxiproxy): dial error: connection refused"`},
		{raw: gaveUpLine, narrated: true,
			format: `ERROR [getCustomPrompt] Database connection error after retries, using fallback prompt chat=p1001-demo code=P1001 source=cached attempts=3 reason="connection refused" error="P1001: Can't reach database server at ` + "`toxiproxy`:`6543`" + ` Please make sure your database server is running at ` + "`toxiproxy`:`6543`" + `."`},
		{raw: handlerLine, narrated: true,
			format: `WARN  [MessageHandler] Database connection error, replying in degraded mode chat=p1001-demo code=P1001 source=cached attempts=3`},
		{raw: servingLine, narrated: false, format: `INFO  [Bot] serving`},
		{raw: outboxLine, narrated: false, format: `DEBUG [Outbox] write failed, will retry`},
		{raw: "fatal error: all goroutines are asleep", narrated: false, format: "fatal error: all goroutines are asleep"},
	}
	for _, tt := range tests {
		l := parse(t, tt.raw)
		if got := Narrated(l); got != tt.narrated {
			t.Errorf("Narrated(%q) = %v, want %v", l.Msg, got, tt.narrated)
		}
		if got := FormatLine(l); got != tt.format {
			t.Errorf("FormatLine:\n got %s\nwant %s", got, tt.format)
		}
	}
}

func TestLogWatcherEchoesNarratedLinesAndKeepsAll(t *testing.T) {
	var mu sync.Mutex
	var echoed []string
	w := NewLogWatcher(func(l botlog.Line) {
		mu.Lock()
		defer mu.Unlock()
		echoed = append(echoed, l.Msg)
	})
	// Docker may hand over several lines at once.
	w.Accept([]byte(servingLine + "\n" + retryLine + "\n\n"))
	w.Mute(true)
	w.Accept([]byte(handlerLine))
	w.Mute(false)
	w.Accept([]byte(gaveUpLine))
	w.Accept([]byte(outboxLine))

	mu.Lock()
	got := strings.Join(echoed, " | ")
	mu.Unlock()
	want := "[Prisma Retry] Attempt 1/3 failed, retrying in 44ms... | [getCustomPrompt] Database connection error after retries, using fallback prompt"
	if got != want {
		t.Errorf("echoed %q, want %q (narrated lines only, none while muted)", got, want)
	}
	if all := w.Since(0); len(all) != 5 {
		t.Errorf("kept %d lines, want all 5 (muted and undocumented ones too)", len(all))
	}
}

func TestGroupNarrated(t *testing.T) {
	var lines []botlog.Line
	for _, raw := range []string{handlerLine, servingLine, gaveUpLine, handlerLine, outboxLine, handlerLine, gaveUpLine} {
		lines = append(lines, parse(t, raw))
	}
	groups := GroupNarrated(lines)
	if len(groups) != 2 {
		t.Fatalf("got %d groups, want 2 (other lines left out): %+v", len(groups), groups)
	}
	if !strings.HasPrefix(groups[0].Line.Msg, "[MessageHandler]") || groups[0].Count != 3 ||
		!strings.HasPrefix(groups[1].Line.Msg, "[getCustomPrompt]") || groups[1].Count != 2 {
		t.Errorf("groups %+v: want [MessageHandler] x3 then [getCustomPrompt] x2, in order of first appearance", groups)
	}
}
