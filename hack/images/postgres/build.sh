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

need_mmdebstrap

# Use the host's Debian sources when the host is bookworm too (its mirror is
# known to work here); P1001_DEBIAN_SOURCES overrides with a file or a "deb ..." line;
# otherwise mmdebstrap's default mirrors.
mirror_args=()
if [ -n "${P1001_DEBIAN_SOURCES:-}" ]; then
	mirror_args=("$P1001_DEBIAN_SOURCES")
elif grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -s "$f" ] && mirror_args+=("$f")
	done
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say "$image: mmdebstrap bookworm with postgresql-15, pgbouncer (a few minutes on a cold machine)"
mmdebstrap --variant=essential --mode=root --quiet \
	--include=postgresql-15,pgbouncer \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	--essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/p1001.conf"' \
	--customize-hook="install -m 0755 '$here/docker-entrypoint.sh' \"\$1/usr/local/bin/docker-entrypoint.sh\""  \
	--customize-hook="install -m 0755 '$here/pgbouncer-entrypoint.sh' \"\$1/usr/local/bin/pgbouncer-entrypoint.sh\"" \
	--customize-hook='mkdir -p "$1/docker-entrypoint-initdb.d" "$1/var/lib/postgresql/data" "$1/var/run/postgresql" && chroot "$1" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql' \
	--customize-hook='rm -rf "$1"/usr/lib/*/libLLVM-*.so* "$1"/usr/lib/*/libz3.so* "$1"/usr/lib/postgresql/15/lib/llvmjit* "$1"/usr/lib/postgresql/15/lib/bitcode "$1"/usr/share/i18n' \
	--customize-hook='rm -rf "$1"/usr/share/postgresql/15/man "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15 "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
	bookworm "$work/rootfs.tar" "${mirror_args[@]}"
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
