package bench

import (
	"strings"
	"testing"
)

func TestRenderMarkdown(t *testing.T) {
	md := RenderMarkdown(validReport())
	for _, want := range []string{
		"# p1001 bench `20261126T100000Z`",
		"**Valid run.**",
		"`make bench` on 2 cores (GOMAXPROCS 2, AMD EPYC), go1.26.8 linux/amd64",
		"wall time 5m45.6s",
		"postgres `p1001/postgres:15` (`1db0ffe7595c`), bot `p1001/bot:dev` (`33805c1b9a35`)",
		// configurations
		"| runbook | 3 | 30.00 s | none | off | `pgbouncer=true&connection_limit=10&connect_timeout=30` | `DB_BREAKER_ENABLED=false` |",
		"| p1001 | 3 | 2.00 s | 5.00 s | on, 1.00 s to half-open |",
		"shipped defaults",
		// headline: each goal, met or not
		"| black hole, first message after the fault, p50 / p99 | 5.00 s / 5.00 s | p99 ≤ 1.50 s | no |",
		"| refused, first message p99 | 102 ms | ≤ 300 ms | yes |",
		"| breaker open, steady state p99 (throughput, outage) | 12.0 ms | ≤ 20.0 ms | yes |",
		"| healthy-path overhead through the real stack (median round ratio) | +0.4 % (+7 µs) | ≤ 1 % | yes |",
		"| `Do` micro-benchmark, wrapped (medians) | 900 ns/op, 4 allocs/op | ≤ 1000 ns/op, ≤ 5 allocs/op | yes |",
		"| runbook configuration, black hole, first message p50 / p99 | 90.00 s / 90.00 s | the real figure (no capped reply) | yes |",
		"| ratio runbook / p1001, black hole, first message p50 / p99 | 18.0× / 18.0× | numbers, not bounds | yes |",
		"| `make bench` wall time | 5m45.6s | < 10m0s | yes |",
		// time to fallback: the runbook's black hole to its end, spread and counts
		"**Cap: the client waits at most 15s for a reply, 2m0s in the runbook's black hole**",
		"which runs 2 cycles (the others 3)",
		"| black_hole | runbook | 2 | 90.00 s / 90.00 s / 90.00 s / 90.00 s | 90.10 s / 90.10 s / 90.11 s / 90.11 s | 20 | 2, 20 | 0 | P1001 ×22 |",
		"| black_hole | p1001 | 3 | 5.00 s / 5.00 s / 5.00 s / 5.00 s | 1.00 ms / 1.40 ms / 1.90 ms / 1.90 ms | 30 | 3, 30 | 0 | P1001 ×33 |",
		// ratios
		"| black_hole | 18.0× | 18.0× | 64360× | 47426× |",
		"| outage | 2.0× | 2.0× | 110× | 83.7× |",
		// recovery
		"| outage | p1001 | 1.20 s | 30.0 ms / 30.0 ms / 30.0 ms | 140 ms / 140 ms / 140 ms |",
		// overhead and micro-benchmarks
		"| bare pgx | 3 | 270 µs | 338 µs | 530 µs | 530 µs |",
		"**Overhead: +0.40%**",
		"| bare pgx, with a deadline | 3 | 272 µs | 342 µs | 500 µs | 500 µs |",
		"Against bare with a deadline: +0.20% (round ratios 0.9700 / 1.0020 / 1.0100).",
		"| Query_Wrapped | 6 | 32300 / 32300 / 32300 | 0 | 20 |",
		"Query_Wrapped vs Query_Bare (a loopback query to an in-process fake server): +8600 ns/op (+36.3%)",
		"```\nQuery_Bare-2  23.7µ ± 1%\n```",
		// throughput
		"| healthy | 10000 | 2000 | 1900 / 2000 / 2100 | 1.00 ms / 6.00 ms / 20.0 ms / 20.0 ms | 0 | 0 | 0 |",
		"| outage | 25000 | 5000 |",
		// cost
		"in parallel): postgres 3.79 s, total 3.88 s.",
		"- runbook bot: container up (`/healthz`) in 436 ms, database up and migrated (`/readyz`) after 439 ms.",
		"the full catalog): 25 specs, 25 passed, **2m25.4s wall time** (read, not rerun)",
		// left out, validity
		"- Throughput of the runbook configuration",
		"- Cycles of the runbook's black hole: 2, not 3 as elsewhere. Each holds the fault for 1.20 s (median)",
		"No problem found.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the markdown lacks %q", want)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "%!", "<nil>"} {
		if strings.Contains(md, bad) {
			t.Errorf("the markdown contains %q:\n%s", bad, md)
		}
	}
}

func TestRenderMarkdownInvalid(t *testing.T) {
	r := validReport()
	r.Overhead.Rounds = 2
	r.Cost.Catalog = nil
	r.Cost.CatalogNote = "no chaos run found at reports/latest/ginkgo.json: run `make chaos` first"
	r.LeftOut = LeftOut(r)
	r.Problems = Validate(r)
	r.Valid = len(r.Problems) == 0
	md := RenderMarkdown(r)
	for _, want := range []string{
		"**INVALID run** (see Validity below)",
		"- overhead: 2 rounds, want at least 10",
		"- no chaos run found at reports/latest/ginkgo.json: run `make chaos` first.",
		"- Catalog wall time: no chaos run found",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "No problem found.") || strings.Contains(md, "**Valid run.**") {
		t.Error("an invalid run is rendered as valid")
	}
}

func TestFormats(t *testing.T) {
	ms := map[float64]string{15000: "15.00 s", 999: "999 ms", 99.94: "99.9 ms", 5.123: "5.12 ms", 0.4567: "457 µs", 0.0123: "12.3 µs"}
	for v, want := range ms {
		if got := fmtMS(v); got != want {
			t.Errorf("fmtMS(%v) = %q, want %q", v, got, want)
		}
	}
	ratios := map[Ratio]string{
		{Value: 3}: "3.0×", {Value: 12345.6}: "12346×", {Value: 3, Bound: ">="}: "≥ 3.0×", {Value: 0.5, Bound: "<="}: "≤ 0.5×", {Bound: "?"}: "n/a",
	}
	for r, want := range ratios {
		if got := fmtRatio(r); got != want {
			t.Errorf("fmtRatio(%+v) = %q, want %q", r, got, want)
		}
	}
	times := map[string]float64{"total": 3880, "bot": 400, "toxiproxy": 800, "network": 60, "postgres": 3790}
	if got, want := startTimes(times), "network 60.0 ms, postgres 3.79 s, toxiproxy 800 ms, bot 400 ms, total 3.88 s"; got != want {
		t.Errorf("startTimes = %q, want %q", got, want)
	}
	if got := spread(Summary{}, fmtMS); got != "no samples" {
		t.Errorf("spread of nothing = %q", got)
	}
}
