package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
)

// CommandKind is what one console line asks for.
type CommandKind int

const (
	CmdNone      CommandKind = iota // blank line
	CmdMessage                      // a chat message (Text)
	CmdDown                         // disable the pooler proxy
	CmdUp                           // remove every fault
	CmdLatency                      // latency toxic (Latency)
	CmdReset                        // reset_peer toxic
	CmdBlackhole                    // timeout toxic, timeout 0
	CmdStatus
	CmdHelp
	CmdQuit
)

type Command struct {
	Kind    CommandKind
	Text    string        // CmdMessage
	Latency time.Duration // CmdLatency
}

// maxLatency bounds `latency`: Toxiproxy takes whole milliseconds, and a
// minute is far past any timeout the bot has.
const maxLatency = time.Minute

var bareCommands = map[string]CommandKind{
	"down": CmdDown, "up": CmdUp, "reset": CmdReset, "blackhole": CmdBlackhole,
	"status": CmdStatus, "help": CmdHelp, "quit": CmdQuit,
}

// ParseCommand reads one console line. Command words are case-insensitive;
// anything that is not a command is a chat message, and `say <text>` sends
// text that would otherwise read as a command.
func ParseCommand(line string) (Command, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return Command{Kind: CmdNone}, nil
	}
	word, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch w := strings.ToLower(word); {
	case w == "say":
		if rest == "" {
			return Command{}, errors.New("say needs the text to send, e.g. say down")
		}
		return Command{Kind: CmdMessage, Text: rest}, nil
	case w == "latency":
		d, err := parseLatency(rest)
		if err != nil {
			return Command{}, err
		}
		return Command{Kind: CmdLatency, Latency: d}, nil
	case bareCommands[w] != CmdNone:
		if rest != "" {
			return Command{}, fmt.Errorf("%s takes no arguments (to send the line as a message: say %s)", w, line)
		}
		return Command{Kind: bareCommands[w]}, nil
	}
	return Command{Kind: CmdMessage, Text: line}, nil
}

// parseLatency reads `latency 800` (milliseconds) or `latency 2s`.
func parseLatency(arg string) (time.Duration, error) {
	if arg == "" {
		return 0, errors.New("latency needs a delay: milliseconds (latency 800) or a duration (latency 2s)")
	}
	var d time.Duration
	if ms, err := strconv.Atoi(arg); err == nil {
		d = time.Duration(ms) * time.Millisecond
	} else if d, err = time.ParseDuration(arg); err != nil {
		return 0, fmt.Errorf("latency %q: want milliseconds (latency 800) or a duration (latency 2s)", arg)
	}
	if d < time.Millisecond || d > maxLatency {
		return 0, fmt.Errorf("latency %q: want between 1ms and %s", arg, maxLatency)
	}
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("latency %q: Toxiproxy takes whole milliseconds", arg)
	}
	return d, nil
}

const consoleHelp = `commands:
  down           disable the pooler proxy (connections refused: P1001)
  up             remove every fault
  latency <ms>   delay answers through the pooler (latency 800, latency 3s)
  reset          reset every connection that sends data (reset_peer)
  blackhole      nothing comes back, nothing is closed (timeout toxic 0, downstream)
  status         the faults in force, the bot's view of its database, the counts
  say <text>     send text as a message even when it reads as a command
  help           this list
  quit           leave with a summary (Ctrl-D too)
anything else is a message to chat %q (the bot's /setprompt, /prompt, /reset work too)`

// FaultEvent is one fault command that took effect.
type FaultEvent struct {
	At   time.Duration // since the console opened
	What string
}

// Summary counts what happened in a console session.
type Summary struct {
	Messages    int
	Failed      int // no reply: HTTP or transport error
	BySource    map[string]int
	Degraded    int
	Codes       map[string]int
	FastFailed  int // degraded with attempts 0: the breaker answered
	Slowest     time.Duration
	FaultEvents []FaultEvent
}

func (s *Summary) AddReply(r Reply) {
	s.Messages++
	if s.BySource == nil {
		s.BySource = map[string]int{}
	}
	s.BySource[r.PromptSource]++
	if r.Degraded {
		s.Degraded++
		if s.Codes == nil {
			s.Codes = map[string]int{}
		}
		s.Codes[r.Code]++
		if r.Attempts == 0 {
			s.FastFailed++
		}
	}
	s.Slowest = max(s.Slowest, r.Latency)
}

