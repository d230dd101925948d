package environment

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/targets"
)

// An existing stack (make chaos STACK=existing) is one someone else
// started: docker compose on a laptop, a staging namespace with Toxiproxy
// in front of the pooler. The harness starts no container there: it
// drives Toxiproxy's API, talks to the running bot, and reads Postgres
// through a DSN of its own. Only the faults played through Toxiproxy's API
// are playable (NotPlayable).
const (
	envStack        = "P1001_STACK"
	envToxiproxyURL = "P1001_TOXIPROXY_URL"
	envBotURL       = "P1001_BOT_URL"
	envBotToken     = "P1001_BOT_TOKEN"
	envCheckDSN     = "P1001_CHECK_DSN"
	envPoolerDSN    = "P1001_POOLER_DSN"
	envDirectDSN    = "P1001_DIRECT_DSN"

	// StackExisting is P1001_STACK's value for an existing stack.
	StackExisting = "existing"
)

// ExistingStack says where the parts of an existing stack are.
type ExistingStack struct {
	// ToxiproxyURL is Toxiproxy's API (http://host:8474). Its proxies
	// are named as the harness's own: "pooler" (in front of the pooler,
	// the bot's path) and, for the scenarios on the direct path, "direct".
	ToxiproxyURL string `json:"toxiproxy_url"`
	// BotURL is the bot's HTTP API; BotToken its API token, if any.
	BotURL   string `json:"bot_url"`
	BotToken string `json:"bot_token,omitempty"`
	// DSN reaches the bot's database without Toxiproxy: the harness seeds
	// and reads the chats' prompts through it.
	DSN string `json:"dsn"`
	// PoolerDSN and DirectDSN, optional, reach the database through
	// Toxiproxy's pooler and direct proxies as the harness sees them: the
	// fault probes' path, the evidence that a fault took effect without
	// the bot. Without them a scenario's validity guard cannot be met.
	PoolerDSN string `json:"pooler_dsn,omitempty"`
	DirectDSN string `json:"direct_dsn,omitempty"`
}

// existingFromEnv reads P1001_STACK and, for an existing stack, its
// parts; nil for the harness's own stack.
func existingFromEnv() (*ExistingStack, error) {
	switch stack := os.Getenv(envStack); stack {
	case "", "containers":
		return nil, nil
	case StackExisting:
	default:
		return nil, fmt.Errorf("%s=%s: want %s (or nothing: the harness starts its own)", envStack, stack, StackExisting)
	}
	x := &ExistingStack{
		ToxiproxyURL: os.Getenv(envToxiproxyURL),
		BotURL:       os.Getenv(envBotURL),
		BotToken:     os.Getenv(envBotToken),
		DSN:          os.Getenv(envCheckDSN),
		PoolerDSN:    os.Getenv(envPoolerDSN),
		DirectDSN:    os.Getenv(envDirectDSN),
	}
	var errs []error
	for _, v := range []struct{ env, value string }{
		{envToxiproxyURL, x.ToxiproxyURL}, {envBotURL, x.BotURL}, {envCheckDSN, x.DSN},
	} {
		if v.value == "" {
			errs = append(errs, fmt.Errorf("%s=%s needs %s", envStack, StackExisting, v.env))
		}
	}
	return x, errors.Join(errs...)
}

// Existing reports whether the stack is someone else's.
func (e *Env) Existing() bool { return e.cfg.Existing != nil }

// attach takes an existing stack: Toxiproxy's proxies, the DSN for the
// checks. It starts nothing.
func attach(ctx context.Context, cfg Config, target targets.Target) (*Env, error) {
	x := cfg.Existing
	// The bot's output is not the harness's to read: what only its log
	// lines show is not observable there.
	target.Logs = targets.Logs{Format: targets.LogNone}
	e := &Env{cfg: cfg, target: target, StartTimes: map[string]time.Duration{}, Proxies: map[string]*toxiproxy.Proxy{}}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.Toxi = toxiproxy.NewClient(strings.TrimRight(x.ToxiproxyURL, "/"))
	proxies, err := e.Toxi.Proxies()
	if err != nil {
		return nil, fmt.Errorf("existing stack: Toxiproxy at %s: %w", x.ToxiproxyURL, err)
	}
	if _, ok := proxies[ProxyPooler]; !ok {
		return nil, fmt.Errorf("existing stack: Toxiproxy at %s has no proxy %q (the bot's path to the pooler)", x.ToxiproxyURL, ProxyPooler)
	}
	for name, p := range proxies {
		e.Proxies[name] = p
	}
	e.dsns = DSNs{HostPostgres: x.DSN, HostPooler: x.PoolerDSN, HostDirect: x.DirectDSN}
	return e, nil
}

// NotPlayable says why scenario s cannot be played on this stack; "" when
// it can. On the harness's own stack every scenario can.
func (e *Env) NotPlayable(s scenarios.Scenario) string {
	if !e.Existing() {
		return ""
	}
	var why []string
	for _, f := range s.Faults {
		if !f.ThroughToxiproxy() {
			why = append(why, fmt.Sprintf("fault %s (%s) acts on the stack's containers, networks or settings, through the Docker API", f.Name, f.Type))
		} else if _, ok := e.Proxies[f.Proxy]; !ok {
			why = append(why, fmt.Sprintf("fault %s needs the Toxiproxy proxy %q, which the stack has not", f.Name, f.Proxy))
		}
	}
	if s.Expect.MaxConnectsPerSecond > 0 {
		why = append(why, "it counts the bot's logins in Postgres's own log")
	}
	if len(s.Bot.URLParams) > 0 || len(s.BotEnv()) > 0 || (s.Bot.Database != "" && s.Bot.Database != ProxyPooler) {
		why = append(why, "it runs the bot with settings of its own (bot:), and the stack's bot runs with its own")
	}
	if len(why) == 0 {
		return ""
	}
	return "not playable on an existing stack: " + strings.Join(why, "; ")
}

// existingSecrets are what the existing stack's configuration holds that
// no report may show: the DSN's password and the bot's token.
func (x *ExistingStack) secrets() []string {
	if x == nil {
		return nil
	}
	var out []string
	for _, dsn := range []string{x.DSN, x.PoolerDSN, x.DirectDSN} {
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" && !slices.Contains(out, pw) {
				out = append(out, pw)
			}
		}
	}
	if x.BotToken != "" {
		out = append(out, x.BotToken)
	}
	return slices.Clip(out)
}
