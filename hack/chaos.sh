#!/usr/bin/env bash
# make chaos: builds the images that are missing, runs the Ginkgo chaos suites
# against real containers, and writes the reports under reports/<run>/.
# LABELS is a Ginkgo label filter (make chaos LABELS='smoke').
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. hack/lib.sh

require_docker
hack/images/build.sh

run_id="$(date -u +%Y%m%dT%H%M%SZ)"
out="reports/$run_id"
mkdir -p "$out"
ln -sfn "$run_id" reports/latest
export P1001_RUN_ID="$run_id" P1001_REPORT_DIR="$root/$out"

# Whatever happens (failure, Ctrl-C), nothing of this run stays behind.
trap 'remove_by_label "$RUN_LABEL_KEY=$run_id"' EXIT

say "running the chaos suites (labels: ${LABELS:-all}), reports in $out"
args=(--tags chaos --timeout="${TIMEOUT:-40m}"
	--poll-progress-after=60s --poll-progress-interval=30s
	--junit-report=junit.xml --json-report=ginkgo.json --output-dir="$out")
[ -n "${LABELS:-}" ] && args+=(--label-filter="$LABELS")
[ -t 1 ] || args+=(--no-color)
# shellcheck disable=SC2086 # GINKGO_FLAGS is a word list (e.g. --repeat=2)
status=0
go tool ginkgo "${args[@]}" ${GINKGO_FLAGS:-} ./suites/chaos || status=$?
# The report's verdict line is what a reviewer reads first.
if [ -s "$out/report.md" ]; then
	say "$(head -n 1 "$out/report.md" | sed 's/^# //'): $out/index.html"
fi
exit "$status"
