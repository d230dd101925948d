#!/usr/bin/env bash
# Builds p1001/toxiproxy:2.12.0: the Toxiproxy server of the Go module pinned
# in go.mod, run by p1001's own main (suites/cmd/toxiproxy) so that p1001's
# toxics (suites/toxics: pgerror) are registered next to the stock ones;
# static (CGO off), in a FROM scratch image. Nothing is pulled.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$here/../../lib.sh"

image="${P1001_TOXIPROXY_IMAGE:-p1001/toxiproxy:2.12.0}"
require_docker
built_here "$image" P1001_TOXIPROXY_IMAGE || exit 0
# go.mod and go.sum pin Toxiproxy and pgx (pgproto3) and so the rest.
inputs=$(inputs_hash go.mod go.sum suites/cmd/toxiproxy suites/toxics hack/images/toxiproxy)
image_wanted "$image" "$inputs" || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say "$image: go build ./suites/cmd/toxiproxy (Toxiproxy $(cd "$root" && go list -m -f '{{.Version}}' github.com/Shopify/toxiproxy/v2), CGO_ENABLED=0)"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/toxiproxy" ./suites/cmd/toxiproxy)
cp "$here/Dockerfile" "$work/"
DOCKER_BUILDKIT=0 docker build -q --label "$PROJECT_LABEL" --label "org.p1001.inputs=$inputs" -t "$image" "$work" >/dev/null
say "$image: built in $(($(date +%s) - start))s, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec)"
