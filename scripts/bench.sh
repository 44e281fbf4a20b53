#!/usr/bin/env bash
# Benchmark Parlor against ngircd on the same loads (run by `make bench`).
#
# Every phase starts a fresh server on a free 127.0.0.1 port, runs
# bin/parlor-bench against it and stops it again by PID:
#
#   idle       10,000 registered idle clients; memory = sum of VmRSS over the
#              server's process tree, minus the same sum before they connected
#   connrate   registrations/s, at 10 and at 100 handshakes in flight
#   fanout     500 clients in one room, 5 senders, as fast as the windows allow
#   rooms      1000 clients in 100 rooms of 10, everyone sending
#   same-load  fanout at a fixed rate both servers sustain (half the lower of
#              the two fanout peaks): server CPU per delivered message and latency
#   stored     (parlor) rooms with PostgreSQL, every message stored
#   hostile    (parlor) a normal room at a fixed moderate rate, once alone and
#              once with bin/parlor-attack running alongside: latency, losses
#              and server CPU with and without hostile clients
#   failover   (parlor, PostgreSQL) a room at a fixed rate whose members are
#              all on one worker, twice: once as is, once with the room's
#              owner worker SIGKILLed half-way through the measured period:
#              losses, duplicates, latency, respawns, rows stored
#   pipeline   (parlor, PostgreSQL) replies in command order: one client
#              pipelines BENCH_PIPELINE_COUNT messages and a PING into a room
#              owned by its own worker and by the other one, with and without
#              echo-message: seconds until the PONG (bin/parlor-pipeline)
#   tls        (parlor) TLS against plaintext: registrations/s with full and
#              with resumed TLS handshakes (10 in flight) next to plaintext,
#              and the fanout load at BENCH_TLS_RATE msgs/s over TLS and over
#              plaintext: server CPU per delivered message and latency
#   cluster    (parlor, PostgreSQL, nats-server) one room at a fixed rate on
#              one node, on one node with --cluster, and split over two
#              nodes of one network over NATS: deliveries/s, server CPU per
#              delivery (every parlord process and the nats-server), latency;
#              then the same unbounded (peak)
#   cluster-base  (not in the default list; needs PARLORD_BASE) the cluster
#              phase's single-node run on PARLORD and on PARLORD_BASE,
#              BENCH_CLUSTER_ROUNDS times interleaved
#
# and a table with Parlor/ngircd ratios comes last, then the hostile and the
# failover tables.
# bench/README.md explains every number.
#
# Environment:
#   BENCH_SERVERS="parlor ngircd"   which servers to run
#   BENCH_DURATION=8                measured seconds per load phase
#   BENCH_IDLE_CLIENTS=10000        clients in the idle phase
#   BENCH_KEEP=1                    keep the temp dir (configs, logs, outputs)
#   PARLORD, NGIRCD                 server binaries
#   PARLORD_ARGS                    extra parlord flags
#   BENCH_STORE=0                   skip the phase with PostgreSQL (rooms load,
#                                   every message stored; prints stored msgs/s)
#   BENCH_PIPELINE_COUNT=1000       pipeline: messages pipelined per run
#   BENCH_PHASES="idle connrate fanout rooms sameload stored hostile failover pipeline tls cluster"
#                                   phases to run (the default is all of these;
#                                   cluster-base only when named); sameload needs fanout
#   BENCH_HOSTILE_CLIENTS=100       hostile: clients in the one room (5 send)
#   BENCH_HOSTILE_RATE=1000         hostile: msgs/s offered into the room
#   BENCH_ATTACK_ARGS               extra parlor-attack flags (its --help)
#   BENCH_FAILOVER_CLIENTS=50       failover: clients in the one room (5 send)
#   BENCH_FAILOVER_RATE=1000        failover: msgs/s offered into the room
#   BENCH_TLS_RATE=1000             tls: msgs/s offered in the fanout comparison
#   BENCH_FAILOVER_HOLD_PG=         failover: seconds to hold PostgreSQL inserts
#                                   (LOCK TABLE) from 0.3 s before the kill, so
#                                   the owner dies with many unacknowledged messages
#   BENCH_CLUSTER_CLIENTS=200       cluster: clients in the one room (5 send)
#   BENCH_CLUSTER_RATE=500          cluster: msgs/s offered into the room
#   BENCH_CLUSTER_NODE_WORKERS="1 2"  cluster: workers per node of the two-node
#                                   runs (one run for each)
#   BENCH_CLUSTER_PEAK=1            cluster: also the unbounded runs, for
#   BENCH_CLUSTER_PEAK_DURATION=4   this many measured seconds
#   PARLORD_BASE                    cluster-base: the parlord to compare with
#   BENCH_CLUSTER_ROUNDS=3          cluster-base: runs of each binary
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$root/bin/parlor-bench
ATTACK=$root/bin/parlor-attack
PARLORD=${PARLORD:-$root/bin/parlord}
NGIRCD=${NGIRCD:-/usr/sbin/ngircd}
SERVERS=${BENCH_SERVERS:-parlor ngircd}
DURATION=${BENCH_DURATION:-8}
IDLE_CLIENTS=${BENCH_IDLE_CLIENTS:-10000}
PARLORD_ARGS=${PARLORD_ARGS:-}
PHASES=${BENCH_PHASES:-idle connrate fanout rooms sameload stored hostile failover pipeline tls cluster}
TLS_RATE=${BENCH_TLS_RATE:-1000}
PIPELINE_COUNT=${BENCH_PIPELINE_COUNT:-1000}
HOSTILE_CLIENTS=${BENCH_HOSTILE_CLIENTS:-100}
HOSTILE_RATE=${BENCH_HOSTILE_RATE:-1000}
ATTACK_ARGS=${BENCH_ATTACK_ARGS:-}
FAILOVER_CLIENTS=${BENCH_FAILOVER_CLIENTS:-50}
FAILOVER_RATE=${BENCH_FAILOVER_RATE:-1000}
CTL=$root/bin/parlorctl

server_pid=""
gen_pid=""
attack_pid=""
node_pids=""            # cluster phase: every parlord node started
nats_pid=""             # cluster phase: the nats-server
tmp=$(mktemp -d /tmp/parlor-bench.XXXXXX)
chmod 755 "$tmp"          # ngircd drops to nobody and must still read its files

say() { printf '%s\n' "$*" >&2; }

# Stop one process we started: TERM, up to 5 s, then KILL.  By PID only.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "bench: pid $pid ignored SIGTERM, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

pg_dir=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_pid "$gen_pid"
    stop_pid "$attack_pid"
    stop_pid "$server_pid"
    for p in $node_pids; do stop_pid "$p"; done
    stop_pid "$nats_pid"
    [ -n "$pg_dir" ] && "$root/scripts/pg.sh" stop "$pg_dir" >/dev/null 2>&1 || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "bench: outputs and logs kept in $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'say "bench: interrupted"; exit 130' INT TERM

[ -x "$BENCH" ] || { say "bench: $BENCH is missing; run make first"; exit 1; }

want() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }

# One descriptor per client on both sides; the hard limit is as far as we go.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"
if [ "$hard" -lt $((IDLE_CLIENTS + 100)) ]; then
    say "bench: open-file limit $hard is too low for $IDLE_CLIENTS clients"
    exit 1
