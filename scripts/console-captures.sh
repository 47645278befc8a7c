#!/bin/sh
# console-captures.sh - regenerates docs/console/*.txt: a text capture of
# each console view at 120x40, taken through tmux from a live local
# cluster (four hosts on this machine, one of which fails and is
# relaunched). Run from the repository after `make all agents`:
#   sh scripts/console-captures.sh [OUTDIR]
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$SRC/docs/console}
BUILD=${BUILD:-$SRC/build}
DROVER="$BUILD/drover"
SIM="$SRC/tests/data/workloads/trainsim.py"
T=$(mktemp -d /tmp/drover-captures.XXXXXX)
S="drover-captures-$$"
export HOME="$T/home" DROVER_AGENT_DIR="$BUILD" DROVER_CONFIGS="$SRC/configs"
DB="$T/db"
mkdir -p "$HOME" "$OUT"

tm() { tmux -L "$S" "$@"; }
finish() {
	tm kill-server 2>/dev/null || true
	"$DROVER" stop --db "$DB" --grace 2 sdxl-ft > /dev/null 2>&1 || true
	rm -rf "$T"
}
trap finish EXIT
keys() { tm send-keys -t c "$@"; sleep "${PAUSE:-0.6}"; }
shot() { tm capture-pane -p -t c > "$OUT/$1.txt"; echo "$OUT/$1.txt"; }
waitfor() {
	i=0
	while ! tm capture-pane -p -t c | grep -q -- "$1"; do
		i=$((i + 1))
		[ "$i" -lt 200 ] || { echo "timed out waiting for: $1" >&2; exit 1; }
		sleep 0.1
	done
}

# No GPU here: a stand-in nvidia-smi (what the real one prints for the
# agent's query) gives the telemetry columns something to show.
mkdir -p "$T/bin"
ln -s "$SRC/tests/tools/nvidia-smi" "$T/bin/nvidia-smi"
printf '%s\n' "0, GPU-11111111-2222-3333-4444-555555555555, 97, 61440, 81920, 64, 312.50" \
    "1, GPU-66666666-7777-8888-9999-000000000000, 91, 60416, 81920, 62, 300.10" > "$T/gpus.csv"
export DROVER_NVSMI_CSV="$T/gpus.csv"
export PATH="$T/bin:$PATH"

# Four hosts; gpu3 fails at step 60 once.
cat > "$T/sdxl.yaml" <<YAML
cluster:
  hosts: "gpu[0-3]"
  transport: local
  base_dir: $T/runs
  telemetry_interval_s: 1
task:
  name: sdxl-ft
  command: >-
    if [ \${host} = gpu3 ] && [ ! -e $T/failed ]; then touch $T/failed;
    exec python3 $SIM --format diffusers --steps 4000 --interval 0.04 --fail-at 60; fi;
    exec python3 $SIM --format diffusers --steps 4000 --interval 0.04
  launcher: plain
  parser: diffusers
YAML
cat > "$T/lora.yaml" <<YAML
cluster:
  hosts: "node[1-2]"
  transport: local
  base_dir: $T/runs
task:
  name: sd15-lora
  command: [python3, $SIM, --format, kohya, --steps, "40", --interval, "0.01"]
  launcher: plain
  parser: kohya
YAML
"$DROVER" launch --follow --db "$DB" "$T/lora.yaml" > /dev/null 2>&1
"$DROVER" launch --db "$DB" "$T/sdxl.yaml" > /dev/null 2>&1

tm new-session -d -s c -x 120 -y 40 \
    "PATH='$PATH' LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME='$HOME' DROVER_AGENT_DIR='$BUILD' DROVER_CONFIGS='$SRC/configs' '$DROVER' console --db '$DB'; sleep 600"
waitfor "sdxl-ft"
sleep 4
shot tasks
keys Enter
waitfor "gpu3 .*failed"
sleep 2
shot task
keys c
sleep 1
shot charts
keys Escape j j j Enter
waitfor "following gpu3"
sleep 1
shot logs
keys Escape r
shot relaunch
keys Enter
shot relaunch-confirm
keys n Escape e
shot events
keys '?'
shot help
keys Escape Escape Escape n
shot launch-pick
keys o
keys C-u
tm send-keys -t c "$T/sdxl.yaml" Enter
sleep 0.8
shot launch-plan
keys Escape q q
