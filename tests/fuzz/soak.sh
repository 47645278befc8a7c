#!/bin/sh
# soak.sh - the long fuzz run: cycles over the targets, ROUND seconds each
# (tests/fuzz/run.sh), the one with the fewest executions first, until
# every target has GOAL executions or the time is up.
#
#   tests/fuzz/soak.sh [-g GOAL] [-r ROUND] [-d SECONDS] [-l LEDGER] TARGET...
#
# GOAL defaults to 10000000, ROUND to 300 s, SECONDS (the whole soak) to
# no limit. Each round appends "TARGET EXECS CRASHES SECONDS" to the ledger
# (default $FUZZ_BIN/soak.tsv), so several soaks (say one per core, on
# disjoint targets) and interrupted ones add up; `soak.sh -s` prints the
# totals per target. A crashing round keeps its input under
# $FUZZ_BIN/soak-crashes/ and the soak goes on with the next round.
set -u
: "${FUZZ_BIN:=build/fuzz}"
goal=10000000
round=300
limit=0
summary=0
ledger=
while getopts g:r:d:l:s o; do
	case $o in
	g) goal=$OPTARG ;;
	r) round=$OPTARG ;;
	d) limit=$OPTARG ;;
	l) ledger=$OPTARG ;;
	s) summary=1 ;;
	*) echo "usage: $0 [-g GOAL] [-r ROUND] [-d SECONDS] [-l LEDGER] [-s] TARGET..." >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
: "${ledger:=$FUZZ_BIN/soak.tsv}"
src=$(cd "$(dirname "$0")" && pwd)
touch "$ledger"

# totals: "TARGET EXECS CRASHES ROUNDS SECONDS" per target in the ledger.
totals() {
	awk '{ e[$1] += $2; c[$1] += $3; r[$1]++; s[$1] += $4 }
	    END { for (t in e) print t, e[t], c[t], r[t], s[t] }' "$ledger" |
	    sort
}

if [ "$summary" = 1 ]; then
	printf '%-16s %12s %8s %7s %9s\n' target execs crashes rounds seconds
	totals | while read -r t e c r s; do
		printf '%-16s %12d %8d %7d %9d\n' "$t" "$e" "$c" "$r" "$s"
	done
	exit 0
fi
[ $# -gt 0 ] || { echo "$0: no targets" >&2; exit 2; }

start=$(date +%s)
mkdir -p "$FUZZ_BIN/soak-crashes"
while :; do
	# the target furthest from the goal
	next=
	least=
	sofar=$(totals)
	for t in "$@"; do
		e=$(echo "$sofar" | awk -v t="$t" '$1 == t { print $2 }')
		e=${e:-0}
		[ "$e" -ge "$goal" ] && continue
		if [ -z "$least" ] || [ "$e" -lt "$least" ]; then
			least=$e
			next=$t
		fi
	done
	[ -n "$next" ] || { echo "soak: every target has $goal executions"; break; }
	secs=$round
	if [ "$limit" -gt 0 ]; then
		left=$((limit - ($(date +%s) - start)))
		[ "$left" -ge 10 ] || { echo "soak: time is up"; break; }
		[ "$left" -lt "$secs" ] && secs=$left
	fi
	t0=$(date +%s)
	# A long soak shares the box: an input is a hang only after 60 s
	# (run.sh's 10 s is for a quiet box), and slow ones are not crashes.
	line=$(FUZZ_ARGS="${FUZZ_ARGS:-} -timeout=60 -report_slow_units=60" \
	    FUZZ_BIN="$FUZZ_BIN" sh "$src/run.sh" -t "$secs" "$next")
	took=$(($(date +%s) - t0))
	execs=$(echo "$line" | sed -n 's/.* execs=\([0-9]*\).*/\1/p')
	crashes=$(echo "$line" | sed -n 's/.* crashes=\([0-9]*\).*/\1/p')
	for f in "$FUZZ_BIN/artifacts/$next-"*; do
		[ -f "$f" ] && cp "$f" "$FUZZ_BIN/soak-crashes/"
	done
	[ "${crashes:-1}" = 0 ] || cp "$FUZZ_BIN/$next.log" \
	    "$FUZZ_BIN/soak-crashes/$next-$t0.log"
	echo "$next ${execs:-0} ${crashes:-1} $took" >> "$ledger"
	echo "soak: $line ($took s)"
done
