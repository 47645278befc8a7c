#!/bin/sh
# demo.sh - `make demo` until the full demo lands: runs a sample job under
# drover-agent on this machine (4 processes printing in the diffusers,
# MindONE, kohya and JSON-lines formats; the kohya one is scripted to fail
# at step 30 with a traceback), follows its events live through `attach`,
# and prints a summary. Needs nothing but the built agent and python3.
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$DROVER_SRC/build}"
case "$BUILD" in /*) ;; *) BUILD="$DROVER_SRC/$BUILD" ;; esac
AGENT="$BUILD/drover-agent"
SIM="$DROVER_SRC/tests/data/workloads/trainsim.py"
PY=$(command -v python3)
T=$(mktemp -d /tmp/drover-demo.XXXXXX)

proc() {	# RANK FORMAT [ARGS...]
	r=$1; f=$2; shift 2
	printf '{"rank":%d,"argv":["%s","%s","--format","%s","--steps","60","--interval","0.04"%s]}' \
	    "$r" "$PY" "$SIM" "$f" "$(for a in "$@"; do printf ',"%s"' "$a"; done)"
}
cat > "$T/spec.json" <<JSON
{"spec":1,"task":"demo","attempt":1,"host_id":"localhost","base_dir":"$T/runs",
 "parser":{"format":"auto"},
 "processes":[$(proc 0 diffusers),$(proc 1 mindone),
   $(proc 2 kohya --fail-at 30 --exit-code 1),$(proc 3 jsonl)]}
JSON
echo "drover-agent demo: 4 processes, one per log format; rank 2 fails at step 30 on purpose"
echo "run directory: $T/runs/demo/1/localhost"
"$AGENT" run "$T/spec.json" || exit 1
D="$T/runs/demo/1/localhost"
"$AGENT" attach "$D" | jq -r --unbuffered '
	if .type == "metric" and (.step % 15 == 0 or .step == .total_steps) then
		"  rank \(.rank)  step \(.step)/\(.total_steps // "?")  loss \(.loss)" +
		(if .step_time_ms then "  \(.step_time_ms) ms/step" else "" end)
	elif .type == "state" and .scope == "proc" and .state == "exited" then
		"  rank \(.rank) \(.reason)"
	elif .type == "log" and .what == "traceback" then
		"  rank \(.rank) traceback: \(.line | split("\n") | last)"
	elif .type == "state" and .scope == "run" and .state == "exited" then
		"run \(.result): \(.reason)"
	else empty end'
echo
echo "status:"
"$AGENT" status "$D" | jq -c '.ranks[] | {rank, state, code, last_step: .last_metric.step}'
echo "events: $(wc -l < "$D/events.jsonl") in $D/events.jsonl (kept for you to look at)"
