package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// Lines as the bot logs them (LOG_FORMAT=json), with their real attributes.
const (
	retryLine   = `{"time":"2026-11-26T09:32:39.854Z","level":"WARN","msg":"[DB Retry] Attempt 1/3 failed, retrying in 44ms...","op":"getCustomPrompt","code":"P1017","attempt":1,"max_attempts":3,"delay_ms":44,"err":"unexpected EOF"}`
	refusedLine = `{"time":"2026-11-26T09:32:39.900Z","level":"WARN","msg":"[DB Retry] Attempt 2/3 failed, retrying in 28ms...","op":"getCustomPrompt","code":"P1001","attempt":2,"max_attempts":3,"delay_ms":28,"err":"acquire connection: failed to connect:\n\t172.30.0.3:6543 (toxiproxy): dial error: connection refused"}`
	gaveUpLine  = `{"time":"2026-11-26T09:32:39.932Z","level":"ERROR","msg":"[getCustomPrompt] Database connection error after retries, using fallback prompt","chat":"p1001-demo","code":"P1001","source":"cached","attempts":3,"error":"P1001: Can't reach database server at toxiproxy:6543: connection refused (3 attempts)"}`
	handlerLine = `{"time":"2026-11-26T09:32:39.932Z","level":"WARN","msg":"[MessageHandler] Database connection error, replying in degraded mode","chat":"p1001-demo","code":"P1001","source":"cached","attempts":3}`
	servingLine = `{"time":"2026-11-26T09:32:39.100Z","level":"INFO","msg":"[Bot] serving","addr":"[::]:8080","max_attempts":3,"breaker":true}`
	outboxLine  = `{"time":"2026-11-26T09:32:40.100Z","level":"DEBUG","msg":"[Outbox] write failed, will retry","records":2}`
)

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		raw       string
		wantOK    bool
		wantLevel string
		wantMsg   string
		wantTime  bool
	}{
		{raw: retryLine + "\n", wantOK: true, wantLevel: "WARN", wantMsg: "[DB Retry] Attempt 1/3 failed, retrying in 44ms...", wantTime: true},
		{raw: "panic: runtime error: index out of range", wantOK: true, wantMsg: "panic: runtime error: index out of range"},
		{raw: `{"level":"INFO","msg":"no time","time":"yesterday"}`, wantOK: true, wantLevel: "INFO", wantMsg: "no time"},
		{raw: "  \n", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.wantMsg, func(t *testing.T) {
			l, ok := ParseLogLine([]byte(tt.raw))
			if ok != tt.wantOK || l.Level != tt.wantLevel || l.Msg != tt.wantMsg || l.Time.IsZero() == tt.wantTime {
				t.Errorf("ParseLogLine(%q) = %+v, %v", tt.raw, l, ok)
			}
			if _, has := l.Attrs["msg"]; has {
				t.Errorf("msg left among the attributes: %v", l.Attrs)
			}
		})
	}
}

func TestDocumentedAndFormat(t *testing.T) {
	tests := []struct {
		raw        string
		documented bool
		format     string
	}{
		{raw: retryLine, documented: true,
			format: `WARN  [DB Retry] Attempt 1/3 failed, retrying in 44ms... op=getCustomPrompt code=P1017 err="unexpected EOF"`},
		{raw: refusedLine, documented: true,
			format: `WARN  [DB Retry] Attempt 2/3 failed, retrying in 28ms... op=getCustomPrompt code=P1001 err="acquire connection: failed to connect: 172.30.0.3:6543 (toxiproxy): dial error: connection refused"`},
		{raw: gaveUpLine, documented: true,
			format: `ERROR [getCustomPrompt] Database connection error after retries, using fallback prompt chat=p1001-demo code=P1001 source=cached attempts=3 error="P1001: Can't reach database server at toxiproxy:6543: connection refused (3 attempts)"`},
		{raw: handlerLine, documented: true,
			format: `WARN  [MessageHandler] Database connection error, replying in degraded mode chat=p1001-demo code=P1001 source=cached attempts=3`},
		{raw: servingLine, documented: false, format: `INFO  [Bot] serving`},
		{raw: outboxLine, documented: false, format: `DEBUG [Outbox] write failed, will retry`},
		{raw: "fatal error: all goroutines are asleep", documented: false, format: "fatal error: all goroutines are asleep"},
	}
	for _, tt := range tests {
		l, _ := ParseLogLine([]byte(tt.raw))
		if got := Documented(l); got != tt.documented {
			t.Errorf("Documented(%q) = %v, want %v", l.Msg, got, tt.documented)
		}
		if got := l.Format(); got != tt.format {
			t.Errorf("Format:\n got %s\nwant %s", got, tt.format)
		}
	}
}

