# disk_full.sh - a full disk under the database and under the run
# directory (small tmpfs mounts, filled with a file) while a task streams
# on the local transport: drover and the agent say so clearly, nothing is
# corrupted (PRAGMA integrity_check, the spool's seq), and once space
# returns the ingest goes on with every metric stored once, no gap.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=64k tmpfs "$T" 2>/dev/null; then
	skip "disk full" "needs root to mount a small tmpfs"
	exit 0
fi
umount "$T"
DROVER="$BUILD/drover"
export DROVER_AGENT_DIR="$BUILD"
export HOME="$T/home"
mkdir -p "$HOME" "$T/dbfs" "$T/runfs"
trap 'umount "$T/dbfs" "$T/runfs" 2>/dev/null; cleanup' EXIT

# fill DIR: a file that takes every free block.
fill() { dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null; sync; }

# stored_eq_spooled DB TASK HOST: metric seqs in the database = the spool's.
stored_eq_spooled() {
	grep '"type":"metric"' "$(echo "$RUNROOT"/"$2"-*/1/"$3"/events.jsonl)" |
	    jq -r .seq | sort -n > "$T/spooled"
	"$DROVER" metrics --db "$1" "$2" --host "$3" --format jsonl | jq -r .seq | sort -n > "$T/stored"
	[ -s "$T/spooled" ] && cmp -s "$T/spooled" "$T/stored"
}

task() {	# task NAME BASE STEPS
	cat > "$T/$1.yaml" <<YAML
cluster:
  hosts: "d1"
  transport: local
  base_dir: $2
task:
  name: $1
  command: [python3, $SIM, --format, jsonl, --steps, "$3", --interval, "0.01"]
  parser: jsonl
  stall: {floor_s: 600}
YAML
}

# launch_and_fill WHAT NAME DB DIR LABEL: launches task NAME, follows it
# with drover watch in the background (its pid in wp, its stderr in
# $T/WHAT-watch.err) and fills DIR's disk 2 s into the run.
launch_and_fill() {
	"$DROVER" launch --db "$3" "$T/$2.yaml" > /dev/null 2> "$T/$1-launch.err"
	check "$5: launched" test $? = 0
	"$DROVER" watch --db "$3" "$2" > /dev/null 2> "$T/$1-watch.err" &
	wp=$!
	sleep 2
	fill "$4"
	sleep 4
}

# ---- the database's directory fills up ----
# (8 MB: SQLite's WAL grows to ~4 MB before it is checkpointed.)
mount -t tmpfs -o size=8m tmpfs "$T/dbfs"
RUNROOT="$T/runs"
task dbfull "$RUNROOT" 1500
DB="$T/dbfs/drover.db"
launch_and_fill db dbfull "$DB" "$T/dbfs" "database disk"
check "database disk full: drover says what, where, and what to do" \
    grep -q "^drover: d1: $DB: database disk is full while storing events [0-9]*-[0-9]* of d1; everything stored before is kept; free space on that disk and drover goes on from where it stopped" "$T/db-watch.err"
grep -m 1 'full' "$T/db-watch.err" | sed 's/^/  /'
rm -f "$T/dbfs/filler"
wait $wp
rc=$?
echo "  drover watch ended with exit $rc"
"$DROVER" watch --db "$DB" dbfull > /dev/null 2> "$T/db-watch2.err"
check "database disk: after space returns, followed to the end" sh -c \
    "\"$DROVER\" status --db '$DB' --json dbfull | jq -e '.task.state == \"succeeded\"' >/dev/null"
check "database disk: integrity_check ok" sh -c "[ \"\$(sqlite3 '$DB' 'PRAGMA integrity_check')\" = ok ]"
check "database disk: every metric stored once, no gap (= the spool)" stored_eq_spooled "$DB" dbfull d1
check "database disk: 1500 steps stored" sh -c \
    "[ \$(\"$DROVER\" metrics --db '$DB' dbfull --format jsonl | jq -s '[.[].step] | unique | length') = 1500 ]"

# ---- the run directory's disk fills up ----
mount -t tmpfs -o size=4m tmpfs "$T/runfs"
RUNROOT="$T/runfs"
task runfull "$RUNROOT" 1500
DB="$T/run.db"
launch_and_fill run runfull "$DB" "$T/runfs" "run dir disk"
RD=$(echo "$RUNROOT"/runfull-*/1/d1)
# The agent tells drover on the attach channel (agent.log is on the full
# disk too, so it cannot be relied on to say it in time).
wait_for 10 grep -q 'd1: the run directory.s disk is full' "$T/run-watch.err"
check "run dir disk full: drover says so, names the host and what happens" \
    grep -q "d1: the run directory's disk is full ([0-9]* bytes free): training goes on, its output and events wait in the agent's memory until space is freed there" "$T/run-watch.err"
grep -m 1 "disk is full" "$T/run-watch.err" | sed 's/^/  /'
rm -f "$T/runfs/filler"
wait $wp
rc=$?
echo "  drover watch ended with exit $rc"
check "run dir disk: drover says when it has room again" \
    grep -q "d1: the run directory's disk has room again" "$T/run-watch.err"
"$DROVER" watch --db "$DB" runfull > /dev/null 2> "$T/run-watch2.err"
check "run dir disk: the spool is whole: seq 1..N, no gap, no repeat" spool_seq_ok "$RD/events.jsonl"
check "run dir disk: the run ended" run_ended "$RD"
check "run dir disk: database = spool, every metric once" stored_eq_spooled "$DB" runfull d1
check "run dir disk: integrity_check ok" sh -c "[ \"\$(sqlite3 '$DB' 'PRAGMA integrity_check')\" = ok ]"
steps=$(jq -s '[.[] | select(.type == "metric") | .step] | unique | length' "$RD/events.jsonl")
gap=$(jq -s -r '[.[] | select(.type == "metric") | .step] as $s
    | [range(1; $s | length) | select($s[.] != $s[. - 1] + 1) | "\($s[. - 1] + 1)-\($s[.] - 1)"] | join(" ")' "$RD/events.jsonl")
echo "  run dir disk: $steps of 1500 steps spooled; lost while full: ${gap:-none}"
# Nothing is lost: the shim held the output the disk refused and wrote it
# once space returned, so every step was parsed, spooled and stored.
check "run dir disk: every step 1..1500 spooled once, none lost while full" \
    jq -s -e '[.[] | select(.type == "metric") | .step] == [range(1; 1501)]' "$RD/events.jsonl"
check "run dir disk: the rank log holds all 1500 steps, in order" sh -c \
    "grep -o '\"step\": *[0-9]*' '$RD/rank-0.log' | grep -o '[0-9]*\$' | awk 'BEGIN{n=0} \$1 != n+1 {exit 1} {n=\$1} END{exit n != 1500}'"
check "run dir disk: the audit log has the disk going full, then back" sh -c \
    "\"$DROVER\" status --db '$DB' --json runfull | jq -e '[.events[] | select(.kind | startswith(\"disk_\")) | .kind] == [\"disk_full\", \"disk_ok\"]' >/dev/null"
