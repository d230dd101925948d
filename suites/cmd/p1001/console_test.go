package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/suites/botapi"

	"github.com/p1001/p1001/internal/syncbuf"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line    string
		want    Command
		wantErr string // fragment of the error; "" = no error
	}{
		{line: "", want: Command{}},
		{line: "   ", want: Command{}},
		{line: "down", want: Command{Word: "down"}},
		{line: "  DOWN ", want: Command{Word: "down"}},
		{line: "up", want: Command{Word: "up"}},
		{line: "reset", want: Command{Word: "reset"}},
		{line: "blackhole", want: Command{Word: "blackhole"}},
		{line: "status", want: Command{Word: "status"}},
		{line: "help", want: Command{Word: "help"}},
		{line: "quit", want: Command{Word: "quit"}},
		{line: "latency 800", want: Command{Word: "latency", Latency: 800 * time.Millisecond}},
		{line: "latency 2s", want: Command{Word: "latency", Latency: 2 * time.Second}},
		{line: "latency   1500ms", want: Command{Word: "latency", Latency: 1500 * time.Millisecond}},
		{line: "latency", wantErr: "latency needs a delay"},
		{line: "latency fast", wantErr: `latency "fast": want milliseconds`},
		{line: "latency 0", wantErr: "between 1ms and 1m0s"},
		{line: "latency -5", wantErr: "between 1ms and 1m0s"},
		{line: "latency 2m", wantErr: "between 1ms and 1m0s"},
		{line: "latency 1.5ms", wantErr: "whole milliseconds"},
		{line: "down now", wantErr: "say down now"},
		{line: "quit please", wantErr: "quit takes no arguments"},
		{line: "say down", want: Command{Text: "down"}},
		{line: "say  latency 800 ", want: Command{Text: "latency 800"}},
		{line: "say", wantErr: "say needs the text"},
		{line: "hello there", want: Command{Text: "hello there"}},
		{line: "/setprompt You are a pirate.", want: Command{Text: "/setprompt You are a pirate."}},
		{line: "/reset", want: Command{Text: "/reset"}},
		{line: "downtime is bad", want: Command{Text: "downtime is bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := ParseCommand(tt.line)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCommand(%q) = %+v, %v; want an error with %q", tt.line, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCommand(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestSummaryFormat(t *testing.T) {
	reply := func(source string, degraded bool, code string, attempts int, latency time.Duration) Reply {
		return Reply{Reply: botapi.Reply{PromptSource: source, Degraded: degraded, Code: code, Attempts: attempts}, Latency: latency}
	}
	tests := []struct {
		name string
		s    Summary
		want string
	}{
		{
			name: "nothing happened",
			want: "summary: 0 message(s) in 2s, 0 without a reply\n" +
				"  by prompt source: custom 0, cached 0, default 0\n" +
				"  degraded: 0, of which fast-failed by the breaker (attempts 0): 0\n" +
				"  faults applied: none",
		},
		{
			name: "an outage and a recovery",
			s: Summary{
				Replies: []Reply{
					reply("custom", false, "", 1, 12*time.Millisecond),
					reply("cached", true, "P1001", 3, 80*time.Millisecond),
					reply("cached", true, "P1001", 0, time.Millisecond),
					reply("default", true, "P2024", 3, 5002*time.Millisecond),
					reply("custom", false, "", 1, 0),
				},
				Failed: 1,
				Faults: []string{"+3.2s down", "+9.0s latency 800ms", "+15.0s up"},
			},
			want: "summary: 6 message(s) in 2s, 1 without a reply\n" +
				"  by prompt source: custom 2, cached 2, default 1\n" +
				"  degraded: 3 (P1001 2, P2024 1), of which fast-failed by the breaker (attempts 0): 1\n" +
				"  slowest reply: 5.002s\n" +
				"  faults applied: 3: +3.2s down, +9.0s latency 800ms, +15.0s up",
		},
		{
			name: "an unknown prompt source is counted, not dropped",
			s:    Summary{Replies: []Reply{reply("telepathy", false, "", 0, time.Millisecond)}},
			want: "summary: 1 message(s) in 2s, 0 without a reply\n" +
				"  by prompt source: custom 0, cached 0, default 0, telepathy 1\n" +
				"  degraded: 0, of which fast-failed by the breaker (attempts 0): 0\n" +
				"  slowest reply: 1ms\n" +
				"  faults applied: none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Format(2 * time.Second); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// runConsole plays input against a simulated bot and proxy.
func runConsole(t *testing.T, input string) (Summary, *fakeProxy, string) {
	t.Helper()
	var out bytes.Buffer
	n := NewNarrator(&out, nil)
	proxy := &fakeProxy{}
	c := &Console{Bot: &fakeBot{proxy: proxy}, Target: fakeTarget{proxy}, N: n, Chat: "console"}
	s := c.Run(context.Background(), strings.NewReader(input))
	return s, proxy, out.String()
}

func TestConsoleDownMessageUpMessage(t *testing.T) {
	s, proxy, out := runConsole(t, "hello\ndown\nare you there?\nup\nand now?\nquit\nnever read\n")
	if got := strings.Join(proxy.Calls(), ","); got != "disable,enable" {
		t.Errorf("proxy calls %q, want disable,enable", got)
	}
	if got := s.Format(0); !strings.Contains(got, "3 message(s)") || !strings.Contains(got, "custom 2, cached 1, default 0") ||
		!strings.Contains(got, "degraded: 1 (P1001 1)") {
		t.Errorf("summary %s: want 3 messages, custom 2, cached 1, 1 degraded with P1001", got)
	}
	if len(s.Faults) != 2 || !strings.HasSuffix(s.Faults[0], "s down") || !strings.HasSuffix(s.Faults[1], "s up") {
		t.Errorf("faults %q, want down then up", s.Faults)
	}
	for _, want := range []string{
		"bot < [cached | DEGRADED P1001 | attempts 3",
		"ok down: outage pooler: disabled: new connections refused",
		"ok up: cleared down",
		"summary: 3 message(s)",
		"faults applied: 2: +",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "never read") {
		t.Errorf("a line after quit was acted on:\n%s", out)
	}
}

func TestConsoleFaultCommands(t *testing.T) {
	tests := []struct {
		name      string
		input     string
		wantCalls string
		wantOut   []string
		wantFault int // fault events recorded
	}{
		{name: "up without a fault does nothing", input: "up\n", wantCalls: "",
			wantOut: []string{"no fault in force"}},
		{name: "down twice disables once", input: "down\ndown\n", wantCalls: "disable", wantFault: 1,
			wantOut: []string{"down is already in force"}},
		{name: "a new latency replaces the old one", input: "latency 800\nlatency 1500\nlatency 1500\nup\n",
			wantCalls: "add p1001-latency latency downstream 1.0 jitter=0,latency=800,remove p1001-latency," +
				"add p1001-latency latency downstream 1.0 jitter=0,latency=1500,remove p1001-latency",
			wantFault: 3, wantOut: []string{"latency 1.5s is already in force", "up: cleared latency 1.5s"}},
		{name: "up clears every fault, last first", input: "reset\nblackhole\nup\n",
			wantCalls: "add p1001-reset_peer reset_peer upstream 1.0 timeout=0,add p1001-black_hole timeout downstream 1.0 timeout=0," +
				"remove p1001-black_hole,remove p1001-reset_peer",
			wantFault: 3, wantOut: []string{"up: cleared black_hole, reset_peer"}},
		{name: "status names the faults in force and the bot's view", input: "down\nhello\nstatus\n", wantCalls: "disable", wantFault: 1,
			wantOut: []string{"faults in force: down", "bot /readyz: database down (P1001), breaker open"}},
		{name: "a bad command is explained, not sent", input: "latency soon\ndown please\n", wantCalls: "",
			wantOut: []string{`latency "soon": want milliseconds`, "say down please"}},
		{name: "end of input ends the console", input: "down", wantCalls: "disable", wantFault: 1,
			wantOut: []string{"summary: 0 message(s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, proxy, out := runConsole(t, tt.input)
			if got := strings.Join(proxy.Calls(), ","); got != tt.wantCalls {
				t.Errorf("proxy calls\n%s\nwant\n%s", got, tt.wantCalls)
			}
			if len(s.Faults) != tt.wantFault {
				t.Errorf("faults %q, want %d", s.Faults, tt.wantFault)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestConsoleReportsWhatFailed(t *testing.T) {
	var out bytes.Buffer
	proxy := &fakeProxy{failAdd: errors.New("toxiproxy said no")}
	c := &Console{Bot: errBot{}, Target: fakeTarget{proxy}, N: NewNarrator(&out, nil), Chat: "console"}
	s := c.Run(context.Background(), strings.NewReader("latency 800\nhello\nstatus\n"))
	if len(s.Replies) != 0 || s.Failed != 1 {
		t.Errorf("summary %+v: want the message counted as failed", s)
	}
	if len(s.Faults) != 0 {
		t.Errorf("a fault that was refused was recorded: %q", s.Faults)
	}
	for _, want := range []string{"FAIL: latency 800ms: toxiproxy said no", "FAIL: no reply: message to chat console: connection refused",
		"faults in force: none", "bot /readyz: connection refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestConsoleAnnouncesDatabaseChanges(t *testing.T) {
	var out syncbuf.Buffer
	proxy := &fakeProxy{}
	bot := &fakeBot{proxy: proxy}
	c := &Console{Bot: bot, Target: fakeTarget{proxy}, N: NewNarrator(&out, nil), Chat: "console", WatchEvery: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, feed := newLineFeed()
	done := make(chan Summary)
	go func() { done <- c.Run(ctx, in) }()
	feed <- "down"
	feed <- "hello"
	waitFor(t, &out, "bot: database down (P1001), breaker open")
	feed <- "up"
	feed <- "hello again"
	waitFor(t, &out, "bot: database up, breaker closed")
	close(feed)
	<-done
}
