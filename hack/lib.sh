# shellcheck shell=bash
# Helpers shared by the hack/ scripts. Sourced, not executed.

PROJECT_LABEL_KEY=org.p1001.project
RUN_LABEL_KEY=org.p1001.run

say() { printf '[p1001 %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# require_docker fails with one sentence when the Docker Engine does not answer.
require_docker() {
	command -v docker >/dev/null 2>&1 ||
		die "Docker is not installed: make chaos runs real postgres, pgbouncer and toxiproxy containers and cannot run without a Docker Engine."
	docker info >/dev/null 2>&1 ||
		die "Docker is not reachable (is the daemon running, and may $(id -un) use /var/run/docker.sock?): make chaos cannot run without it."
}

# remove_by_label LABEL: removes the project's containers, then networks, carrying LABEL.
remove_by_label() {
	local ids
	ids=$(docker ps -aq --filter "label=$1")
	if [ -n "$ids" ]; then
		say "removing $(echo "$ids" | wc -l) container(s) labelled $1"
		# shellcheck disable=SC2086
		docker rm -f -v $ids >/dev/null
	fi
	ids=$(docker network ls -q --filter "label=$1")
	if [ -n "$ids" ]; then
		say "removing $(echo "$ids" | wc -l) network(s) labelled $1"
		# shellcheck disable=SC2086
		docker network rm $ids >/dev/null
	fi
}

# image_wanted NAME: true when NAME must be built (missing, or FORCE=1).
image_wanted() {
	if [ "${FORCE:-0}" = 1 ]; then
		say "$1: FORCE=1, rebuilding"
		return 0
	fi
	if docker image inspect "$1" >/dev/null 2>&1; then
		say "$1: present, not rebuilt (FORCE=1 rebuilds)"
		return 1
	fi
	return 0
}

# The label every image carries, so that `make clean IMAGES=1` finds them.
PROJECT_LABEL="$PROJECT_LABEL_KEY=p1001"
