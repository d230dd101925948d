#!/usr/bin/env bash
# make integration: runs the integration-tagged tests (bot/store, bot/cmd/bot,
# bot/app) against a real PostgreSQL, with no Docker.
#
# With P1001_TEST_DATABASE_URL set, that database is used as is (give it a
# pooler URL with pgbouncer=true to test the PgBouncer path). Otherwise a
# throwaway server is started: initdb in a temp dir, listening on a free
# loopback port only, as the current user (or as nobody when root, since
# postgres refuses to run as root), and stopped and removed on exit.
#
# Needs initdb, pg_ctl and postgres on PATH or in /usr/lib/postgresql/*/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

PACKAGES=(./bot/store/ ./bot/cmd/bot/ ./bot/app/)

# pg_bin NAME prints the path of a PostgreSQL server program.
pg_bin() {
	local p
	if p=$(command -v "$1" 2>/dev/null); then
		echo "$p"
		return
	fi
	for p in /usr/lib/postgresql/*/bin/"$1"; do
		[ -x "$p" ] && { echo "$p"; return; }
	done
	die "$1 not found: make integration needs a PostgreSQL server installed (e.g. apt-get install postgresql), or P1001_TEST_DATABASE_URL pointing at one"
}

# port_free PORT: nothing accepts connections on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_postgres() {
	local initdb pg_ctl postgres
	initdb=$(pg_bin initdb)
	pg_ctl=$(pg_bin pg_ctl)
	postgres=$(pg_bin postgres)
	say "throwaway PostgreSQL: $("$postgres" --version)"

	PGTMP=$(mktemp -d /tmp/p1001-integration.XXXXXX)
	# as_pg CMD runs CMD as the server's owner: postgres refuses root.
	if [ "$(id -u)" = 0 ]; then
		chown nobody "$PGTMP"
		as_pg() { su -s /bin/bash nobody -c "$1"; }
	else
		as_pg() { bash -c "$1"; }
	fi
	trap stop_postgres EXIT
	local password
	password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
	# The password file and the data directory belong to the server's owner.
	as_pg "umask 077 && printf '%s\n' '$password' >'$PGTMP/pw' &&
		'$initdb' -D '$PGTMP/data' -U p1001 --pwfile='$PGTMP/pw' --auth=scram-sha-256 -E UTF8 --no-instructions >'$PGTMP/initdb.log'" ||
		{ cat "$PGTMP/initdb.log" >&2; die "initdb failed"; }

	# A random port, retried: another process may take it between the
	# check and the start.
	local try
	for try in 1 2 3 4 5; do
		PGPORT=$((20000 + RANDOM % 20000))
		port_free "$PGPORT" || continue
		if as_pg "'$pg_ctl' -D '$PGTMP/data' -l '$PGTMP/server.log' -w -t 30 \
			-o \"-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGTMP -c fsync=off -c max_connections=200\" start >/dev/null"; then
			PG_CTL=$pg_ctl
			export P1001_TEST_DATABASE_URL="postgresql://p1001:$password@127.0.0.1:$PGPORT/postgres?sslmode=disable"
			say "PostgreSQL listening on 127.0.0.1:$PGPORT (data in $PGTMP)"
			return
		fi
		say "start on port $PGPORT failed (try $try):"
		tail -n 5 "$PGTMP/server.log" >&2 || true
	done
	die "could not start PostgreSQL"
}

stop_postgres() {
	local rc=$?
	if [ -n "${PG_CTL:-}" ]; then
		as_pg "'$PG_CTL' -D '$PGTMP/data' -m immediate -w stop >/dev/null" || say "pg_ctl stop failed"
	fi
	rm -rf "$PGTMP"
	exit "$rc"
}

if [ -z "${P1001_TEST_DATABASE_URL:-}" ]; then
	start_postgres
else
	say "using the database of P1001_TEST_DATABASE_URL"
fi

# The tests, then the real-Postgres benchmark once (-benchtime 1x): it
# proves the benchmark still runs; make bench is for its figures.
go test -tags integration -race -count=1 -run '^TestIntegration' \
	-bench '^BenchmarkPostMessageRealPostgres$' -benchtime 1x "${PACKAGES[@]}"
