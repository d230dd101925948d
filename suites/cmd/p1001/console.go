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
)

// faultOf is the table's fault for kind (toxic p1001-<kind>; delay: latency's).
func faultOf(kind string, delay time.Duration) (scenarios.Fault, error) {
	f, err := scenarios.NamedFault(kind)
	if err == nil && f.Type == scenarios.TypeLatency {
		f.Attributes["latency"] = delay.Milliseconds()
	}
	f.Name = "p1001-" + f.Name
	return f, err
}

// label is the fault's short name: "down", "latency 800ms", "black_hole".
func label(f scenarios.Fault) string {
	switch f.Type {
	case scenarios.TypeOutage:
		return "down"
	case scenarios.TypeLatency:
		return "latency " + (time.Duration(f.Attributes["latency"]) * time.Millisecond).String()
	}
	return strings.TrimPrefix(f.Name, "p1001-")
}

// Command is a console line: a command word, or a chat message.
type Command struct {
	Word    string        // "" for a message or a blank line
	Text    string        // the message
	Latency time.Duration // latency's delay
}

// faultWords are the fault commands: kinds of the fault table.
var faultWords = map[string]string{
	"down": scenarios.TypeOutage, "blackhole": scenarios.KindBlackHole, "reset": scenarios.TypeResetPeer, "latency": scenarios.TypeLatency,
}

var bareWords = []string{"down", "up", "reset", "blackhole", "status", "help", "quit"}

// ParseCommand reads a console line: a command word (any case), else a
// message; `say <text>` sends text that would read as a command.
func ParseCommand(line string) (Command, error) {
	line = strings.TrimSpace(line)
	word, rest, _ := strings.Cut(line, " ")
	w, rest := strings.ToLower(word), strings.TrimSpace(rest)
	switch {
	case w == "say" && rest == "":
		return Command{}, errors.New("say needs the text to send, e.g. say down")
	case w == "say":
		return Command{Text: rest}, nil
	case w == "latency":
		d, err := parseLatency(rest)
		return Command{Word: w, Latency: d}, err
	case !slices.Contains(bareWords, w):
		return Command{Text: line}, nil
	case rest != "":
		return Command{}, fmt.Errorf("%s takes no arguments (to send the line as a message: say %s)", w, line)
	}
	return Command{Word: w}, nil
}

