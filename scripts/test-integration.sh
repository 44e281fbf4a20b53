#!/usr/bin/env bash
# Run every integration suite, IT_JOBS (default 3) at a time, one process per
# suite (CK_RUN_SUITE), and end with one summary line in Check's format for
# all of them.  Each suite's output is printed whole when it finishes, so
# parallel runs do not interleave.
#
#   scripts/test-integration.sh BIN/test_integration BIN/parlord
#
# Most of a suite's time is spent waiting for servers, clients and
# PostgreSQL, not on a CPU, so on a 2-core machine three at a time finish in
# about half the time of one after the other (README, "Tests").  The tests
# do not depend on timing slack (issue 14), so running them side by side
# only makes them slower, never different.  IT_JOBS=1 runs them one by one.
set -uo pipefail

bin=${1:?usage: test-integration.sh TEST_INTEGRATION PARLORD}
parlord=${2:?usage: test-integration.sh TEST_INTEGRATION PARLORD}
jobs=${IT_JOBS:-3}

suites=$("$bin" --list) || { echo "test-integration: $bin --list failed" >&2; exit 1; }
# Longest first, so the last ones to start are short.
order="failover clustermv cluster clusterx clusterops store firstday account ux tui client game privacy hostile limits history oper tags control caps tls left
       irssi order process queries register channel harness"
sorted=""
for s in $order; do
    if printf '%s\n' $suites | grep -qx "$s"; then sorted="$sorted $s"; fi
done
for s in $suites; do
    case " $sorted " in *" $s "*) ;; *) sorted="$sorted $s" ;; esac
done

out=$(mktemp -d /tmp/parlor-it-runs.XXXXXX)
trap 'rm -rf "$out"' EXIT

run_one() {
    local s=$1 t0 rc
    t0=$(date +%s)
    CK_RUN_SUITE=$s PARLORD=$parlord "$bin" > "$out/$s.log" 2>&1
    rc=$?
    echo "$rc $(( $(date +%s) - t0 ))" > "$out/$s.rc"
    {
        cat "$out/$s.log"
        echo "(suite $s: exit $rc, $(( $(date +%s) - t0 )) s)"
    } | (flock 9; cat) 9>"$out/.print"
}
export -f run_one
export out bin parlord

t0=$(date +%s)
printf '%s\n' $sorted | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}

checks=0 failures=0 errors=0 failed_suites=""
for s in $sorted; do
    line=$(grep -E '^[0-9]+%: Checks: ' "$out/$s.log" | tail -n 1)
    if [ -z "$line" ] || [ ! -f "$out/$s.rc" ]; then
        failed_suites="$failed_suites $s(no summary)"
        errors=$((errors + 1))
        continue
    fi
    n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<< "$line")
    f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<< "$line")
    e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<< "$line")
    checks=$((checks + n)) failures=$((failures + f)) errors=$((errors + e))
    read -r rc _ < "$out/$s.rc"
    if [ "$rc" != 0 ]; then failed_suites="$failed_suites $s"; fi
done
echo "integration: every suite in $(( $(date +%s) - t0 )) s, $jobs at a time${failed_suites:+; failed:$failed_suites}"
pct=100
if [ "$checks" -gt 0 ]; then pct=$(( (checks - failures - errors) * 100 / checks )); fi
echo "${pct}%: Checks: $checks, Failures: $failures, Errors: $errors"
[ "$failures" = 0 ] && [ "$errors" = 0 ] && [ -z "$failed_suites" ]
