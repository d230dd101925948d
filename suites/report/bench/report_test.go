package bench

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestFallbackSummarize(t *testing.T) {
	f := FallbackResult{Config: ConfigRunbook, Outage: BlackHole, Cycles: []Cycle{
		{Index: 1, HeldMS: 31000, First: capped(15000), Steady: []Msg{capped(15000), fallback(9000, 3), {Error: "HTTP 500"}},
			Recovery: Recovery{First: Stat{Value: 50}, Steady: Stat{Value: 160}, Recovered: true}},
		{Index: 2, HeldMS: 30000, First: fallback(14000, 3), Steady: []Msg{fallback(12000, 2)},
			Recovery: Recovery{First: Stat{Value: 30000, AtLeast: true}, Steady: Stat{Value: 30000, AtLeast: true}}},
	}}
	f.Summarize()
	checks := []struct {
		name      string
		got, want any
	}{
		{"first", f.First, Summarize("ms", []Sample{{15000, true}, {14000, false}})},
		{"steady: the error is no sample", f.Steady, Summarize("ms", []Sample{{15000, true}, {9000, false}, {12000, false}})},
		{"recovery first", f.RecoveryFirst, Summarize("ms", []Sample{{50, false}, {30000, true}})},
		{"recovery steady", f.RecoverySteady, Summarize("ms", []Sample{{160, false}, {30000, true}})},
		{"held", f.Held, Summarize("ms", Exact(31000, 30000))},
		{"first fallbacks", f.FirstFallbacks, 1},
		{"steady fallbacks", f.SteadyFallbacks, 2},
		{"capped", f.Capped, 2},
		{"errors", f.Errors, 1},
		{"codes", f.Codes, map[string]int{"P1001": 3}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v, want %+v", c.name, c.got, c.want)
		}
	}
	// Summarize again: counts restart, they do not add up.
	f.Summarize()
	if f.Capped != 2 || f.Codes["P1001"] != 3 {
		t.Errorf("a second Summarize changed the counts: capped %d, codes %v", f.Capped, f.Codes)
	}
}

func TestRatios(t *testing.T) {
	r := validReport()
	if len(r.Ratios) != 3 {
		t.Fatalf("got %d ratio rows, want one per outage: %+v", len(r.Ratios), r.Ratios)
	}
	bh := r.Ratios[1]
	if bh.Outage != BlackHole {
		t.Fatalf("second row is %s, want black_hole (the order of AllOutages)", bh.Outage)
	}
	// The runbook's black hole measured to its end (median of 90000 and
	// 90001, nearest rank) over p1001's first-message median 5001.
	if bh.FirstMedian.Bound != "" || bh.FirstMedian.Value != 90000.0/5001 {
		t.Errorf("black-hole first-message ratio %+v, want exact 90000/5001", bh.FirstMedian)
	}
	if bh.SteadyP99.Bound != "" || bh.SteadyP99.Value != 90109/1.9 {
		t.Errorf("black-hole steady p99 ratio %+v, want exact 90109/1.9", bh.SteadyP99)
	}
	// A capped side makes it a bound.
	f := &r.Fallback[1]
	f.Cycles[0].First = capped(120000)
	f.Cycles[1].First = capped(120000)
	f.Summarize()
	if got := Ratios(r.Fallback)[1].FirstMedian; got.Bound != ">=" || got.Value != 120000.0/5001 {
		t.Errorf("capped black-hole first-message ratio %+v, want >= 120000/5001", got)
	}
	if ref := r.Ratios[0].FirstMedian; ref.Bound != "" || ref.Value != 201.0/101 {
		t.Errorf("refused first-message ratio %+v, want exact 201/101", ref)
	}

	// Without p1001's result for an outage, that outage has no row.
	var partial []FallbackResult
	for _, f := range r.Fallback {
		if f.Config == ConfigRunbook || f.Outage != Reset {
			partial = append(partial, f)
		}
	}
	if rows := Ratios(partial); len(rows) != 2 || rows[1].Outage != BlackHole {
		t.Errorf("Ratios without p1001's reset = %+v, want outage and black_hole only", rows)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := validReport()
	data, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	again, err := back.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Errorf("the report changed through JSON and back:\n%s\nwant\n%s", again, data)
	}
	if back.Fallback[1].First != r.Fallback[1].First || back.Ratios[1] != r.Ratios[1] || *back.Overhead != *r.Overhead {
		t.Errorf("figures changed through JSON: %+v, %+v, %+v", back.Fallback[1].First, back.Ratios[1], *back.Overhead)
	}
	var loose map[string]any
	if err := json.Unmarshal(data, &loose); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"schema", "machine", "images", "settings", "configs", "fallback", "ratios", "throughput", "overhead", "micro", "cost", "valid"} {
		if _, ok := loose[key]; !ok {
			t.Errorf("report.json has no %q; keys: %v", key, slices.Collect(maps.Keys(loose)))
		}
	}
	if loose["schema"] != Schema {
		t.Errorf("schema = %v, want %s", loose["schema"], Schema)
	}
	if got := back.Started; !got.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("started = %v", got)
	}
}
