#!/bin/sh
# render.sh - the console with a big history: full-frame time of the
# tasks, task and chart views and the peak RSS, with HOSTS hosts of STEPS
# steps each in the store (built on first use under $BUILD and kept:
# 1000 x 100000 is 100 M rows, ~5 GB, a few minutes to build), and the
# model's load time against a raw SQLite scan of the same rows. See
# bench/render.c. Goals: <= 5 ms a frame, <= 200 MB.
#   HOSTS (default 1000), STEPS (100000), FRAMES (200)
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$DROVER_SRC/build}"
case "$BUILD" in /*) ;; *) BUILD="$DROVER_SRC/$BUILD" ;; esac
BIN="$BUILD/bench-render"
HOSTS=${HOSTS:-1000}
STEPS=${STEPS:-100000}
FRAMES=${FRAMES:-200}
DB="$BUILD/render-$HOSTS-$STEPS.db"

if [ ! -x "$BIN" ]; then
	echo "bench/render.sh: no $BIN; run make $BIN first" >&2
	exit 1
fi
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "machine: $(nproc) x ${cpu:-unknown CPU}, $(uname -sr), ncurses $(ncursesw6-config --version 2>/dev/null || echo ?)"
"$BIN" "$DB" "$HOSTS" "$STEPS" "$FRAMES" 2>&1 | grep -v 'schema upgraded'
