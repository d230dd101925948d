#!/bin/sh
# PgBouncer in transaction mode, the way Supabase's pooler serves port 6543.
# The variables follow the common pgbouncer images (DB_HOST, DB_PORT, DB_USER,
# DB_PASSWORD, DB_NAME, POOL_MODE, AUTH_TYPE, LISTEN_PORT, ADMIN_USERS,
# MAX_CLIENT_CONN, DEFAULT_POOL_SIZE), so the suites can point
# P1001_PGBOUNCER_IMAGE at one of those instead.
set -eu

: "${DB_HOST:?DB_HOST is required}"
: "${DB_USER:?DB_USER is required}"
: "${DB_PASSWORD:?DB_PASSWORD is required}"
DB_PORT="${DB_PORT:-5432}"
DB_NAME="${DB_NAME:-*}"
LISTEN_PORT="${LISTEN_PORT:-6432}"
POOL_MODE="${POOL_MODE:-transaction}"
AUTH_TYPE="${AUTH_TYPE:-scram-sha-256}"
ADMIN_USERS="${ADMIN_USERS:-$DB_USER}"
MAX_CLIENT_CONN="${MAX_CLIENT_CONN:-200}"
DEFAULT_POOL_SIZE="${DEFAULT_POOL_SIZE:-20}"

conf=/tmp/pgbouncer
mkdir -p "$conf"
if [ "$DB_NAME" = "*" ]; then
	dbline="* = host=$DB_HOST port=$DB_PORT"
else
	dbline="$DB_NAME = host=$DB_HOST port=$DB_PORT dbname=$DB_NAME"
fi
cat >"$conf/pgbouncer.ini" <<EOF
[databases]
$dbline

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = $LISTEN_PORT
unix_socket_dir =
auth_type = $AUTH_TYPE
auth_file = $conf/userlist.txt
admin_users = $ADMIN_USERS
pool_mode = $POOL_MODE
max_client_conn = $MAX_CLIENT_CONN
default_pool_size = $DEFAULT_POOL_SIZE
ignore_startup_parameters = extra_float_digits,options
server_login_retry = 1
server_connect_timeout = 5
# A restarted postgres may come back on another address; look it up again soon.
dns_max_ttl = 1
log_connections = 0
log_disconnections = 0
EOF
# PgBouncer 1.21 and later can keep named prepared statements across
# transactions; Supabase's transaction pooler does not, and neither does the
# runbook's URL expect it (pgbouncer=true): turn it off, as 1.18 has it.
case "$(pgbouncer --version 2>/dev/null | head -n 1)" in
*"PgBouncer 1."1[0-9].* | *"PgBouncer 1."20.*) ;;
*) echo "max_prepared_statements = 0" >>"$conf/pgbouncer.ini" ;;
esac
# userlist.txt quotes double-quotes by doubling them.
printf '"%s" "%s"\n' "$DB_USER" "$(printf '%s' "$DB_PASSWORD" | sed 's/"/""/g')" >"$conf/userlist.txt"
chmod 600 "$conf/userlist.txt"

if [ "$(id -u)" = 0 ]; then
	chown -R postgres:postgres "$conf"
	exec setpriv --reuid=postgres --regid=postgres --init-groups pgbouncer "$@" "$conf/pgbouncer.ini"
fi
exec pgbouncer "$@" "$conf/pgbouncer.ini"
