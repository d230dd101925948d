package bench

import (
	"strings"
	"testing"
)

const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/p1001/p1001/resilience
cpu: AMD EPYC
BenchmarkDo_Bare-2          	1000000000	         0.5627 ns/op	       0 B/op	       0 allocs/op
BenchmarkDo_Wrapped-2       	  300000	      3988 ns/op	    2152 B/op	      35 allocs/op
BenchmarkDo_Bare-2          	1000000000	         0.6000 ns/op	       0 B/op	       0 allocs/op
BenchmarkDo_Wrapped-2       	  300000	      4100 ns/op	    2152 B/op	      35 allocs/op
BenchmarkDo_Bare-2          	1000000000	         0.5000 ns/op	       0 B/op	       0 allocs/op
BenchmarkDo_Wrapped-2       	  300000	      3900 ns/op	    2152 B/op	      35 allocs/op
BenchmarkCustom-2 	 100	 12.5 ns/op	 7.0 widgets/op
PASS
ok  	github.com/p1001/p1001/resilience	12.345s
`

func TestParseGoBench(t *testing.T) {
	got, err := ParseGoBench(benchOutput)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Name != "Do_Bare" || got[1].Name != "Do_Wrapped" || got[2].Name != "Custom" {
		t.Fatalf("benchmarks %+v, want Do_Bare, Do_Wrapped, Custom in order of appearance", got)
	}
	bare, wrapped := got[0], got[1]
	if bare.Runs != 3 || wrapped.Runs != 3 {
		t.Errorf("runs %d and %d, want 3 each", bare.Runs, wrapped.Runs)
	}
	if want := Summarize("ns/op", Exact(0.5627, 0.6, 0.5)); bare.NsPerOp != want {
		t.Errorf("Do_Bare ns/op %+v, want %+v", bare.NsPerOp, want)
	}
	if wrapped.NsPerOp.Median.Value != 3988 || wrapped.NsPerOp.Min.Value != 3900 || wrapped.NsPerOp.Max.Value != 4100 {
		t.Errorf("Do_Wrapped ns/op %+v", wrapped.NsPerOp)
	}
	if wrapped.AllocsPerOp.Median.Value != 35 || wrapped.BytesPerOp.Median.Value != 2152 {
		t.Errorf("Do_Wrapped allocs %+v bytes %+v", wrapped.AllocsPerOp, wrapped.BytesPerOp)
	}
	if c := got[2]; c.NsPerOp.N != 1 || c.AllocsPerOp.N != 0 {
		t.Errorf("a benchmark without -benchmem figures: %+v", c)
	}
}

func TestParseGoBenchErrors(t *testing.T) {
	tests := []struct {
		name, out, want string
	}{
		{"no benchmarks", "PASS\nok  \tpkg\t0.1s\n", "no benchmark results"},
		{"iterations not a number", "BenchmarkX-2 \tmany\t 3 ns/op\t 0 B/op\n", `line 1: iterations "many"`},
		{"value not a number", "goos: linux\nBenchmarkX-2 \t10\t fast ns/op\t 0 B/op\n", `line 2: ns/op value "fast"`},
		{"a value without a unit", "BenchmarkX-2 \t10\t 3 ns/op\t 0\n", "value/unit pairs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGoBench(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseGoBench error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{
		"Do_Bare-2": "Do_Bare", "Do_Bare-16": "Do_Bare", "Do_Bare": "Do_Bare", "Query/size-big": "Query/size-big", "Query/n-8-4": "Query/n-8",
	} {
		if got := trimProcs(in); got != want {
			t.Errorf("trimProcs(%q) = %q, want %q", in, got, want)
		}
	}
}
