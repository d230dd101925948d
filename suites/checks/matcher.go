package checks

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

// KeepPromises matches a history.History (or a non-nil *history.History)
// on which no guard or check of Run broke its promise for s (Failed is
// empty): a check the history's target does not let the harness observe
// fails nothing, and neither does a run that judged nothing
// (Inconclusive): the report, not the spec, says that is no pass. Its
// failure message lists each broken result as "[name] promise — detail",
// guards first.
//
//	Expect(h).To(checks.KeepPromises(scenario))
func KeepPromises(s scenarios.Scenario) types.GomegaMatcher {
	return &promiseMatcher{s: s}
}

type promiseMatcher struct {
	s       scenarios.Scenario
	results []Result
}

func (m *promiseMatcher) Match(actual any) (bool, error) {
	var h history.History
	switch v := actual.(type) {
	case history.History:
		h = v
	case *history.History:
		if v == nil {
			return false, fmt.Errorf("KeepPromises(%s): got a nil *history.History", m.s.Name)
		}
		h = *v
	default:
		return false, fmt.Errorf("KeepPromises(%s): expects a history.History, got %T", m.s.Name, actual)
	}
	m.results = Run(m.s, h)
	return len(Failed(m.results)) == 0, nil
}

func (m *promiseMatcher) FailureMessage(any) string {
	failed := Failed(m.results)
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s broke %d of %d promises", m.s.Name, len(failed), len(m.results))
	if n := countState(m.results, StateNotObservable); n > 0 {
		fmt.Fprintf(&b, " (%d not observable against this target)", n)
	}
	for _, r := range failed {
		if r.Guard {
			b.WriteString(" (a validity guard failed: the run proved nothing)")
			break
		}
	}
	b.WriteString(":")
	for _, r := range failed {
		b.WriteString("\n  " + r.String())
	}
	return b.String()
}

func (m *promiseMatcher) NegatedFailureMessage(any) string {
	if n := countState(m.results, StateNotObservable); n > 0 {
		return fmt.Sprintf("expected scenario %s to break a promise, but none of its %d checks broke one (%d not observable)", m.s.Name, len(m.results), n)
	}
	return fmt.Sprintf("expected scenario %s to break a promise, but all %d checks passed", m.s.Name, len(m.results))
}

func countState(rs []Result, state string) int {
	n := 0
	for _, r := range rs {
		if r.State() == state {
			n++
		}
	}
	return n
}
