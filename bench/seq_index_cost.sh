#!/usr/bin/env bash
# What migration 0004's unique index (messages_channel_seq) costs the insert
# path, measured at the SQL level: pgbench runs the shape of worker/store.c's
# batch (a 200-row INSERT ... SELECT ... ON CONFLICT (msgid) DO NOTHING into
# 100 channels) against a throwaway PostgreSQL (scripts/pg.sh), alternately
# without and with the index, RUNS times, SECONDS each.  Run after `make`.
#
#   bench/seq_index_cost.sh            3 runs of 10 s per variant
#   RUNS=5 SECONDS_PER_RUN=20 bench/seq_index_cost.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-10}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
tmp=$(mktemp -d /tmp/parlor-seqcost.XXXXXX)
chmod 755 "$tmp"
mkdir -p "$tmp/pg"
chmod 755 "$tmp/pg"
conn=$(scripts/pg.sh start "$tmp/pg" 2>/dev/null)
trap 'scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
bin/parlord migrate --database "$conn" >/dev/null 2>&1
psql -Atq "$conn" -c "CREATE SEQUENCE bench_seq"
cat > "$tmp/ins.sql" <<'SQL'
INSERT INTO messages (target, conversation, is_private, sender_nick, sender_account, command, body, server_time, msgid, seq)
SELECT '#bench' || (g % 100), '#bench' || (g % 100), false, 'b' || g, NULL, 'PRIVMSG',
       'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', now(), 'm' || s, s
  FROM (SELECT g, nextval('bench_seq') AS s FROM generate_series(1, 200) g) x
ON CONFLICT (msgid) DO NOTHING;
SQL
cpu_busy() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat); sleep 1
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
    echo "$a $b" | awk '{b=$3-$1; i=$4-$2; printf "%d", 100*b/(b+i)}'
}
for run in $(seq "$RUNS"); do
    for v in noindex index; do
        psql -Atq "$conn" -c "TRUNCATE messages"
        if [ $v = noindex ]; then
            psql -Atq "$conn" -c "DROP INDEX IF EXISTS messages_channel_seq"
        else
            psql -Atq "$conn" -c "CREATE UNIQUE INDEX IF NOT EXISTS messages_channel_seq ON messages (conversation, seq) WHERE NOT is_private"
        fi
        busy=$(cpu_busy)
        tps=$("$PGBIN/pgbench" -n -c 2 -T "$SECS" -f "$tmp/ins.sql" "$conn" 2>/dev/null | awk '/^tps/ {print $3}')
        echo "run=$run variant=$v cpu_busy_before=$busy% rows_per_s=$(awk -v t="$tps" 'BEGIN { printf "%d", t * 200 }')"
    done
done
