package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Proxy is what this program does to one Toxiproxy proxy;
// environment.ProxyControl implements it.
type Proxy interface {
	Disable(ctx context.Context) error
	Enable(ctx context.Context) error
	AddToxic(ctx context.Context, name, typ, stream string, toxicity float32, attrs map[string]any) error
	RemoveToxic(ctx context.Context, name string) error
}

// FaultKind names a way to break the path from the bot to the pooler.
type FaultKind string

const (
	// FaultOutage disables the proxy: connections are refused, established
	// ones closed, as when the pooler is down (P1001).
	FaultOutage FaultKind = "outage"
	// FaultBlackhole drops every byte and never closes (Toxiproxy "timeout"
	// toxic, timeout 0): the server is reached, then nothing answers.
	FaultBlackhole FaultKind = "blackhole"
	// FaultReset answers data with a TCP reset (Toxiproxy "reset_peer").
	FaultReset FaultKind = "reset"
	// FaultLatency delays every answer (Toxiproxy "latency").
	FaultLatency FaultKind = "latency"
)

// FaultKinds lists the kinds in the order they are documented.
var FaultKinds = []FaultKind{FaultOutage, FaultBlackhole, FaultReset, FaultLatency}

// Fault is one fault on the pooler proxy.
type Fault struct {
	Kind    FaultKind
	Latency time.Duration // FaultLatency only
}

// ParseFaultKind reads FAULT; empty means outage.
func ParseFaultKind(s string) (FaultKind, error) {
	if s == "" {
		return FaultOutage, nil
	}
	for _, k := range FaultKinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(FaultKinds))
	for i, k := range FaultKinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("FAULT=%q: want one of %s", s, strings.Join(names, ", "))
}

// toxicName is the Toxiproxy name of the fault's toxic ("" for an outage,
// which has none).
func (f Fault) toxicName() string {
	switch f.Kind {
	case FaultBlackhole, FaultReset, FaultLatency:
		return "p1001-" + string(f.Kind)
	}
	return ""
}

// Describe says in plain words what the fault does.
func (f Fault) Describe() string {
	switch f.Kind {
	case FaultOutage:
		return "disable the pooler proxy: new connections refused, open ones closed"
	case FaultBlackhole:
		return "black-hole the pooler proxy: nothing comes back, nothing is closed (timeout toxic, timeout 0, downstream)"
	case FaultReset:
		return "reset every connection that sends data through the pooler proxy (reset_peer toxic, timeout 0)"
	case FaultLatency:
		return fmt.Sprintf("delay every answer through the pooler proxy by %s (latency toxic)", f.Latency)
	}
	return string(f.Kind)
}

// String is the short name used in summaries: "down", "latency 800ms".
func (f Fault) String() string {
	switch f.Kind {
	case FaultOutage:
		return "down"
	case FaultLatency:
		return "latency " + f.Latency.String()
	}
	return string(f.Kind)
}

// Apply puts the fault on p.
func (f Fault) Apply(ctx context.Context, p Proxy) error {
	switch f.Kind {
	case FaultOutage:
		return p.Disable(ctx)
	case FaultBlackhole:
		// The catalog's black hole (docs/scenarios.md): nothing comes back
		// and nothing is closed.
		return p.AddToxic(ctx, f.toxicName(), "timeout", "downstream", 1, map[string]any{"timeout": 0})
	case FaultReset:
		return p.AddToxic(ctx, f.toxicName(), "reset_peer", "upstream", 1, map[string]any{"timeout": 0})
	case FaultLatency:
		if f.Latency <= 0 {
			return fmt.Errorf("latency fault: delay %s must be positive", f.Latency)
		}
		return p.AddToxic(ctx, f.toxicName(), "latency", "downstream", 1, map[string]any{"latency": f.Latency.Milliseconds()})
	}
	return fmt.Errorf("unknown fault kind %q", f.Kind)
}

// Clear takes the fault off p.
func (f Fault) Clear(ctx context.Context, p Proxy) error {
	if f.Kind == FaultOutage {
		return p.Enable(ctx)
	}
	if name := f.toxicName(); name != "" {
		return p.RemoveToxic(ctx, name)
	}
	return fmt.Errorf("unknown fault kind %q", f.Kind)
}
