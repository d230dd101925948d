#!/usr/bin/env bash
# Checks the naive bot image (hack/images/naive) end to end: a throwaway
# p1001/postgres on a network of its own, schema.sql applied with psql, the
# bot in both modes, its HTTP API, then postgres stopped (naive: 500s; fixed:
# the retry lines and the default prompt) and paused past one attempt (fixed:
# "Succeeded on attempt 2/3"), and SIGTERM (exit 0). Everything it starts
# carries the run's label and is removed on exit. Needs Docker, curl and the
# image (make images); run it under flock /tmp/p1001-docker.lock.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. hack/lib.sh

image="${P1001_NAIVE_BOT_IMAGE:-p1001/naive-bot:latest}"
pg_image="${P1001_POSTGRES_IMAGE:-p1001/postgres:15}"
require_docker
run_id="p1001-naive-test-$$"
labels=(--label "$PROJECT_LABEL" --label "$RUN_LABEL_KEY=$run_id")
pg="$run_id-pg" naive="$run_id-naive" fixed="$run_id-fixed"
password="pw-$RANDOM$RANDOM" # must never show in the bots' logs
trap 'remove_by_label "$RUN_LABEL_KEY=$run_id"' EXIT

failures=0
pass() { say "ok: $*"; }
fail() { say "FAIL: $*"; failures=$((failures + 1)); }

# until_ok SECONDS CMD...: polls CMD until it succeeds, or fails the run.
until_ok() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for: $*"
		sleep 0.2
	done
}

docker network create "${labels[@]}" "$run_id" >/dev/null
docker run -d --name "$pg" --network "$run_id" "${labels[@]}" \
	-e POSTGRES_USER=bot -e POSTGRES_PASSWORD="$password" -e POSTGRES_DB=chat "$pg_image" >/dev/null
until_ok 60 docker exec "$pg" pg_isready -q -h 127.0.0.1 -U bot -d chat
docker exec -i "$pg" psql -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U bot -d chat <hack/images/naive/schema.sql

url="postgresql://bot:$password@$pg:5432/chat?sslmode=disable"
for mode in naive fixed; do
	args=()
	[ "$mode" = fixed ] && args=(python3 /app/bot.py --fixed)
	docker run -d --name "$run_id-$mode" --network "$run_id" "${labels[@]}" -p 127.0.0.1::8080 \
		-e DATABASE_URL="$url" "$image" "${args[@]}" >/dev/null
done
port() { docker port "$1" 8080/tcp | head -1 | sed 's/.*://'; }
naive_url="http://127.0.0.1:$(port "$naive")" fixed_url="http://127.0.0.1:$(port "$fixed")"
until_ok 20 curl -fsS "$naive_url/health"
until_ok 20 curl -fsS "$fixed_url/health"

