#!/usr/bin/env bash
# Drives the interactive console (`make p1001 ARGS=-i`) through tmux, as a
# person at a terminal would: `down`, a message, `up`, a message, `quit`.
# It passes when the message during the outage gets a degraded reply from
# the cached (or default) prompt, the one after `up` a custom reply, and the
# console ends with its summary and exit status 0. Needs Docker and tmux
# (installed with apt-get when missing and root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. hack/lib.sh

if ! command -v tmux >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || die "tmux is missing: apt-get install -y tmux (as root), then run this again"
	say "installing tmux"
	apt-get install -y tmux >/dev/null
fi
require_docker

run_id="p1001-console-test-$(date -u +%Y%m%dT%H%M%SZ)"
session="p1001-console-test-$$"
trap 'tmux kill-session -t "$session" 2>/dev/null || true; remove_by_label "$RUN_LABEL_KEY=$run_id"' EXIT

# The pane stays open after make exits (sleep) so that its last lines can
# still be read; the trap ends it.
tmux new-session -d -s "$session" -x 220 -y 50 \
	"cd '$root' && P1001_RUN_ID='$run_id' make p1001 ARGS=-i FAULT= KEEP=0; echo \"p1001 exited with \$?\"; sleep 3600"
tmux set-option -t "$session" history-limit 50000 >/dev/null

screen() { tmux capture-pane -p -J -S - -t "$session"; }

# after MARKER: the screen from the last line holding MARKER on.
after() { screen | awk -v m="$1" 'index($0, m) { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }'; }

fail() {
	say "FAIL: $*"
	echo "----- the console's screen -----" >&2
	screen >&2
	exit 1
}

# wait_for SECONDS TEXT [MARKER]: until TEXT shows (after MARKER, if given).
wait_for() {
	local deadline=$((SECONDS + $1))
	until { if [ -n "${3:-}" ]; then after "$3"; else screen; fi; } | grep -qF -- "$2"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no \"$2\" within $1s"
		sleep 0.5
	done
}

type_line() {
	say "typing: $1"
	tmux send-keys -t "$session" -l -- "$1"
	tmux send-keys -t "$session" Enter
}

# reply_to TEXT: the bot's reply line to the message TEXT.
reply_to() {
	wait_for 30 "You said: $1"
	screen | grep -F "bot < " | grep -F "You said: $1" | tail -1
}

say "starting the console in tmux session $session (run $run_id); images and stack first"
wait_for 600 "console ready"

type_line "down"
wait_for 30 "ok down: outage pooler: disabled"

type_line "Are you there during the outage?"
line=$(reply_to "Are you there during the outage?")
say "got: $line"
echo "$line" | grep -qE 'bot < \[(cached|default) \| DEGRADED P[0-9]{4} \|' ||
	fail "the message during the outage did not get a degraded reply from the cached or default prompt"

# The bot's own log line, streamed into the console.
wait_for 30 "log | ERROR [getCustomPrompt] Database connection error after retries, using fallback prompt chat=console code=P1001"
wait_for 1 'error="P1001: Can'"'"'t reach database server at `toxiproxy`:`6543`'

type_line "up"
wait_for 30 "ok up: cleared down"
# The breaker lets a probe through only after its delay; the console says
# when the bot sees its database again.
wait_for 60 "bot: database up, breaker closed" "ok up: cleared down"

type_line "Are you back?"
line=$(reply_to "Are you back?")
say "got: $line"
echo "$line" | grep -qF 'bot < [custom | ok | attempts 1 |' || fail "the message after up did not get a custom reply"

type_line "quit"
wait_for 120 "p1001 exited with"
wait_for 1 "p1001 exited with 0"
for want in "summary: 2 message(s)" "degraded: 1 (P1001 1)" "faults applied: 2: +" "s down, +" "s up"; do
	screen | grep -qF -- "$want" || fail "the summary lacks \"$want\""
done
screen | grep -qE 'by prompt source: custom 1, (cached 1, default 0|cached 0, default 1)' ||
	fail "the summary does not count one custom and one cached (or default) reply"

echo "----- the console's screen (trimmed) -----"
screen | grep -E 'console ready|bot <|bot:|log [|]|ok |FAIL|summary|by prompt|degraded:|slowest|faults applied|exited' | cut -c1-220
say "PASS: down, a degraded reply and the P1001 line, up, a custom reply, quit with a summary"
