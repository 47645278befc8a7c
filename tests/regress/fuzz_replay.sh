# fuzz_replay.sh - the libFuzzer targets of tests/fuzz in CI: builds them
# (clang with libFuzzer, which install-deps.sh installs; SKIP when it
# cannot link a fuzzer), replays every checked-in corpus file (the quote
# corpus also through every POSIX shell here: sh, bash, busybox sh, zsh in
# sh mode), then fuzzes each target for FUZZ_REPLAY_SECONDS (default 4)
# and asserts no crash and at least FUZZ_MIN_RATE exec/s (default 10:
# only a gross slowdown, since the other tests run side by side with this
# one and a loaded box showed 32 exec/s for config; alone they run
# 1000-20000, which `make fuzz` asserts with tests/fuzz/run.sh -m 1000,
# see docs/benchmarks.md). One PASS/FAIL line per target.
. "$(dirname "$0")/lib.sh"

SECS=${FUZZ_REPLAY_SECONDS:-4}
MIN_RATE=${FUZZ_MIN_RATE:-10}
FZ="$BUILD/fuzz"
TARGETS="config proto hostrange knownhosts ranktable spool logtail quote
parse_mindone parse_mindspore parse_kohya parse_diffusers parse_jsonl
parse_regex parse_auto"

# Can this clang build and link a fuzzer at all?
cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
	skip fuzz_replay "no $cc (scripts/install-deps.sh installs clang)"
	exit 0
fi
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' > "$T/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$T/probe" "$T/probe.c" \
    > "$T/probe.err" 2>&1; then
	skip fuzz_replay "$cc cannot link -fsanitize=fuzzer ($(head -n 1 "$T/probe.err")); install libclang-rt-14-dev"
	exit 0
fi
if ! make -s -C "$DROVER_SRC" -j2 BUILD="$BUILD" FUZZ_CC="$cc" fuzz-build \
    > "$T/build.out" 2>&1; then
	fail fuzz_build "$(grep -m 3 -i error "$T/build.out")"
	exit 0
fi

# The quote corpus through real shells: each must give the argv back.
shells=""
for s in /bin/sh bash "busybox sh" "zsh --emulate sh"; do
	set -- $s
	command -v "$1" >/dev/null 2>&1 && shells="$shells|$s"
done

# field NAME LINE: the value of NAME=... in a run.sh line.
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s|^$1=||p"
}

for t in $TARGETS; do
	nseeds=$(ls "$DROVER_SRC/tests/fuzz/corpus/$t" | wc -l)
	why=""
	if ! out=$(FUZZ_BIN="$FZ" sh "$DROVER_SRC/tests/fuzz/run.sh" -r "$t"); then
		why="replay crashed: $out"
	fi
	if [ -z "$why" ] && [ "$t" = quote ]; then
		IFS='|'
		for s in ${shells#|}; do
			if ! o=$(DROVER_FUZZ_SH="$s" FUZZ_BIN="$FZ" \
			    sh "$DROVER_SRC/tests/fuzz/run.sh" -r quote); then
				why="$s did not split the quoted argv back: $o"
				break
			fi
		done
		unset IFS
	fi
	if [ -z "$why" ]; then
		if ! out=$(FUZZ_BIN="$FZ" sh "$DROVER_SRC/tests/fuzz/run.sh" \
		    -t "$SECS" "$t"); then
			why="crashed while fuzzing: $out"
		fi
	fi
	execs=$(field execs "$out")
	rate=$(field exec/s "$out")
	if [ -z "$why" ] && [ "${rate:-0}" -lt "$MIN_RATE" ]; then
		why="$rate exec/s, under the floor of $MIN_RATE"
	fi
	if [ -z "$why" ]; then
		pass "fuzz_$t: $nseeds seeds replayed; ${SECS} s: $execs execs, $rate exec/s, 0 crashes"
	else
		fail "fuzz_$t" "$why"
	fi
done
