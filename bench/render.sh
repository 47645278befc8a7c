#!/bin/sh
# render.sh - the console with a big history: full-frame time of the
# tasks, task and chart views and the peak RSS, with HOSTS hosts of STEPS
# steps each in the store (built on first use under $BUILD and kept:
# 1000 x 100000 is 100 M rows, ~5 GB, a few minutes to build), and the
# model's load time against a raw SQLite scan of the same rows. See
# bench/render.c. Goals: <= 5 ms a frame, <= 200 MB.
#   HOSTS (default 1000), STEPS (100000), FRAMES (200)
set -u
. "$(dirname "$0")/lib.sh"
bench_bin bench-render
HOSTS=${HOSTS:-1000}
STEPS=${STEPS:-100000}
FRAMES=${FRAMES:-200}
DB="$BUILD/render-$HOSTS-$STEPS.db"

echo "machine: $(bench_machine), ncurses $(ncursesw6-config --version 2>/dev/null || echo ?)"
st=$(mktemp)
{ "$BIN" "$DB" "$HOSTS" "$STEPS" "$FRAMES" 2>&1; echo $? > "$st"; } |
    grep -v 'schema upgraded'
rc=$(cat "$st")
rm -f "$st"
[ "$rc" = 0 ] || echo "bench-render failed: exit $rc"

# Idle: the console itself in a 120x40 tmux, on the same store, once its
# history has loaded; CPU over 30 s from /proc (goal <= 0.5% of a core).
if command -v tmux > /dev/null; then
	S="drover-render-$$"
	tmux -L "$S" new-session -d -x 120 -y 40 \
	    "LANG=C.UTF-8 HOME=$BUILD '$BUILD/drover' console --db '$DB' ${IDLE_TASK:-}; sleep 600"
	idle() {
		pid=$(pgrep -n -f "drover console --db $DB")
		sleep "$1"
		a=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
		sleep 30
		b=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
		echo "$2: $(echo "$a $b" | awk -v hz="$(getconf CLK_TCK)" \
		    '{ printf "%.2f%% of a core (goal 0.5%%: %.2fx of it)", ($2 - $1) / hz / 30 * 100, ($2 - $1) / hz / 30 * 100 / 0.5 }')"
	}
	idle 5 "idle, tasks view"
	tmux -L "$S" send-keys Enter
	idle 60 "idle, task view (history loaded)"
	tmux -L "$S" send-keys c
	idle 5 "idle, charts view"
	tmux -L "$S" kill-server
fi
exit "$rc"
