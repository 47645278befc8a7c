#!/bin/sh
# summary.sh LOGDIR - the end of `make bench`: one table of the key figures
# and ratios of every benchmark, from the logs each wrote in LOGDIR
# (NAME.log, as the Makefile tees them). A benchmark that printed nothing
# it is known by shows as "no figures (see LOGDIR/NAME.log)".
d=${1:?usage: bench/summary.sh LOGDIR}

row() {	# row BENCH LOG SED-SCRIPT: the lines the script keeps
	if [ -s "$d/$2.log" ]; then
		out=$(sed -n "$3" "$d/$2.log")
	else
		out=""
	fi
	[ -n "$out" ] || out="no figures (see $d/$2.log)"
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
	/events\/s/p
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
