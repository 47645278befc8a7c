#!/bin/sh
# run.sh - runs every test: the unit runner, then each tests/regress/*.sh
# (the fuzz corpus replay among them) and tests/tui/*.sh. Each prints
# PASS/FAIL/SKIP lines; this script adds them up and its last line is
# exactly "N passed, N failed". Exit status 1 if anything failed.
#
# With CI set (CI=1 make test, what .ci/run does) the whole suite runs
# twice: once with the build in $BUILD (built with -Werror), then once
# more built with SANITIZER=address,undefined in $SAN_BUILD (build-san);
# the last line sums both passes. In the sanitizer pass every drover and
# drover-agent process under test (on the rig hosts too: they share this
# filesystem) halts at its first report and writes it under a log
# directory; each report found there afterwards is one FAIL, so a crash
# in a process no test waits for is still noticed.
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=build}"
: "${SAN_BUILD:=build-san}"
export DROVER_SRC
cd "$DROVER_SRC" || exit 1

out=$(mktemp)
sanlog=$(mktemp -d /tmp/drover-sanlog.XXXXXX)
trap 'rm -f "$out"; rm -rf "$sanlog"' EXIT
: > "$out"

# run_pass BUILD LABEL: the unit runner and every script, into $out.
run_pass() {
	BUILD=$1
	export BUILD
	echo "== unit$2"
	"$BUILD/unit-tests" 2>&1 | tee "$out.unit" | grep -v '^[0-9]* passed, [0-9]* failed$'
	cat "$out.unit" >> "$out"
	if ! tail -n 1 "$out.unit" | grep -q '^[0-9]* passed, [0-9]* failed$'; then
		echo "FAIL unit-tests$2: the runner did not finish (crash?)" | tee -a "$out"
	fi
	rm -f "$out.unit"
	for t in tests/regress/*.sh tests/tui/*.sh; do
		case "$t" in */lib.sh) continue ;; esac
		echo "== $(basename "$t" .sh)$2"
		s0=$(date +%s)
		# dash has no pipefail: the script's own status goes through a file.
		{ sh "$t" 2>&1; echo $? > "$out.rc"; } | tee -a "$out"
		rc=$(cat "$out.rc")
		[ "$rc" = 0 ] || echo "FAIL $(basename "$t")$2: exit $rc" | tee -a "$out"
		echo "== $(basename "$t" .sh)$2: $(( $(date +%s) - s0 )) s"
	done
}

t0=$(date +%s)
run_pass "$BUILD" ""
if [ -n "${CI:-}" ]; then
	echo "== building with SANITIZER=address,undefined in $SAN_BUILD"
	if ! make -s -j"${JOBS:-2}" BUILD="$SAN_BUILD" SANITIZER=address,undefined \
	    all unit agents > "$sanlog/build.out" 2>&1; then
		tail -n 20 "$sanlog/build.out"
		echo "FAIL sanitizer build: make BUILD=$SAN_BUILD SANITIZER=address,undefined" | tee -a "$out"
	else
		chmod 1777 "$sanlog"
		mkdir -m 1777 "$sanlog/reports"
		# Leaks are not failures here (exit-time frees are skipped on
		# purpose); every other report is.
		ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=0:log_path=$sanlog/reports/asan"
		UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$sanlog/reports/ubsan"
		export ASAN_OPTIONS UBSAN_OPTIONS
		run_pass "$SAN_BUILD" " [asan,ubsan]"
		unset ASAN_OPTIONS UBSAN_OPTIONS
		for f in "$sanlog"/reports/*; do
			[ -f "$f" ] || continue
			echo "FAIL sanitizer report $(basename "$f"): $(grep -m 1 'ERROR\|runtime error' "$f")" | tee -a "$out"
			sed -n 1,30p "$f"
		done
	fi
	echo "(both passes: $(( $(date +%s) - t0 )) s)"
fi

pass=$(grep -c '^PASS ' "$out")
fail=$(grep -c '^FAIL ' "$out")
skip=$(grep -c '^SKIP ' "$out")
[ "$skip" = 0 ] || echo "($skip skipped)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
