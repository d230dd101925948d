package checks

import (
	"reflect"
	"testing"
	"time"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/history"
)

func TestPhaseOf(t *testing.T) {
	at := func(invoke, complete time.Duration) history.Op {
		return history.Op{Invoke: invoke, Complete: complete}
	}
	cut := scenarios.FaultEvent{Fault: "cut", Start: 2 * time.Second, Stop: 5 * time.Second}
	again := scenarios.FaultEvent{Fault: "again", Start: 8 * time.Second, Stop: 9 * time.Second}
	tests := []struct {
		name   string
		faults []scenarios.FaultEvent
		op     history.Op
		want   Phase
	}{
		{"before the fault", []scenarios.FaultEvent{cut}, at(1500*ms, 1600*ms), Healthy},
		{"invoked before, completed in it", []scenarios.FaultEvent{cut}, at(1990*ms, 2010*ms), Fault},
		{"inside", []scenarios.FaultEvent{cut}, at(3*time.Second, 3100*ms), Fault},
		{"at the stop", []scenarios.FaultEvent{cut}, at(5*time.Second, 5010*ms), Transition},
		{"end of the grace period", []scenarios.FaultEvent{cut}, at(6999*ms, 7010*ms), Transition},
		{"after the grace period", []scenarios.FaultEvent{cut}, at(7*time.Second, 7010*ms), Recovery},
		{"between two faults, in grace", []scenarios.FaultEvent{cut, again}, at(6*time.Second, 6010*ms), Transition},
		{"between two faults, after grace", []scenarios.FaultEvent{cut, again}, at(7500*ms, 7510*ms), Recovery},
		{"in the second fault", []scenarios.FaultEvent{again, cut}, at(8500*ms, 8510*ms), Fault},
		{"after the second fault", []scenarios.FaultEvent{cut, again}, at(9500*ms, 9510*ms), Transition},
		{"fault never stopped", []scenarios.FaultEvent{{Fault: "cut", Start: 2 * time.Second}}, at(9*time.Second, 9010*ms), Fault},
		{"no completion recorded", []scenarios.FaultEvent{cut}, at(1900*ms, 0), Healthy},
		{"no faults", nil, at(3*time.Second, 3010*ms), Healthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := history.History{Faults: tt.faults}
			if got := PhaseOf(testScenario(), h, tt.op); got != tt.want {
				t.Errorf("PhaseOf = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	good := Figures{
		Messages: 13, Custom: 8, Cached: 5, Default: 0, Degraded: 5, MaxAttempts: 3,
		P50: 10 * ms, P99: 1200 * ms, Faults: 1,
		TimeToFallback: 505 * ms, // #5 completes at 2.505s, before #4 at 3.3s
		Recovery:       500 * ms, // #9 at 5.5s starts the all-custom tail
	}
	tests := []struct {
		name    string
		history func(*history.History)
		want    func(*Figures)
	}{
		{"good run", nil, nil},
		{"late default pushes recovery back", func(h *history.History) {
			setOp(h, 10, func(o *history.Op) { o.PromptSource = "default" })
		}, func(f *Figures) { f.Custom, f.Default, f.Recovery = 7, 1, 3*time.Second }},
		{"never recovered", func(h *history.History) {
			setOp(h, 12, func(o *history.Op) { o.PromptSource, o.Degraded = "cached", true })
		}, func(f *Figures) { f.Custom, f.Cached, f.Degraded, f.Recovery = 7, 6, 6, -1 }},
		{"unanswered requests count but have no latency", func(h *history.History) {
			setOp(h, 4, func(o *history.Op) { o.Outcome, o.Complete = history.Info, o.Invoke+30*time.Second })
		}, func(f *Figures) { f.Cached, f.Degraded, f.P99 = 4, 4, 10*ms }},
		{"no fallback", func(h *history.History) {
			for i := 4; i <= 8; i++ {
				setOp(h, i, func(o *history.Op) { o.Degraded, o.PromptSource = false, "custom" })
			}
		}, func(f *Figures) { f.Custom, f.Cached, f.Degraded, f.TimeToFallback = 13, 0, 0, 0 }},
		{"baseline", func(h *history.History) { h.Faults = nil },
			func(f *Figures) { f.Faults, f.TimeToFallback, f.Recovery = 0, 0, 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := goodHistory()
			if tt.history != nil {
				tt.history(&h)
			}
			want := good
			if tt.want != nil {
				tt.want(&want)
			}
			if got := Measure(testScenario(), h); !reflect.DeepEqual(got, want) {
				t.Errorf("Measure =\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var hundred []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		hundred = append(hundred, time.Duration(i)*ms)
	}
	tests := []struct {
		name string
		d    []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{7 * ms}, 0.99, 7 * ms},
		{"median of 100", hundred, 0.5, 50 * ms},
		{"p99 of 100", hundred, 0.99, 99 * ms},
		{"max", hundred, 1, 100 * ms},
		{"min", hundred, 0, 1 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.d, tt.q); got != tt.want {
				t.Errorf("percentile(%v) = %s, want %s", tt.q, got, tt.want)
			}
		})
	}
	if hundred[0] != 100*ms {
		t.Error("percentile sorted its input in place")
	}
}