// parseLatency reads `latency 800` (ms) or `latency 2s`, up to a minute.
func parseLatency(arg string) (time.Duration, error) {
	const want = "milliseconds (latency 800) or a duration (latency 2s)"
	if arg == "" {
		return 0, errors.New("latency needs a delay: " + want)
	}
	d, err := time.ParseDuration(arg)
	if ms, msErr := strconv.Atoi(arg); msErr == nil {
		d, err = time.Duration(ms)*time.Millisecond, nil
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("latency %q: want %s", arg, want)
	case d < time.Millisecond || d > time.Minute:
		return 0, fmt.Errorf("latency %q: want between 1ms and %s", arg, time.Minute)
	case d%time.Millisecond != 0:
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

// Summary is what happened in a console session.
type Summary struct {
	Replies []Reply
	Failed  int      // messages without a reply (HTTP or transport error)
	Faults  []string // the fault commands that took effect: "+3.2s down"
}

// Format counts the replies by prompt source (in the order of prompt
// resolution), degraded by code, and fast-failed (attempts 0: the breaker).
func (s Summary) Format(elapsed time.Duration) string {
	sources, codes := map[string]int{}, map[string]int{}
	degraded, fast, slowest := 0, 0, time.Duration(0)
	for _, r := range s.Replies {
		sources[r.PromptSource]++
		slowest = max(slowest, r.Latency)
		if r.Degraded {
			degraded++
			codes[r.Code]++
			fast += btoi(r.Attempts == 0)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %d message(s) in %s, %d without a reply\n", len(s.Replies)+s.Failed, round(elapsed), s.Failed)
	fmt.Fprintf(&b, "  by prompt source: %s\n", counts(sources, scenarios.SourceCustom, scenarios.SourceCached, scenarios.SourceDefault))
	fmt.Fprintf(&b, "  degraded: %d", degraded)
	if degraded > 0 {
		fmt.Fprintf(&b, " (%s)", counts(codes))
	}
	fmt.Fprintf(&b, ", of which fast-failed by the breaker (attempts 0): %d\n", fast)
	if len(s.Replies) > 0 {
		fmt.Fprintf(&b, "  slowest reply: %s\n", roundDuration(slowest))
	}
	if len(s.Faults) == 0 {
		return b.String() + "  faults applied: none"
	}
	return b.String() + fmt.Sprintf("  faults applied: %d: %s", len(s.Faults), strings.Join(s.Faults, ", "))
}

// counts is "k n, ..." for the keys first, then m's others, sorted.
func counts(m map[string]int, first ...string) string {
	rest := slices.DeleteFunc(slices.Sorted(maps.Keys(m)), func(k string) bool { return slices.Contains(first, k) })
	var parts []string
	for _, k := range slices.Concat(first, rest) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Console chats with the bot and toggles faults on the pooler proxy.
type Console struct {
	Bot        Bot
	Target     scenarios.Target // the stack the faults are played on (environment.Env.Faults)
	N          *Narrator
	Chat       string
	WatchEvery time.Duration // how often /readyz is polled to announce changes (0: never)

	active  []scenarios.Fault // in the order applied
	summary Summary
	opened  time.Time
}

// Prepare gives the chat a custom prompt, so that a fallback shows.
func (c *Console) Prepare(ctx context.Context) error {
	const persona = "You are a ship's radio operator. You keep answering in any weather."
	r, err := send(ctx, c.Bot, c.Chat, "/setprompt "+persona)
	if err == nil && r.Degraded {
		err = fmt.Errorf("could not set the console chat's prompt: %s", r.Format())
	}
	if err != nil {
		return err
	}
	c.N.Say("chat %q has the custom prompt %q", c.Chat, persona)
	c.N.Say(consoleHelp, c.Chat)
	return nil
}

// Run reads commands until quit, end of input or ctx's end.
func (c *Console) Run(ctx context.Context, in io.Reader) Summary {
	c.opened = time.Now()
	lines := make(chan string)
	var readErr error // set before lines is closed
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr = sc.Err()
	}()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if c.WatchEvery > 0 {
		// Read first: a fault applied at once is then a change.
		key, _ := c.dbState(ctx)
		go c.watch(watchCtx, key)
	}
	c.N.Say("console ready: type a message or a command (help lists them); chat %q", c.Chat)
loop:
	for {
		select {
		case <-ctx.Done():
			c.N.Say("interrupted")
			break loop
		case line, ok := <-lines:
			cmd, err := ParseCommand(line)
			switch {
			case !ok && readErr != nil:
				c.N.Fail("reading the console: %v", readErr)
				break loop
			case !ok:
				break loop
			case err != nil:
				c.N.Say("%v", err)
			case cmd.Word == "quit":
				break loop
			default:
				c.Do(ctx, cmd)
			}
		}
	}
	stopWatch()
	c.N.Say("%s", c.summary.Format(time.Since(c.opened)))
	return c.summary
}

func (c *Console) Do(ctx context.Context, cmd Command) {
	kind, isFault := faultWords[cmd.Word]
	switch {
	case isFault:
		if f, err := faultOf(kind, cmd.Latency); err != nil {
			c.N.Fail("%v", err)
		} else {
			c.apply(ctx, f)
		}
	case cmd.Word == "up":
		c.up(ctx)
	case cmd.Word == "status":
		_, readyz := c.dbState(ctx)
		c.N.Say("faults in force: %s", c.faults())
		c.N.Say("bot /readyz: %s", readyz)
		c.N.Say("%s", c.summary.Format(time.Since(c.opened)))
	case cmd.Word == "help":
		c.N.Say(consoleHelp, c.Chat)
	case cmd.Text != "":
		r, err := send(ctx, c.Bot, c.Chat, cmd.Text)
		if err != nil {
			c.summary.Failed++
			c.N.Fail("no reply: %v", err)
			return
		}
		c.summary.Replies = append(c.summary.Replies, r)
		c.N.Bot(r)
	}
}

// apply puts f in force, in place of a fault of its type (a new latency).
func (c *Console) apply(ctx context.Context, f scenarios.Fault) {
	if i := slices.IndexFunc(c.active, func(a scenarios.Fault) bool { return a.Type == f.Type }); i >= 0 {
		if c.active[i].Describe() == f.Describe() {
			c.N.Say("%s is already in force (up removes it)", label(f))
			return
		}
		if err := c.active[i].Undo(ctx, c.Target); err != nil {
			c.N.Fail("%s: %v", label(f), err)
			return
		}
		c.active = slices.Delete(c.active, i, i+1)
	}
	if err := f.Apply(ctx, c.Target); err != nil {
		c.N.Fail("%s: %v", label(f), err)
		return
	}
	c.active = append(c.active, f)
	c.summary.Faults = append(c.summary.Faults, fmt.Sprintf("+%.1fs %s", time.Since(c.opened).Seconds(), label(f)))
	c.N.OK("%s: %s", label(f), f.Describe())
}

func (c *Console) up(ctx context.Context) {
	if len(c.active) == 0 {
		c.N.Say("no fault in force")
		return
	}
	cleared := c.faults()
	for len(c.active) > 0 {
		f := c.active[len(c.active)-1]
		if err := f.Undo(ctx, c.Target); err != nil {
			c.N.Fail("up: clearing %s: %v", label(f), err)
			return
		}
		c.active = c.active[:len(c.active)-1]
	}
	c.summary.Faults = append(c.summary.Faults, fmt.Sprintf("+%.1fs up", time.Since(c.opened).Seconds()))
	c.N.OK("up: cleared %s; the breaker lets a probe through once its delay has passed", cleared)
}

// faults names the faults in force, the last applied first.
func (c *Console) faults() string {
	var names []string
	for _, f := range slices.Backward(c.active) {
		names = append(names, label(f))
	}
	if names == nil {
		return "none"
	}
	return strings.Join(names, ", ")
}

// dbState reads /readyz: key changes with the database state or breaker,
// line says them ("database down (P1001), breaker open") or the error.
func (c *Console) dbState(ctx context.Context) (key, line string) {
	r, err := c.Bot.Readiness(ctx)
	if err != nil {
		return "", err.Error()
	}
	state := r.DB.State
	if state != "up" && r.DB.LastCode != "" {
		state += " (" + r.DB.LastCode + ")"
	}
	return r.DB.State + "/" + r.DB.Breaker, fmt.Sprintf("database %s, breaker %s", state, r.DB.Breaker)
}

// watch announces every change of dbState's key from last.
func (c *Console) watch(ctx context.Context, last string) {
	t := time.NewTicker(c.WatchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if key, line := c.dbState(ctx); key != "" && key != last {
			if last != "" {
				c.N.Say("bot: %s", line)
			}
			last = key
		}
	}
}
