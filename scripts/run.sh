#!/bin/sh
# Run parlord in the foreground on 127.0.0.1:6667 (called by `make run`).
#
# With PARLOR_DATABASE_URL set, that database is used.  Otherwise a throwaway
# PostgreSQL cluster is started in var/pg (scripts/pg.sh) and stopped again
# when parlord exits.  Extra arguments are passed to parlord.  SIGINT/SIGTERM
# sent to this script are forwarded to parlord, which shuts down gracefully;
# the script exits with parlord's status.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

[ -x bin/parlord ] || { echo "run.sh: bin/parlord is missing; run make first" >&2; exit 1; }

# Every client is a descriptor: use the whole hard limit, not the soft
# default (often 1024).  parlord does the same by itself.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || echo "run.sh: could not raise the descriptor limit (ulimit -n)" >&2

pg_started=0
pid=""

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ "$pg_started" -eq 1 ]; then
        scripts/pg.sh stop var/pg || true
        pg_started=0
    fi
}
trap cleanup EXIT
trap 'if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; else exit 130; fi' INT TERM

if [ -n "${PARLOR_DATABASE_URL:-}" ]; then
    conninfo=$PARLOR_DATABASE_URL
else
    pg_started=1
    conninfo=$(scripts/pg.sh start var/pg)
    echo "run.sh: using throwaway database: $conninfo" >&2
fi

bin/parlord --listen 127.0.0.1:6667 --database "$conninfo" "$@" &
pid=$!
# wait returns early (status > 128) when a trapped signal arrives; keep
# waiting until parlord itself has exited.
while :; do
    status=0
    wait "$pid" || status=$?
    kill -0 "$pid" 2>/dev/null || break
done
pid=""
exit "$status"
