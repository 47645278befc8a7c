#!/bin/sh
# demo.sh - `make demo`: a real task on a 4-host cluster that is this
# machine (configs/demo/demo.yaml: the local transport, one agent and one
# run directory per "host", a numpy DDPM whose loss falls, one log format
# per host, host demo3 scripted to fail at step 100 on its first run).
#
# On a terminal, with the console built, it launches the task and opens
# the console on it: you see the failure and relaunch it yourself.
# Otherwise (CI, a pipe) it runs headless: follows the task with progress
# per host, relaunches the failed host into the same attempt when the
# others are done, follows that to the end, prints a summary and exits 0
# only if every host succeeded with a falling loss.
#
# Everything goes under DROVER_DEMO_DIR (default build/demo), made afresh
# each run: home/ (HOME for the local hosts: the pushed agent, the specs,
# home/runs/ the run directories) and data/drover/drover.db (the database,
# through XDG_DATA_HOME). Your own ~/.local/share/drover is not touched.
#
#   scripts/demo.sh            DROVER_DEMO_DIR=/tmp/d scripts/demo.sh
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$DROVER_SRC/build}"
case "$BUILD" in /*) ;; *) BUILD="$DROVER_SRC/$BUILD" ;; esac
: "${DROVER_DEMO_DIR:=$BUILD/demo}"
DEMO=$DROVER_DEMO_DIR
DROVER="$BUILD/drover"
CONFIG="$DROVER_SRC/configs/demo/demo.yaml"
TASK=demo-ddpm
FORMATS="diffusers mindone kohya jsonl"	# by node rank, as demo.yaml picks

die() { echo "demo: $*" >&2; exit 1; }

[ -x "$DROVER" ] || die "$DROVER is not built: run make"
arch=$(uname -m)
[ -x "$BUILD/$arch/drover-agent" ] ||
	die "$BUILD/$arch/drover-agent is not built: run make demo (or make $BUILD/$arch/drover-agent)"
/usr/bin/python3 -c 'import numpy' 2>/dev/null ||
	die "/usr/bin/python3 cannot import numpy: apt-get install python3-numpy (scripts/install-deps.sh does)"
command -v jq >/dev/null 2>&1 || die "jq is missing: apt-get install jq"

# A fresh demo folder; only what the demo itself makes is removed.
case "$DEMO" in /*) ;; *) DEMO="$PWD/$DEMO" ;; esac
rm -rf "$DEMO/home" "$DEMO/data" "$DEMO/log"
mkdir -p "$DEMO/home" "$DEMO/data" "$DEMO/log" || die "cannot create $DEMO"
export HOME="$DEMO/home" XDG_DATA_HOME="$DEMO/data"
LOG="$DEMO/log"
SET="task.cwd=$DROVER_SRC/configs/demo"

if [ -t 1 ] && [ -t 0 ] && "$DROVER" console --help >/dev/null 2>&1; then
	"$DROVER" launch "$CONFIG" --set "$SET" || exit 1
	exec "$DROVER" console "$TASK"
fi

start=$(date +%s)
echo "drover demo: task $TASK on 4 local hosts (demo1..demo4), one agent and run directory each"
echo "  workload: DDPM on a 2-D toy distribution, numpy, each host its data shard"
echo "  log formats: demo1 diffusers, demo2 MindONE, demo3 kohya, demo4 JSON lines (parser auto)"
echo "  demo3 is scripted to fail at step 100 on its first run; the demo relaunches it"
echo "  database and run directories: $DEMO"
echo

# progress: one line every 4 s from the database (read-only, beside the
# writer that follows the task).
progress() {
	while sleep 4; do
		"$DROVER" status --json "$TASK" 2>/dev/null | jq -r --arg t "$(($(date +%s) - start))" '
		    "  [" + $t + "s] " + ([.hosts[] | .host + " " +
		    (if .metric then "\(.metric.step)/\(.metric.total_steps // "?") loss \(.metric.loss)"
		     else .state end) + (if .state == "failed" then " FAILED" else "" end)] | join("  |  "))'
	done
}
progress &
ppid=$!
trap 'kill "$ppid" 2>/dev/null' EXIT INT TERM

# The scripted failure makes this end 1: the other three succeed, demo3 failed.
"$DROVER" launch --follow "$CONFIG" --set "$SET" 2>&1 >"$LOG/launch.out" |
	tee "$LOG/launch.err" | grep --line-buffered -E 'failed|succeeded|gang|attempt #|running \(|^drover: task' |
	sed -u 's/^/  /'
failed=$("$DROVER" status --json "$TASK" | jq -r '[.hosts[] | select(.state == "failed") | .host] | join(" ")')
if [ -n "$failed" ]; then
	echo
	echo "  failed: $failed -> drover relaunch $TASK --failed (same attempt, same ranks)"
	"$DROVER" relaunch "$TASK" --failed --follow 2>&1 >"$LOG/relaunch.out" |
		tee "$LOG/relaunch.err" | sed -u 's/^/  /'
fi
kill "$ppid" 2>/dev/null
wait "$ppid" 2>/dev/null
trap - EXIT INT TERM

# Summary, from the database.
"$DROVER" status --json "$TASK" > "$LOG/status.json" || die "drover status failed"
"$DROVER" metrics "$TASK" --format jsonl > "$LOG/metrics.jsonl" || die "drover metrics failed"
echo
echo "summary ($(($(date +%s) - start)) s):"
printf '  %-6s %-9s %-9s %-6s %-13s %-13s %s\n' HOST FORMAT STATE STEPS "LOSS(1-10)" "LOSS(LAST 10)" RUNS
ok=1
n=0
for h in demo1 demo2 demo3 demo4; do
	n=$((n + 1))
	fmt=$(echo $FORMATS | cut -d' ' -f$n)
	line=$(jq -s -r --arg h "$h" '
	    [.[] | select(.host == $h and .loss != null)] | sort_by(.step) as $m |
	    ($m | map(select(.step <= 10)) | map(.loss)) as $a |
	    ($m | group_by(.step) | map(last) | .[-10:] | map(.loss)) as $z |
	    if ($m | length) == 0 or ($a | length) == 0 then "0 - -" else
	    "\($m | map(.step) | max) \($a | add / length) \($z | add / length)" end' "$LOG/metrics.jsonl")
	set -- $line
	st=$(jq -r --arg h "$h" '.hosts[] | select(.host == $h) | "\(.state) \(.launches)"' "$LOG/status.json")
	set -- "$@" $st
	printf '  %-6s %-9s %-9s %-6s %-13.4f %-13.4f %s\n' "$h" "$fmt" "$4" "$1" \
	    "$([ "$2" = - ] && echo 0 || echo "$2")" "$([ "$3" = - ] && echo 0 || echo "$3")" "$5"
	if [ "$4" != succeeded ] || [ "$1" -lt 240 ] ||
	    ! awk -v a="$2" -v z="$3" 'BEGIN { exit !(a != "-" && z < 0.8 * a) }'; then
		echo "  $h: did not finish with a falling loss" >&2
		ok=0
	fi
done
rc=$(jq -r '.events[] | select(.kind == "root_cause") | .reason' "$LOG/status.json")
rl=$(jq -r '[.events[] | select(.kind == "relaunch") | "\(.host) (\(.reason))"] | join(", ")' "$LOG/status.json")
echo "  failure: ${rc:-none}"
echo "  relaunch: ${rl:-none}"
res=$("$DROVER" logs "$TASK" demo3 -n 2000 2>/dev/null | tr '\r' '\n' | grep '^resuming from step' | tail -n 1)
[ -n "$res" ] && echo "  demo3's second run: $res (its checkpoint), went on to the end"
for h in demo1 demo2 demo3 demo4; do
	s=$("$DROVER" logs "$TASK" "$h" -n 400 2>/dev/null | tr '\r' '\n' | grep '^sample check' | tail -n 1)
	echo "  $h ${s:-sample check: not printed}"
done
state=$(jq -r '.task.state' "$LOG/status.json")
echo "  task $TASK: $state"
echo
echo "look around: export HOME=$DEMO/home XDG_DATA_HOME=$DEMO/data; then"
echo "  $DROVER status $TASK; $DROVER metrics $TASK; $DROVER logs $TASK demo3"
[ "$state" = succeeded ] && [ "$ok" = 1 ] && [ -n "$rc" ] && [ -n "$rl" ]
