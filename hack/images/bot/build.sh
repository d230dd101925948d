#!/usr/bin/env bash
# Builds p1001/bot: the static bot binary in a FROM scratch image.
# Unlike the database images, the bot is rebuilt whenever its sources changed:
# the image carries the hash of the Go sources it was built from.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$here/../../lib.sh"

image="${P1001_BOT_IMAGE:-p1001/bot:dev}"
require_docker

sources_hash=$(cd "$root" && { git ls-files -co --exclude-standard -- go.mod go.sum 'bot/*' 'resilience/*' | sort | xargs sha256sum; } | sha256sum | cut -c1-16)
if [ "${FORCE:-0}" != 1 ] &&
	[ "$(docker image inspect -f '{{index .Config.Labels "org.p1001.sources"}}' "$image" 2>/dev/null)" = "$sources_hash" ]; then
	say "$image: up to date with the sources ($sources_hash), not rebuilt"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
version=$(cd "$root" && git describe --always --dirty 2>/dev/null || echo dev)
say "$image: go build ./bot/cmd/bot (CGO_ENABLED=0, version $version)"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=$version" -o "$work/bot" ./bot/cmd/bot)
cp "$here/Dockerfile" "$work/"
DOCKER_BUILDKIT=0 docker build -q --label "$PROJECT_LABEL" --label "org.p1001.sources=$sources_hash" -t "$image" "$work" >/dev/null
say "$image: built in $(($(date +%s) - start))s, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec)"
