// Command bench is `make bench`: on one testcontainers stack it measures
// how long a user waits for a reply when the pooler goes away (the fault
// kinds outage, black_hole and reset_peer, played through the scenario
// format's fault table), with the runbook's configuration (3 attempts,
// connect_timeout=30, no breaker, no budget) and p1001's defaults side by
// side, how fast custom prompts come back, what the retry layer costs on
// the healthy path, the bot's throughput under a fixed concurrency, and
// what the harness itself costs. It writes reports/bench/<stamp>.md and
// .json (suites/report/bench) and prints the markdown.
//
// It asserts nothing about speed: it exits 1 only when the run is invalid
// (too few samples, a fault that never took effect) or could not be
// carried out.
package main
