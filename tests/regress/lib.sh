# lib.sh - helpers for tests/regress/*.sh, in the spirit of OpenSSH's
# test-exec.sh: each check prints "PASS name", "FAIL name: why" or
# "SKIP name: why"; a script keeps going after a failure.
: "${DROVER_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
case "$BUILD" in /*) ;; *) BUILD="$DROVER_SRC/$BUILD" ;; esac
AGENT="$BUILD/drover-agent"
T=$(mktemp -d /tmp/drover-regress.XXXXXX)
chmod 755 "$T"
cleanup_pids=""
# starttime PID: the process's start (clock ticks after boot), or nothing.
starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
# track PID: cleanup kills PID and its process group at exit, if PID is
# still that process: pids are recycled fast here (pid_max 32768, tests
# and fuzzers side by side), and a stale pid could be another test's.
track() { cleanup_pids="$cleanup_pids $1:$(starttime "$1")"; }
cleanup() {
	for e in $cleanup_pids; do
		p=${e%%:*}
		[ -n "${e#*:}" ] && [ "$(starttime "$p")" = "${e#*:}" ] || continue
		kill -KILL -"$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
# check NAME CMD...: PASS when CMD succeeds.
check() {
	name=$1; shift
	if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "$*"; fi
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s.
wait_for() {
	limit=$1; shift
	i=0
	while [ "$i" -lt $((limit * 10)) ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# spool_seq_ok FILE: seq runs 1..N with no gap and no repeat.
spool_seq_ok() {
	jq -s -e '[.[].seq] as $s | $s == [range(1; ($s | length) + 1)]' "$1" >/dev/null
}

# run_ended DIR: the spool's last event is the run's exited state.
run_ended() {
	tail -n 1 "$1/events.jsonl" 2>/dev/null |
	    jq -e 'select(.type == "state" and .scope == "run" and .state == "exited")' >/dev/null
}

SIM="$DROVER_SRC/tests/data/workloads/trainsim.py"
PY=$(command -v python3)

# sim_proc RANK ARGS...: one process entry running trainsim.py with ARGS.
sim_proc() {
	python3 - "$PY" "$SIM" "$@" <<'PYEOF'
import json, sys
py, sim, rank = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(json.dumps({"rank": rank, "argv": [py, sim] + sys.argv[4:]}))
PYEOF
}

# write_spec FILE TASK PROCS_JSON_ARRAY [EXTRA_JSON_OBJECT]
write_spec() {
	jq -n --arg task "$2" --arg base "$T/runs" --argjson procs "$3" \
	    --argjson extra "${4:-{\}}" \
	    '{spec: 1, task: $task, attempt: 1, host_id: "h1", base_dir: $base,
	      processes: $procs} + $extra' > "$1"
}

# ev DIR JQ_FILTER: the spool's events through a jq filter (slurped).
ev() {
	jq -s -c "$2" "$1/events.jsonl"
}

# ev_any DIR COND: some spooled event satisfies the jq condition.
ev_any() {
	jq -s -e "any(.[]; $2)" "$1/events.jsonl" >/dev/null 2>&1
}
# ev_all DIR SELECT COND: at least one event matches SELECT, and all that
# match satisfy COND.
ev_all() {
	jq -s -e "[.[] | select($2)] | length > 0 and all(.[]; $3)" \
	    "$1/events.jsonl" >/dev/null 2>&1
}

# rig_start N NAME: N rig hosts under $T/rig, torn down on exit; loads the
# rig's env, points drover at its ssh_config and defines H K (host K's
# address). Returns 1 (after a SKIP or FAIL line) when no rig can run.
RIG="$DROVER_SRC/tests/rig/rig.sh"
rig_start() {
	if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
		skip "$2" "needs root and ip netns"
		return 1
	fi
	if ! sh "$RIG" up "$1" --dir "$T/rig" > "$T/rig.out" 2>&1; then
		fail "$2: rig up" "$(tail -n 5 "$T/rig.out")"
		return 1
	fi
	trap 'sh "$RIG" down --dir "$T/rig" >/dev/null 2>&1; cleanup' EXIT
	. "$T/rig/env"
	export DROVER_SSH_CONFIG="$RIG_SSH_CONFIG"
}
H() { sed -n "${1}p" "$RIG_DIR/hosts"; }
