#!/usr/bin/env bash
# Builds p1001/bot: the static bot binary in a FROM scratch image.
# It is rebuilt whenever its Go sources change (see inputs_hash).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$here/../../lib.sh"

image="${P1001_BOT_IMAGE:-p1001/bot:dev}"
require_docker
built_here "$image" P1001_BOT_IMAGE || exit 0

inputs=$(inputs_hash go.mod go.sum bot resilience hack/images/bot)
image_wanted "$image" "$inputs" || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
version=$(cd "$root" && git describe --always --dirty 2>/dev/null || echo dev)
say "$image: go build ./bot/cmd/bot (CGO_ENABLED=0, version $version)"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=$version" -o "$work/bot" ./bot/cmd/bot)
cp "$here/Dockerfile" "$work/"
mkdir -m 0750 "$work/spool" # becomes /var/lib/p1001, the spool's volume
DOCKER_BUILDKIT=0 docker build -q --label "$PROJECT_LABEL" --label "org.p1001.inputs=$inputs" -t "$image" "$work" >/dev/null
say "$image: built in $(($(date +%s) - start))s, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec)"
