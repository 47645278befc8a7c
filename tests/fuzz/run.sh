#!/bin/sh
# run.sh - runs the libFuzzer targets built by `make fuzz-build`.
#
#   tests/fuzz/run.sh [-t SECONDS] [-r] [-m RATE] TARGET...
#
# -t: fuzz each target for SECONDS (from its checked-in corpus in
# tests/fuzz/corpus/TARGET plus the inputs it found before, kept in
# build/fuzz/corpus/TARGET); -r: only replay the checked-in corpus once
# (-runs=0); -m: a target fuzzed at under RATE exec/s fails too ("slow"
# on its line; `make fuzz` asks for 1000, the goal for a harness run
# alone). Prints one line per target:
#   TARGET execs=N exec/s=N crashes=N [artifact=PATH]
# and exits 1 when any target crashed (a crash, leak, timeout, OOM or a
# broken property: libFuzzer stops at the first and writes the input to
# build/fuzz/artifacts/). FUZZ_BIN (default build/fuzz) holds the binaries;
# FUZZ_ARGS adds libFuzzer flags (e.g. -jobs=N for a soak).
set -u
: "${FUZZ_BIN:=build/fuzz}"
secs=60
replay=0
minrate=0
while getopts t:rm: o; do
	case $o in
	t) secs=$OPTARG ;;
	r) replay=1 ;;
	m) minrate=$OPTARG ;;
	*) echo "usage: $0 [-t SECONDS] [-r] [-m RATE] TARGET..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
src=$(cd "$(dirname "$0")" && pwd)
art="$FUZZ_BIN/artifacts"
# ASan holds 256 MiB of freed memory in quarantine by default, so an
# allocation-heavy target (config) touches fresh pages for nearly every
# allocation. Where a page fault is slow (10 us on the VM this ran on)
# that made config 2-4x slower. A use after free of any of the last
# 32 MiB freed is still caught. The caller's ASAN_OPTIONS wins.
: "${ASAN_OPTIONS:=quarantine_size_mb=32}"
export ASAN_OPTIONS
mkdir -p "$art"
status=0
for t in "$@"; do
	bin="$FUZZ_BIN/$t"
	seeds="$src/corpus/$t"
	log="$FUZZ_BIN/$t.log"
	if [ ! -x "$bin" ]; then
		echo "$t execs=0 exec/s=0 crashes=1 (no binary $bin)"
		status=1
		continue
	fi
	rm -f "$art/$t-"*
	if [ "$replay" = 1 ]; then
		"$bin" -runs=0 -timeout=10 -rss_limit_mb=2048 \
		    -print_final_stats=1 -artifact_prefix="$art/$t-" \
		    ${FUZZ_ARGS:-} "$seeds" > "$log" 2>&1
	else
		work="$FUZZ_BIN/corpus/$t"
		mkdir -p "$work"
		"$bin" -max_total_time="$secs" -timeout=10 \
		    -rss_limit_mb=2048 -print_final_stats=1 \
		    -artifact_prefix="$art/$t-" ${FUZZ_ARGS:-} \
		    "$work" "$seeds" > "$log" 2>&1
	fi
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	crashes=$(ls "$art/$t-"* 2>/dev/null | wc -l)
	[ "$rc" = 0 ] || [ "$crashes" -gt 0 ] || crashes=1
	line="$t execs=${execs:-0} exec/s=${rate:-0} crashes=$crashes"
	if [ "$crashes" -gt 0 ]; then
		line="$line artifact=$(ls "$art/$t-"* 2>/dev/null | head -n 1) log=$log"
		status=1
	elif [ "$replay" = 0 ] && [ "${rate:-0}" -lt "$minrate" ]; then
		line="$line slow (under $minrate exec/s)"
		status=1
	fi
	echo "$line"
done
exit $status
