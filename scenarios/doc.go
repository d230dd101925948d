// Package scenarios holds the chaos catalog (the *.yaml files next to this
// package's Go code) and the code that loads, validates and plays it.
//
// A scenario file says what to run and what must hold:
//
//	name: outage-pooler                  # = the file's base name
//	description: What the scenario proves, in a sentence or two.
//	labels: [fault:outage, path:pooler]  # fault:<kind> per fault kind, one path:<database>
//	bot: {breaker: {delay: 1s}}          # retry, breaker, URL params, env of the bot container
//	traffic: {chats: 4, rate: 20, duration: 8s}
//	faults:
//	  - {at: 1s, for: 2500ms, type: outage, proxy: pooler}
//	expect: {effect: degraded, recovery_within: 4s}
//
// Fault types are Toxiproxy's toxics (latency, bandwidth, slow_close,
// timeout, reset_peer, slicer, limit_data) plus outage (proxy disabled,
// optionally flapping), restart (postgres or pgbouncer), pause (PgBouncer
// PAUSE/RESUME) and partition (the bot off the network).
//
// Decoding is strict: an unknown key, a duplicate key, a value of the wrong
// kind, a duration without a unit, an unknown toxic, proxy, attribute or
// label, two faults overlapping on one proxy or container, a fault past the
// end of the traffic, or a phase too short to hold min_messages_per_fault
// messages is an error. Every error of a file is reported, each as an
// *Error reading "file:line: field.path: message". Defaults are then filled
// in, so a loaded Scenario states everything; retry and breaker fields the
// file leaves out stay nil and keep the bot's own defaults (BotEnv omits
// them, Policy shows their values).
//
// Play applies a scenario's timeline to a Target (the live environment)
// and records when each fault really took effect and stopped, on the
// traffic's clock.
//
// The format, every field and its default are documented in
// docs/scenarios.md; the Go API is the contract in the team's
// scenarios-spec notes.
package scenarios
