#!/bin/sh
# Entrypoint of p1001/postgres, compatible with the official postgres image's
# contract so that testcontainers-go's modules/postgres works unmodified:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default
#   $POSTGRES_USER), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, PGDATA,
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz, and CMD ["postgres", "-c", ...].
# Beyond it: POSTGRES_TLS=on starts the server with TLS, on a self-signed
# certificate made at start (below).
# Unlike the official image it prints "database system is ready to accept
# connections" only once: the init phase runs its temporary server quietly.
# The suites therefore wait on a real SQL ping, which works for both images.
set -eu

PG_BIN=/usr/lib/postgresql/15/bin
export PATH="$PG_BIN:$PATH"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

# Arguments that start with a dash are flags for postgres.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi

if [ "$1" = "pgbouncer" ]; then
	shift
	exec /usr/local/bin/pgbouncer-entrypoint.sh "$@"
fi

if [ "$1" != "postgres" ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 00700 "$PGDATA"
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
AUTH="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$AUTH" != "trust" ]; then
		echo "p1001/postgres: POSTGRES_PASSWORD is not set; set it, or set POSTGRES_HOST_AUTH_METHOD=trust" >&2
		exit 1
	fi
	echo "p1001: initializing database in $PGDATA"
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list by contract
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
		--auth-host="$AUTH" --encoding=UTF8 --locale=C.UTF-8 \
		${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	printf 'host all all all %s\n' "$AUTH" >>"$PGDATA/pg_hba.conf"

	# The temporary server listens on the socket only and logs to a file, so
	# nobody outside sees a "ready" line or a port before init is complete.
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" \
		-l /tmp/postgres-init.log start >/dev/null
	psql_init() { psql -v ON_ERROR_STOP=1 --no-psqlrc -h /var/run/postgresql -U "$POSTGRES_USER" "$@"; }
	if [ "$POSTGRES_DB" != "postgres" ]; then
		psql_init -d postgres -q --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
		*.sh)
			echo "p1001: running $f"
			if [ -x "$f" ]; then "$f"; else . "$f"; fi
			;;
		*.sql)
			echo "p1001: running $f"
			psql_init -d "$POSTGRES_DB" -q -f "$f"
			;;
		*.sql.gz)
			echo "p1001: running $f"
			gunzip -c "$f" | psql_init -d "$POSTGRES_DB" -q
			;;
		*) echo "p1001: ignoring $f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "PostgreSQL init process complete; ready for start up."
fi

# TLS: every start has a self-signed certificate of its own in PGDATA (made
# here with openssl, never baked into the image), so TLS can be switched on
# at runtime (ALTER SYSTEM SET ssl = on; SELECT pg_reload_conf()) as well as
# at start: POSTGRES_TLS=on (or 1, true) starts the server with ssl=on.
if [ ! -s "$PGDATA/server.key" ] || [ ! -s "$PGDATA/server.crt" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-subj "/CN=$(hostname)" -keyout "$PGDATA/server.key" -out "$PGDATA/server.crt" 2>/dev/null
	chmod 0600 "$PGDATA/server.key"
	echo "p1001: self-signed TLS certificate made for CN=$(hostname)"
fi
case "${POSTGRES_TLS:-}" in
on | 1 | true) set -- "$@" -c ssl=on ;;
"" | off | 0 | false) ;;
*)
	echo "p1001/postgres: POSTGRES_TLS=${POSTGRES_TLS}: want on or off" >&2
	exit 1
	;;
esac

echo "p1001: postgres ready to start"
exec "$@"
