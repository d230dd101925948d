#!/usr/bin/env bash
# hack/existing-stack-test.sh: make chaos STACK=existing against a stack started by hand
# with docker run, as a team would start its own (Postgres, Toxiproxy with the
# proxies "pooler" and "direct", p1001's bot): docs/targets.md, "An existing
# stack". It removes what it starts. FLAGS= passes Ginkgo flags (e.g. --focus).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
require_docker
net=p1001-existing-net pg=p1001-existing-pg tp=p1001-existing-tp bot=p1001-existing-bot
pw="ex-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
token="p1001-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# wait_for WHAT CMD...: polls CMD until it succeeds, for at most a minute.
wait_for() {
	local what=$1 i
	shift
	for i in $(seq 120); do
		"$@" >/dev/null 2>&1 && return
		sleep 0.5
	done
	die "$what did not come up within a minute"
}
cleanup() { docker rm -f "$bot" "$tp" "$pg" >/dev/null 2>&1 || true; docker network rm "$net" >/dev/null 2>&1 || true; }
trap cleanup EXIT
docker network create "$net" >/dev/null
docker run -d --name "$pg" --network "$net" -p 127.0.0.1::5432 \
  -e POSTGRES_USER=app -e POSTGRES_PASSWORD="$pw" -e POSTGRES_DB=app p1001/postgres:15 >/dev/null
docker run -d --name "$tp" --network "$net" -p 127.0.0.1::8474 -p 127.0.0.1::6543 -p 127.0.0.1::5432 p1001/toxiproxy:2.12.0 >/dev/null
pgport=$(docker port "$pg" 5432/tcp | head -1 | sed 's/.*://')
tpport=$(docker port "$tp" 8474/tcp | head -1 | sed 's/.*://')
poolport=$(docker port "$tp" 6543/tcp | head -1 | sed 's/.*://')
dirport=$(docker port "$tp" 5432/tcp | head -1 | sed 's/.*://')
wait_for toxiproxy curl -fsS "http://127.0.0.1:$tpport/version"
wait_for postgres docker exec "$pg" pg_isready -U app -d app -h 127.0.0.1
curl -fsS -X POST "http://127.0.0.1:$tpport/proxies" -d "{\"name\":\"pooler\",\"listen\":\"0.0.0.0:6543\",\"upstream\":\"$pg:5432\"}" >/dev/null
curl -fsS -X POST "http://127.0.0.1:$tpport/proxies" -d "{\"name\":\"direct\",\"listen\":\"0.0.0.0:5432\",\"upstream\":\"$pg:5432\"}" >/dev/null
docker run -d --name "$bot" --network "$net" -p 127.0.0.1::8080 \
  -e DATABASE_URL="postgresql://app:$pw@$tp:6543/app?pgbouncer=true&connection_limit=10&connect_timeout=30" \
  -e HTTP_ADDR=:8080 -e LOG_FORMAT=json -e API_TOKEN="$token" "${P1001_BOT_IMAGE:-p1001/bot:dev}" >/dev/null
botport=$(docker port "$bot" 8080/tcp | head -1 | sed 's/.*://')
wait_for "the bot" curl -fsS "http://127.0.0.1:$botport/healthz"
echo "stack: toxiproxy :$tpport, bot :$botport, postgres :$pgport"
status=0
P1001_TOXIPROXY_URL="http://127.0.0.1:$tpport" P1001_BOT_URL="http://127.0.0.1:$botport" P1001_BOT_TOKEN="$token" \
P1001_CHECK_DSN="postgresql://app:$pw@127.0.0.1:$pgport/app?sslmode=disable" \
P1001_POOLER_DSN="postgresql://app:$pw@127.0.0.1:$poolport/app?sslmode=disable" \
P1001_DIRECT_DSN="postgresql://app:$pw@127.0.0.1:$dirport/app?sslmode=disable" \
  STACK=existing GINKGO_FLAGS="${FLAGS:-}" hack/chaos.sh || status=$?
echo "chaos exit $status"
exit $status
