#!/usr/bin/env bash
# make images: builds the project's images offline, skipping those present
# (FORCE=1 rebuilds). Names come from P1001_*_IMAGE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/postgres/build.sh"
"$here/pgbouncer/build.sh"
"$here/toxiproxy/build.sh"
"$here/bot/build.sh"
"$here/naive/build.sh"
