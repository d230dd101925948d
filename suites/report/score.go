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
		scenarios.TypeTimeout:        3,
		scenarios.KindBlackHole:      3,
		scenarios.TypeOutage:         3,
		scenarios.KindFlapping:       3,
		scenarios.TypeRestart:        3,
		scenarios.TypePartition:      3,
		scenarios.TypeKill:           3,
		scenarios.TypeBotRestart:     3,
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

// score is the severity-weighted mean of the scenarios' shares of checks
// met, times 100; nil when no scenario ran.
func score(rows []Scenario) *float64 {
	var num, den float64
	for _, r := range rows {
		num += float64(r.Severity) * r.Share
		den += float64(r.Severity)
	}
	if den == 0 {
		return nil
	}
	v := 100 * num / den
	return &v
}
