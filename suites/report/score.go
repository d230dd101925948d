package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/p1001/p1001/scenarios"
)

// severities weighs each fault kind in the resilience score: 1 for faults
// that slow or shape traffic, 2 for faults that break single connections
// or stall the pool, 3 for faults that take the database (or the bot
// itself) away altogether.
// docs/report.md has the table; a kind missing here is an error, so a new
// kind cannot slip into the score unweighted.
func severities() map[string]int {
	return map[string]int{
		scenarios.KindNone:           1,
		scenarios.TypeLatency:        1,
		scenarios.KindJitter:         1,
		scenarios.TypeBandwidth:      1,
		scenarios.TypeSlicer:         1,
		scenarios.TypeSlowClose:      1,
		scenarios.TypeResetPeer:      2,
		scenarios.TypeLimitData:      2,
		scenarios.TypePause:          2,
		scenarios.KindPoolExhaustion: 2,
		scenarios.TypeIdleReaping:    2,
		scenarios.TypeTimeout:        3,
		scenarios.KindBlackHole:      3,
		scenarios.TypeOutage:         3,
		scenarios.KindFlapping:       3,
		scenarios.TypeRestart:        3,
		scenarios.TypePartition:      3,
		scenarios.TypeKill:           3,
		scenarios.TypeBotRestart:     3,
		scenarios.TypePgError:        3, // the pooler refuses every new connection and closes the open ones
		// The pooler or the server refuses the bot's new connections.
		scenarios.TypeClientLimit:      3,
		scenarios.TypeServerLimit:      3,
		scenarios.TypePasswordRotation: 3,
		scenarios.TypeDNS:              3,
	}
}

// kindsOf returns the scenario's fault kinds: those its faults imply
// (Scenario.Kinds) plus those only its fault:<kind> labels name (e.g.
// pool_exhaustion), sorted.
func kindsOf(s scenarios.Scenario) []string {
	kinds := s.Kinds()
	for _, l := range s.Labels {
		if k, ok := strings.CutPrefix(l, "fault:"); ok {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// severityOf is the largest severity of the scenario's kinds.
func severityOf(sev map[string]int, s scenarios.Scenario) (int, []string, error) {
	kinds := kindsOf(s)
	w := 0
	for _, k := range kinds {
		v, ok := sev[k]
		if !ok {
			return 0, nil, fmt.Errorf("scenario %s: fault kind %q has no severity (known: %s)",
				s.Name, k, strings.Join(slices.Sorted(maps.Keys(sev)), ", "))
		}
		w = max(w, v)
	}
	return w, kinds, nil
}

// failureCost is the share of the score a failed scenario takes away, by
// its severity. A failed scenario is one that broke a promise, proved
// nothing (a validity guard failed), or did not complete; a failed spec
// outside the scenarios costs as much as the most severe one (the bot or
// its stack is broken outside any fault). Costs multiply, so one broken
// promise is never a rounding error, whatever the catalog's size.
var failureCost = map[int]float64{1: 0.15, 2: 0.25, 3: 0.40}

// maxSeverity is the largest severity, the weight of a failed spec outside
// the scenarios.
const maxSeverity = 3

// outcome is one scored item: a scenario, or a failed spec outside them.
type outcome struct {
	severity int
	kept     bool
}

// score is 100 times the product, over every failed outcome, of
// (1 - failureCost[severity]): 100 when everything held, 60 after one
// failed severity-3 scenario, 36 after two. Nil when nothing was scored.
func score(outcomes []outcome) *float64 {
	if len(outcomes) == 0 {
		return nil
	}
	v := 100.0
	for _, o := range outcomes {
		if !o.kept {
			v *= 1 - failureCost[o.severity]
		}
	}
	return &v
}
