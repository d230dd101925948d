#!/usr/bin/env bash
# make chaos: builds the images that are missing, runs the Ginkgo chaos suites
# against real containers, and writes the reports under reports/<run>/.
# LABELS is a Ginkgo label filter (make chaos LABELS='smoke').
# PROCS=N (default 2) runs N Ginkgo processes, each with its own stack (network,
# Postgres, PgBouncer, Toxiproxy, bots), labelled org.p1001.process=<n>.
# SHARD=i/n plays shard i of n of the catalog (suites/shard: the scenario
# files sorted by name, dealt round n shards); the smoke specs run in
# shard 1, the other spec files are dealt too. All three compose.
# TARGET=targets/<name>.yaml (default targets/p1001.yaml) is the bot under test
# (docs/targets.md); against another target than p1001 the specs about p1001's
# own bot are skipped by name and the catalog plays against the target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. hack/lib.sh

procs=${PROCS:-2}
case "$procs" in
'' | *[!0-9]* | 0) die "PROCS=$procs: want a number of Ginkgo processes, 1 or more" ;;
esac
if [ -n "${SHARD:-}" ]; then
	[[ "$SHARD" =~ ^([0-9]+)/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] &&
		[ "${BASH_REMATCH[1]}" -le "${BASH_REMATCH[2]}" ] ||
		die "SHARD=$SHARD: want i/n with 1 <= i <= n, such as SHARD=1/4"
fi
export P1001_SHARD="${SHARD:-}"
target=${TARGET:-targets/p1001.yaml}
[ -f "$target" ] || die "TARGET=$target: no such target file (see targets/)"
case "$target" in
/*) export P1001_TARGET="$target" ;;
*) export P1001_TARGET="$root/$target" ;;
esac
# STACK=existing plays against a stack someone else started (docs/targets.md):
# P1001_TOXIPROXY_URL, P1001_BOT_URL, P1001_CHECK_DSN (and P1001_BOT_TOKEN,
# P1001_POOLER_DSN, P1001_DIRECT_DSN) say where. One stack: one Ginkgo process.
export P1001_STACK="${STACK:-}"
case "$P1001_STACK" in
"") ;;
existing) procs=1 ;;
*) die "STACK=$P1001_STACK: want existing (or nothing: the harness starts its own)" ;;
esac

require_docker
[ -n "$P1001_STACK" ] || hack/images/build.sh

run_id="$(date -u +%Y%m%dT%H%M%SZ)"
out="reports/$run_id"
mkdir -p "$out"
ln -sfn "$run_id" reports/latest
export P1001_RUN_ID="$run_id" P1001_REPORT_DIR="$root/$out"

# Whatever happens (failure, Ctrl-C), nothing of this run stays behind.
trap 'remove_by_label "$RUN_LABEL_KEY=$run_id"' EXIT

say "running the chaos suites (target: $target, labels: ${LABELS:-all}, shard: ${SHARD:-all}, processes: $procs), reports in $out"
args=(--tags chaos --timeout="${TIMEOUT:-40m}"
	--poll-progress-after=60s --poll-progress-interval=30s
	--junit-report=junit.xml --json-report=ginkgo.json --output-dir="$out")
[ -n "${LABELS:-}" ] && args+=(--label-filter="$LABELS")
[ "$procs" -gt 1 ] && args+=(--procs="$procs")
[ -t 1 ] || args+=(--no-color)
# shellcheck disable=SC2086 # GINKGO_FLAGS is a word list (e.g. --repeat=2)
status=0
go tool ginkgo "${args[@]}" ${GINKGO_FLAGS:-} ./suites/chaos || status=$?
# Clean up now, so that the verdict below is the last line printed.
remove_by_label "$RUN_LABEL_KEY=$run_id"
trap - EXIT
# One verdict for the run: the report's headline, report.json's verdict, this
# script's last line and its exit code agree. When the suite died before its
# ReportAfterSuite (a build error, a crash), the report is built from what it
# left, and says FAIL: its specs are unknown.
if [ ! -s "$out/report.md" ]; then
	say "the suite wrote no report (ginkgo exited $status); building it from what the run left"
	go run ./hack/report "$out" >/dev/null || true
fi
headline=""
[ -s "$out/report.md" ] && headline=$(head -n 1 "$out/report.md" | sed 's/^# //')
case "$headline" in
"✅ PASS: "*)
	if [ "$status" -ne 0 ]; then
		# Ginkgo failed after the report was written (ReportAfterSuite's own
		# checks, say): the run fails whatever the report says.
		say "❌ FAIL: ginkgo exited $status after the report was written (see its output above); the report says: $headline"
		exit "$status"
	fi
	say "$headline: $out/index.html"
	exit 0
	;;
"")
	say "❌ FAIL: no report could be built (ginkgo exited $status): see the output above"
	;;
*)
	say "$headline: $out/index.html"
	;;
esac
[ "$status" -ne 0 ] || status=1
exit "$status"
