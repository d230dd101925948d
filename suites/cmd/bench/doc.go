// Command bench is `make bench`: on one testcontainers stack it measures
// how long a user waits for a reply when the pooler goes away (refused,
// black hole, reset), with the runbook's configuration (3 attempts,
// connect_timeout=30, no breaker, no budget) and p1001's defaults side by
// side, how fast custom prompts come back, what the retry layer costs on
// the healthy path, the bot's throughput under a fixed concurrency, and
// what the harness itself costs. It writes reports/bench/<stamp>.md and
// .json and prints the markdown.
//
// It asserts nothing about speed: it exits 1 only when the run is invalid
// (too few samples, a fault that never took effect) or could not be
// carried out.
package main
