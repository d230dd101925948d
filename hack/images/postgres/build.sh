#!/usr/bin/env bash
# Builds p1001/postgres:15 offline: a Debian bookworm rootfs made by mmdebstrap
# from Debian's packages (postgresql-15 and pgbouncer), loaded with docker import.
# No registry is involved. Docs, man pages and locales are left out, and so is
# LLVM: without llvmjit.so postgres quietly runs with JIT off, which a test
# database never needs, and the image is 150 MB smaller.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"

image="${P1001_POSTGRES_IMAGE:-p1001/postgres:15}"
require_docker
built_here "$image" P1001_POSTGRES_IMAGE || exit 0
inputs=$(inputs_hash hack/images/postgres)
image_wanted "$image" "$inputs" || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say "$image: mmdebstrap bookworm with postgresql-15, pgbouncer (a few minutes on a cold machine)"
debian_rootfs bookworm "$work/rootfs.tar" postgresql-15,pgbouncer \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/p1001.conf"' \
	--customize-hook="install -m 0755 '$here/docker-entrypoint.sh' \"\$1/usr/local/bin/docker-entrypoint.sh\"" \
	--customize-hook="install -m 0755 '$here/pgbouncer-entrypoint.sh' \"\$1/usr/local/bin/pgbouncer-entrypoint.sh\"" \
	--customize-hook='mkdir -p "$1/docker-entrypoint-initdb.d" "$1/var/lib/postgresql/data" "$1/var/run/postgresql" && chroot "$1" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql' \
	--customize-hook='rm -rf "$1"/usr/lib/*/libLLVM-*.so* "$1"/usr/lib/*/libz3.so* "$1"/usr/lib/postgresql/15/lib/llvmjit* "$1"/usr/lib/postgresql/15/lib/bitcode "$1"/usr/share/i18n' \
	--customize-hook='rm -rf "$1"/usr/share/postgresql/15/man "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15'
say "$image: rootfs $(du -h "$work/rootfs.tar" | cut -f1), importing"

docker import --change "LABEL $PROJECT_LABEL" --change "LABEL org.p1001.inputs=$inputs" \
	--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change 'EXPOSE 5432 6432' \
	"$work/rootfs.tar" "$image" >/dev/null
say "$image: built in $(($(date +%s) - start))s, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec)"
