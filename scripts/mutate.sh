#!/usr/bin/env bash
# Mutation check (run by `make mutate`; not part of `make test` or CI).
#
# Each tests/mutations/NN-name.patch breaks one promise on purpose.  Its
# header names the promise and the integration tests that stand behind it:
#
#   Promise: ...
#   Mutation: ...
#   Suite: store          (CK_RUN_SUITE)
#   Case: store           (CK_RUN_CASE, optional)
#
# For every patch, in a scratch copy of this tree (never the tree itself):
# apply it, build, run those tests, revert it.  The suite failing means the
# mutation was caught; passing means the tests missed it.  A table comes
# last; the exit status is 1 if any mutation was missed or could not be
# applied or built.
#
#   MUTATIONS="01 05" scripts/mutate.sh     only the patches whose names start so
#   MUTATE_KEEP=1 scripts/mutate.sh         keep the scratch copy and the logs
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/parlor-mutate.XXXXXX)
say() { printf '%s\n' "$*" >&2; }

cleanup() {
    if [ "${MUTATE_KEEP:-0}" = 1 ]; then
        say "mutate: scratch copy and logs kept in $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

# The scratch copy: the working tree as it is (committed or not), with its
# build directory so that only the mutated file is recompiled.
say "mutate: copying $root to $tmp/src"
mkdir -p "$tmp/src"
(cd "$root" && tar --exclude=./.git --exclude=./build-asan --exclude=./bin -cf - .) | (cd "$tmp/src" && tar xf -)
cd "$tmp/src" || exit 1
if ! make -j2 all > "$tmp/build-clean.log" 2>&1; then
    say "mutate: the unmutated tree does not build; see $tmp/build-clean.log"
    MUTATE_KEEP=1
    exit 1
fi

field() { sed -n "s/^$2: *//p" "$1" | head -n 1; }

results=()
status=0
for patch in "$root"/tests/mutations/*.patch; do
    name=$(basename "$patch" .patch)
    if [ -n "${MUTATIONS:-}" ]; then
        want=0
        for m in $MUTATIONS; do case $name in "$m"*) want=1 ;; esac; done
        [ $want = 1 ] || continue
    fi
    suite=$(field "$patch" Suite)
    case_=$(field "$patch" Case)
    log=$tmp/$name.log
    start=$(date +%s)
    if ! git apply "$patch" 2> "$log"; then
        verdict=NOT-APPLIED
    elif ! make -j2 all >> "$log" 2>&1; then
        verdict=NOT-BUILT
        git apply -R "$patch" 2>> "$log"
    else
        say "mutate: $name: CK_RUN_SUITE=$suite${case_:+ CK_RUN_CASE=$case_}"
        # CK_RUN_CASE only when the patch names a case: an empty one
        # selects no test at all.
        if env CK_RUN_SUITE="$suite" ${case_:+CK_RUN_CASE="$case_"} PARLORD=bin/parlord \
            bin/test_integration >> "$log" 2>&1; then
            verdict=MISSED
        else
            verdict=caught
        fi
        if grep -q 'Checks: 0,' "$log"; then
            verdict=NO-TESTS-RAN       # a wrong Suite/Case line is not a pass
        fi
        git apply -R "$patch" 2>> "$log" || { say "mutate: cannot revert $name"; exit 1; }
    fi
    took=$(( $(date +%s) - start ))
    failed=$(grep -E ':[FE]:' "$log" | sed -E 's/^[^:]+:[0-9]+:[FE]:[^:]+:([^:]+):.*/\1/' | sort -u | tr '\n' ' ')
    say "mutate: $name: $verdict ($took s) ${failed:+failing: $failed}"
    [ "$verdict" = caught ] || status=1
    results+=("$(printf '| %s | %s | %s | %s |' "$name" "$suite${case_:+/$case_}" "$verdict" "${failed:--}")")
done

echo
echo "| mutation | tests run (suite/case) | result | failing tests |"
echo "|---|---|---|---|"
printf '%s\n' "${results[@]}"
exit $status
