package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p1001/p1001/suites/botapi"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line    string
		want    Command
		wantErr string // fragment of the error; "" = no error
	}{
		{line: "", want: Command{Kind: CmdNone}},
		{line: "   ", want: Command{Kind: CmdNone}},
		{line: "down", want: Command{Kind: CmdDown}},
		{line: "  DOWN ", want: Command{Kind: CmdDown}},
		{line: "up", want: Command{Kind: CmdUp}},
		{line: "reset", want: Command{Kind: CmdReset}},
		{line: "blackhole", want: Command{Kind: CmdBlackhole}},
		{line: "status", want: Command{Kind: CmdStatus}},
		{line: "help", want: Command{Kind: CmdHelp}},
		{line: "quit", want: Command{Kind: CmdQuit}},
		{line: "latency 800", want: Command{Kind: CmdLatency, Latency: 800 * time.Millisecond}},
		{line: "latency 2s", want: Command{Kind: CmdLatency, Latency: 2 * time.Second}},
		{line: "latency   1500ms", want: Command{Kind: CmdLatency, Latency: 1500 * time.Millisecond}},
		{line: "latency", wantErr: "latency needs a delay"},
		{line: "latency fast", wantErr: `latency "fast": want milliseconds`},
		{line: "latency 0", wantErr: "between 1ms and 1m0s"},
		{line: "latency -5", wantErr: "between 1ms and 1m0s"},
		{line: "latency 2m", wantErr: "between 1ms and 1m0s"},
		{line: "latency 1.5ms", wantErr: "whole milliseconds"},
		{line: "down now", wantErr: "say down now"},
		{line: "quit please", wantErr: "quit takes no arguments"},
		{line: "say down", want: Command{Kind: CmdMessage, Text: "down"}},
		{line: "say  latency 800 ", want: Command{Kind: CmdMessage, Text: "latency 800"}},
		{line: "say", wantErr: "say needs the text"},
		{line: "hello there", want: Command{Kind: CmdMessage, Text: "hello there"}},
		{line: "/setprompt You are a pirate.", want: Command{Kind: CmdMessage, Text: "/setprompt You are a pirate."}},
		{line: "/reset", want: Command{Kind: CmdMessage, Text: "/reset"}},
		{line: "downtime is bad", want: Command{Kind: CmdMessage, Text: "downtime is bad"}},
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
	tests := []struct {
		name  string
		build func(*Summary)
		want  string
	}{
		{
			name:  "nothing happened",
			build: func(*Summary) {},
			want: "summary: 0 message(s) in 2s, 0 without a reply\n" +
				"  by prompt source: custom 0, cached 0, default 0\n" +
				"  degraded: 0, of which fast-failed by the breaker (attempts 0): 0\n" +
				"  faults applied: none",
		},
		{
			name: "an outage and a recovery",
			build: func(s *Summary) {
				s.AddReply(Reply{Reply: botapi.Reply{PromptSource: "custom", Attempts: 1}, Latency: 12 * time.Millisecond})
				s.AddFault(3200*time.Millisecond, "down")
				s.AddReply(Reply{Reply: botapi.Reply{PromptSource: "cached", Degraded: true, Code: "P1001", Attempts: 3}, Latency: 80 * time.Millisecond})
				s.AddReply(Reply{Reply: botapi.Reply{PromptSource: "cached", Degraded: true, Code: "P1001"}, Latency: time.Millisecond})
				s.AddFault(9*time.Second, "latency 800ms")
				s.AddReply(Reply{Reply: botapi.Reply{PromptSource: "default", Degraded: true, Code: "P2024", Attempts: 3}, Latency: 5002 * time.Millisecond})
				s.AddFailure()
				s.AddFault(15*time.Second, "up")
				s.AddReply(Reply{Reply: botapi.Reply{PromptSource: "custom", Attempts: 1}})
			},
			want: "summary: 6 message(s) in 2s, 1 without a reply\n" +
				"  by prompt source: custom 2, cached 2, default 1\n" +
				"  degraded: 3 (P1001 2, P2024 1), of which fast-failed by the breaker (attempts 0): 1\n" +
				"  slowest reply: 5.002s\n" +
				"  faults applied: 3: +3.2s down, +9.0s latency 800ms, +15.0s up",
		},
		{
			name: "an unknown prompt source is counted, not dropped",
			build: func(s *Summary) {
				s.AddReply(Reply{Reply: botapi.Reply{PromptSource: "telepathy"}, Latency: time.Millisecond})
			},
			want: "summary: 1 message(s) in 2s, 0 without a reply\n" +
				"  by prompt source: custom 0, cached 0, default 0, telepathy 1\n" +
				"  degraded: 0, of which fast-failed by the breaker (attempts 0): 0\n" +
				"  slowest reply: 1ms\n" +
				"  faults applied: none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Summary
			tt.build(&s)
			if got := s.Format(2 * time.Second); got != tt.want {
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
	if s.Messages != 3 || s.BySource["custom"] != 2 || s.BySource["cached"] != 1 || s.Degraded != 1 || s.Codes["P1001"] != 1 {
		t.Errorf("summary %+v: want 3 messages, custom 2, cached 1, 1 degraded with P1001", s)
	}
	if len(s.FaultEvents) != 2 || s.FaultEvents[0].What != "down" || s.FaultEvents[1].What != "up" {
		t.Errorf("fault events %+v, want down then up", s.FaultEvents)
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
			if len(s.FaultEvents) != tt.wantFault {
				t.Errorf("fault events %+v, want %d", s.FaultEvents, tt.wantFault)
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
	if s.Messages != 1 || s.Failed != 1 {
		t.Errorf("summary %+v: want the message counted as failed", s)
	}
	if len(s.FaultEvents) != 0 {
		t.Errorf("a fault that was refused was recorded: %+v", s.FaultEvents)
	}
	for _, want := range []string{"FAIL: latency 800ms: toxiproxy said no", "FAIL: no reply: message to chat console: connection refused",
		"faults in force: none", "bot /readyz: connection refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestConsoleAnnouncesDatabaseChanges(t *testing.T) {
	var out syncBuffer
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
