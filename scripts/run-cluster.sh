#!/bin/sh
# Two parlord nodes over NATS on 127.0.0.1, for trying the cluster (issue 13;
# called by `make run-cluster`): a local nats-server, one throwaway PostgreSQL
# (DATA/pg, scripts/pg.sh; or PARLOR_DATABASE_URL), node "alpha" on PORT and
# node "beta" on PORT+1, two workers each.  Ctrl-C stops all of it (by PID).
#
#   PORT=6667       node alpha's IRC port; beta's is PORT+1
#   NATS_PORT=4222  the nats-server port
#   DATA=var-cluster  the folder for control sockets, logs and the database
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${PORT:-6667}
nats_port=${NATS_PORT:-4222}
data=${DATA:-var-cluster}
case "$port$nats_port" in *[!0-9]*) echo "run-cluster.sh: PORT and NATS_PORT are numbers" >&2; exit 2 ;; esac
[ -x bin/parlord ] || { echo "run-cluster.sh: bin/parlord is missing; run make first" >&2; exit 1; }
command -v nats-server >/dev/null || { echo "run-cluster.sh: nats-server is missing (scripts/deps.sh)" >&2; exit 1; }
mkdir -p "$data"

pids=""
started_pg=no
stop() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    [ "$started_pg" = yes ] && scripts/pg.sh stop "$data/pg" || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

if [ -n "${PARLOR_DATABASE_URL:-}" ]; then
    conninfo=$PARLOR_DATABASE_URL
else
    conninfo=$(scripts/pg.sh start "$data/pg")
    started_pg=yes
fi
bin/parlord migrate --database "$conninfo"

nats-server -a 127.0.0.1 -p "$nats_port" > "$data/nats.log" 2>&1 &
pids="$pids $!"
sleep 0.5
n=0
for name in alpha beta; do
    p=$((port + n))
    bin/parlord --listen "127.0.0.1:$p" --workers 2 --database "$conninfo" \
        --control "$data/$name.sock" --cluster "nats://127.0.0.1:$nats_port" \
        --node-name "$name" --node-id "$n" > "$data/$name.log" 2>&1 &
    pids="$pids $!"
    echo "run-cluster.sh: node $name on 127.0.0.1:$p (log $data/$name.log, parlorctl -s $data/$name.sock)" >&2
    n=$((n + 1))
done
echo "run-cluster.sh: nats-server on 127.0.0.1:$nats_port; Ctrl-C stops everything" >&2
wait
