// Package report turns a chaos run's directory (reports/<run>/) into what a
// reviewer reads: report.md (the whole run's verdict line and why, one row
// per scenario, the other specs, every failure with links to its evidence,
// every broken promise with a link to its history), index.html (one
// self-contained page: per scenario an SVG chart of reply latency, breaker
// state and retries, rendered with gonum/plot, and the checkers' verdicts)
// and report.json (the same content, schema "p1001.report/v2", documented
// in docs/report.md). It also appends report.md to $GITHUB_STEP_SUMMARY.
//
// The verdict is the whole run's: suite.json (SuiteFromGinkgo, written by
// the chaos suite from Ginkgo's own report) says how every spec ended,
// smoke and bot specs and suite nodes included, and whether the run was
// interrupted; a failed spec, a selected scenario that did not complete,
// or a missing suite.json fails the run. WriteEvidence stores a failed
// spec's logs under failures/, scrubbed and redacted.
//
// A history recorded against a target that does not show some evidence
// (history.TargetInfo) renders its checks not observable as such, with
// the reason, out of the counts and the score, and its unmeasured figures
// as n/a (null in report.json); a scenario, and a run, that judged no
// behaviour is inconclusive, never a pass.
//
// Build is a pure function of the run dir and the catalog: it reads each
// scenarios/<name>/history.jsonl, run.json and suite.json, and runs checks.Run and
// checks.Measure, which are deterministic, so `make report RUN=<dir>`
// re-renders (and re-checks) an earlier run without containers.
//
// # Secrets
//
// Every string copied from a history or the catalog goes through redact
// (resilience.RedactText for DSN passwords, plus key=value secrets, bearer
// credentials, Telegram tokens and OpenAI keys). Before anything is
// written, each output must be a fixed point of redact, or Build fails
// naming the file and line. CheckNoSecrets lets the suite look for its
// live password in every file of the run dir.
//
// # Clocks
//
// Op and fault offsets are on the suite's monotonic base. The bot's log
// lines carry the bot's wall-clock time; they are placed on the same axis
// by subtracting History.Base (the host's wall-clock time of offset 0).
// The bot runs in a container on the same machine, so both read the same
// kernel clock and no skew correction is applied.
package report
