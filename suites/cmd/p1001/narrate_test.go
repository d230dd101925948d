package main

import (
	"strings"
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

func TestLogWatcherShowsNarratedLinesAndKeepsAll(t *testing.T) {
	var out strings.Builder
	w := NewLogWatcher(NewNarrator(&out, nil))
	// Docker may hand over several lines at once.
	w.Accept([]byte(servingLine + "\n" + retryLine + "\n\n"))
	w.Mute(true)
	w.Accept([]byte(handlerLine))
	w.Mute(false)
	w.Accept([]byte(gaveUpLine))
	w.Accept([]byte(outboxLine))

	var shown []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		_, msg, _ := strings.Cut(l, "log | ")
		shown = append(shown, msg)
	}
	want := []string{parseFormat(t, retryLine), parseFormat(t, gaveUpLine)}
	if strings.Join(shown, "\n") != strings.Join(want, "\n") {
		t.Errorf("shown\n%s\nwant (narrated lines only, none while muted)\n%s", strings.Join(shown, "\n"), strings.Join(want, "\n"))
	}
	if all := w.Since(0); len(all) != 5 {
		t.Errorf("kept %d lines, want all 5 (muted and undocumented ones too)", len(all))
	}
}

func parseFormat(t *testing.T, raw string) string { return FormatLine(parse(t, raw)) }

func TestLogGroups(t *testing.T) {
	// The same handler line for two chats, the lookup's line twice for one.
	otherChat := strings.Replace(handlerLine, `"chat":"p1001-demo"`, `"chat":"p1001-busy-1"`, 1)
	raws := []string{handlerLine, servingLine, gaveUpLine, otherChat, outboxLine, handlerLine, gaveUpLine}
	var lines []botlog.Line
	for _, raw := range raws {
		lines = append(lines, parse(t, raw))
	}
	tests := []struct {
		name string
		key  func(botlog.Line) string
		want []string
	}{
		{name: "lines that read the same", key: FormatLine,
			want: []string{"2x " + parseFormat(t, handlerLine), "2x " + parseFormat(t, gaveUpLine), "1x " + parseFormat(t, otherChat)}},
		{name: "lines of the same kind", key: func(l botlog.Line) string { return l.Msg },
			want: []string{"3x " + parseFormat(t, handlerLine), "2x " + parseFormat(t, gaveUpLine)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			NewNarrator(&out, nil).LogGroups(lines, tt.key)
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				_, g, _ := strings.Cut(l, "log | ")
				got = append(got, g)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant (other lines left out, in order of first appearance)\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
