// Package bench is the report of `make bench` (suites/cmd/bench measures,
// this package records and renders): the JSON model reports/bench/<stamp>.json
// carries (schema p1001.bench/v2), the statistics over censored samples
// (a reply past the client's cap counts as at least the cap), the ratios
// between the runbook's configuration and p1001's, the markdown, and the
// validity checks that make a run count. The outages are fault kinds of the
// scenario format (scenarios.NamedFault).
package bench
