# lib.sh - sourced by the bench scripts that run a bench binary:
#   bench_bin NAME	BIN=$BUILD/NAME, or exit saying how to build it
#   bench_machine	"N x CPU model, kernel"
# and DROVER_SRC and BUILD (made absolute), as the caller's environment
# sets them or defaults.
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$DROVER_SRC/build}"
case "$BUILD" in /*) ;; *) BUILD="$DROVER_SRC/$BUILD" ;; esac

bench_bin() {
	BIN="$BUILD/$1"
	if [ ! -x "$BIN" ]; then
		echo "$(basename "$0"): no $BIN; run make $BIN first" >&2
		exit 1
	fi
}

bench_machine() {
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "$(nproc) x ${cpu:-unknown CPU}, $(uname -sr)"
}