fi

# ---- process tree helpers -------------------------------------------------

# PIDs of $1 and all its descendants (from the ppid field of /proc/*/stat).
tree_pids() {
    local f line
    for f in /proc/[0-9]*/stat; do
        read -r line < "$f" 2>/dev/null || continue
        line=${line##*) }             # drop "pid (comm) "; comm may hold spaces
        set -- $line                  # $1 state, $2 ppid
        f=${f#/proc/}
        printf '%s %s\n' "${f%/stat}" "$2"
    done | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            if (!(root in parent)) exit
            mine[root] = 1
            do {
                changed = 0
                for (p in parent)
                    if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; changed = 1 }
            } while (changed)
            for (p in mine) print p
        }'
}

# Sum of VmRSS (kB) over the server's process tree.
tree_rss_kb() {
    local p sum=0 kb
    for p in $(tree_pids "$1"); do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        sum=$((sum + ${kb:-0}))
    done
    echo "$sum"
}

# ---- servers ----------------------------------------------------------------

wait_listening() {
    local port=$1 i
    for i in $(seq 100); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

write_ngircd_conf() {
    local dir=$1 port=$2
    mkdir -p "$dir/conf.d"
    chmod 755 "$dir" "$dir/conf.d"
    # Limits as far as ngircd allows: no connection caps, no penalty time
    # (MaxPenaltyTime = 0), no DNS/IDENT lookups (a subprocess per client).
    # Command throttling itself cannot be switched off in the config; the
    # load phases make the senders IRC operators with user mode +F
    # ("relaxed flood protection"), which lifts it.
    cat > "$dir/ngircd.conf" <<EOF
[Global]
	Name = bench.ngircd.local
	Info = parlor-bench reference server
	AdminInfo1 = parlor-bench
	AdminInfo2 = loopback only
	AdminEMail = bench@localhost
	Listen = 127.0.0.1
	Ports = $port
	MotdPhrase = bench
	ServerUID = nobody
	ServerGID = nogroup
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 30
	MaxPenaltyTime = 0
	PingTimeout = 600
	PongTimeout = 300
[Options]
	DNS = no
	Ident = no
	PAM = no
	IncludeDir = $dir/conf.d
[Operator]
	Name = bench
	Password = bench
EOF
    chmod 644 "$dir/ngircd.conf"
}

# Per-address connection limits, in parlord versions that have them: the
# generator and the attacker all connect from 127.0.0.1, so every phase turns
# them off (both flags take 0 for "no limit").  Only flags that
# `parlord --help` lists are passed.
parlord_limit_args() {
    local help flag args=""
    help=$("$PARLORD" --help 2>&1 || true)
    for flag in max-connections-per-ip connect-rate; do
        case $help in *"--$flag "*) args="$args --$flag 0" ;; esac
    done
    echo "$args"
}
PARLORD_LIMIT_ARGS=""
[ -x "$PARLORD" ] && PARLORD_LIMIT_ARGS=$(parlord_limit_args)

# start_server NAME PHASE: sets server_pid and port, or returns 1.
start_server() {
    local name=$1 phase=$2 dir
    dir=$tmp/$name-$phase
    mkdir -p "$dir"
    chmod 755 "$dir"
    port=$("$BENCH" freeport)
    case $name in
    parlor)
        [ -x "$PARLORD" ] || { say "bench: $PARLORD is missing"; return 1; }
        # The control socket (and the spool beside it) go in the phase's
        # dir: the default path (/run/parlord/ as root) may belong to
        # another parlord on this machine.
        # shellcheck disable=SC2086 # PARLORD_ARGS is a list of flags
        if [ "${PARLORD_STORE:-0}" = 1 ]; then
            # Its own control socket and spool: as root the defaults are
            # /run/parlord/..., shared by every parlord on the machine, and a
            # spool left there by an earlier run would be replayed into this
            # run's database.
            (cd "$dir" && exec env PARLOR_DATABASE_URL="$PARLOR_DB_FOR_BENCH" "$PARLORD" \
                --listen "127.0.0.1:$port" --workers "${PARLORD_WORKERS:-2}" --flood-lines 0 \
                --max-clients 20000 --control "$dir/control.sock" --spool-dir "$dir/spool" \
                --log-level warn $PARLORD_LIMIT_ARGS $PARLORD_ARGS) > "$dir/server.log" 2>&1 &
        else
            (cd "$dir" && exec env -u PARLOR_DATABASE_URL "$PARLORD" --listen "127.0.0.1:$port" \
                --workers 2 --flood-lines 0 --max-clients 20000 --control "$dir/control.sock" \
                --log-level warn $PARLORD_LIMIT_ARGS $PARLORD_ARGS) \
                > "$dir/server.log" 2>&1 &
        fi
        server_pid=$!
        ;;
    ngircd)
        [ -x "$NGIRCD" ] || { say "bench: $NGIRCD is missing"; return 1; }
        write_ngircd_conf "$dir" "$port"
        "$NGIRCD" -n -f "$dir/ngircd.conf" > "$dir/server.log" 2>&1 &
        server_pid=$!
        ;;
    esac
    if ! wait_listening "$port"; then
        say "bench: $name did not start listening on 127.0.0.1:$port; its log:"
        tail -n 20 "$dir/server.log" >&2 || true
        stop_pid "$server_pid"
        server_pid=""
        return 1
    fi
    server_dir=$dir
}

