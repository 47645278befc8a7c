#!/bin/sh
# summary.sh LOGDIR - the end of `make bench`: one table of the key figures
# and ratios of every benchmark, from the logs each wrote in LOGDIR
# (NAME.log, as the Makefile tees them). A benchmark that printed nothing
# it is known by shows as "no figures (see LOGDIR/NAME.log)"; one that
# exited non-zero (NAME.rc) or measured nothing for a row ("no data") is
# named at the end, and the exit status is then 1.
d=${1:?usage: bench/summary.sh LOGDIR}
failed=""

row() {	# row BENCH LOG SED-SCRIPT: the lines the script keeps
	if [ -s "$d/$2.log" ]; then
		out=$(sed -n "$3" "$d/$2.log")
	else
		out=""
	fi
	[ -n "$out" ] || out="no figures (see $d/$2.log)"
	case "$out" in *"no figures"* | *"no data"*) failed="$failed $2" ;; esac
	if [ -s "$d/$2.rc" ] && [ "$(cat "$d/$2.rc")" != 0 ]; then
		failed="$failed $2(exit $(cat "$d/$2.rc"))"
	fi
	echo "$out" | while IFS= read -r l; do
		printf '%-15s %s\n' "$1" "$l"
	done
}

echo
echo "== benchmark summary ($(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d))"
printf '%-15s %s\n' BENCH FIGURE
row agent_overhead agent_overhead '
	/^ *CPU % core/p
	/^drover-agent (supervisor/p
	/^peer: 8 x tail/p
	/^ratio agent\/peer/p
	/^target/p'
row fanout fanout '
	/^ *N drover_s/p
	/^ *[0-9][0-9]* [0-9.]* /p
	/^memory:/p'
row ingest ingest '
	/^store:/p
	/^raw limit:/p
	/^ratio to the raw limit/p
	/^goal/p'
row latency latency '
	/^ *lines *p50_ms/s/^/                                         /p
	/^drover (line/p
	/^peer: ssh tail/p'
row render render '
	/^frame /p
	/^load:/p
	/^peak rss/p
	/% of a core/p'
row config config '
	/^shape /p
	/^cap_/p
	/^ok_/p
	/^goal </p'
if [ -n "$failed" ]; then
	echo "FAILED:$failed (see $d/NAME.log)"
	exit 1
fi
