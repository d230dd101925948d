#!/usr/bin/env bash
# Builds p1001/toxiproxy:2.12.0: the server from the Go module pinned in go.mod
# (a `tool` line), static (CGO off), in a FROM scratch image. Nothing is pulled.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$here/../../lib.sh"

image="${P1001_TOXIPROXY_IMAGE:-p1001/toxiproxy:2.12.0}"
require_docker
built_here "$image" P1001_TOXIPROXY_IMAGE || exit 0
inputs=$( { inputs_hash hack/images/toxiproxy; cd "$root" && go list -m github.com/Shopify/toxiproxy/v2; } | sha256sum | cut -c1-16)
image_wanted "$image" "$inputs" || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say "$image: go build github.com/Shopify/toxiproxy/v2/cmd/server (CGO_ENABLED=0)"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/toxiproxy" github.com/Shopify/toxiproxy/v2/cmd/server)
cp "$here/Dockerfile" "$work/"
DOCKER_BUILDKIT=0 docker build -q --label "$PROJECT_LABEL" --label "org.p1001.inputs=$inputs" -t "$image" "$work" >/dev/null
say "$image: built in $(($(date +%s) - start))s, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec)"
