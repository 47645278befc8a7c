# manager_faults.sh - the manager under faults on an 8-host rig:
# drover SIGKILLed at random instants while 8 hosts stream (50 times), then
# followed to the end: the database holds exactly the agents' spooled
# metrics, PRAGMA integrity_check is ok, no host was started twice; and a
# host's link down for 60 s: lost, back to running by itself, its metrics
# with no gap and no duplicate.
. "$(dirname "$0")/lib.sh"

DROVER="$BUILD/drover"
rig_start 8 "manager faults" || exit 0
W="$RIG_DIR/work"
mkdir -p "$W"
cp "$DROVER_SRC/tests/data/workloads/trainsim.py" "$W/"
chmod -R a+rX "$W"
export DROVER_AGENT_DIR="$BUILD"
home=$(getent passwd "$RIG_USER" | cut -d: -f6)
RUNS="$home/drover-faults-$$"
trap 'sh "$RIG" down --dir "$T/rig" >/dev/null 2>&1; rm -rf "$RUNS"; cleanup' EXIT
ITER=${FAULT_ITER:-50}

task() {	# task NAME STEPS INTERVAL
	cat > "$T/$1.yaml" <<EOF
cluster:
  hosts: "^$RIG_DIR/hosts"
  transport: libssh2
  base_dir: ~/drover-faults-$$
task:
  name: $1
  command: [python3, "$W/trainsim.py", --format, jsonl, --steps, "$2",
            --interval, "$3"]
  launcher: plain
  parser: jsonl
  stall: {floor_s: 600}
EOF
}

# exactly_spooled DB TASK: every host's stored metrics = its spooled ones,
# seq by seq.
exactly_spooled() {
	bad=0
	for h in $(cat "$RIG_DIR/hosts"); do
		grep '"type":"metric"' "$RUNS/$2"-*/1/"$h"/events.jsonl |
		    jq -r '.seq' | sort -n > "$T/spooled"
		"$DROVER" metrics --db "$1" "$2" --host "$h" --format jsonl |
		    jq -r '.seq' | sort -n > "$T/stored"
		cmp -s "$T/spooled" "$T/stored" || {
			bad=$((bad + 1))
			echo "  $h: spooled $(wc -l < "$T/spooled"), stored $(wc -l < "$T/stored")"
		}
	done
	[ "$bad" = 0 ]
}

# ---- SIGKILL at random instants while 8 hosts stream ----
DB="$T/kill.db"
task killed 1200 0.05
"$DROVER" launch --db "$DB" "$T/killed.yaml" > /dev/null 2> "$T/launch.err"
check "launch for the kill test" test $? = 0
kills=0
for i in $(seq 1 "$ITER"); do
	"$DROVER" watch --db "$DB" killed > /dev/null 2>&1 &
	p=$!
	# 50..1500 ms: mid-connect, mid-catch-up, mid-stream.
	sleep "$(awk -v r="$(od -An -N2 -tu2 /dev/urandom)" 'BEGIN { printf "%.3f", 0.05 + (r % 1450) / 1000 }')"
	kill -KILL $p 2>/dev/null && kills=$((kills + 1))
	wait $p 2>/dev/null
done
check "drover SIGKILLed $kills times while streaming" test "$kills" -ge "$ITER"
"$DROVER" watch --db "$DB" killed > /dev/null 2> "$T/final.err"
check "followed to the end after the kills" \
    sh -c "\"$DROVER\" status --db '$DB' --json killed | jq -e '.task.state == \"succeeded\"' >/dev/null"
check "database = the agents' spools, seq by seq, on all 8 hosts" exactly_spooled "$DB" killed
check "integrity_check ok" sh -c "[ \"\$(sqlite3 '$DB' 'PRAGMA integrity_check')\" = ok ]"
starts=$(cat "$RUNS"/killed-*/1/*/events.jsonl | jq -c 'select(.type == "state" and .scope == "run" and .state == "starting")' | wc -l)
check "no training process started twice (8 run starts, found $starts)" test "$starts" = 8
check "every host launched once" sh -c \
    "\"$DROVER\" status --db '$DB' --json killed | jq -e '[.hosts[].launches] | all(. == 1)' >/dev/null"

# ---- a link down for 60 s ----
DB="$T/link.db"
task linked 1800 0.05
export DROVER_KEEPALIVE_S=2
"$DROVER" launch --db "$DB" "$T/linked.yaml" > /dev/null 2> "$T/launch2.err"
"$DROVER" watch --db "$DB" linked > "$T/watch.out" 2> "$T/watch.err" &
wp=$!
sleep 5
sh "$RIG" --dir "$RIG_DIR" link-down 4 >/dev/null 2>&1
h4=$(H 4)
wait_for 20 grep -q "^$h4: lost" "$T/watch.err"
check "link down: host 4 lost" grep -q "^$h4: lost" "$T/watch.err"
check "lost is not failed: nothing else happened to host 4" sh -c "! grep -q '^$h4: failed' '$T/watch.err'"
sleep 55
sh "$RIG" --dir "$RIG_DIR" link-up 4 >/dev/null 2>&1
wait_for 40 sh -c "grep -A100 '^$h4: lost' '$T/watch.err' | grep -q '^$h4: running'"
check "link back: host 4 running again by itself" sh -c \
    "grep -A100 '^$h4: lost' '$T/watch.err' | grep -q '^$h4: running'"
wait $wp
check "the task ran to the end" sh -c \
    "\"$DROVER\" status --db '$DB' --json linked | jq -e '.task.state == \"succeeded\"' >/dev/null"
check "no gap, no duplicate: database = spools on all 8 hosts" exactly_spooled "$DB" linked
steps=$("$DROVER" metrics --db "$DB" linked --host "$h4" --format jsonl | jq -s '[.[].step] | (length == (unique | length)) and (length == 1800)')
check "host 4 has every step once (1..1800)" test "$steps" = true
