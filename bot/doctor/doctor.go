// Package doctor runs the runbook's monitoring checklist against one
// DATABASE_URL and names the cause of a P1001: the URL, DNS, TCP, TLS,
// startup and authentication, the pooler, capacity and latency, in that
// order. Each step has its own timeout, so the whole run is bounded; it
// stops at the first step that makes the rest meaningless.
//
// The Prisma codes come from the bot's own classification
// (resilience.Classify), and a pooler's refusal is named, with its advice,
// from the bot's table of pooler wordings (resilience.PoolerMessages), so
// the doctor and the bot agree. Where a step knows more than the error (a
// TLS step names P1011, a URL it cannot parse P1013), the step also shows
// the code the bot logs.
package doctor

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/p1001/p1001/bot/dburl"
	"github.com/p1001/p1001/resilience"
)

// Schema versions the JSON report.
const Schema = "p1001.doctor/v1"

// Status is a step's verdict.
type Status string

const (
	OK      Status = "ok"      // ✔
	Warn    Status = "warn"    // ⚠: works, but against the runbook or with little headroom
	Fail    Status = "fail"    // ✗: this is (or will be) a failure
	Skipped Status = "skipped" // not run: an earlier step made it meaningless
)

// Step names, in order.
const (
	StepURL      = "url"
	StepDNS      = "dns"
	StepTCP      = "tcp"
	StepTLS      = "tls"
	StepStartup  = "startup"
	StepPooler   = "pooler"
	StepCapacity = "capacity"
	StepLatency  = "latency"
)

// Steps lists the step names in the order they run.
var Steps = []string{StepURL, StepDNS, StepTCP, StepTLS, StepStartup, StepPooler, StepCapacity, StepLatency}

// Step is one checklist item's result.
type Step struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Duration time.Duration `json:"duration_ns"`
	// Summary is one line; Details are more lines (findings, addresses).
	Summary string   `json:"summary"`
	Details []string `json:"details,omitempty"`
	// Code is the Prisma code of the failure ("" when none applies); BotCode
	// is what the bot logs for the same error when it differs from Code.
	Code    resilience.Code `json:"code,omitempty"`
	BotCode resilience.Code `json:"bot_code,omitempty"`
	// Reason is the classification's reason or the doctor's own words.
	Reason string `json:"reason,omitempty"`
	// Advice is the runbook's advice for this cause.
	Advice string `json:"advice,omitempty"`
}

