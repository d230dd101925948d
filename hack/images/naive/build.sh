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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say "$image: mmdebstrap trixie with python3, python3-psycopg2 (a minute or two)"
debian_rootfs trixie "$work/rootfs.tar" python3-psycopg2 \
	--customize-hook="mkdir -p \"\$1/app\" && install -m 0644 '$here/bot.py' '$here/schema.sql' \"\$1/app/\""
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
