#!/bin/sh
# Run parlord in the foreground for development (called by `make run`).
#
#   PORT=6667   the IRC port on 127.0.0.1 (make run PORT=6680)
#   TLS_PORT=6697  the TLS port on 127.0.0.1 (default 6697 with PORT=6667,
#               else PORT+30); its self-signed certificate is made on the
#               first run and kept in DATA/tls/ (openssl)
#   DATA=var    the folder for this instance: its configuration file
#               (DATA/parlord.conf, written on every start), control socket
#               (DATA/control.sock), spool and, without PARLOR_DATABASE_URL,
#               a throwaway PostgreSQL cluster (DATA/pg, scripts/pg.sh)
#
# One instance per DATA folder: DATA/run.pid holds the PID of the running
# script, and a second `make run` with the same folder stops before it
# touches anything (the first one's database in particular).  A port that is
# already taken is refused before the database is started.  The cluster is
# stopped again when parlord exits.
#
# parlord reads its settings from DATA/parlord.conf, so `parlorctl reload`
# (or SIGHUP) works: edit the file, then reload.  Extra arguments are passed
# to parlord.  Ctrl-C (SIGINT) and SIGTERM make parlord shut down
# gracefully: every client gets an ERROR line; the script exits with
# parlord's status.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

port=${PORT:-6667}
data=${DATA:-var}
case "$port" in
    ''|*[!0-9]*) echo "run.sh: PORT=$port is not a port number" >&2; exit 2 ;;
esac
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || { echo "run.sh: PORT=$port is not a port (1-65535)" >&2; exit 2; }
if [ "$port" -eq 6667 ]; then tls_port=${TLS_PORT:-6697}; else tls_port=${TLS_PORT:-$((port + 30))}; fi
case "$tls_port" in
    ''|*[!0-9]*) echo "run.sh: TLS_PORT=$tls_port is not a port number" >&2; exit 2 ;;
esac
[ -x bin/parlord ] || { echo "run.sh: bin/parlord is missing; run make first" >&2; exit 1; }
mkdir -p "$data"
data=$(cd "$data" && pwd)

# Every client is a descriptor: use the whole hard limit, not the soft
# default (often 1024).  parlord does the same by itself.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || echo "run.sh: could not raise the descriptor limit (ulimit -n)" >&2

# ---- one instance per folder ----
lock="$data/run.pid"
if [ -f "$lock" ]; then
    other=$(sed -n 1p "$lock" 2>/dev/null || true)
    other_port=$(sed -n 2p "$lock" 2>/dev/null || true)
    if [ -n "$other" ] && [ "$other" != $$ ] && kill -0 "$other" 2>/dev/null; then
        echo "run.sh: $data is in use by another make run (pid $other, port ${other_port:-?})." >&2
        echo "run.sh: stop that one (Ctrl-C in its terminal), or start a second server with" >&2
        echo "run.sh: its own folder and port:  make run PORT=$((port + 1)) DATA=var/run2" >&2
        exit 1
    fi
fi
printf '%s\n%s\n' $$ "$port" >"$lock"

# ---- the port ----
port_taken() {
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    else
        return 1                       # parlord itself will say so
    fi
}
for p in "$port" "$tls_port"; do
    if port_taken "$p"; then
        rm -f "$lock"
        echo "run.sh: port $p is already in use (another parlord or make run?); pick others:" >&2
        echo "run.sh:   make run PORT=$((port + 1)) TLS_PORT=$((tls_port + 1)) DATA=var/run2" >&2
        exit 1
    fi
done

# ---- a self-signed certificate for the TLS port, made once ----
tls_dir="$data/tls"
if [ ! -s "$tls_dir/cert.pem" ] || [ ! -s "$tls_dir/key.pem" ]; then
    mkdir -p "$tls_dir"
    chmod 700 "$tls_dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" 2>/dev/null \
        || { echo "run.sh: could not make a certificate with openssl" >&2; exit 1; }
    echo "run.sh: made a self-signed certificate in $tls_dir" >&2
fi

pg_started=0
pid=""

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ "$pg_started" -eq 1 ]; then
        scripts/pg.sh stop "$data/pg" || true
        pg_started=0
    fi
    rm -f "$lock"
}
trap cleanup EXIT
# The terminal's Ctrl-C reaches parlord as well (same process group): the
# master treats SIGINT as a graceful shutdown and its workers ignore it.
trap 'if [ -n "$pid" ]; then kill -INT "$pid" 2>/dev/null || true; else exit 130; fi' INT
trap 'if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; else exit 143; fi' TERM HUP

if [ -n "${PARLOR_DATABASE_URL:-}" ]; then
    conninfo=$PARLOR_DATABASE_URL
else
    pg_started=1
    conninfo=$(scripts/pg.sh start "$data/pg")
    echo "run.sh: using throwaway database: $conninfo" >&2
fi

conf="$data/parlord.conf"
cat >"$conf" <<CONF
# Written by scripts/run.sh (make run) on every start; edit it and run
#   bin/parlorctl -s $data/control.sock reload
# to change limits, the MOTD or the log level without a restart.
[network]
listen = 127.0.0.1:$port
tls-listen = 127.0.0.1:$tls_port
tls-cert = $tls_dir/cert.pem
tls-key = $tls_dir/key.pem
# Passwords (SASL PLAIN, NickServ, PASS) only over TLS.
plaintext-passwords = refuse
[processes]
control = $data/control.sock
[database]
database = $conninfo
spool-dir = $data/spool
[logging]
log-level = info
CONF

echo "run.sh: parlord on 127.0.0.1:$port  (bin/parlor --port $port)" >&2
echo "run.sh: TLS on 127.0.0.1:$tls_port  (bin/parlor --port $tls_port --tls-ca $tls_dir/cert.pem;" >&2
echo "run.sh:   irssi: /connect -tls -tls_cafile $tls_dir/cert.pem 127.0.0.1 $tls_port)" >&2
echo "run.sh: configuration $conf; control: bin/parlorctl -s $data/control.sock status" >&2
echo "run.sh: Ctrl-C stops it gracefully" >&2

bin/parlord --config "$conf" "$@" &
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
