package main

import (
	"strings"
	"time"

	"github.com/p1001/p1001/scenarios"
)

// faultOf is the fault a kind names, its toxic named p1001-<kind>; delay
// is a latency toxic's.
func faultOf(kind string, delay time.Duration) (scenarios.Fault, error) {
	f, err := scenarios.NamedFault(kind)
	if err != nil {
		return f, err
	}
	if f.Type == scenarios.TypeLatency {
		f.Attributes["latency"] = delay.Milliseconds()
	}
	f.Name = "p1001-" + f.Name
	return f, nil
}

// label is the fault's short name in summaries: "down", "latency 800ms",
// "black_hole".
func label(f scenarios.Fault) string {
	switch f.Type {
	case scenarios.TypeOutage:
		return "down"
	case scenarios.TypeLatency:
		return "latency " + (time.Duration(f.Attributes["latency"]) * time.Millisecond).String()
	}
	return strings.TrimPrefix(f.Name, "p1001-")
}
