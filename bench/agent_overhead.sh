#!/bin/sh
# agent_overhead.sh - what watching a job costs on the host.
#
# 8 processes print tqdm-style lines (diffusers format, 100 lines/s in
# total) for DURATION seconds (default 60), twice:
#   1. under drover-agent (supervisor + one shim per process), and
#   2. the status quo it replaces: each process writes `> rank-N.log 2>&1`
#      and one `tail -F` per log follows it (the "eight tail -f" setup).
# Prints CPU as % of one core and peak RSS for both, and the ratios.
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$DROVER_SRC/build}"
case "$BUILD" in /*) ;; *) BUILD="$DROVER_SRC/$BUILD" ;; esac
AGENT="$BUILD/drover-agent"
DURATION=${DURATION:-60}
NPROC=8
INTERVAL=0.16	# 2 redraws per step: 12.5 lines/s per process
# The workload outlasts the measuring window; it is stopped afterwards.
STEPS=$(awk "BEGIN { printf \"%d\", ($DURATION + 20) / $INTERVAL }")
SIM="$DROVER_SRC/tests/data/workloads/trainsim.py"
PY=$(command -v python3)
HZ=$(getconf CLK_TCK)
T=$(mktemp -d /tmp/drover-bench.XXXXXX)
trap 'pkill -f "$T" 2>/dev/null; rm -rf "$T"' EXIT

ticks() {	# utime+stime of the given pids, summed
	for p in "$@"; do
		awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null
	done | awk '{ s += $1 } END { print s + 0 }'
}
rss_kb() {	# current RSS summed
	for p in "$@"; do
		awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null
	done | awk '{ s += $1 } END { print s + 0 }'
}
pss_kb() {	# proportional set size summed: shared pages counted once
	for p in "$@"; do
		awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null
	done | awk '{ s += $1 } END { print s + 0 }'
}
hwm_kb() {	# peak RSS of one pid
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# measure LABEL PIDS...: samples for DURATION-2 s after a 2 s warm-up.
measure() {
	label=$1; shift
	sleep 2
	t0=$(ticks "$@"); w0=$(date +%s.%N); peak=0; ppeak=0
	n=$((DURATION - 4))
	while [ "$n" -gt 0 ]; do
		r=$(rss_kb "$@"); [ "$r" -gt "$peak" ] && peak=$r
		r=$(pss_kb "$@"); [ "$r" -gt "$ppeak" ] && ppeak=$r
		sleep 1; n=$((n - 1))
	done
	t1=$(ticks "$@"); w1=$(date +%s.%N)
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || { echo "bench: pid $p ended inside the window" >&2; exit 1; }
	done
	awk -v l="$label" -v a="$t0" -v b="$t1" -v w0="$w0" -v w1="$w1" \
	    -v hz="$HZ" -v peak="$peak" -v ppeak="$ppeak" 'BEGIN {
		printf "%s %.3f %d %d\n", l, (b - a) / hz / (w1 - w0) * 100, ppeak, peak }'
}

# 1. Under the agent.
procs=""
i=0
while [ $i -lt $NPROC ]; do
	procs="$procs${procs:+,}{\"rank\":$i,\"argv\":[\"$PY\",\"$SIM\",\"--format\",\"diffusers\",\"--steps\",\"$STEPS\",\"--interval\",\"$INTERVAL\"]}"
	i=$((i + 1))
done
cat > "$T/spec.json" <<JSON
{"spec":1,"task":"bench","attempt":1,"host_id":"h","base_dir":"$T/runs",
 "parser":{"format":"diffusers"},"processes":[$procs]}
JSON
D="$T/runs/bench/1/h"
"$AGENT" run "$T/spec.json" > "$T/hello" || { echo "agent run failed"; exit 1; }
sup=$(jq -r .pid "$T/hello")
shims=$("$AGENT" status "$D" | jq -r '.ranks[].pid' | tr '\n' ' ')
# shellcheck disable=SC2086
agent_line=$(measure agent "$sup" $shims)
sup_hwm=$(hwm_kb "$sup")
shim_hwm=$(for p in $shims; do hwm_kb "$p"; done | sort -n | tail -n 1)
metrics=$(jq -s '[.[] | select(.type == "metric")] | length' "$D/events.jsonl")
echo '{"cmd":"stop","grace_s":1}' | "$AGENT" attach "$D" >/dev/null

# 2. The status quo: redirect to files, one tail -F per file.
mkdir -p "$T/peer"
pids=""
i=0
while [ $i -lt $NPROC ]; do
	PYTHONUNBUFFERED=1 "$PY" "$SIM" --format diffusers --steps "$STEPS" \
	    --interval "$INTERVAL" > "$T/peer/rank-$i.log" 2>&1 &
	: > /dev/null
	tail -F "$T/peer/rank-$i.log" > /dev/null 2>&1 &
	pids="$pids $!"
	i=$((i + 1))
done
# shellcheck disable=SC2086
peer_line=$(measure tail $pids)
# shellcheck disable=SC2086
kill $pids 2>/dev/null
pkill -f "$SIM --format diffusers --steps $STEPS" 2>/dev/null
wait 2>/dev/null

echo "drover-agent overhead: $NPROC processes, 100 lines/s in total, ${DURATION} s, $(nproc) cores, $(uname -m)"
printf '%-36s %10s %13s %13s\n' "" "CPU % core" "peak PSS MiB" "peak RSS MiB"
echo "$agent_line" | awk '{ printf "%-36s %10.3f %13.2f %13.2f\n", "drover-agent (supervisor + 8 shims)", $2, $3 / 1024, $4 / 1024 }'
echo "$peer_line" | awk '{ printf "%-36s %10.3f %13.2f %13.2f\n", "peer: 8 x tail -F", $2, $3 / 1024, $4 / 1024 }'
printf '%-36s %10s %13s %13.2f\n' "supervisor alone (VmHWM)" "" "" "$(awk -v k="$sup_hwm" 'BEGIN { print k / 1024 }')"
printf '%-36s %10s %13s %13.2f\n' "largest shim (VmHWM)" "" "" "$(awk -v k="$shim_hwm" 'BEGIN { print k / 1024 }')"
echo "$agent_line $peer_line" | awk '{ printf "ratio agent/peer: CPU %.2f, PSS %.2f\n", ($2 / ($6 > 0 ? $6 : 1e-9)), $3 / $7 }'
echo "metric events spooled during the run: $metrics"
echo "$agent_line" | awk '{ v = ($2 <= 1.0 && $3 <= 8192) ? "met" : "MISSED";
	printf "target (<= 1%% of a core, <= 8 MB PSS): %s\n", v }'