// Report is a whole run.
type Report struct {
	Schema string `json:"schema"`
	// Var names where the URL came from (DATABASE_URL, -url, ...).
	Var string `json:"var"`
	// URL is the URL with its password masked.
	URL string `json:"url"`
	// Policy is the bot's retry policy the steps are judged against.
	Policy PolicySummary `json:"policy"`
	// StepTimeout bounds each step; Bound bounds the whole run.
	StepTimeout time.Duration `json:"step_timeout_ns"`
	Bound       time.Duration `json:"bound_ns"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Steps       []Step        `json:"steps"`
	// Healthy is true when no step failed (warnings allowed).
	Healthy bool `json:"healthy"`
	// FailedStep is the first failed step ("" when healthy), Code its code.
	FailedStep string          `json:"failed_step,omitempty"`
	Code       resilience.Code `json:"code,omitempty"`
	// Stopped is the step after which the run stopped ("" when it ran all).
	Stopped string `json:"stopped,omitempty"`
}

// PolicySummary is the part of the bot's policy the doctor uses.
type PolicySummary struct {
	MaxAttempts    int           `json:"max_attempts"`
	AttemptTimeout time.Duration `json:"attempt_timeout_ns"`
	Budget         time.Duration `json:"budget_ns"`
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a run. Zero values take the defaults.
type Options struct {
	// Var names the source of URL in the report and in parse errors.
	Var string
	URL string
	// Policy is the bot's retry policy (resilience.PolicyFromEnv).
	Policy resilience.Policy
	// StepTimeout bounds each step (default 2 s); the latency step and the
	// TCP step (per address, at most 4 addresses) have their own multiples.
	StepTimeout time.Duration
	// Rounds is the number of SELECT 1 round trips (default 20).
	Rounds int
	// Resolver defaults to net.DefaultResolver.
	Resolver Resolver
	// IPv6Route tells whether this machine can route to IPv6 addresses;
	// defaults to asking the kernel for a route (no packet is sent).
	IPv6Route func() bool
	// Dial defaults to a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

const maxTCPAddrs = 4

func (o *Options) defaults() {
	if o.Var == "" {
		o.Var = "DATABASE_URL"
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 2 * time.Second
	}
	if o.Rounds <= 0 {
		o.Rounds = 20
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.IPv6Route == nil {
		o.IPv6Route = hasIPv6Route
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	if o.Policy.MaxAttempts == 0 {
		o.Policy = resilience.DefaultPolicy()
	}
}

// Bound is the longest a run with o can take: the sum of its steps' timeouts.
func (o Options) Bound() time.Duration {
	o.defaults()
	t := o.StepTimeout
	// url is instant; dns; tcp per address; tls; startup; pooler; capacity;
	// latency (twice the step timeout: it is many round trips).
	return t + maxTCPAddrs*t + t + t + t + t + 2*t
}

// hasIPv6Route asks the kernel for a route to a global IPv6 address: a UDP
// "connect" sends nothing.
func hasIPv6Route() bool {
	c, err := net.Dial("udp6", "[2001:db8::1]:53")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// run carries one run's state between the steps.
type run struct {
	opts     Options
	rep      *Report
	cfg      *dburl.Config
	secret   string // the password, scrubbed from every string at the end
	host     string
	port     string
	addrs    []netip.Addr
	reached  []netip.Addr // addresses TCP reached
	sess     *session
	poolMode string // "transaction", "session", "none" (no pooler), "" (unknown)
}

// Run runs the checklist. It never returns an error: every problem is a step.
func Run(ctx context.Context, opts Options) *Report {
	opts.defaults()
	start := time.Now()
	rep := &Report{
		Schema:      Schema,
		Var:         opts.Var,
		URL:         resilience.RedactDSN(strings.TrimSpace(opts.URL)),
		StepTimeout: opts.StepTimeout,
		Bound:       opts.Bound(),
		Policy: PolicySummary{
			MaxAttempts:    opts.Policy.MaxAttempts,
			AttemptTimeout: opts.Policy.AttemptTimeout,
			Budget:         opts.Policy.Budget,
		},
	}
	ctx, cancel := context.WithTimeout(ctx, rep.Bound)
	defer cancel()
	r := &run{opts: opts, rep: rep}
	defer func() {
		if r.sess != nil {
			r.sess.close()
		}
	}()

	steps := []struct {
		name string
		fn   func(ctx context.Context, s *Step) (stop bool)
		// timeout multiplies the step timeout.
		timeout time.Duration
	}{
		{StepURL, r.stepURL, opts.StepTimeout},
		{StepDNS, r.stepDNS, opts.StepTimeout},
		{StepTCP, r.stepTCP, maxTCPAddrs * opts.StepTimeout},
		{StepTLS, r.stepTLS, opts.StepTimeout},
		{StepStartup, r.stepStartup, opts.StepTimeout},
		{StepPooler, r.stepPooler, opts.StepTimeout},
		{StepCapacity, r.stepCapacity, opts.StepTimeout},
		{StepLatency, r.stepLatency, 2 * opts.StepTimeout},
	}
	stopped := false
	for _, st := range steps {
		s := Step{Name: st.name}
		if stopped {
			s.Status, s.Summary = Skipped, "not run: "+rep.Stopped+" failed"
			rep.Steps = append(rep.Steps, s)
			continue
		}
		sctx, scancel := context.WithTimeout(ctx, st.timeout)
		t0 := time.Now()
		stop := st.fn(sctx, &s)
		s.Duration = time.Since(t0)
		scancel()
		if s.Status == "" {
			s.Status = OK
		}
		rep.Steps = append(rep.Steps, s)
		if s.Status == Fail && rep.FailedStep == "" {
			rep.FailedStep, rep.Code = s.Name, s.Code
		}
		if stop {
			stopped = true
			rep.Stopped = s.Name
		}
	}
	rep.Healthy = rep.FailedStep == ""
	rep.Elapsed = time.Since(start)
	r.scrub()
	return rep
}

// scrub removes the password from every string of the report, whatever
// path it took to get there.
func (r *run) scrub() {
	clean := func(s string) string {
		s = resilience.RedactText(s)
		if len(r.secret) >= 3 {
			s = strings.ReplaceAll(s, r.secret, "xxxxx")
		}
		return s
	}
	for i := range r.rep.Steps {
		s := &r.rep.Steps[i]
		s.Summary, s.Reason, s.Advice = clean(s.Summary), clean(s.Reason), clean(s.Advice)
		for j := range s.Details {
			s.Details[j] = clean(s.Details[j])
		}
	}
}

// fail sets s to a failure classified from err, as the bot would.
func fail(s *Step, err error, summary string) {
	v := verdictOf(err)
	s.Status, s.Code, s.BotCode, s.Reason = Fail, v.code, v.botCode, v.reason
	s.Summary = summary
	if s.Advice == "" {
		s.Advice = v.advice
	}
}
