#!/usr/bin/env bash
# make bench: time to fallback (the runbook's configuration and p1001's
# side by side, the runbook's black hole to its real end), recovery,
# healthy-path overhead, throughput and the harness's own cost, on one
# stack, with a headline table against issue 15's goals. Builds the images
# that are missing, writes reports/bench/<stamp>.md and .json, prints the
# markdown, and fails only when the run is invalid (too few samples, a
# reply not back at its cap, a fault that never took effect) or could not
# run. BENCH_FLAGS go to suites/cmd/bench (-h lists
# them), e.g. make bench BENCH_FLAGS='-cycles 8'.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. hack/lib.sh

require_docker
hack/images/build.sh

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
run_id="bench-$stamp"
export P1001_RUN_ID="$run_id"

# Whatever happens (failure, Ctrl-C), nothing of this run stays behind.
trap 'remove_by_label "$RUN_LABEL_KEY=$run_id"' EXIT

mkdir -p bin
go build -o bin/bench ./suites/cmd/bench
say "bench $stamp: micro-benchmarks, then the stack (about 7 minutes)"
# shellcheck disable=SC2086 # BENCH_FLAGS is a word list
bin/bench -stamp "$stamp" -out reports/bench ${BENCH_FLAGS:-}
