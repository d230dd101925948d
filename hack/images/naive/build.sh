#!/usr/bin/env bash
# Builds p1001/naive-bot:latest offline: a Debian trixie rootfs made by
# mmdebstrap with python3 and python3-psycopg2 (no recommends), plus bot.py and
# schema.sql in /app, loaded with docker import. No registry is involved.
# The naive bot is a second target for the harness, in another stack than
# p1001's own bot: `python3 /app/bot.py` (naive, the default command) or
# `python3 /app/bot.py --fixed` (the runbook's fix). See bot.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"

image="${P1001_NAIVE_BOT_IMAGE:-p1001/naive-bot:latest}"
require_docker
built_here "$image" P1001_NAIVE_BOT_IMAGE || exit 0
inputs=$(inputs_hash hack/images/naive)
image_wanted "$image" "$inputs" || exit 0
need_mmdebstrap

# P1001_DEBIAN_SOURCES_TRIXIE overrides the mirror with a file or a "deb ..."
# line; otherwise mmdebstrap's default mirror (deb.debian.org).
mirror_args=()
[ -n "${P1001_DEBIAN_SOURCES_TRIXIE:-}" ] && mirror_args=("$P1001_DEBIAN_SOURCES_TRIXIE")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say "$image: mmdebstrap trixie with python3, python3-psycopg2 (a minute or two)"
mmdebstrap --variant=essential --mode=root --quiet \
	--include=python3-psycopg2 \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	--customize-hook="mkdir -p \"\$1/app\" && install -m 0644 '$here/bot.py' '$here/schema.sql' \"\$1/app/\"" \
	--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
	trixie "$work/rootfs.tar" "${mirror_args[@]}"
say "$image: rootfs $(du -h "$work/rootfs.tar" | cut -f1), importing"

# nobody:nogroup (65534) has a passwd entry, which libpq looks up.
docker import --change "LABEL $PROJECT_LABEL" --change "LABEL org.p1001.inputs=$inputs" \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'ENV PYTHONUNBUFFERED=1' \
	--change 'ENV PYTHONDONTWRITEBYTECODE=1' \
	--change 'WORKDIR /app' \
	--change 'USER 65534:65534' \
	--change 'EXPOSE 8080' \
	--change 'CMD ["python3", "/app/bot.py"]' \
	"$work/rootfs.tar" "$image" >/dev/null
say "$image: built in $(($(date +%s) - start))s, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec)"
