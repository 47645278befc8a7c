#!/bin/sh
# fanout.sh - `drover exec HOSTS -- true` against `pdsh -R ssh -f 32` and a
# sequential `for h in ...; do ssh $h true; done`, on 8, 32 and 64 rig
# hosts (network namespaces with real sshds, tests/rig/rig.sh), same hosts,
# same keys, same ssh config, in the same run. Prints each median wall
# time, the ratios, client CPU per host, and drover's memory per open
# session. Needs root (the rig).
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$DROVER_SRC/build}"
case "$BUILD" in /*) ;; *) BUILD="$DROVER_SRC/$BUILD" ;; esac
DROVER="$BUILD/drover"
RIG="$DROVER_SRC/tests/rig/rig.sh"
MEASURE="$DROVER_SRC/bench/measure.py"
SIZES=${SIZES:-"8 32 64"}
REPEAT=${REPEAT:-5}
MAX=0
for n in $SIZES; do [ "$n" -gt "$MAX" ] && MAX=$n; done

if [ "$(id -u)" != 0 ]; then
	echo "bench/fanout.sh: needs root for the test rig (network namespaces)" >&2
	exit 1
fi
for tool in pdsh ssh python3; do
	command -v "$tool" >/dev/null || { echo "bench/fanout.sh: no $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
D=$(mktemp -d /tmp/drover-fanout.XXXXXX)
chmod 755 "$D"	# the rig's test user reads its keys below it
trap '"$RIG" down --dir "$D/rig" >/dev/null 2>&1; rm -rf "$D"' EXIT
"$RIG" up "$MAX" --dir "$D/rig" >/dev/null || { echo "rig up failed" >&2; exit 1; }
. "$D/rig/env"
export DROVER_SSH_CONFIG="$RIG_SSH_CONFIG"

med() {	# FIELD JSON
	python3 -c 'import json, sys; print(json.loads(sys.argv[2])[sys.argv[1]])' "$1" "$2"
}

echo "fanout: exec 'true' on N rig hosts; median of $REPEAT runs; $(nproc) cores, $(uname -m)"
printf '%5s %12s %12s %12s %10s %10s %14s\n' N drover_s pdsh_s loop_s pdsh/drv loop/drv drv_cpu_ms/host
for n in $SIZES; do
	head -n "$n" "$RIG_DIR/hosts" > "$D/hosts.$n"
	hosts=$(tr '\n' ' ' < "$D/hosts.$n")
	drv=$(python3 "$MEASURE" "$REPEAT" -- "$DROVER" exec -f 32 "^$D/hosts.$n" -- true)
	pd=$(PDSH_SSH_ARGS="-F $RIG_SSH_CONFIG -x %h" python3 "$MEASURE" "$REPEAT" -- \
	    pdsh -R ssh -f 32 -w "^$D/hosts.$n" true)
	# shellcheck disable=SC2016
	lp=$(python3 "$MEASURE" "$REPEAT" -- sh -c \
	    'for h in $2; do ssh -F "$1" "$h" true || exit 1; done' sh "$RIG_SSH_CONFIG" "$hosts")
	for m in "$drv" "$pd" "$lp"; do
		[ "$(med failed_runs "$m")" = 0 ] || echo "warning: failed runs: $m" >&2
	done
	python3 - "$n" "$drv" "$pd" "$lp" <<'PY'
import json, sys
n = int(sys.argv[1]); d, p, l = (json.loads(a) for a in sys.argv[2:5])
print("%5d %12.3f %12.3f %12.3f %10.2f %10.2f %14.2f" % (
    n, d["wall_s"], p["wall_s"], l["wall_s"], p["wall_s"] / d["wall_s"],
    l["wall_s"] / d["wall_s"], d["cpu_s"] * 1000 / n))
PY
done

# Memory per open session: drover's RSS while N sessions sit in `sleep`.
rss_during() {	# N
	"$DROVER" exec -f 64 "^$D/hosts.$1" -- sleep 3 >/dev/null 2>&1 &
	pid=$!
	sleep 2
	r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	wait "$pid"
	echo "${r:-0}"
}
head -n 1 "$RIG_DIR/hosts" > "$D/hosts.1"
r1=$(rss_during 1)
rN=$(rss_during "$MAX")
awk -v a="$r1" -v b="$rN" -v n="$MAX" 'BEGIN {
	printf "memory: drover RSS %d KiB with 1 session, %d KiB with %d: %.1f KiB per open session\n",
	    a, b, n, (b - a) / (n - 1) }'