# send BASE CHAT TEXT: "<status> <reply text or body>".
send() {
	local body out
	body=$(jq -cn --arg t "$3" '{text: $t}')
	out=$(curl -sS -o /tmp/$run_id.body -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" "$1/chats/$2/messages")
	echo "$out $(jq -r '.message.text // .error // empty' /tmp/$run_id.body 2>/dev/null || cat /tmp/$run_id.body)"
}
# expect WHAT GOT WANT
expect() { if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: got \"$2\", want \"$3\""; fi; }
# expect_log CONTAINER PATTERN (a grep -E pattern)
# (The logs are read whole first: grep -q in a pipe would fail it with
# SIGPIPE under pipefail.)
expect_log() {
	local logs
	logs=$(docker logs "$1" 2>&1)
	if grep -qE -- "$2" <<<"$logs"; then pass "$1 logged /$2/"; else fail "$1 did not log /$2/"; fi
}

for base in "$naive_url" "$fixed_url"; do
	expect "health" "$(curl -sS "$base/health")" "ok"
	expect "message" "$(send "$base" c1 hi)" "200 [You are a helpful assistant.] You said: hi"
	expect "/setprompt" "$(send "$base" c1 '/setprompt You are a pirate.')" "200 Prompt saved: You are a pirate."
	expect "message after /setprompt" "$(send "$base" c1 hello)" "200 [You are a pirate.] You said: hello"
	expect "/prompt" "$(send "$base" c1 /prompt)" "200 Current prompt: You are a pirate."
	expect "other chat" "$(send "$base" c2 hi)" "200 [You are a helpful assistant.] You said: hi"
	expect "/reset" "$(send "$base" c1 /reset)" "200 Prompt reset."
	expect "message after /reset" "$(send "$base" c1 hi)" "200 [You are a helpful assistant.] You said: hi"
	expect "bad JSON" "$(curl -sS -o /dev/null -w '%{http_code}' -d '{"text":' "$base/chats/c1/messages")" 400
	expect "missing text" "$(curl -sS -o /dev/null -w '%{http_code}' -d '{"txt":"hi"}' "$base/chats/c1/messages")" 400
	expect "64 KiB body" "$(printf '{"text":"%s"}' "$(head -c 65525 /dev/zero | tr '\0' a)" | curl -sS -o /dev/null -w '%{http_code}' --data-binary @- "$base/chats/c1/messages")" 200
	expect "64 KiB + 1 body" "$(head -c 65537 /dev/zero | tr '\0' a | curl -sS -o /dev/null -w '%{http_code}' --data-binary @- "$base/chats/c1/messages")" 413
done
send "$fixed_url" c3 '/setprompt You are a cat.' >/dev/null

say "stopping postgres"
docker stop -t 5 "$pg" >/dev/null
expect "naive, postgres down" "$(curl -sS -w ' %{http_code}' -d '{"text":"hi"}' "$naive_url/chats/c3/messages")" "Internal Server Error 500"
expect_log "$naive" '^Traceback \(most recent call last\):'
expect_log "$naive" '^psycopg2\.OperationalError'
expect "fixed, postgres down" "$(send "$fixed_url" c3 hi)" "200 [You are a helpful assistant.] You said: hi"
expect "fixed /setprompt, postgres down" "$(send "$fixed_url" c3 '/setprompt You are a dog.')" "200 Could not save your prompt, try again later."
ts='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z '
expect_log "$fixed" "${ts}WARNING \[Prisma Retry\] Attempt 1/3 failed: OperationalError: .+, retrying in 100ms$"
expect_log "$fixed" "${ts}WARNING \[Prisma Retry\] Attempt 2/3 failed: OperationalError: .+, retrying in 200ms$"
expect_log "$fixed" "${ts}WARNING \[Prisma Retry\] Giving up after 3/3 attempts: OperationalError: .+$"
expect_log "$fixed" "${ts}WARNING \[getCustomPrompt\] Database unreachable, using the default prompt$"

say "starting postgres again, then pausing it past the fixed bot's first attempt (2 s connect timeout)"
docker start "$pg" >/dev/null
until_ok 60 docker exec "$pg" pg_isready -q -h 127.0.0.1 -U bot -d chat
expect "fixed, postgres back" "$(send "$fixed_url" c3 hi)" "200 [You are a cat.] You said: hi"
before=$(docker logs "$fixed" 2>&1 | grep -c 'Attempt 1/3 failed' || true)
docker pause "$pg" >/dev/null
send "$fixed_url" c3 again >/tmp/$run_id.paused &
sender=$!
# Unpause as soon as attempt 1 has failed: attempt 2 (100 ms later) then
# waits in its own 2 s connect timeout for the server to wake up.
attempt1_failed() { [ "$(docker logs "$fixed" 2>&1 | grep -c 'Attempt 1/3 failed')" -gt "$before" ]; } # grep -c reads all
until_ok 10 attempt1_failed
docker unpause "$pg" >/dev/null
wait "$sender"
expect "fixed, postgres paused past attempt 1" "$(cat /tmp/$run_id.paused)" "200 [You are a cat.] You said: again"
expect_log "$fixed" "${ts}INFO \[Prisma Retry\] Succeeded on attempt 2/3$"
rm -f /tmp/$run_id.body /tmp/$run_id.paused

if grep -qF -- "$password" <<<"$(docker logs "$naive" 2>&1; docker logs "$fixed" 2>&1)"; then
	fail "a bot logged the database password"
else
	pass "no password in the logs"
fi
expect_log "$naive" "listening on :8080, database postgresql://bot:xxxxx@$pg:5432/chat\?sslmode=disable$"

for c in "$naive" "$fixed"; do
	start=$SECONDS
	docker stop -t 10 "$c" >/dev/null
	expect "$c: exit status after SIGTERM" "$(docker inspect -f '{{.State.ExitCode}}' "$c")" 0
	[ $((SECONDS - start)) -lt 5 ] && pass "$c stopped in $((SECONDS - start))s" || fail "$c took $((SECONDS - start))s to stop"
done

if [ "$failures" -gt 0 ]; then
	for c in "$naive" "$fixed"; do
		echo "----- docker logs $c -----" >&2
		docker logs "$c" >&2 2>&1
	done
	say "$failures check(s) failed"
	exit 1
fi
say "all checks passed"
