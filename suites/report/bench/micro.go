package bench

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// ParseGoBench reads `go test -bench` output: every Benchmark line gives
// one run of that benchmark, and its ns/op, B/op and allocs/op values.
// Benchmarks keep the order they first appear in.
func ParseGoBench(out string) ([]MicroBench, error) {
	type runs struct{ ns, bytes, allocs []float64 }
	var order []string
	byName := map[string]*runs{}
	sc := bufio.NewScanner(strings.NewReader(out))
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			return nil, fmt.Errorf("benchmark output line %d: iterations %q: not a number", line, fields[1])
		}
		name := trimProcs(strings.TrimPrefix(fields[0], "Benchmark"))
		r := byName[name]
		if r == nil {
			r = &runs{}
			byName[name] = r
			order = append(order, name)
		}
		if (len(fields)-2)%2 != 0 {
			return nil, fmt.Errorf("benchmark output line %d: want value/unit pairs after the iterations: %q", line, sc.Text())
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark output line %d: %s value %q: not a number", line, fields[i+1], fields[i])
			}
			switch fields[i+1] {
			case "ns/op":
				r.ns = append(r.ns, v)
			case "B/op":
				r.bytes = append(r.bytes, v)
			case "allocs/op":
				r.allocs = append(r.allocs, v)
			}
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("no benchmark results in the output:\n%s", out)
	}
	benches := make([]MicroBench, 0, len(order))
	for _, name := range order {
		r := byName[name]
		benches = append(benches, MicroBench{
			Name: name, Runs: len(r.ns),
			NsPerOp:     Summarize("ns/op", Exact(r.ns...)),
			BytesPerOp:  Summarize("B/op", Exact(r.bytes...)),
			AllocsPerOp: Summarize("allocs/op", Exact(r.allocs...)),
		})
	}
	return benches, nil
}

// trimProcs drops the -GOMAXPROCS suffix go test adds ("Do_Bare-2").
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}
