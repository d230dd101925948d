#!/usr/bin/env bash
# make p1001: reproduces P1001 locally. Starts the stack (postgres,
# pgbouncer, toxiproxy, the bot), narrates a fault and the bot surviving it,
# and exits 1 if a step did not happen as described.
#   FAULT=outage (default) | black-hole | reset_peer | latency | client-limit |
#         password-rotation: a fault kind of the scenario format
#         (docs/scenarios.md, "Faults named alone"); or missing-pgbouncer:
#         the runbook's pooler URL without pgbouncer=true, no fault
#   ARGS=-i        the interactive console instead of the narrated run
#   KEEP=1         leave the stack running (make clean removes it)
#   SHOW_SECRETS=1 with KEEP=1, print the DSNs with their password and the bot's API token
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. hack/lib.sh

for var in KEEP SHOW_SECRETS; do
	case "${!var:-0}" in
	0 | 1) ;;
	*) die "$var=${!var}: want 0 or 1" ;;
	esac
done

require_docker
hack/images/build.sh

# P1001_RUN_ID may be given (hack/p1001-console-test.sh does, to clean up
# after itself); it labels everything this run starts.
run_id="${P1001_RUN_ID:-p1001-$(date -u +%Y%m%dT%H%M%SZ)}"
export P1001_RUN_ID="$run_id"

# Whatever happens (failure, Ctrl-C), nothing of this run stays behind,
# unless KEEP=1 asked for it to stay.
if [ "${KEEP:-0}" != 1 ]; then
	trap 'remove_by_label "$RUN_LABEL_KEY=$run_id"' EXIT
fi

mkdir -p bin
go build -o bin/p1001 ./suites/cmd/p1001
args=()
[ -n "${FAULT:-}" ] && args+=(-fault "$FAULT")
[ "${KEEP:-0}" = 1 ] && args+=(-keep)
[ "${SHOW_SECRETS:-0}" = 1 ] && args+=(-show-secrets)
# shellcheck disable=SC2086 # ARGS is a word list (-i)
bin/p1001 "${args[@]}" ${ARGS:-}
