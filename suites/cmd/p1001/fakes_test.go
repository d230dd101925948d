package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/botlog"
)

// fakeTarget is a stack with one proxy, the pooler: what the narrated run
// and the console play their faults on.
type fakeTarget struct{ p *fakeProxy }

func (t fakeTarget) Proxy(name string) (scenarios.Proxy, error) {
	if name != scenarios.ProxyPooler {
		return nil, fmt.Errorf("no proxy %q", name)
	}
	return t.p, nil
}

var errNotHere = errors.New("this fake stack has only the pooler proxy")

func (fakeTarget) Restart(context.Context, string) error    { return errNotHere }
func (fakeTarget) PausePgBouncer(context.Context) error     { return errNotHere }
func (fakeTarget) ResumePgBouncer(context.Context) error    { return errNotHere }
func (fakeTarget) Disconnect(context.Context, string) error { return errNotHere }
func (fakeTarget) Reconnect(context.Context, string) error  { return errNotHere }
func (fakeTarget) Kill(context.Context, string) error       { return errNotHere }
func (fakeTarget) BotRestart(context.Context, string) error { return errNotHere }

// fakeProxy records what was done to it, like a Toxiproxy proxy would see it.
type fakeProxy struct {
	mu       sync.Mutex
	calls    []string
	disabled bool
	toxics   map[string]string // name -> type
	failAdd  error
}

func (p *fakeProxy) Disable(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, "disable")
	p.disabled = true
	return nil
}

func (p *fakeProxy) Enable(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, "enable")
	p.disabled = false
	return nil
}

func (p *fakeProxy) AddToxic(_ context.Context, name, typ, stream string, toxicity float32, attrs map[string]any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(attrs))
	for k, v := range attrs {
		keys = append(keys, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(keys)
	p.calls = append(p.calls, fmt.Sprintf("add %s %s %s %.1f %s", name, typ, stream, toxicity, strings.Join(keys, ",")))
	if p.failAdd != nil {
		return p.failAdd
	}
	if p.toxics == nil {
		p.toxics = map[string]string{}
	}
	if _, dup := p.toxics[name]; dup {
		return fmt.Errorf("toxic %s already exists", name)
	}
	p.toxics[name] = typ
	return nil
}

func (p *fakeProxy) RemoveToxic(_ context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, "remove "+name)
	if _, ok := p.toxics[name]; !ok {
		return fmt.Errorf("toxic %s not found", name)
	}
	delete(p.toxics, name)
	return nil
}

// broken tells whether any fault is in force.
func (p *fakeProxy) broken() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.disabled || len(p.toxics) > 0
}

func (p *fakeProxy) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// behaviour is how the simulated bot deviates from docs/bot.md; the zero
// value keeps every promise.
type behaviour struct {
	noUnreachableLine bool          // the [getCustomPrompt] error lacks the P1001 text
	noMeta            bool          // degraded replies carry no meta
	otherErrorCode    bool          // the [getCustomPrompt] error names another code than the reply
	fallbackSource    string        // prompt_source while degraded ("" = cached)
	noBreaker         bool          // every degraded call runs all its attempts
	recoverAfter      int           // degraded replies after the restore before custom (-1: never)
	breakerLatency    time.Duration // latency of fast-failed replies
}

// fakeBot simulates the bot over a fakeProxy: it logs its documented lines
// into a LogWatcher before it replies, as the real one does.
type fakeBot struct {
	proxy *fakeProxy
	logs  *botlog.Watcher
	b     behaviour

	mu          sync.Mutex
	breakerOpen bool
	wasBroken   bool
	afterUp     int
	sent        []string
}

const fakePersona = "You are a lighthouse keeper who answers in short, calm sentences."

func (f *fakeBot) log(msg string, attrs map[string]any) {
	line := map[string]any{"time": time.Now().Format(time.RFC3339Nano), "level": "WARN", "msg": msg}
	for k, v := range attrs {
		line[k] = v
	}
	data, err := json.Marshal(line)
	if err != nil {
		panic(err)
	}
	if f.logs != nil {
		f.logs.Accept(append(data, '\n'))
	}
}

func (f *fakeBot) Send(ctx context.Context, chat, text string) (botapi.Reply, time.Duration, error) {
	r, err := f.send(ctx, chat, text)
	return r.Reply, r.Latency, err
}

