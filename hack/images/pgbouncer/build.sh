#!/usr/bin/env bash
# Builds p1001/pgbouncer:1.24 offline: a Debian trixie rootfs made by mmdebstrap
# with pgbouncer (1.24), loaded with docker import. No registry is involved.
# PgBouncer gets an image of its own because bookworm's 1.18, which the postgres
# image carries, dies on some cancel requests ("FATAL ... disconnect_client(): bad
# client state", pgbouncer#801/#822, fixed in 1.21): a bot stopped mid-query sends
# one, and every later spec of the run then failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"

image="${P1001_PGBOUNCER_IMAGE:-p1001/pgbouncer:1.24}"
require_docker
built_here "$image" P1001_PGBOUNCER_IMAGE || exit 0
inputs=$(inputs_hash hack/images/pgbouncer hack/images/postgres/pgbouncer-entrypoint.sh)
image_wanted "$image" "$inputs" || exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say "$image: mmdebstrap trixie with pgbouncer (a minute or two)"
debian_rootfs trixie "$work/rootfs.tar" pgbouncer,util-linux \
	--customize-hook="install -m 0755 '$here/../postgres/pgbouncer-entrypoint.sh' \"\$1/usr/local/bin/pgbouncer-entrypoint.sh\""
say "$image: rootfs $(du -h "$work/rootfs.tar" | cut -f1), importing"

docker import --change "LABEL $PROJECT_LABEL" --change "LABEL org.p1001.inputs=$inputs" \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'ENTRYPOINT ["/usr/local/bin/pgbouncer-entrypoint.sh"]' \
	--change 'EXPOSE 6432' \
	"$work/rootfs.tar" "$image" >/dev/null
say "$image: built in $(($(date +%s) - start))s, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec)"