stop_server() {
    local name=$1
    if [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null; then
        say "bench: $name (pid $server_pid) died during the run; its log:"
        tail -n 20 "$server_dir/server.log" >&2 || true
    fi
    stop_pid "$server_pid"
    server_pid=""
}

# ---- results --------------------------------------------------------------

# kv FILE KEY: value of KEY= in the RESULT line of FILE, or "n/a".
kv() {
    local v=""
    [ -f "$1" ] && v=$(awk -v k="$2" '/^RESULT / {
        for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$1" | tail -n 1)
    echo "${v:-n/a}"
}

result() { echo "$tmp/result-$1-$2"; }

# gen_start NAME PHASE GENERATOR-ARGS...: start one load in the background
# (gen_pid); gen_finish NAME PHASE waits for it and shows its output.
gen_start() {
    local name=$1 phase=$2 out
    shift 2
    out=$(result "$name" "$phase")
    "$BENCH" "$@" --port "$port" --label "$name" > "$out" 2> "$out.err" &
    gen_pid=$!
}

gen_finish() {
    local name=$1 phase=$2 out
    out=$(result "$name" "$phase")
    wait "$gen_pid" || say "bench: $name $phase: generator exited with status $?"
    gen_pid=""
    grep -v '^RESULT ' "$out" | sed 's/^/    /' >&2 || true
    if [ -s "$out.err" ]; then
        head -n 12 "$out.err" | sed 's/^/    ! /' >&2
    fi
    grep -q '^RESULT ' "$out" || say "bench: $name $phase: no result"
}

# run_gen NAME PHASE GENERATOR-ARGS...: run one load, keep its output.
run_gen() {
    gen_start "$@"
    gen_finish "$1" "$2"
}

oper_for() { [ "$1" = ngircd ] && echo "--oper bench:bench" || true; }

phase_idle() {
    local name=$1 out base loaded i n
    out=$(result "$name" idle)
    start_server "$name" idle || return 0
    sleep 0.5
    base=$(tree_rss_kb "$server_pid")
    "$BENCH" idle --port "$port" --label "$name" --clients "$IDLE_CLIENTS" --hold 120 \
        > "$out" 2> "$out.err" &
    gen_pid=$!
    for i in $(seq 1200); do
        grep -q '^IDLE_READY' "$out" 2>/dev/null && break
        kill -0 "$gen_pid" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q '^IDLE_READY' "$out"; then
        sleep 1                       # let the server settle
        loaded=$(tree_rss_kb "$server_pid")
        n=$(awk '/^IDLE_READY/ { sub("registered=", "", $2); print $2 }' "$out")
        echo "rss_base_kb=$base rss_loaded_kb=$loaded registered=$n" > "$out.mem"
        say "    $name: RSS ${base} kB idle, ${loaded} kB with $n clients:" \
            "$(awk -v b="$base" -v l="$loaded" -v n="$n" 'BEGIN { printf "%.2f kB per client", n ? (l - b) / n : 0 }')"
    fi
    stop_pid "$gen_pid"               # SIGTERM ends the hold; it QUITs and reports
    gen_pid=""
    [ -s "$out.err" ] && head -n 5 "$out.err" | sed 's/^/    ! /' >&2
    stop_server "$name"
}

mem_per_client() {
    local f
    f="$(result "$1" idle).mem"
    [ -f "$f" ] || { echo n/a; return; }
    awk '{ for (i = 1; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] } }
        END { if (v["registered"] > 0) printf "%.2f", (v["rss_loaded_kb"] - v["rss_base_kb"]) / v["registered"]; else print "n/a" }' "$f"
}

# Start bin/parlor-attack against the current server, a second before the
# generator, so its connections are open when the measured clients arrive.
# Its --duration is only a bound: stop_attack ends it (SIGTERM) when the
# generator is done, and it prints its ATTACK line then.
start_attack() {
    local out=$1
    [ -x "$ATTACK" ] || { say "bench: $ATTACK is missing; run make first"; return 1; }
    # shellcheck disable=SC2086 # ATTACK_ARGS is a list of flags
    "$ATTACK" --port "$port" --duration $((DURATION + 60)) $ATTACK_ARGS > "$out" 2>&1 &
    attack_pid=$!
    sleep 1
}

stop_attack() {
    local out=$1
    stop_pid "$attack_pid"
    attack_pid=""
    sed 's/^/    /' "$out" >&2 || true
}

# phase NAME PHASE GENERATOR-ARGS...: a fresh server, one generator run against
# it (with WITH_ATTACK=1, bin/parlor-attack runs alongside), the server stopped.
phase() {
    local name=$1 ph=$2
    shift 2
    start_server "$name" "$ph" || return 0
    say "  $name: $ph"
    [ "${WITH_ATTACK:-0}" = 1 ] && start_attack "$(result "$name" "$ph").attack"
    run_gen "$name" "$ph" "$@" --cpu-pid "$server_pid"
    [ "${WITH_ATTACK:-0}" = 1 ] && stop_attack "$(result "$name" "$ph").attack"
    stop_server "$name"
}

# ---- run ----------------------------------------------------------------------

say "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), open files $(ulimit -n)"
say "bench: servers: $SERVERS; $DURATION s per load phase; temp dir $tmp"
# Other work on the machine skews everything: sample the CPU for a second
# (/proc/stat; the load average would still show a previous run).
cpu_busy_pct() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
    echo "$a $b" | awk '{ busy = $3 - $1; idle = $4 - $2; printf "%d", (busy + idle) ? 100 * busy / (busy + idle) : 0 }'
}
busy=$(cpu_busy_pct)
say "bench: CPU busy before starting: $busy% of all cores"
if [ "$busy" -gt 10 ]; then
    say "bench: warning: the machine is not idle; the numbers will be skewed"
fi
start=$(date +%s)

compared=0
for p in idle connrate fanout rooms sameload; do want "$p" && compared=1; done
for s in $SERVERS; do
    [ "$compared" = 1 ] || break
    say "== $s"
    if want idle; then
        say "  $s: idle, $IDLE_CLIENTS clients"
        phase_idle "$s"
    fi
    if want connrate; then
        phase "$s" connrate10 connrate --clients 3000 --concurrency 10
        phase "$s" connrate100 connrate --clients 3000 --concurrency 100
    fi
    # shellcheck disable=SC2046
    want fanout && phase "$s" fanout fanout --duration "$DURATION" $(oper_for "$s")
    # shellcheck disable=SC2046
    want rooms && phase "$s" rooms rooms --duration "$DURATION" $(oper_for "$s")
done

# Same offered load on both: half the lower fanout peak, so neither saturates.
rate=""
for s in $SERVERS; do
    o=$(kv "$(result "$s" fanout)" offered_per_s)
    [ "$o" = n/a ] && continue
    rate=$(awk -v o="$o" -v r="${rate:-}" 'BEGIN { h = o / 2; if (r == "" || h < r) r = h; printf "%d", r }')
done
want sameload || rate=""
if [ -n "$rate" ] && [ "$rate" -gt 0 ]; then
    say "== same load: fanout at $rate msgs/s on each server"
    for s in $SERVERS; do
        # shellcheck disable=SC2046
        phase "$s" sameload fanout --duration "$DURATION" --rate "$rate" $(oper_for "$s")
    done
fi

# Parlor with PostgreSQL: the rooms load again, every message stored.  The
# stored rate is rows / (last server_time - first server_time).
stored_rate=n/a
if echo " $SERVERS " | grep -q ' parlor ' && want stored && [ "${BENCH_STORE:-1}" = 1 ]; then
    pg_dir=$tmp/pg
    mkdir -p "$pg_dir"
    chmod 755 "$tmp" "$pg_dir"
    if conninfo=$("$root/scripts/pg.sh" start "$pg_dir" 2>/dev/null); then
        say "== parlor with PostgreSQL: rooms, every message stored"
        export PARLOR_DB_FOR_BENCH="$conninfo"
        PARLORD_STORE=1 phase parlor stored rooms --duration "$DURATION"
        stored_rate=$(PGCONNECT_TIMEOUT=5 psql -Atq "$conninfo" -c \
            "SELECT round(count(*) / greatest(extract(epoch FROM max(server_time) - min(server_time)), 0.001))
               FROM messages" 2>/dev/null || echo n/a)
        say "  parlor: $stored_rate messages stored per second"
        "$root/scripts/pg.sh" stop "$pg_dir" >/dev/null 2>&1 || true
        pg_dir=""
    else
        say "bench: could not start PostgreSQL; skipping the stored phase"
    fi
fi

# Hostile clients: one normal room (BENCH_HOSTILE_CLIENTS members, 5 of them
# sending BENCH_HOSTILE_RATE msgs/s in total), on a fresh parlord each time,
# first alone and then with bin/parlor-attack running alongside.  The room's
# latency, losses and the server's CPU are compared.
hostile_load=(fanout --clients "$HOSTILE_CLIENTS" --senders 5 --rate "$HOSTILE_RATE"
              --duration "$DURATION")
hostile=0
if echo " $SERVERS " | grep -q ' parlor ' && want hostile; then
    hostile=1
    say "== hostile: $HOSTILE_CLIENTS clients in one room, $HOSTILE_RATE msgs/s, without and with parlor-attack"
    [ -n "$PARLORD_LIMIT_ARGS" ] && say "  parlord per-address limits off:$PARLORD_LIMIT_ARGS"
    phase parlor hostile-calm "${hostile_load[@]}"
    WITH_ATTACK=1 phase parlor hostile-attack "${hostile_load[@]}"
fi

# Failover: one room (#bench0, the fanout room) at a fixed rate, on parlord
# with PostgreSQL (every message is stored, and a request is acknowledged by
# the room's owner only once it is durable), twice on a fresh parlord: once
# as is and once with the room's owner worker SIGKILLed half-way through the
# measured period.  The owner is drained before the generator connects, so
# every member is on the other worker and survives the kill: whatever the
# run loses or duplicates is the server's doing (worker/outbox.c keeps the
# requests to a dead owner and replays them to its replacement).
#
# The owner is computed here the way worker/worker.c owner_of() does:
# FNV-1a 64 over the ASCII-lowercased name, modulo the number of workers.
# Bash arithmetic is 64-bit and wraps like uint64_t; only the last modulo
# must read the value as unsigned (from the value shifted right by one and
# its low bit).
room_owner() {
    local name=$1 n=$2 h i c
    h=$((0xcbf29ce484222325))
    for ((i = 0; i < ${#name}; i++)); do
        LC_ALL=C printf -v c '%d' "'${name:i:1}"
        if ((c >= 65 && c <= 90)); then c=$((c + 32)); fi
        h=$(((h ^ c) * 0x100000001b3))
    done
    echo $(((((h >> 1) & 0x7fffffffffffffff) % n * 2 + (h & 1)) % n))
}

# workers_json: `parlorctl --json show workers` of the running parlord.
# json_worker JSON SLOT KEY: one field of one worker in it (pid, state,
# clients...), or nothing.
workers_json() {
    "$CTL" -s "$server_dir/control.sock" --json show workers 2>/dev/null || true
}
json_worker() {
    printf '%s\n' "$1" | tr '{' '\n' |
        sed -n "/^\"id\":$2,/s/.*\"$3\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

# A sender offers FAILOVER_RATE/5 msgs/s; its window holds 1000 messages
# (5 s of them at the default rate, the default --owner-timeout), so the
# generator keeps offering the full rate while the owner is gone instead
# of skipping messages once 32 of them are waiting.
FAILOVER_ROOM='#bench0'
FAILOVER_WORKERS=2            # as start_server runs parlord
FAILOVER_HOLD_PG=${BENCH_FAILOVER_HOLD_PG:-}
failover_load=(fanout --clients "$FAILOVER_CLIENTS" --senders 5 --rate "$FAILOVER_RATE"
               --window 1000 --warmup 1 --duration "$DURATION")

# phase_failover PHASE KILL: one run; with KILL=1 the owner is SIGKILLed.
# Besides the generator's RESULT, RESULT.fo gets key=value lines: clients on
# the owner, the killed and the new PID, how long until the master had a
# replacement that answers, and the rows stored for the run.
phase_failover() {
    local ph=$1 kill_owner=$2 out owner=$fo_owner old="" new state w t0 t1 wait_s i sent rows distinct
    out=$(result parlor "$ph")
    PARLORD_STORE=1 start_server parlor "$ph" || return 0
    say "  parlor: $ph"
    PGCONNECT_TIMEOUT=5 psql -Atq "$PARLOR_DB_FOR_BENCH" -c "TRUNCATE messages" >/dev/null 2>&1 || true
    if ! "$CTL" -s "$server_dir/control.sock" drain "$owner" >/dev/null; then
        say "bench: parlorctl drain $owner failed; skipping $ph"
        stop_server parlor
        return 0
    fi
    gen_start parlor "$ph" "${failover_load[@]}" --cpu-pid "$server_pid"
    # The generator prints "setup: ..." when sending starts (warmup first).
    while ! grep -q '^setup:' "$out" 2>/dev/null && kill -0 "$gen_pid" 2>/dev/null; do
        sleep 0.05
    done
    echo "owner=$owner owner_clients=$(json_worker "$(workers_json)" "$owner" clients)" > "$out.fo"
    if [ "$kill_owner" = 1 ] && grep -q '^setup:' "$out"; then
        wait_s=$(awk -v d="$DURATION" 'BEGIN { printf "%.2f", 1 + d / 2 }')
        if [ -n "$FAILOVER_HOLD_PG" ]; then
            # Hold inserts back so the owner dies with many messages handled
            # but not yet durable (not acknowledged): they are all sent again.
            sleep "$(awk -v w="$wait_s" 'BEGIN { printf "%.2f", w - 0.3 }')"
            PGCONNECT_TIMEOUT=5 psql -Atq "$PARLOR_DB_FOR_BENCH" -c "BEGIN; LOCK TABLE messages IN SHARE MODE;
                SELECT pg_sleep($FAILOVER_HOLD_PG); COMMIT" >/dev/null 2>&1 &
            sleep 0.3
        else
            sleep "$wait_s"
        fi
        old=$(json_worker "$(workers_json)" "$owner" pid)
        # Only a child of the parlord we started.
        if [ -n "$old" ] && [ "$(awk '{ print $4 }' "/proc/$old/stat" 2>/dev/null)" = "$server_pid" ]; then
            t0=$(date +%s%N)
            kill -KILL "$old"
            new=""
            # Until the master has a new process in the slot that answers
            # its queries (a query waits up to 1 s for a worker: the time
            # is an upper bound; the generator's max latency is the outage
            # as the clients saw it).
            for i in $(seq 500); do           # up to ~10 s
                w=$(workers_json)
                new=$(json_worker "$w" "$owner" pid)
                state=$(json_worker "$w" "$owner" state)
                if [ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$old" ] &&
                   { [ "$state" = accepting ] || [ "$state" = draining ]; }; then
                    break
                fi
                new=""
                sleep 0.02
            done
            t1=$(date +%s%N)
            echo "killed_pid=$old new_pid=${new:-none} replacement_ms=$(((t1 - t0) / 1000000))" >> "$out.fo"
            say "    SIGKILL worker $owner (pid $old) $wait_s s after sending started;" \
                "replacement ${new:+pid $new }answering after $(((t1 - t0) / 1000000)) ms"
        else
            say "bench: worker $owner of parlord $server_pid not found; not killed"
        fi
    fi
    gen_finish parlor "$ph"
    # Storing is batched: give the last batch a moment to land.
    sent=$(kv "$out" sent)
    rows=""
    for i in $(seq 25); do
        rows=$(PGCONNECT_TIMEOUT=5 psql -Atq -F ' ' "$PARLOR_DB_FOR_BENCH" -c \
            "SELECT count(*), count(DISTINCT body) FROM messages" 2>/dev/null || true)
        [ "${rows%% *}" = "$sent" ] && break
        sleep 0.2
    done
    read -r rows distinct <<< "$rows"
    echo "stored_rows=${rows:-n/a} stored_distinct=${distinct:-n/a}" >> "$out.fo"
    stop_server parlor
}

failover=0
if echo " $SERVERS " | grep -q ' parlor ' && want failover; then
    fo_owner=$(room_owner "$FAILOVER_ROOM" "$FAILOVER_WORKERS")
    pg_dir=$tmp/pg-failover
    mkdir -p "$pg_dir"
    chmod 755 "$tmp" "$pg_dir"
    if [ ! -x "$CTL" ]; then
        say "bench: $CTL is missing; skipping the failover phase"
    elif conninfo=$("$root/scripts/pg.sh" start "$pg_dir" 2>/dev/null); then
        failover=1
        export PARLOR_DB_FOR_BENCH="$conninfo"
        say "== failover: $FAILOVER_CLIENTS clients in $FAILOVER_ROOM (owner: worker $fo_owner, drained)," \
            "$FAILOVER_RATE msgs/s, with PostgreSQL; without and with a SIGKILL of the owner"
        phase_failover failover-calm 0
        phase_failover failover-kill 1
    else
        say "bench: could not start PostgreSQL; skipping the failover phase"
    fi
    "$root/scripts/pg.sh" stop "$pg_dir" >/dev/null 2>&1 || true
    pg_dir=""
fi

# Replies in command order: what waiting for each command's replies costs a
# client that pipelines (worker/order.c).  Both rooms are tried: one owned
# by worker 0, one by worker 1; the client lands on either.
pipeline_out=""
if echo " $SERVERS " | grep -q ' parlor ' && want pipeline; then
    pg_dir=$tmp/pg-pipeline
    mkdir -p "$pg_dir"
    chmod 755 "$tmp" "$pg_dir"
    if conninfo=$("$root/scripts/pg.sh" start "$pg_dir" 2>/dev/null); then
        export PARLOR_DB_FOR_BENCH="$conninfo"
        say "== pipeline: one client, $PIPELINE_COUNT messages then PING, with PostgreSQL"
        if PARLORD_STORE=1 start_server parlor pipeline; then
            pipeline_out=$tmp/result-parlor-pipeline
            : > "$pipeline_out"
            for w in 0 1; do
                i=0
                while [ "$(room_owner "#pipe$i" 2)" != "$w" ]; do i=$((i + 1)); done
                for e in echo noecho; do
                    "$root/bin/parlor-pipeline" "$port" "#pipe$i" "$PIPELINE_COUNT" "$e" \
                        | sed "s/^pipeline /pipeline owner=worker$w /" | tee -a "$pipeline_out" >&2 || true
                done
            done
            stop_server parlor
        fi
    else
        say "bench: could not start PostgreSQL; skipping the pipeline phase"
    fi
    "$root/scripts/pg.sh" stop "$pg_dir" >/dev/null 2>&1 || true
    pg_dir=""
fi

# TLS against plaintext (parlor): each run on a fresh server with a TLS
# listener and a self-signed certificate; `how` is plain, full or resume.
tls_out=""
tls_phase() {   # tls_phase PHASE plain|full|resume GENERATOR-ARGS...
    local ph=$1 how=$2 tport plain_port
    shift 2
    tport=$("$BENCH" freeport)
    PARLORD_ARGS="$PARLORD_ARGS --tls-listen 127.0.0.1:$tport --tls-cert $tls_cert --tls-key $tls_cert" \
        start_server parlor "$ph" || return 0
    say "  parlor: $ph"
    plain_port=$port
    if [ "$how" = plain ]; then
        run_gen parlor "$ph" "$@" --cpu-pid "$server_pid"
    else
        port=$tport
        run_gen parlor "$ph" "$@" --tls "$how" --cpu-pid "$server_pid"
    fi
    port=$plain_port
    stop_server parlor
}
if echo " $SERVERS " | grep -q ' parlor ' && want tls; then
    tls_cert=$tmp/tls-cert.pem
    if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
           -subj /CN=localhost -keyout "$tls_cert" -out "$tls_cert" 2>/dev/null; then
        say "== tls: registrations with TLS handshakes, and fanout at $TLS_RATE msgs/s, against plaintext"
        tls_phase tls-conn-plain plain connrate --clients 2000 --concurrency 10
        tls_phase tls-conn-full full connrate --clients 2000 --concurrency 10
        tls_phase tls-conn-resume resume connrate --clients 2000 --concurrency 10
        tls_phase tls-fanout-plain plain fanout --duration "$DURATION" --rate "$TLS_RATE"
        tls_phase tls-fanout-tls full fanout --duration "$DURATION" --rate "$TLS_RATE"
        tls_out=1
    else
        say "bench: openssl could not make a certificate; skipping the tls phase"
    fi
fi

# Cluster over NATS (issue 13; README "Cluster over NATS"): the fanout room
# on one node and split over two nodes of one network, at one offered load,
# with one PostgreSQL (every message stored; the nodes of a network share it):
#
#   single   one parlord, 2 workers, without --cluster
#   alone    one parlord, 2 workers, with --cluster (the only node on NATS)
#   splitW   two parlords of W workers each, with --cluster, for each W in
#            BENCH_CLUSTER_NODE_WORKERS; the room's members half on each node
#            (the first half of the clients on one, the rest on the other:
#            senders on both)
#
# Server CPU is utime+stime of every parlord process (each master and its
# workers) and, for alone and split, of the nats-server; PostgreSQL's is not
# counted (the same rows are stored in all three).  With
# BENCH_CLUSTER_PEAK=1 the three run once more unbounded (each sender keeps
# 32 messages in flight): the peak, BENCH_CLUSTER_PEAK_DURATION s.
#
# Phase cluster-base: `single` on PARLORD and on PARLORD_BASE (e.g. a build
# of the commit before the cluster code), BENCH_CLUSTER_ROUNDS times,
# interleaved (the order alternates each round), each binary with its own
# database: is anything slower without --cluster?
CLUSTER_CLIENTS=${BENCH_CLUSTER_CLIENTS:-200}
CLUSTER_RATE=${BENCH_CLUSTER_RATE:-500}
CLUSTER_NODE_WORKERS=${BENCH_CLUSTER_NODE_WORKERS:-1 2}
CLUSTER_PEAK=${BENCH_CLUSTER_PEAK:-1}
CLUSTER_PEAK_DURATION=${BENCH_CLUSTER_PEAK_DURATION:-4}
CLUSTER_ROUNDS=${BENCH_CLUSTER_ROUNDS:-3}
PARLORD_BASE=${PARLORD_BASE:-}
cluster_load=(fanout --clients "$CLUSTER_CLIENTS" --senders 5 --rate "$CLUSTER_RATE" --duration "$DURATION")
cluster_peak=(fanout --clients "$CLUSTER_CLIENTS" --senders 5 --duration "$CLUSTER_PEAK_DURATION")
nats_port=""
nats_mport=""

# start_nats: a nats-server on a free loopback port (nats_pid, nats_port),
# with its HTTP monitoring on another (nats_mport).
start_nats() {
    local i
    nats_port=$("$BENCH" freeport)
    nats_mport=$("$BENCH" freeport)
    nats-server -a 127.0.0.1 -p "$nats_port" -m "$nats_mport" > "$tmp/nats.log" 2>&1 &
    nats_pid=$!
    for i in $(seq 50); do
        kill -0 "$nats_pid" 2>/dev/null || break
        (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && return 0
        sleep 0.1
    done
    say "bench: nats-server did not start; its log:"
    tail -n 10 "$tmp/nats.log" >&2 || true
    stop_pid "$nats_pid"
    nats_pid=""
    return 1
}

# nats_counts: "in_msgs out_msgs in_bytes" of the nats-server so far (/varz).
nats_counts() {
    local varz
    varz=$(exec 3<>"/dev/tcp/127.0.0.1/$nats_mport" && printf 'GET /varz HTTP/1.0\r\n\r\n' >&3 && cat <&3) ||
        { echo "0 0 0"; return; }
    printf '%s\n' "$varz" | awk -F'[:,]' '
        /"in_msgs"/ { i = $2 + 0 } /"out_msgs"/ { o = $2 + 0 } /"in_bytes"/ { b = $2 + 0 }
        END { print i + 0, o + 0, b + 0 }'
}

# nodes_ready SOCK NODES: the node behind control socket SOCK is connected to
# NATS and has heard every worker of the NODES-1 other nodes (worker 0's
# view, `parlorctl --json show nodes`; a worker not heard yet has pid 0).
nodes_ready() {
    "$CTL" -s "$1" --json show nodes 2>/dev/null | tr '{' '\n' | awk -v want=$(($2 - 1)) '
        /"state":"self, nats connected"/ { self = 1 }
        /"state":"live"/ {
            w = $0; sub(/.*"workers":/, "", w); sub(/,.*/, "", w)
            p = $0; sub(/.*"pids":"/, "", p); sub(/".*/, "", p)
            n = split(p, a, ","); ok = n == w + 0
            for (i = 1; i <= n; i++) if (a[i] + 0 == 0) ok = 0
            live += ok
        }
        END { exit !(self && live == want) }'
}

# cluster_stop: stop every node of the run (by PID).
cluster_stop() {
    local p
    for p in $node_pids; do stop_pid "$p"; done
    node_pids=""
}

# cluster_run PHASE BINARY DATABASE NODES WORKERS CLUSTERED GENERATOR-ARGS...:
# NODES fresh parlords of WORKERS workers (with --cluster when CLUSTERED is
# 1), the generator's clients split over them, CPU of all of them (and of
# the nats-server when clustered), the nodes stopped.
cluster_run() {
    local ph=$1 bin=$2 db=$3 nodes=$4 workers=$5 clustered=$6 n i p ports="" socks="" extra limits n0 n1
    local cpu=()
    shift 6
    limits=$(PARLORD=$bin parlord_limit_args)
    PGCONNECT_TIMEOUT=5 psql -Atq "$db" -c "TRUNCATE messages" >/dev/null 2>&1 || true
    for ((n = 0; n < nodes; n++)); do
        extra=""
        [ "$clustered" = 1 ] &&
            extra="--cluster nats://127.0.0.1:$nats_port --node-name node$n --node-id $n"
        if ! PARLORD=$bin PARLORD_WORKERS=$workers PARLORD_STORE=1 PARLOR_DB_FOR_BENCH=$db \
             PARLORD_LIMIT_ARGS=$limits PARLORD_ARGS="$PARLORD_ARGS $extra" start_server parlor "$ph-node$n"; then
            cluster_stop
            return 0
        fi
        node_pids="$node_pids $server_pid"
        cpu+=(--cpu-pid "$server_pid")
        server_pid=""
        ports=$ports${ports:+,}$port
        socks="$socks $server_dir/control.sock"
    done
    if [ "$clustered" = 1 ]; then
        cpu+=(--cpu-pid "$nats_pid")
        for i in $(seq 100); do                   # up to ~10 s
            n=0
            for p in $socks; do nodes_ready "$p" "$nodes" && n=$((n + 1)); done
            [ "$n" = "$nodes" ] && break
            sleep 0.1
        done
        [ "$n" = "$nodes" ] || say "bench: $ph: the nodes did not all see each other within 10 s"
        # Worker 0 of each node heard the others; every worker sends a
        # heartbeat once a second, so a second more and all of them have.
        sleep 1
    fi
    say "  parlor: $ph ($nodes node(s) of $workers worker(s)$([ "$clustered" = 1 ] && echo ", --cluster"), ports $ports)"
    [ "$clustered" = 1 ] && n0=$(nats_counts)
    gen_start parlor "$ph" "$@" --ports "$ports" "${cpu[@]}"
    gen_finish parlor "$ph"
    if [ "$clustered" = 1 ]; then
        # NATS messages over the whole run (setup and drain too, and the
        # heartbeats: one a second per worker) per chat message sent.
        n1=$(nats_counts)
        echo "$n0 $n1 $(kv "$(result parlor "$ph")" sent)" | awk '{
            s = $7 > 0 ? $7 : 1
            printf "nats_in_msgs=%d nats_out_msgs=%d nats_in_per_msg=%.2f nats_out_per_msg=%.2f nats_bytes_per_msg=%.0f\n",
                $4 - $1, $5 - $2, ($4 - $1) / s, ($5 - $2) / s, ($6 - $3) / s }' > "$(result parlor "$ph").nats"
        sed 's/^/    nats-server: /' "$(result parlor "$ph").nats" >&2
    fi
    n=0
    for p in $node_pids; do
        if ! kill -0 "$p" 2>/dev/null; then
            say "bench: $ph: node $n (pid $p) died during the run; its log:"
            tail -n 20 "$tmp/parlor-$ph-node$n/server.log" >&2 || true
        fi
        n=$((n + 1))
    done
    cluster_stop
}

cluster_out=""
cluster_base_out=""
if echo " $SERVERS " | grep -q ' parlor ' && { want cluster || want cluster-base; }; then
    pg_dir=$tmp/pg-cluster
    mkdir -p "$pg_dir"
    chmod 755 "$tmp" "$pg_dir"
    if [ ! -x "$CTL" ]; then
        say "bench: $CTL is missing; skipping the cluster phases"
    elif ! conninfo=$("$root/scripts/pg.sh" start "$pg_dir" 2>/dev/null); then
        say "bench: could not start PostgreSQL; skipping the cluster phases"
    else
        if want cluster; then
            if ! command -v nats-server >/dev/null; then
                say "bench: nats-server is missing (scripts/deps.sh); skipping the cluster phase"
            elif start_nats; then
                say "== cluster: $CLUSTER_CLIENTS clients in one room, 5 senders, $CLUSTER_RATE msgs/s, with PostgreSQL;" \
                    "one node, one node with --cluster, two nodes (nats-server on 127.0.0.1:$nats_port)"
                cluster_run cluster-single "$PARLORD" "$conninfo" 1 2 0 "${cluster_load[@]}"
                cluster_run cluster-alone "$PARLORD" "$conninfo" 1 2 1 "${cluster_load[@]}"
                for w in $CLUSTER_NODE_WORKERS; do
                    cluster_run "cluster-split$w" "$PARLORD" "$conninfo" 2 "$w" 1 "${cluster_load[@]}"
                done
                if [ "$CLUSTER_PEAK" = 1 ]; then
                    say "== cluster peak: the same room, unbounded, $CLUSTER_PEAK_DURATION s"
                    cluster_run cluster-single-peak "$PARLORD" "$conninfo" 1 2 0 "${cluster_peak[@]}"
                    cluster_run cluster-alone-peak "$PARLORD" "$conninfo" 1 2 1 "${cluster_peak[@]}"
                    for w in $CLUSTER_NODE_WORKERS; do
                        cluster_run "cluster-split$w-peak" "$PARLORD" "$conninfo" 2 "$w" 1 "${cluster_peak[@]}"
                    done
                fi
                cluster_out=1
                stop_pid "$nats_pid"
                nats_pid=""
            fi
        fi
        if want cluster-base; then
            if [ -z "$PARLORD_BASE" ] || [ ! -x "$PARLORD_BASE" ]; then
                say "bench: cluster-base needs PARLORD_BASE=path/to/parlord; skipped"
            else
                # The base binary gets its own database: its schema may be older.
                base_db=${conninfo/dbname=parlor/dbname=parlor_base}
                PGCONNECT_TIMEOUT=5 psql -Atq "$conninfo" -c "CREATE DATABASE parlor_base" >/dev/null 2>&1 || true
                say "== cluster-base: one node without --cluster, $PARLORD against $PARLORD_BASE," \
                    "$CLUSTER_ROUNDS rounds interleaved"
                for ((r = 1; r <= CLUSTER_ROUNDS; r++)); do
                    if ((r % 2)); then
                        cluster_run "base-cur$r" "$PARLORD" "$conninfo" 1 2 0 "${cluster_load[@]}"
                        cluster_run "base-old$r" "$PARLORD_BASE" "$base_db" 1 2 0 "${cluster_load[@]}"
                    else
                        cluster_run "base-old$r" "$PARLORD_BASE" "$base_db" 1 2 0 "${cluster_load[@]}"
                        cluster_run "base-cur$r" "$PARLORD" "$conninfo" 1 2 0 "${cluster_load[@]}"
                    fi
                done
                cluster_base_out=1
            fi
        fi
    fi
    "$root/scripts/pg.sh" stop "$pg_dir" >/dev/null 2>&1 || true
    pg_dir=""
fi

# ---- table ------------------------------------------------------------------

row() {   # row LABEL PHASE KEY BETTER(high|low)
    local label=$1 ph=$2 key=$3 better=$4 p g
    if [ "$ph" = idle ] && [ "$key" = kb_per_client ]; then
        p=$(mem_per_client parlor); g=$(mem_per_client ngircd)
    else
        p=$(kv "$(result parlor "$ph")" "$key"); g=$(kv "$(result ngircd "$ph")" "$key")
    fi
    awk -v l="$label" -v p="$p" -v g="$g" -v b="$better" 'BEGIN {
        r = "n/a"
        if (p != "n/a" && g != "n/a" && g + 0 != 0) r = sprintf("%.2f", p / g)
        printf "%-44s %14s %14s %9s  (%s is better)\n", l, p, g, r, b == "high" ? "higher" : "lower"
    }'
}

if [ "$compared" = 1 ]; then
echo
echo "Parlor vs ngircd ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
printf '%-44s %14s %14s %9s\n' "metric" "parlor" "ngircd" "p/n"
row "fanout 500x1 peak: delivered msgs/s"   fanout delivered_per_s high
row "fanout peak: offered msgs/s"           fanout offered_per_s high
row "fanout peak: p50 latency ms"           fanout p50_ms low
row "fanout peak: p99 latency ms"           fanout p99_ms low
row "fanout peak: lost"                     fanout lost low
row "fanout peak: duplicates"               fanout dup low
row "rooms 1000/100 peak: delivered msgs/s" rooms delivered_per_s high
row "rooms peak: p50 latency ms"            rooms p50_ms low
row "rooms peak: p99 latency ms"            rooms p99_ms low
row "rooms peak: lost"                      rooms lost low
row "connrate (10 in flight): regs/s"       connrate10 registered_per_s high
row "connrate (100 in flight): regs/s"      connrate100 registered_per_s high
row "idle $IDLE_CLIENTS: RSS kB per client" idle kb_per_client low
if [ -n "$rate" ]; then
    row "same load $rate msgs/s: CPU us/delivery" sameload server_cpu_us_per_msg low
    row "same load: delivered msgs/s"           sameload delivered_per_s high
    row "same load: p50 latency ms"             sameload p50_ms low
    row "same load: p90 latency ms"             sameload p90_ms low
    row "same load: p99 latency ms"             sameload p99_ms low
    row "same load: max latency ms"             sameload max_ms low
    row "same load: lost"                       sameload lost low
fi
fi
if want stored; then
    echo "parlor with PostgreSQL, rooms load: messages stored per second: $stored_rate"
    echo "parlor with PostgreSQL, rooms load: $(kv "$(result parlor stored)" delivered_per_s) delivered msgs/s, p99 $(kv "$(result parlor stored)" p99_ms) ms"
fi

# hrow LABEL VALUE-WITHOUT VALUE-WITH
hrow() { printf '%-40s %14s %14s\n' "$1" "$2" "$3"; }
# hval PHASE KEY: a RESULT value; "delivered" is received/expected.
hval() {
    local f
    f=$(result parlor "$1")
    if [ "$2" = delivered ]; then
        echo "$(kv "$f" received)/$(kv "$f" expected)"
    else
        kv "$f" "$2"
    fi
}
# Workers the master had to respawn (a crash shows here, not in the
# generator's numbers: the master survives and the room's members may not
# have been on that worker).
respawns() {
    local log=$tmp/parlor-$1/server.log
    if [ -f "$log" ]; then grep -c 'respawning' "$log" || true; else echo n/a; fi
}
if [ "$hostile" = 1 ]; then
    echo
    echo "Hostile clients: parlor, $HOSTILE_CLIENTS clients in one room, 5 senders, $HOSTILE_RATE msgs/s, $DURATION s measured"
    hrow metric "no attack" "under attack"
    hrow "delivered/expected" "$(hval hostile-calm delivered)" "$(hval hostile-attack delivered)"
    for k in lost p50_ms p99_ms max_ms skipped disconnects setup_failed server_cpu_pct server_cpu_ms; do
        hrow "$k" "$(hval hostile-calm "$k")" "$(hval hostile-attack "$k")"
    done
    hrow "worker respawns (server log)" "$(respawns hostile-calm)" "$(respawns hostile-attack)"
    a=$(grep -h '^ATTACK ' "$(result parlor hostile-attack).attack" 2>/dev/null || echo "ATTACK n/a")
    echo "attack: $a"
fi
# log_count PHASE TEXT: lines of the phase's server log that contain TEXT.
log_count() {
    local log=$tmp/parlor-$1/server.log
    if [ -f "$log" ]; then grep -c -F "$2" "$log" || true; else echo n/a; fi
}
# fval PHASE KEY [EXT]: a value from RESULT.fo (failover phase) or
# RESULT.EXT, or "n/a".
fval() {
    local v="" f
    f=$(result parlor "$1").${3:-fo}
    [ -f "$f" ] && v=$(tr ' ' '\n' < "$f" | sed -n "s/^$2=//p" | tail -n 1)
    echo "${v:-n/a}"
}
if [ "$failover" = 1 ]; then
    echo
    echo "Failover: parlor with PostgreSQL, $FAILOVER_CLIENTS clients in $FAILOVER_ROOM, 5 senders, $FAILOVER_RATE msgs/s, $DURATION s measured;"
    echo "every client on the worker that does not own the room; in the second run the owner (worker $fo_owner) is SIGKILLed half-way"
    hrow metric "no kill" "owner killed"
    hrow "delivered/expected" "$(hval failover-calm delivered)" "$(hval failover-kill delivered)"
    for k in lost dup reordered p50_ms p99_ms max_ms delivered_per_s sent skipped stalls disconnects setup_failed; do
        hrow "$k" "$(hval failover-calm "$k")" "$(hval failover-kill "$k")"
    done
    hrow "clients on the owner" "$(fval failover-calm owner_clients)" "$(fval failover-kill owner_clients)"
    hrow "worker respawns (server log)" "$(respawns failover-calm)" "$(respawns failover-kill)"
    hrow "mesh links replaced (server log)" "$(log_count failover-calm 'replaced by a new link')" \
        "$(log_count failover-kill 'replaced by a new link')"
    hrow "replacement answering after ms" "$(fval failover-calm replacement_ms)" "$(fval failover-kill replacement_ms)"
    hrow "rows stored / distinct" "$(fval failover-calm stored_rows)/$(fval failover-calm stored_distinct)" \
        "$(fval failover-kill stored_rows)/$(fval failover-kill stored_distinct)"
fi
if [ -n "$tls_out" ]; then
    echo
    echo "TLS against plaintext (parlor, 2 workers): registrations/s with 10 handshakes in flight;"
    echo "fanout 500x1 at $TLS_RATE msgs/s offered, $DURATION s measured"
    printf '%-40s %14s %14s %14s\n' metric plaintext "TLS full" "TLS resumed"
    printf '%-40s %14s %14s %14s\n' "registrations/s" "$(hval tls-conn-plain registered_per_s)" \
        "$(hval tls-conn-full registered_per_s)" "$(hval tls-conn-resume registered_per_s)"
    printf '%-40s %14s %14s %14s\n' "connect to 001 p99 ms" "$(hval tls-conn-plain p99_ms)" \
        "$(hval tls-conn-full p99_ms)" "$(hval tls-conn-resume p99_ms)"
    printf '%-40s %14s %14s %14s\n' "handshakes resumed" "-" \
        "$(hval tls-conn-full tls_resumed)" "$(hval tls-conn-resume tls_resumed)"
    hrow metric plaintext TLS
    for k in server_cpu_us_per_msg delivered_per_s p50_ms p99_ms max_ms lost; do
        hrow "fanout: $k" "$(hval tls-fanout-plain "$k")" "$(hval tls-fanout-tls "$k")"
    done
fi
if [ -n "$cluster_out" ]; then
    echo
    echo "Cluster over NATS: fanout room of $CLUSTER_CLIENTS clients, 5 senders, with PostgreSQL.  single = 1 node of"
    echo "2 workers without --cluster; alone = the same with --cluster; splitW = 2 nodes of W workers, members"
    echo "half on each.  Server CPU: every parlord process (masters, workers) + nats-server (alone, split);"
    echo "cpu ms each: per node, then nats-server"
    cols="single alone"
    for w in $CLUSTER_NODE_WORKERS; do cols="$cols split$w"; done
    # crow LABEL SUFFIX KEY: one row, a column per configuration.
    crow() {
        local c
        printf '%-24s' "$1"
        for c in $cols; do printf ' %14s' "$(hval "cluster-$c$2" "$3")"; done
        echo
    }
    printf '%-24s' "at $CLUSTER_RATE msgs/s, $DURATION s"; printf ' %14s' $cols; echo
    for k in delivered_per_s server_cpu_us_per_msg server_cpu_pct server_cpu_ms_each p50_ms p99_ms max_ms lost dup \
             reordered skipped gen_cpu_pct; do
        crow "$k" "" "$k"
    done
    for k in nats_in_per_msg nats_out_per_msg nats_bytes_per_msg; do
        printf '%-24s' "$k"
        for c in $cols; do printf ' %14s' "$(fval "cluster-$c" "$k" nats)"; done
        echo
    done
    if [ "$CLUSTER_PEAK" = 1 ]; then
        printf '%-24s' "peak, $CLUSTER_PEAK_DURATION s"; printf ' %14s' $cols; echo
        for k in offered_per_s delivered_per_s server_cpu_us_per_msg server_cpu_pct server_cpu_ms_each p50_ms p99_ms \
                 lost gen_cpu_pct; do
            crow "$k" -peak "$k"
        done
    fi
fi
if [ -n "$cluster_base_out" ]; then
    echo
    echo "Without --cluster: $PARLORD (cur) against PARLORD_BASE=$PARLORD_BASE (old), 1 node of 2 workers,"
    echo "$CLUSTER_CLIENTS clients in one room, 5 senders, $CLUSTER_RATE msgs/s, $DURATION s, with PostgreSQL; in run order"
    printf '%-10s %14s %12s %8s %8s %8s %8s %6s %8s\n' run delivered/s "cpu us/del" "cpu %" p50_ms p99_ms max_ms lost skipped
    for ((r = 1; r <= CLUSTER_ROUNDS; r++)); do
        if ((r % 2)); then order="cur old"; else order="old cur"; fi
        for b in $order; do
            printf '%-10s %14s %12s %8s %8s %8s %8s %6s %8s\n' "$b$r" "$(hval "base-$b$r" delivered_per_s)" \
                "$(hval "base-$b$r" server_cpu_us_per_msg)" "$(hval "base-$b$r" server_cpu_pct)" \
                "$(hval "base-$b$r" p50_ms)" "$(hval "base-$b$r" p99_ms)" "$(hval "base-$b$r" max_ms)" \
                "$(hval "base-$b$r" lost)" "$(hval "base-$b$r" skipped)"
        done
    done
    for b in cur old; do
        for ((r = 1; r <= CLUSTER_ROUNDS; r++)); do hval "base-$b$r" server_cpu_us_per_msg; done |
            awk -v b="$b" '$1 != "n/a" { s += $1; n++; if (min == "" || $1 < min) min = $1; if ($1 > max) max = $1 }
                END { if (n) printf "%s: CPU us/delivery mean %.4f, min %.4f, max %.4f over %d runs\n", b, s / n, min, max, n }'
    done
fi
echo
grep -h '^RESULT ' "$tmp"/result-* 2>/dev/null | sort || true
grep -h '^ATTACK ' "$tmp"/result-*.attack 2>/dev/null || true
echo "bench: done in $(( $(date +%s) - start )) s"

if [ -n "$pipeline_out" ] && [ -s "$pipeline_out" ]; then
    echo
    echo "Replies in command order: one client pipelining $PIPELINE_COUNT messages (with PostgreSQL)"
    cat "$pipeline_out"
fi
