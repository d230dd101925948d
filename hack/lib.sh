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
		die "Docker is not reachable at ${DOCKER_HOST:-/var/run/docker.sock} (is the daemon running, and may $(id -un) use it?): the chaos harness cannot run without it."
}

# remove_by_label LABEL: removes the project's containers, then networks and volumes, carrying LABEL.
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
	ids=$(docker volume ls -q --filter "label=$1")
	if [ -n "$ids" ]; then
		say "removing $(echo "$ids" | wc -l) volume(s) labelled $1"
		# shellcheck disable=SC2086
		docker volume rm -f $ids >/dev/null
	fi
}

# inputs_hash PATH...: a short hash of the named files (tracked or not), the
# inputs an image is built from. Each image carries it as a label, so an
# image whose inputs changed is rebuilt without FORCE=1.
inputs_hash() {
	(cd "$(git rev-parse --show-toplevel)" &&
		git ls-files -co --exclude-standard -- "$@" | sort | xargs sha256sum | sha256sum | cut -c1-16)
}

# built_here NAME VARIABLE: images outside p1001/ come from the user's own
# registry (VARIABLE points at them), so they are not built here.
built_here() {
	case "$1" in
	p1001/*) return 0 ;;
	*) say "$2=$1 is not a p1001/ image: not built here"; return 1 ;;
	esac
}

# image_wanted NAME HASH: true when NAME must be built: missing, built from
# other inputs, or FORCE=1.
image_wanted() {
	if [ "${FORCE:-0}" = 1 ]; then
		say "$1: FORCE=1, rebuilding"
		return 0
	fi
	local have
	if ! have=$(docker image inspect -f '{{index .Config.Labels "org.p1001.inputs"}}' "$1" 2>/dev/null); then
		say "$1: missing, building"
		return 0
	fi
	if [ "$have" != "$2" ]; then
		say "$1: its inputs changed ($have -> $2), rebuilding"
		return 0
	fi
	say "$1: up to date ($2), not rebuilt (FORCE=1 rebuilds)"
	return 1
}

# The label every image carries, so that `make clean IMAGES=1` finds them.
PROJECT_LABEL="$PROJECT_LABEL_KEY=p1001"

# need_mmdebstrap installs mmdebstrap when missing (as root), or stops.
need_mmdebstrap() {
	command -v mmdebstrap >/dev/null 2>&1 && return
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing mmdebstrap with apt-get"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
	else
		die "mmdebstrap is missing: install it (apt-get install mmdebstrap) or run as root"
	fi
}

# debian_rootfs <suite> <out.tar> <packages> [mmdebstrap options...] makes a
# minimal Debian rootfs (the essential variant plus the packages, without
# docs, man pages, locales and apt's caches) with mmdebstrap. The mirror:
# P1001_DEBIAN_SOURCES (bookworm) or P1001_DEBIAN_SOURCES_TRIXIE (trixie), a
# file or a "deb ..." line; for bookworm on a bookworm host, the host's own
# sources (known to work here); otherwise mmdebstrap's default mirror.
debian_rootfs() {
	local suite=$1 out=$2 packages=$3 f
	shift 3
	local mirror=() override=P1001_DEBIAN_SOURCES
	[ "$suite" = trixie ] && override=P1001_DEBIAN_SOURCES_TRIXIE
	if [ -n "${!override:-}" ]; then
		mirror=("${!override}")
	elif [ "$suite" = bookworm ] && grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
			[ -s "$f" ] && mirror+=("$f")
		done
	fi
	need_mmdebstrap
	mmdebstrap --variant=essential --mode=root --quiet \
		--include="$packages" \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		"$@" \
		--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
		"$suite" "$out" "${mirror[@]}"
}
