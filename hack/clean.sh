#!/usr/bin/env bash
# make clean: removes every container, network and volume the project left behind
# (after Ctrl-C, a crash, or KEEP=1), found by label. IMAGES=1 removes the
# images too; REPORTS=1 removes reports/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. hack/lib.sh

rm -rf bin .scratch
if [ "${REPORTS:-0}" = 1 ]; then rm -rf reports; fi
if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
	say "Docker is not reachable: no containers to remove"
	exit 0
fi
remove_by_label "$PROJECT_LABEL_KEY"
if [ "${IMAGES:-0}" = 1 ]; then
	ids=$(docker images -q --filter "label=$PROJECT_LABEL_KEY" | sort -u)
	if [ -n "$ids" ]; then
		say "removing the project's images"
		# shellcheck disable=SC2086
		docker rmi -f $ids >/dev/null
	fi
fi
say "clean"