func TestLogWatcherEchoesDocumentedLinesAndKeepsAll(t *testing.T) {
	var mu sync.Mutex
	var echoed []string
	w := NewLogWatcher(func(l LogLine) {
		mu.Lock()
		defer mu.Unlock()
		echoed = append(echoed, l.Msg)
	})
	// Docker may hand over several lines at once.
	w.Accept([]byte(servingLine + "\n" + retryLine + "\n\n"))
	w.Mute(true)
	w.Accept([]byte(handlerLine))
	w.Mute(false)
	mark := w.Mark()
	w.Accept([]byte(gaveUpLine))
	w.Accept([]byte(outboxLine))

	mu.Lock()
	got := strings.Join(echoed, " | ")
	mu.Unlock()
	want := "[DB Retry] Attempt 1/3 failed, retrying in 44ms... | [getCustomPrompt] Database connection error after retries, using fallback prompt"
	if got != want {
		t.Errorf("echoed %q, want %q (documented lines only, none while muted)", got, want)
	}
	if since := w.Since(mark); len(since) != 2 || since[0].Attr("chat") != "p1001-demo" || since[1].Msg != "[Outbox] write failed, will retry" {
		t.Errorf("Since(mark) = %+v, want the two lines after the mark", since)
	}
	if all := w.Since(0); len(all) != 5 {
		t.Errorf("kept %d lines, want all 5 (muted and undocumented ones too)", len(all))
	}
}

func TestLogWatcherWaitFor(t *testing.T) {
	w := NewLogWatcher(nil)
	hasHandler := func(lines []LogLine) bool {
		return countMsg(lines, "[MessageHandler] ", map[string]string{"chat": "p1001-demo"}) > 0
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.Accept([]byte(retryLine))
		w.Accept([]byte(handlerLine))
	}()
	if !w.WaitFor(context.Background(), 0, 5*time.Second, hasHandler) {
		t.Fatal("WaitFor missed a line that came later")
	}
	if w.WaitFor(context.Background(), w.Mark(), 30*time.Millisecond, hasHandler) {
		t.Fatal("WaitFor saw a line before the mark")
	}
	other := map[string]string{"chat": "someone-else"}
	if n := countMsg(w.Since(0), "[MessageHandler] ", other); n != 0 {
		t.Errorf("countMsg matched another chat's line %d time(s)", n)
	}
}

func TestGroupDocumented(t *testing.T) {
	var lines []LogLine
	for _, raw := range []string{handlerLine, servingLine, gaveUpLine, handlerLine, outboxLine, handlerLine, gaveUpLine} {
		l, _ := ParseLogLine([]byte(raw))
		lines = append(lines, l)
	}
	groups := GroupDocumented(lines)
	if len(groups) != 2 {
		t.Fatalf("got %d groups, want 2 (undocumented lines left out): %+v", len(groups), groups)
	}
	if !strings.HasPrefix(groups[0].Line.Msg, "[MessageHandler]") || groups[0].Count != 3 ||
		!strings.HasPrefix(groups[1].Line.Msg, "[getCustomPrompt]") || groups[1].Count != 2 {
		t.Errorf("groups %+v: want [MessageHandler] x3 then [getCustomPrompt] x2, in order of first appearance", groups)
	}
}