func (f *fakeBot) send(_ context.Context, chat, text string) (Reply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, text)
	custom := Reply{Reply: botapi.Reply{Text: "[" + fakePersona + "] You said: " + text, PromptSource: "custom", Attempts: 1}, Latency: time.Millisecond}
	if strings.HasPrefix(text, "/setprompt ") {
		custom.Text = "Saved."
	}
	broken := f.proxy.broken()
	if broken {
		f.wasBroken = true
	} else if f.wasBroken {
		f.afterUp++
		if f.b.recoverAfter < 0 || f.afterUp <= f.b.recoverAfter {
			broken = true // the breaker has not let a probe through yet
		} else if f.breakerOpen {
			f.breakerOpen = false
			f.log("[Prisma Retry] Circuit breaker closed", map[string]any{"state": "closed"})
		}
	}
	if !broken {
		return custom, nil
	}
	source := f.b.fallbackSource
	if source == "" {
		source = "cached"
	}
	r := Reply{Reply: botapi.Reply{Text: custom.Text, PromptSource: source, Degraded: true, Code: "P1001"}}
	if !f.b.noMeta {
		r.Meta = &botapi.Meta{DatabaseHost: "toxiproxy", DatabasePort: 6543}
	}
	errText, reason := cantReach, "connection refused"
	if f.b.noUnreachableLine {
		errText = "P1001: something else"
	}
	if f.b.otherErrorCode {
		errText = "P1017: Server has closed the connection."
	}
	if f.breakerOpen && !f.b.noBreaker {
		r.Attempts, r.Latency = 0, f.b.breakerLatency
		reason = "circuit breaker open, failing fast"
	} else {
		r.Attempts, r.Latency = 3, 80*time.Millisecond
		f.log("[Prisma Retry] Attempt 1/3 failed, retrying in 44ms...", map[string]any{"op": "getCustomPrompt", "code": "P1017"})
		f.log("[Prisma Retry] Attempt 2/3 failed, retrying in 28ms...", map[string]any{"op": "getCustomPrompt", "code": "P1001"})
		if !f.breakerOpen {
			f.log("[Prisma Retry] Circuit breaker open", map[string]any{"state": "open"})
		}
		f.breakerOpen = true
	}
	f.log("[getCustomPrompt] Database connection error after retries, using fallback prompt",
		map[string]any{"chat": chat, "code": "P1001", "source": source, "attempts": r.Attempts, "reason": reason, "error": errText})
	f.log("[MessageHandler] Database connection error, replying in degraded mode",
		map[string]any{"chat": chat, "code": "P1001", "source": source, "attempts": r.Attempts})
	return r, nil
}

func (f *fakeBot) Readiness(context.Context) (botapi.Readiness, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r botapi.Readiness
	r.Status = "ready"
	r.DB.State, r.DB.Breaker = "up", "closed"
	if f.breakerOpen {
		r.DB.State, r.DB.Breaker, r.DB.LastCode = "down", "open", "P1001"
		r.DB.LastError = "dial tcp 172.30.0.4:6543: connect: connection refused"
		r.DB.Meta = &botapi.Meta{DatabaseHost: "toxiproxy", DatabasePort: 6543}
	}
	return r, nil
}

func (f *fakeBot) Metrics(context.Context) (map[string]float64, error) {
	return map[string]float64{"bot_outbox_depth": 0}, nil
}

// errBot fails every message.
type errBot struct{}

func (errBot) Send(context.Context, string, string) (botapi.Reply, time.Duration, error) {
	return botapi.Reply{}, 0, errors.New("connection refused")
}

func (errBot) Readiness(context.Context) (botapi.Readiness, error) {
	return botapi.Readiness{}, errors.New("connection refused")
}

func (errBot) Metrics(context.Context) (map[string]float64, error) {
	return nil, errors.New("connection refused")
}

// newLineFeed is console input typed one line at a time; closing the
// channel ends the input.
func newLineFeed() (io.Reader, chan<- string) {
	r, w := io.Pipe()
	lines := make(chan string)
	go func() {
		for l := range lines {
			if _, err := io.WriteString(w, l+"\n"); err != nil {
				return
			}
		}
		w.Close()
	}()
	return r, lines
}

// waitFor waits until out holds want.
func waitFor(t *testing.T, out fmt.Stringer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// outage is FAULT=outage, the narrated run's default.
var outage, _ = faultOf("outage", 0)
