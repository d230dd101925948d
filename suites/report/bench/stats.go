package bench

import (
	"cmp"
	"math"
	"slices"
)

// Sample is one measured value. AtLeast marks a censored sample: the
// measurement was cut off (the client's cap, the recovery timeout), so the
// true value is at least Value.
type Sample struct {
	Value   float64
	AtLeast bool
}

// Stat is one statistic of a Summary. AtLeast says it is only a lower
// bound, because censored samples reach down to it.
type Stat struct {
	Value   float64 `json:"value"`
	AtLeast bool    `json:"at_least,omitempty"`
}

// Summary is the spread of a set of samples. Median and P99 are nearest-rank
// percentiles (p50 and p99), so each is one of the samples.
type Summary struct {
	Unit   string `json:"unit"`
	N      int    `json:"n"`
	Capped int    `json:"capped,omitempty"`
	Min    Stat   `json:"min"`
	Median Stat   `json:"median"`
	P99    Stat   `json:"p99"`
	Max    Stat   `json:"max"`
}

// Summarize computes the spread of samples in unit. With censored samples,
// an order statistic is a lower bound from the first censored sample's rank
// upwards: below it every sample is exact, so the statistic is too.
func Summarize(unit string, samples []Sample) Summary {
	s := Summary{Unit: unit, N: len(samples)}
	if len(samples) == 0 {
		return s
	}
	sorted := slices.Clone(samples)
	// Equal values: exact before censored, since a censored one may be larger.
	slices.SortStableFunc(sorted, func(a, b Sample) int {
		if c := cmp.Compare(a.Value, b.Value); c != 0 {
			return c
		}
		switch {
		case a.AtLeast == b.AtLeast:
			return 0
		case a.AtLeast:
			return 1
		}
		return -1
	})
	firstCensored := len(sorted)
	for i, x := range sorted {
		if x.AtLeast {
			s.Capped++
			firstCensored = min(firstCensored, i)
		}
	}
	at := func(i int) Stat { return Stat{Value: sorted[i].Value, AtLeast: i >= firstCensored} }
	s.Min = at(0)
	s.Median = at(rank(0.50, len(sorted)))
	s.P99 = at(rank(0.99, len(sorted)))
	s.Max = at(len(sorted) - 1)
	return s
}

// rank is the nearest-rank index of the p-th quantile among n sorted values.
func rank(p float64, n int) int {
	i := int(math.Ceil(p*float64(n))) - 1
	return min(max(i, 0), n-1)
}

// Exact makes uncensored samples of values.
func Exact(values ...float64) []Sample {
	out := make([]Sample, len(values))
	for i, v := range values {
		out[i] = Sample{Value: v}
	}
	return out
}

// Ratio is num/den of two statistics. Bound says how far it can be
// trusted when either side is censored: "" exact, ">=" a lower bound (only
// the numerator is censored), "<=" an upper bound (only the denominator
// is), "?" unknown (both are, or the denominator is zero).
type Ratio struct {
	Value float64 `json:"value"`
	Bound string  `json:"bound,omitempty"`
}

// RatioOf divides two statistics.
func RatioOf(num, den Stat) Ratio {
	if den.Value <= 0 || (num.AtLeast && den.AtLeast) {
		return Ratio{Bound: "?"}
	}
	r := Ratio{Value: num.Value / den.Value}
	switch {
	case num.AtLeast:
		r.Bound = ">="
	case den.AtLeast:
		r.Bound = "<="
	}
	return r
}
