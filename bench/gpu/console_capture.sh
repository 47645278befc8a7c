#!/bin/bash
# bench/gpu/console_capture.sh - the console during the real GPU training:
# launches configs/examples/gpu/ddpm-2proc.yaml (STEPS steps), waits until
# both hosts run with telemetry stored, opens `drover console` on the task
# in a detached 120x40 tmux and writes the task and charts views to
# $OUT/console-task.txt and $OUT/console-charts.txt, then stops the task.
# Needs what run.sh needs, and tmux (on PATH or in $BUILD/bin, its
# libraries in $BUILD/lib, terminfo in $BUILD/terminfo when the machine
# has none).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$SRC/build}
case "$BUILD" in /*) ;; *) BUILD="$SRC/$BUILD" ;; esac
OUT=${OUT:-$SRC/bench/gpu/out}
W=${WORK:-/tmp/drover-gpu-console}
STEPS=${STEPS:-1500}
rm -rf "$W"
mkdir -p "$W/home" "$OUT"
export HOME="$W/home" DROVER_AGENT_DIR="$BUILD"
export LD_LIBRARY_PATH="$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$BUILD/bin:$PATH"
export TERMINFO_DIRS="$BUILD/terminfo:/etc/terminfo:/lib/terminfo:/usr/share/terminfo"
DROVER="$BUILD/drover"
DB="$W/db"
sed -e "s|/opt/drover/src|$SRC|g" -e "s|/tmp/drover-gpu|$W|g" \
    -e "s|^  name: ddpm\$|  name: gpu-console|" \
    -e "s|--max_train_steps, [0-9]*|--max_train_steps, $STEPS|" \
    "$SRC/configs/examples/gpu/ddpm-2proc.yaml" > "$W/task.yaml"
"$DROVER" launch --db "$DB" "$W/task.yaml" > "$W/launch.out" 2>&1
echo "launch: exit $?"
# The console follows the task (nothing else does: `launch` without
# --follow returns once the hosts started).
tmux -L cap kill-server 2>/dev/null
tmux -L cap -f /dev/null new-session -d -s c -x 120 -y 40 \
    "TERM=screen LANG=C.UTF-8 LC_ALL=C.UTF-8 '$DROVER' console --db '$DB' gpu-console 2> '$W/console.err'; sleep 600"
# Both hosts past step 50 and telemetry stored (at most 4 minutes).
for i in $(seq 240); do
	"$DROVER" status --db "$DB" --json gpu-console > "$W/st.json" 2>/dev/null
	n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for h in d["hosts"] if h["state"] == "running" and ((h.get("metric") or {}).get("step") or 0) >= 50))' "$W/st.json" 2>/dev/null)
	t=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from telemetry").fetchone()[0])' "$DB" 2>/dev/null)
	[ "${n:-0}" = 2 ] && [ "${t:-0}" -gt 0 ] && break
	sleep 1
done
echo "running hosts past step 50: ${n:-0}, telemetry rows: ${t:-0}"
sleep 2
tmux -L cap capture-pane -p -t c > "$OUT/console-task.txt"
tmux -L cap send-keys -t c c
sleep 3
tmux -L cap capture-pane -p -t c > "$OUT/console-charts.txt"
tmux -L cap send-keys -t c q q
sleep 1
tmux -L cap kill-server
"$DROVER" stop --db "$DB" --grace 5 gpu-console > /dev/null 2>&1
cat "$W/console.err" 2>/dev/null
cat "$OUT/console-task.txt"
