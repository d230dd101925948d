#!/usr/bin/env bash
# make report-screenshot: renders a run's index.html in headless Chromium
# (installed from Debian's packages when missing) to index.png next to it,
# so a reviewer can see the charts without opening the file.
# RUN is the run directory (default reports/latest).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. hack/lib.sh

run="${RUN:-reports/latest}"
[ -f "$run/index.html" ] || die "$run/index.html not found: run make chaos (or make report RUN=<dir>) first."

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
	[ "$(id -u)" = 0 ] || die "chromium is not installed; install it as root: apt-get install -y chromium"
	say "installing chromium from Debian's packages"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	browser=$(command -v chromium)
fi

dir=$(cd "$run" && pwd -P)
# The page is self-contained; the flags keep Chromium itself off the network.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--no-first-run --no-default-browser-check --disable-background-networking \
	--disable-component-update --disable-sync --window-size=1400,2400 \
	--screenshot="$dir/index.png" "file://$dir/index.html" 2>/dev/null
[ -s "$dir/index.png" ] || die "chromium wrote no screenshot to $run/index.png"
say "wrote $run/index.png"
