package bench

import (
	"fmt"
	"strings"

	"github.com/p1001/p1001/scenarios"
)

// Outage is one of the three ways the pooler goes away in section 1: a
// fault kind of the scenario format, played as scenarios.NamedFault plays
// it (docs/scenarios.md, "Faults named alone").
type Outage string

const (
	// Refused: the pooler proxy is disabled; its connections close and
	// new ones are refused.
	Refused Outage = scenarios.TypeOutage
	// BlackHole: a timeout toxic with timeout 0, downstream, swallows
	// everything the server sends and never closes the connection.
	BlackHole Outage = scenarios.KindBlackHole
	// Reset: a reset_peer toxic resets each connection as soon as the bot
	// sends on it.
	Reset Outage = scenarios.TypeResetPeer
)

// AllOutages lists them in the order the bench measures them.
func AllOutages() []Outage { return []Outage{Refused, BlackHole, Reset} }

// Fault is the fault the outage plays on the pooler proxy.
func (o Outage) Fault() scenarios.Fault {
	f, err := scenarios.NamedFault(string(o))
	if err != nil {
		panic(err) // ParseOutages let only named kinds through
	}
	f.Name = "bench-" + f.Name
	return f
}

// Describe says what the fault is, for the report.
func (o Outage) Describe() string { return o.Fault().Describe() }

// ParseOutages reads a comma-separated list of fault kinds such as
// "outage,black_hole" (the former "refused,blackhole,reset" still work).
func ParseOutages(s string) ([]Outage, error) {
	var out []Outage
	for _, name := range strings.Split(s, ",") {
		f, err := scenarios.NamedFault(strings.TrimSpace(name))
		o := Outage(f.Name)
		if err != nil || (o != Refused && o != BlackHole && o != Reset) {
			return nil, fmt.Errorf("outage %q: want %s, %s or %s", name, Refused, BlackHole, Reset)
		}
		out = append(out, o)
	}
	return out, nil
}
