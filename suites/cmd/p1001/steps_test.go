package main

import (
	"bytes"
	"cmp"
	"context"
	"strings"
	"testing"
	"time"
)

func TestDemoTellsKeptFromBrokenPromises(t *testing.T) {
	tests := []struct {
		name string
		b    behaviour
		// expect replaces the outage's expectation when set.
		expect *Expectation
		// wantFailures are fragments, one per expected failure; none means
		// every step must pass.
		wantFailures []string
		// recoveryBound, when set, replaces a minute: the wait for custom
		// replies ends as soon as they come, so only a bot that never
		// recovers needs a short one (200ms was too short for three
		// replies once, on a loaded machine under -race).
		recoveryBound time.Duration
	}{
		{name: "the bot keeps every promise", b: behaviour{recoverAfter: 2}},
		{name: "no P1001 line in the log", b: behaviour{recoverAfter: 2, noUnreachableLine: true},
			wantFailures: []string{"P1001: Can't reach database server at `toxiproxy`:`6543`"}},
		{name: "the reply does not name the server", b: behaviour{recoverAfter: 2, noMeta: true},
			wantFailures: []string{"the reply names the server: meta no meta (want toxiproxy:6543)"}},
		{name: "the log's error names another code than the reply", b: behaviour{recoverAfter: 2, otherErrorCode: true},
			expect:       &Expectation{ReplyCodes: []string{"P1001"}, Attempts: AllAttempts},
			wantFailures: []string{"its error is the reply's code"}},
		{name: "a refusal that retrying cannot fix is retried", b: behaviour{recoverAfter: 2},
			expect:       &Expectation{ReplyCodes: []string{"P1001"}, Attempts: NotRetried},
			wantFailures: []string{"the lookup gave up early: 3 attempt(s) of 3", "Giving up after 3/3 attempts op=getCustomPrompt code=P1001"}},
		{name: "fallback to the default prompt despite a fresh cache", b: behaviour{recoverAfter: 2, fallbackSource: "default"},
			wantFailures: []string{"from the cached custom prompt", "replies failed fast"}},
		{name: "the breaker never opens", b: behaviour{recoverAfter: 2, noBreaker: true},
			wantFailures: []string{"0/3 replies failed fast"}},
		{name: "the breaker answers, but slowly", b: behaviour{recoverAfter: 2, breakerLatency: time.Second},
			wantFailures: []string{"0/3 replies failed fast"}},
		{name: "the bot never recovers", b: behaviour{recoverAfter: -1}, recoveryBound: 200 * time.Millisecond,
			wantFailures: []string{"custom replies again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n := NewNarrator(&out, nil)
			logs := NewLogWatcher(n)
			proxy := &fakeProxy{}
			bot := &fakeBot{proxy: proxy, logs: logs, b: tt.b}
			d := &Demo{Verdict: &Verdict{N: n}, Bot: bot, Logs: logs, Target: fakeTarget{proxy}, Fault: outage,
				Expect: expectations(outage), Chat: "demo", MaxAttempts: 3,
				LogWait: 50 * time.Millisecond, PollEvery: time.Millisecond, RecoveryBound: cmp.Or(tt.recoveryBound, time.Minute)}
			if tt.expect != nil {
				d.Expect = *tt.expect
			}
			for _, s := range d.Steps() {
				if err := s.Run(context.Background()); err != nil {
					t.Fatalf("%s: %v\n%s", s.Title, err, out.String())
				}
			}
			failures := d.failures
			if len(failures) != len(tt.wantFailures) {
				t.Fatalf("failures %q, want %d matching %q\n%s", failures, len(tt.wantFailures), tt.wantFailures, out.String())
			}
			for i, want := range tt.wantFailures {
				if !strings.Contains(failures[i], want) {
					t.Errorf("failure %d = %q, want it to mention %q", i, failures[i], want)
				}
			}
			if got := proxy.Calls(); strings.Join(got, ",") != "disable,enable" {
				t.Errorf("proxy calls %q, want the fault applied once and cleared once", got)
			}
		})
	}
}

func TestDemoShowsTheDocumentedLinesBeforeTheReply(t *testing.T) {
	var out bytes.Buffer
	n := NewNarrator(&out, nil)
	logs := NewLogWatcher(n)
	proxy := &fakeProxy{}
	d := &Demo{Verdict: &Verdict{N: n}, Bot: &fakeBot{proxy: proxy, logs: logs}, Logs: logs, Target: fakeTarget{proxy}, Fault: outage,
		Expect: expectations(outage), Chat: "demo", MaxAttempts: 3, LogWait: 50 * time.Millisecond}
	ctx := context.Background()
	if err := d.StepCut(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.StepDegraded(ctx); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	retry := strings.Index(text, "log | WARN  [Prisma Retry] Attempt 1/3 failed")
	gaveUp := strings.Index(text, `reason="connection refused" error="P1001: Can't reach database server at `+"`toxiproxy`:`6543`")
	reply := strings.Index(text, "bot < [cached | DEGRADED P1001 | attempts 3")
	if retry < 0 || gaveUp < 0 || reply < 0 || !(retry < gaveUp && gaveUp < reply) {
		t.Errorf("want the retry line, then the P1001 line, then the reply; got:\n%s", text)
	}
}
