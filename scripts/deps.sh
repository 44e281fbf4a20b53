#!/bin/sh
# Check the Debian packages Parlor needs; install the missing ones.
#
# clang and libfuzzer-14-dev build the fuzz targets (make fuzz, and the short
# fuzz-smoke run in make test); the servers themselves are built with gcc.
#
# Quiet when everything is installed.  As root, missing packages are installed
# with apt-get (non-interactive, so it works in CI without a terminal);
# otherwise the exact command is printed and the script exits 1.
#
#   scripts/deps.sh          what building, running and testing need
#   scripts/deps.sh --bench  also ngircd, which `make bench` measures against
#                            (only then: Debian starts its service on :6667,
#                            which would get in the way of `make run`)
set -eu

PACKAGES="gcc make pkg-config libuv1-dev libpq-dev check libsodium-dev \
libssl-dev libedit-dev libncurses-dev postgresql tmux procps clang libfuzzer-14-dev irssi \
nats-server libnats-dev"
if [ "${1:-}" = --bench ]; then
    PACKAGES="$PACKAGES ngircd"
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done
missing=${missing# }

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing Debian packages: $missing" >&2
    echo "deps.sh: install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
    exit 1
fi

echo "deps.sh: installing missing packages: $missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
