# manager_rig.sh - the manager end to end on an 8-host rig (network
# namespaces with real sshds), bwrap as the container, the agent pushed by
# drover: a launch of a 2-process-per-host workload runs with its metrics
# in the database, exactly the agents' spooled ones; one rank SIGKILLed
# makes that host failed with the exit reason within 1 s; relaunch
# --failed brings it back into the same attempt; relaunch --all starts a
# new attempt with the resume arguments and keeps the lineage; a second
# drover on the same database is refused.
. "$(dirname "$0")/lib.sh"

DROVER="$BUILD/drover"
rig_start 8 "manager rig" || exit 0
if ! command -v bwrap >/dev/null 2>&1; then
	skip "manager rig" "needs bwrap"
	exit 0
fi
W="$RIG_DIR/work"
mkdir -p "$W"
cp "$DROVER_SRC/tests/data/workloads/trainsim.py" "$W/"
chmod -R a+rX "$W"
export DROVER_AGENT_DIR="$BUILD"
DB="$T/drover.db"
CFG="$T/task.yaml"
cat > "$CFG" <<EOF
cluster:
  hosts: "^$RIG_DIR/hosts"
  transport: libssh2
  devices_per_host: 2
  base_dir: ~/drover-runs-$$
  container:
    runtime: bwrap
    mounts: [{src: "$W", dst: "$W", ro: true}]
task:
  name: rigtest
  command: [python3, "$W/trainsim.py", --format, jsonl, --steps, "150",
            --interval, "0.06", --pidfile, "\${run_dir}/pid-\${rank}"]
  launcher: {type: plain, procs_per_host: 2}
  parser: jsonl
  metrics_rank: all
  resume_args: [--start, "21"]
  stall: {floor_s: 30}
  restart: {max: 3, backoff_s: 0}
EOF
home=$(getent passwd "$RIG_USER" | cut -d: -f6)
RUNS="$home/drover-runs-$$"
trap 'sh "$RIG" down --dir "$T/rig" >/dev/null 2>&1; rm -rf "$RUNS"; cleanup' EXIT

"$DROVER" plan "$CFG" > "$T/plan.out" 2>&1
check "plan: every host planned" test "$(grep -c '^== .* node [0-7] ' "$T/plan.out")" = 8

"$DROVER" launch --db "$DB" "$CFG" > "$T/launch.out" 2> "$T/launch.err"
rc=$?
check "launch exits 0 once running" test "$rc" = 0
attempt=$(cat "$T/launch.out")
check "launch prints the attempt id" sh -c "echo '$attempt' | grep -qx '[0-9][0-9]*'"
check "every host started" test "$(grep -c ': running\|: starting' "$T/launch.err")" -ge 8

# Follow it; a second writer is refused meanwhile.
"$DROVER" watch --db "$DB" rigtest > "$T/watch.out" 2> "$T/watch.err" &
wpid=$!
sleep 1
"$DROVER" watch --db "$DB" rigtest > /dev/null 2> "$T/second.err"
check "a second drover on the database is refused" \
    grep -q "in use by another drover" "$T/second.err"

# SIGKILL rank 5 (host 3, local rank 1) once it has made some steps.
h3=$(H 3)
run3=$(echo "$RUNS"/rigtest-*/1/"$h3")
wait_for 20 test -s "$run3/pid-5"
wait_for 20 sh -c "\"$DROVER\" metrics --db '$DB' rigtest --host '$h3' | wc -l | awk '{exit !(\$1 > 10)}'"
kill -KILL "$(cat "$run3/pid-5")"
t0=$(date +%s%3N)
failed_at=""
for i in $(seq 1 50); do
	if "$DROVER" status --db "$DB" --json rigtest 2>/dev/null |
	    jq -e --arg h "$h3" '.hosts[] | select(.host == $h) | .state == "failed"' >/dev/null; then
		failed_at=$(date +%s%3N)
		break
	fi
	sleep 0.05
done
lat=$(( ${failed_at:-99999999999999} - t0 ))
check "killed rank: host failed within 1 s ($lat ms)" test "$lat" -le 1000
"$DROVER" status --db "$DB" rigtest > "$T/status.out" 2>&1
check "status names the exit reason" grep -q "rank 5 exited.*137\|rank 5.*SIGKILL\|rank 5.*killed" "$T/status.out"
check "status names the root cause host" grep -q "gang failure: .* on $h3" "$T/status.out"

kill -INT $wpid; wait $wpid
"$DROVER" relaunch --db "$DB" rigtest --failed > "$T/rel.out" 2> "$T/rel.err"
check "relaunch --failed exits 0" test $? = 0
"$DROVER" watch --db "$DB" rigtest > "$T/watch2.out" 2> "$T/watch2.err"
"$DROVER" status --db "$DB" --json rigtest > "$T/st.json"
check "after relaunch --failed: attempt 1 succeeded" \
    jq -e '.task.state == "succeeded" and .task.attempt == 1' "$T/st.json"
check "host 3 launched twice into the same attempt" \
    jq -e --arg h "$h3" '.hosts[] | select(.host == $h) | .launches == 2' "$T/st.json"

# Exactly the agents' spooled metrics, host by host.
bad=0
for k in 1 2 3 4 5 6 7 8; do
	h=$(H $k)
	spooled=$(grep -c '"type":"metric"' "$RUNS"/rigtest-*/1/"$h"/events.jsonl)
	stored=$("$DROVER" metrics --db "$DB" rigtest --host "$h" --format jsonl | wc -l)
	[ "$spooled" = "$stored" ] || { bad=$((bad + 1)); echo "  $h: spooled $spooled stored $stored"; }
done
check "database holds exactly the spooled metrics of all 8 hosts" test "$bad" = 0
check "integrity_check ok" sh -c "[ \"\$(sqlite3 '$DB' 'PRAGMA integrity_check')\" = ok ]" 

# relaunch --all: a new attempt, the resume arguments, the lineage.
"$DROVER" relaunch --db "$DB" rigtest --all --follow > "$T/all.out" 2> "$T/all.err"
check "relaunch --all --follow exits 0" test $? = 0
"$DROVER" status --db "$DB" --json rigtest > "$T/st2.json"
check "a second attempt" jq -e '.task.attempt == 2' "$T/st2.json"
first=$("$DROVER" metrics --db "$DB" rigtest --format jsonl | jq -s '[.[] | select(.attempt == 2) | .step] | min')
check "attempt 2 resumed at step 21 (first step $first)" test "$first" = 21
check "lineage: attempt 2 relaunched attempt 1" sh -c \
    "sqlite3 '$DB' 'select count(*) from attempts where number = 2 and parent_id = (select id from attempts where number = 1)' | grep -qx 1"

# The restart budget: a backoff not yet passed, then a budget used up;
# neither starts anything.
"$DROVER" relaunch --db "$DB" rigtest --all --set task.restart.backoff_s=3600 > /dev/null 2> "$T/b1.err"
check "relaunch within the backoff refused" sh -c "[ $? = 1 ] && grep -q 'backoff after 2 relaunches is 7200 s' '$T/b1.err'"
"$DROVER" relaunch --db "$DB" rigtest --all --set task.restart.max=2 > /dev/null 2> "$T/b2.err"
check "relaunch over the budget refused" grep -q "restart budget is used: 2 relaunches of 2" "$T/b2.err"
check "refused relaunches started nothing" sh -c \
    "\"$DROVER\" status --db '$DB' --json rigtest | jq -e '.task.attempt == 2' >/dev/null"