func (s *Summary) AddFailure() {
	s.Messages++
	s.Failed++
}

func (s *Summary) AddFault(at time.Duration, what string) {
	s.FaultEvents = append(s.FaultEvents, FaultEvent{At: at, What: what})
}

// knownSources come first in the summary, in the order of prompt resolution.
var knownSources = []string{scenarios.SourceCustom, scenarios.SourceCached, scenarios.SourceDefault}

// Format renders the summary; elapsed is the session's length.
func (s Summary) Format(elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %d message(s) in %s, %d without a reply\n", s.Messages, elapsed.Round(100*time.Millisecond), s.Failed)
	var sources []string
	for _, k := range knownSources {
		sources = append(sources, fmt.Sprintf("%s %d", k, s.BySource[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(s.BySource)) {
		if !slices.Contains(knownSources, k) {
			sources = append(sources, fmt.Sprintf("%s %d", k, s.BySource[k]))
		}
	}
	fmt.Fprintf(&b, "  by prompt source: %s\n", strings.Join(sources, ", "))
	fmt.Fprintf(&b, "  degraded: %d", s.Degraded)
	if len(s.Codes) > 0 {
		var codes []string
		for _, c := range slices.Sorted(maps.Keys(s.Codes)) {
			codes = append(codes, fmt.Sprintf("%s %d", c, s.Codes[c]))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(codes, ", "))
	}
	fmt.Fprintf(&b, ", of which fast-failed by the breaker (attempts 0): %d\n", s.FastFailed)
	if s.Messages > s.Failed {
		fmt.Fprintf(&b, "  slowest reply: %s\n", roundDuration(s.Slowest))
	}
	if len(s.FaultEvents) == 0 {
		b.WriteString("  faults applied: none")
		return b.String()
	}
	var events []string
	for _, e := range s.FaultEvents {
		events = append(events, fmt.Sprintf("+%.1fs %s", e.At.Seconds(), e.What))
	}
	fmt.Fprintf(&b, "  faults applied: %d: %s", len(s.FaultEvents), strings.Join(events, ", "))
	return b.String()
}

// ConsoleBot is what the console needs from the bot: a *botapi.Client.
type ConsoleBot interface {
	Send(ctx context.Context, chat, text string) (botapi.Reply, time.Duration, error)
	Readiness(ctx context.Context) (botapi.Readiness, error)
}

// send posts text to chat; a refusal's error shows the bot's answer as it came.
func send(ctx context.Context, bot ConsoleBot, chat, text string) (Reply, error) {
	r, latency, err := bot.Send(ctx, chat, text)
	var status *botapi.StatusError
	switch {
	case errors.As(err, &status):
		return Reply{}, fmt.Errorf("message to chat %s: HTTP %d: %s", chat, status.Status, status.Answer)
	case err != nil:
		return Reply{}, fmt.Errorf("message to chat %s: %w", chat, err)
	}
	return Reply{Reply: r, Latency: latency}, nil
}

// Console chats with the bot and toggles faults on the pooler proxy.
type Console struct {
	Bot ConsoleBot
	// Target is the stack the faults are played on (environment.Env.Faults).
	Target scenarios.Target
	N      *Narrator
	Chat   string
	// WatchEvery is how often the bot's /readyz is polled to announce
	// database and breaker changes; 0 turns the watcher off.
	WatchEvery time.Duration

	active  []scenarios.Fault // in the order applied
	summary Summary
	opened  time.Time
}

// Run reads commands from in until quit, end of input or ctx's end, then
// prints the summary and returns it.
func (c *Console) Run(ctx context.Context, in io.Reader) Summary {
	c.opened = time.Now()
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if c.WatchEvery > 0 {
		// The first state is read before any command runs: a fault the
		// user applies at once is then a change, not the starting point.
		go c.watch(watchCtx, c.dbState(ctx))
	}

	c.N.Say("console ready: type a message or a command (help lists them); chat %q", c.Chat)
loop:
	for {
		select {
		case <-ctx.Done():
			c.N.Say("interrupted")
			break loop
		case err := <-readErr:
			if err != nil {
				c.N.Fail("reading the console: %v", err)
			}
			break loop
		case line := <-lines:
			cmd, err := ParseCommand(line)
			if err != nil {
				c.N.Say("%v", err)
				continue
			}
			if cmd.Kind == CmdQuit {
				break loop
			}
			c.Do(ctx, cmd)
		}
	}
	stopWatch()
	c.N.Say("%s", c.summary.Format(time.Since(c.opened)))
	return c.summary
}

func (c *Console) Do(ctx context.Context, cmd Command) {
	switch cmd.Kind {
	case CmdNone, CmdQuit:
	case CmdMessage:
		r, err := send(ctx, c.Bot, c.Chat, cmd.Text)
		if err != nil {
			c.summary.AddFailure()
			c.N.Fail("no reply: %v", err)
			return
		}
		c.summary.AddReply(r)
		c.N.Bot(r)
	case CmdDown, CmdBlackhole, CmdReset, CmdLatency:
		kind := map[CommandKind]string{CmdDown: scenarios.TypeOutage, CmdBlackhole: scenarios.KindBlackHole,
			CmdReset: scenarios.TypeResetPeer, CmdLatency: scenarios.TypeLatency}[cmd.Kind]
		f, err := faultOf(kind, cmd.Latency)
		if err != nil {
			c.N.Fail("%v", err)
			return
		}
		c.apply(ctx, f)
	case CmdUp:
		c.up(ctx)
	case CmdStatus:
		c.status(ctx)
	case CmdHelp:
		c.N.Say(consoleHelp, c.Chat)
	}
}

func (c *Console) apply(ctx context.Context, f scenarios.Fault) {
	for i, a := range c.active {
		if a.Type != f.Type {
			continue
		}
		if a.Describe() == f.Describe() {
			c.N.Say("%s is already in force (up removes it)", label(f))
			return
		}
		// A new latency replaces the old one.
		if err := a.Undo(ctx, c.Target); err != nil {
			c.N.Fail("%s: %v", label(f), err)
			return
		}
		c.active = slices.Delete(c.active, i, i+1)
		break
	}
	if err := f.Apply(ctx, c.Target); err != nil {
		c.N.Fail("%s: %v", label(f), err)
		return
	}
	c.active = append(c.active, f)
	c.summary.AddFault(time.Since(c.opened), label(f))
	c.N.OK("%s: %s", label(f), f.Describe())
}

func (c *Console) up(ctx context.Context) {
	if len(c.active) == 0 {
		c.N.Say("no fault in force")
		return
	}
	var cleared []string
	for len(c.active) > 0 {
		f := c.active[len(c.active)-1]
		if err := f.Undo(ctx, c.Target); err != nil {
			c.N.Fail("up: clearing %s: %v", label(f), err)
			return
		}
		c.active = c.active[:len(c.active)-1]
		cleared = append(cleared, label(f))
	}
	c.summary.AddFault(time.Since(c.opened), "up")
	c.N.OK("up: cleared %s; the breaker lets a probe through once its delay has passed", strings.Join(cleared, ", "))
}

func (c *Console) status(ctx context.Context) {
	faults := "none"
	if len(c.active) > 0 {
		var names []string
		for _, f := range c.active {
			names = append(names, label(f))
		}
		faults = strings.Join(names, ", ")
	}
	c.N.Say("faults in force: %s", faults)
	if r, err := c.Bot.Readiness(ctx); err != nil {
		c.N.Say("bot /readyz: %v", err)
	} else {
		c.N.Say("bot /readyz: %s", readinessLine(r))
	}
	c.N.Say("%s", c.summary.Format(time.Since(c.opened)))
}

// readinessLine is the bot's view of its database in one line.
func readinessLine(r botapi.Readiness) string {
	state := r.DB.State
	if state != "up" && r.DB.LastCode != "" {
		state += " (" + r.DB.LastCode + ")"
	}
	return fmt.Sprintf("database %s, breaker %s", state, r.DB.Breaker)
}

// dbState is the bot's database state and breaker, "" when unknown.
func (c *Console) dbState(ctx context.Context) string {
	r, err := c.Bot.Readiness(ctx)
	if err != nil {
		return ""
	}
	return r.DB.State + "/" + r.DB.Breaker
}

// watch announces every change of the bot's database state or breaker
// from last.
func (c *Console) watch(ctx context.Context, last string) {
	t := time.NewTicker(c.WatchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r, err := c.Bot.Readiness(ctx); err == nil {
			if now := r.DB.State + "/" + r.DB.Breaker; now != last {
				if last != "" {
					c.N.Say("bot: %s", readinessLine(r))
				}
				last = now
			}
		}
	}
}
