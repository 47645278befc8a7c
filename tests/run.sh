#!/bin/sh
# run.sh - runs every test: the unit runner, each tests/regress/*.sh (the
# fuzz corpus replay among them) and tests/tui/*.sh. Each prints
# PASS/FAIL/SKIP lines; this script adds them up and its last line is
# exactly "N passed, N failed". Exit status 1 if anything failed.
#
# With CI set (CI=1 make test, what .ci/run does) the whole suite runs
# twice: once with the build in $BUILD (built with -Werror), and once
# built with SANITIZER=address,undefined in $SAN_BUILD (build-san); the
# last line sums both passes. In the sanitizer pass every drover and
# drover-agent process under test (on the rig hosts too: they share this
# filesystem) halts at its first report and writes it under a log
# directory; each report found there afterwards is one FAIL, so a crash
# in a process no test waits for is still noticed. The fuzz corpus
# replay runs once: its targets are sanitizer builds already.
#
# The tests run TEST_JOBS at a time (default 4): they mostly wait on
# sshd, agents, timers and training stand-ins, not on the CPU. Each has
# its own temporary directory, rig slot, rig user and tmux socket. The
# longest start first (SLOW, measured), the two passes side by side once
# the sanitizer build is done, so the run ends soon after its longest
# test. Each test's output is printed whole when it ends, with its time.
# TEST_JOBS=1 runs them one after another.
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=build}"
: "${SAN_BUILD:=build-san}"
: "${TEST_JOBS:=4}"
export DROVER_SRC
cd "$DROVER_SRC" || exit 1

# The slowest first, as measured on 2 cores one at a time (seconds, the
# plain pass): manager_faults 608, fuzz_replay 122, remote_rig 53,
# remote_session 51, manager_local 50, demo 46, rig_selftest 40,
# manager_rig 36, disk_full 35, console 26, unit 25; the rest follow in
# name order (under 20 s each).
SLOW="manager_faults fuzz_replay remote_rig remote_session manager_local
demo rig_selftest manager_rig disk_full console unit agent_guard install"

out=$(mktemp)
work=$(mktemp -d /tmp/drover-tests.XXXXXX)
sanlog=$(mktemp -d /tmp/drover-sanlog.XXXXXX)
trap 'rm -f "$out"; rm -rf "$work" "$sanlog"' EXIT
: > "$out"

# rank NAME: where NAME comes in SLOW (unlisted ones after, by name).
rank() {
	i=0
	for s in $SLOW; do
		i=$((i + 1))
		[ "$s" = "$1" ] && { echo "$i"; return; }
	done
	echo 999
}

# queue PASS: every test of a pass into the queue, "RANK PASS NAME PATH".
queue() {
	{
		echo "$(rank unit) $1 unit -"
		for t in tests/regress/*.sh tests/tui/*.sh; do
			n=$(basename "$t" .sh)
			case "$n" in lib) continue ;; esac
			[ "$1" = san ] && [ "$n" = fuzz_replay ] && continue
			echo "$(rank "$n") $1 $n $t"
		done
	} >> "$work/queue"
	sort -n -k1,1 -k3,3 -s "$work/queue" > "$work/queue.s"
	mv "$work/queue.s" "$work/queue"
}

# start PASS NAME PATH: runs it in the background; its output, time and
# exit status go to $work/PASS-NAME.{out,s,rc} (rc last: it says done).
start() {
	(
		if [ "$1" = san ]; then
			BUILD=$SAN_BUILD
			# Leaks are not failures here (exit-time frees are
			# skipped on purpose); every other report is.
			ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=0:log_path=$sanlog/reports/asan"
			UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$sanlog/reports/ubsan"
			export ASAN_OPTIONS UBSAN_OPTIONS
		fi
		export BUILD
		f="$work/$1-$2"
		s0=$(date +%s)
		if [ "$2" = unit ]; then
			"$BUILD/unit-tests" > "$f.out" 2>&1
		else
			sh "$3" > "$f.out" 2>&1
		fi
		rc=$?
		echo $(($(date +%s) - s0)) > "$f.s"
		echo "$rc" > "$f.rc"
	) < /dev/null &
}

# report PASS NAME: prints a finished test's output, adds it up.
report() {
	f="$work/$1-$2"
	label=
	[ "$1" = san ] && label=" [asan,ubsan]"
	echo "== $2$label ($(cat "$f.s") s)"
	if [ "$2" = unit ]; then
		grep -v '^[0-9]* passed, [0-9]* failed$' "$f.out"
		cat "$f.out" >> "$out"
		tail -n 1 "$f.out" | grep -q '^[0-9]* passed, [0-9]* failed$' ||
		    echo "FAIL unit-tests$label: the runner did not finish (crash?)" | tee -a "$out"
	else
		cat "$f.out"
		cat "$f.out" >> "$out"
		rc=$(cat "$f.rc")
		[ "$rc" = 0 ] || echo "FAIL $2.sh$label: exit $rc" | tee -a "$out"
	fi
	rm -f "$f.out"
}

t0=$(date +%s)
: > "$work/queue"
: > "$work/running"
queue plain
san_state=none
if [ -n "${CI:-}" ]; then
	chmod 1777 "$sanlog"
	mkdir -m 1777 "$sanlog/reports"
	echo "== building with SANITIZER=address,undefined in $SAN_BUILD (beside the first tests)"
	( make -s -j2 BUILD="$SAN_BUILD" SANITIZER=address,undefined \
	    all unit agents > "$sanlog/build.out" 2>&1
	  echo $? > "$sanlog/build.rc" ) < /dev/null &
	san_state=building
fi

while :; do
	# the finished ones
	: > "$work/still"
	while read -r p n; do
		if [ -f "$work/$p-$n.rc" ]; then
			report "$p" "$n"
		else
			echo "$p $n" >> "$work/still"
		fi
	done < "$work/running"
	mv "$work/still" "$work/running"
	# the sanitizer build
	if [ "$san_state" = building ] && [ -f "$sanlog/build.rc" ]; then
		if [ "$(cat "$sanlog/build.rc")" = 0 ]; then
			echo "== sanitizer build done ($(($(date +%s) - t0)) s in)"
			queue san
			san_state=queued
		else
			tail -n 20 "$sanlog/build.out"
			echo "FAIL sanitizer build: make BUILD=$SAN_BUILD SANITIZER=address,undefined" | tee -a "$out"
			san_state=failed
		fi
	fi
	# more, up to TEST_JOBS
	while [ "$(wc -l < "$work/running")" -lt "$TEST_JOBS" ] &&
	    [ -s "$work/queue" ]; do
		read -r r p n path < "$work/queue"
		sed -i 1d "$work/queue"
		start "$p" "$n" "$path"
		echo "$p $n" >> "$work/running"
	done
	if [ ! -s "$work/running" ] && [ ! -s "$work/queue" ] &&
	    [ "$san_state" != building ]; then
		break
	fi
	sleep 1
done
wait

if [ "$san_state" = queued ]; then
	for f in "$sanlog"/reports/*; do
		[ -f "$f" ] || continue
		echo "FAIL sanitizer report $(basename "$f"): $(grep -m 1 'ERROR\|runtime error' "$f")" | tee -a "$out"
		sed -n 1,30p "$f"
	done
fi
echo "(all tests: $(($(date +%s) - t0)) s, $TEST_JOBS at a time)"

pass=$(grep -c '^PASS ' "$out")
fail=$(grep -c '^FAIL ' "$out")
skip=$(grep -c '^SKIP ' "$out")
[ "$skip" = 0 ] || echo "($skip skipped)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
