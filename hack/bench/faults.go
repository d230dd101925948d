package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/p1001/p1001/suites/environment"
)

// Outage is one of the three ways the pooler goes away in section 1.
type Outage string

const (
	// Refused: the pooler proxy is disabled; its connections close and
	// new ones are refused.
	Refused Outage = "refused"
	// BlackHole: a timeout toxic with timeout 0 swallows everything the
	// server sends and never closes the connection.
	BlackHole Outage = "blackhole"
	// Reset: a reset_peer toxic resets each connection as soon as the bot
	// sends on it.
	Reset Outage = "reset"
)

// AllOutages lists them in the order the bench measures them.
func AllOutages() []Outage { return []Outage{Refused, BlackHole, Reset} }

// Describe says what the fault is, for the report.
func (o Outage) Describe() string {
	switch o {
	case Refused:
		return "pooler proxy disabled (connection refused)"
	case BlackHole:
		return "timeout toxic, timeout 0, downstream (black hole)"
	case Reset:
		return "reset_peer toxic, timeout 0, upstream (connection reset)"
	}
	return string(o)
}

// ParseOutages reads a comma-separated list such as "refused,blackhole".
func ParseOutages(s string) ([]Outage, error) {
	var out []Outage
	for _, name := range strings.Split(s, ",") {
		o := Outage(strings.TrimSpace(name))
		switch o {
		case Refused, BlackHole, Reset:
			out = append(out, o)
		default:
			return nil, fmt.Errorf("outage %q: want refused, blackhole or reset", name)
		}
	}
	return out, nil
}

// faults drives the outages on the pooler proxy.
type faults struct{ px environment.ProxyControl }

func (f faults) apply(ctx context.Context, o Outage) error {
	switch o {
	case Refused:
		return f.px.Disable(ctx)
	case BlackHole:
		return f.px.AddToxic(ctx, "bench-blackhole", "timeout", "downstream", 1, map[string]any{"timeout": 0})
	case Reset:
		return f.px.AddToxic(ctx, "bench-reset", "reset_peer", "upstream", 1, map[string]any{"timeout": 0})
	}
	return fmt.Errorf("apply outage %q: unknown", o)
}

func (f faults) clear(ctx context.Context, o Outage) error {
	switch o {
	case Refused:
		return f.px.Enable(ctx)
	case BlackHole:
		return f.px.RemoveToxic(ctx, "bench-blackhole")
	case Reset:
		return f.px.RemoveToxic(ctx, "bench-reset")
	}
	return fmt.Errorf("clear outage %q: unknown", o)
}
