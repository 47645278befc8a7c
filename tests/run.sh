#!/bin/sh
# run.sh - runs every test: the unit runner, then each tests/regress/*.sh.
# Each prints PASS/FAIL/SKIP lines; this script adds them up and its last
# line is exactly "N passed, N failed". Exit status 1 if anything failed.
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=build}"
export DROVER_SRC BUILD
cd "$DROVER_SRC" || exit 1

out=$(mktemp)
trap 'rm -f "$out"' EXIT
: > "$out"

echo "== unit"
"$BUILD/unit-tests" 2>&1 | tee -a "$out" | grep -v '^[0-9]* passed, [0-9]* failed$'
if ! tail -n 1 "$out" | grep -q '^[0-9]* passed, [0-9]* failed$'; then
	echo "FAIL unit-tests: the runner did not finish (crash?)" | tee -a "$out"
fi

for t in tests/regress/*.sh tests/tui/*.sh; do
	case "$t" in */lib.sh) continue ;; esac
	echo "== $(basename "$t" .sh)"
	sh "$t" 2>&1 | tee -a "$out"
	rc=$?
	[ "$rc" = 0 ] || echo "FAIL $(basename "$t"): exit $rc" | tee -a "$out"
done

pass=$(grep -c '^PASS ' "$out")
fail=$(grep -c '^FAIL ' "$out")
skip=$(grep -c '^SKIP ' "$out")
[ "$skip" = 0 ] || echo "($skip skipped)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
