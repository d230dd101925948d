package bench

import (
	"slices"
	"testing"
)

func TestSummarize(t *testing.T) {
	exact := func(v float64) Stat { return Stat{Value: v} }
	atLeast := func(v float64) Stat { return Stat{Value: v, AtLeast: true} }
	tests := []struct {
		name    string
		samples []Sample
		want    Summary
	}{
		{"empty", nil, Summary{Unit: "ms"}},
		{"one", Exact(7), Summary{Unit: "ms", N: 1, Min: exact(7), Median: exact(7), P99: exact(7), Max: exact(7)}},
		{"odd count, unsorted", Exact(9, 1, 5), Summary{Unit: "ms", N: 3, Min: exact(1), Median: exact(5), P99: exact(9), Max: exact(9)}},
		{"even count: the lower middle (nearest rank)", Exact(4, 1, 3, 2), Summary{Unit: "ms", N: 4, Min: exact(1), Median: exact(2), P99: exact(4), Max: exact(4)}},
		{"p99 of 200 is the 198th", Exact(seq(200)...), Summary{Unit: "ms", N: 200, Min: exact(1), Median: exact(100), P99: exact(198), Max: exact(200)}},
		{
			"capped at the top: the median stays exact",
			[]Sample{{15, true}, {1, false}, {15, true}, {2, false}, {3, false}},
			Summary{Unit: "ms", N: 5, Capped: 2, Min: exact(1), Median: exact(3), P99: atLeast(15), Max: atLeast(15)},
		},
		{
			"capped below exact samples: everything from it up is a bound",
			[]Sample{{20, false}, {5, true}, {10, false}},
			Summary{Unit: "ms", N: 3, Capped: 1, Min: atLeast(5), Median: atLeast(10), P99: atLeast(20), Max: atLeast(20)},
		},
		{
			"equal values: the exact one sorts first",
			[]Sample{{15, true}, {15, false}},
			Summary{Unit: "ms", N: 2, Capped: 1, Min: exact(15), Median: exact(15), P99: atLeast(15), Max: atLeast(15)},
		},
		{
			"all capped",
			[]Sample{{15, true}, {15, true}},
			Summary{Unit: "ms", N: 2, Capped: 2, Min: atLeast(15), Median: atLeast(15), P99: atLeast(15), Max: atLeast(15)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.samples)
			if got := Summarize("ms", tt.samples); got != tt.want {
				t.Errorf("Summarize = %+v\nwant        %+v", got, tt.want)
			}
			if !slices.Equal(in, tt.samples) {
				t.Errorf("Summarize reordered its input: %v, was %v", tt.samples, in)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestRank(t *testing.T) {
	tests := []struct {
		p    float64
		n    int
		want int
	}{
		{0.5, 1, 0}, {0.5, 2, 0}, {0.5, 3, 1}, {0.5, 10, 4}, {0.99, 10, 9}, {0.99, 100, 98}, {0.99, 101, 99}, {0, 5, 0}, {1, 5, 4},
	}
	for _, tt := range tests {
		if got := rank(tt.p, tt.n); got != tt.want {
			t.Errorf("rank(%v, %d) = %d, want %d", tt.p, tt.n, got, tt.want)
		}
	}
}

func TestRatioOf(t *testing.T) {
	tests := []struct {
		name     string
		num, den Stat
		want     Ratio
	}{
		{"exact", Stat{Value: 300}, Stat{Value: 100}, Ratio{Value: 3}},
		{"capped numerator: lower bound", Stat{Value: 15000, AtLeast: true}, Stat{Value: 5000}, Ratio{Value: 3, Bound: ">="}},
		{"capped denominator: upper bound", Stat{Value: 100}, Stat{Value: 50, AtLeast: true}, Ratio{Value: 2, Bound: "<="}},
		{"both capped: unknown", Stat{Value: 15, AtLeast: true}, Stat{Value: 15, AtLeast: true}, Ratio{Bound: "?"}},
		{"zero denominator: unknown", Stat{Value: 1}, Stat{}, Ratio{Bound: "?"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RatioOf(tt.num, tt.den); got != tt.want {
				t.Errorf("RatioOf(%+v, %+v) = %+v, want %+v", tt.num, tt.den, got, tt.want)
			}
		})
	}
}
