#!/bin/sh
# Throwaway PostgreSQL 15 cluster for development and tests.
#
#   scripts/pg.sh start DIR   create the cluster in DIR if needed, start it,
#                             create database "parlor", print the libpq conninfo
#   scripts/pg.sh stop DIR    stop it (fast shutdown); nothing to do if stopped
#   scripts/pg.sh status DIR  exit 0 if running
#
# Layout: DIR/data (cluster), DIR/sock (Unix socket, no TCP: listen_addresses
# is empty), DIR/postgresql.log.  initdb refuses to run as root, so as root the
# server runs as the "postgres" user (runuser); as any other user it runs as
# that user.  Authentication is "trust" on the socket, which only the cluster's
# owner (and root) can reach.  All commands are idempotent.  Only the conninfo
# goes to stdout; progress and errors go to stderr.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DBNAME=parlor

die() { echo "pg.sh: $*" >&2; exit 1; }

usage() {
    echo "usage: scripts/pg.sh start|stop|status DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case "$dir" in
    /*) ;;
    *) dir="$(pwd)/$dir" ;;
esac
# Normalise "a/./b" and trailing slashes without requiring DIR to exist.
dir=$(printf '%s\n' "$dir" | sed -e 's#/\./#/#g' -e 's#/\.$##' -e 's#//*#/#g' -e 's#\(.\)/$#\1#')
data="$dir/data"
sock="$dir/sock"
logfile="$dir/postgresql.log"

[ -x "$PGBIN/pg_ctl" ] || die "$PGBIN/pg_ctl not found (install the postgresql package: scripts/deps.sh)"

if [ "$(id -u)" -eq 0 ]; then
    owner=postgres
    id "$owner" >/dev/null 2>&1 || die "user $owner does not exist (install the postgresql package)"
    as_owner() { runuser -u "$owner" -- "$@"; }
else
    owner=$(id -un)
    as_owner() { "$@"; }
fi

running() {
    [ -f "$data/PG_VERSION" ] && as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# libpq conninfo value: quote it when it contains characters that need it.
conninfo_value() {
    case "$1" in
        *[[:space:]\'\\]*|'')
            printf "'%s'" "$(printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g")" ;;
        *) printf '%s' "$1" ;;
    esac
}

conninfo() {
    printf 'host=%s dbname=%s user=%s\n' "$(conninfo_value "$sock")" "$DBNAME" "$(conninfo_value "$owner")"
}

psql_owner() {
    as_owner "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -U "$owner" "$@"
}

start() {
    # The socket path (DIR/sock/.s.PGSQL.5432) must fit in sun_path (107 bytes).
    [ ${#sock} -le 90 ] || die "path too long for a Unix socket: $sock (use a shorter DIR)"

    mkdir -p "$dir" "$sock"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$owner": "$dir" "$sock"
        [ ! -e "$data" ] || chown "$owner": "$data"
        # Every parent must be traversable by the owner, or the server cannot
        # reach its data directory.
        as_owner test -x "$dir" -a -w "$dir" || \
            die "$owner cannot reach $dir: every parent directory needs o+x (e.g. chmod o+x on the parents)"
    fi
    chmod 0700 "$sock"

    if [ ! -f "$data/PG_VERSION" ]; then
        echo "pg.sh: creating cluster in $data" >&2
        rm -rf "$data"
        as_owner "$PGBIN/initdb" -D "$data" -U "$owner" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            die "initdb failed"
        }
        cat >>"$data/postgresql.conf" <<CONF

# Added by scripts/pg.sh: Unix socket only, inside the cluster's folder.
listen_addresses = ''
unix_socket_directories = '$(printf '%s' "$sock" | sed "s/'/''/g")'
unix_socket_permissions = 0700
max_connections = 100
CONF
    fi

    if ! running; then
        echo "pg.sh: starting PostgreSQL in $data (log: $logfile)" >&2
        as_owner "$PGBIN/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >/dev/null || {
            tail -n 20 "$logfile" >&2 2>/dev/null || true
            die "pg_ctl start failed"
        }
    fi

    exists=$(psql_owner -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'")
    if [ "$exists" != 1 ]; then
        psql_owner -d postgres -c "CREATE DATABASE $DBNAME OWNER \"$owner\" ENCODING 'UTF8' TEMPLATE template0" \
            || die "cannot create database $DBNAME"
    fi
    conninfo
}

stop() {
    if running; then
        as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null || die "pg_ctl stop failed"
        echo "pg.sh: stopped PostgreSQL in $data" >&2
    fi
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) running ;;
    *) usage ;;
esac
