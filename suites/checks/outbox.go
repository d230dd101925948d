package checks

import (
	"strings"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botapi"
	"github.com/p1001/p1001/suites/history"
)

// Name of the outbox check (stable id).
const NameOutbox = "outbox-drained"

// OutboxDrained: after recovery bot_outbox_depth is 0 and
// bot_outbox_dropped_total is reported and 0; bot_outbox_rejected_total
// and bot_outbox_lost_total, when reported, are 0. The scenario format has
// no way to allow drops: a scenario that overflows its outbox on purpose
// sets outbox_drained: false.
func OutboxDrained(s scenarios.Scenario, h history.History) Result {
	r := rulesOf(s, h)
	v := newVerdict(NameOutbox, false, "After recovery the message-log outbox is empty and dropped nothing.")
	if !r.outboxDrained {
		return v.skip("expect.outbox_drained is false")
	}
	if un, ok := v.unobservable(h, needsOutbox); ok {
		return un
	}
	if h.MetricsAfter == nil {
		v.fail("no metrics were read after recovery")
		return v.result()
	}
	for _, m := range []struct {
		name     string
		required bool
		what     string
	}{
		{botapi.MetricOutboxDepth, true, "records still queued"},
		{botapi.MetricOutboxDropped, true, "records dropped on overflow"},
		{botapi.MetricOutboxRejected, false, "records rejected by the database"},
		{botapi.MetricOutboxLost, false, "records lost at shutdown"},
	} {
		val, ok := metric(h.MetricsAfter, m.name)
		switch {
		case !ok && m.required:
			v.fail("%s was not reported", m.name)
		case ok && val != 0:
			v.fail("%s is %g: %s", m.name, val, m.what)
		}
	}
	return v.result()
}

// metric sums every series of name ("name" or "name{labels}").
func metric(samples map[string]float64, name string) (float64, bool) {
	var sum float64
	found := false
	for k, val := range samples {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += val
			found = true
		}
	}
	return sum, found
}
