# manager_faults.sh - the manager under faults on an 8-host rig:
# drover SIGKILLed at random instants while 8 hosts stream (FAULT_INGEST,
# 72, 50-1000 ms in), then followed to the end: the database holds exactly
# the agents' spooled metrics, PRAGMA integrity_check is ok, no host was
# started twice; drover SIGKILLed at random instants during launch, stop
# and relaunch --all (FAULT_CYCLES of the three, 14, more until the kills
# reach FAULT_KILLS, 100, in all): never two training processes for one
# host and attempt, every recorded decision whole (audit rows = states and launch counts), each
# launch decided in the database before its agent ran, integrity ok; the
# links of all 8 hosts dropped for 5-30 s again and again (FAULT_BLIPS, 50,
# at once on several hosts): no host ever failed, no training process
# signalled (same pids, all exit 0 by themselves), every metric stored
# once; and a host's link down for 60 s: lost, back to running by itself,
# its metrics with no gap and no duplicate.
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
ITER=${FAULT_INGEST:-${FAULT_ITER:-72}}
CYCLES=${FAULT_CYCLES:-14}
BLIPS=${FAULT_BLIPS:-50}

# rand_ms LO HI: a random delay in seconds, LO..HI ms.
rand_s() {
	awk -v r="$(od -An -N2 -tu2 /dev/urandom)" -v lo="$1" -v hi="$2" \
	    'BEGIN { printf "%.3f", (lo + r % (hi - lo)) / 1000 }'
}

task() {	# task NAME STEPS INTERVAL [HOSTS]
	cat > "$T/$1.yaml" <<EOF
cluster:
  hosts: "${4:-^$RIG_DIR/hosts}"
  transport: libssh2
  base_dir: ~/drover-faults-$$
task:
  name: $1
  command: [python3, "$W/trainsim.py", --format, jsonl, --steps, "$2",
            --interval, "$3", --pidfile, "\${run_dir}/pid"]
  launcher: plain
  parser: jsonl
  stall: {floor_s: 600}
  restart: {max: 100, backoff_s: 0}
EOF
}

# audit_whole DB: every recorded decision is whole: each host's state is
# the last state its audit rows give it (pending with none) and its launch
# count is its launch rows; the same for each attempt's state; every
# attempt and host has the row that created it. Prints what differs.
audit_whole() {
	sqlite3 "$1" <<'SQL'
SELECT 'host ' || h.id || ' ' || h.host || ': state ' || h.state || ', audit says ' ||
       coalesce((SELECT to_state FROM audit a WHERE a.host_id = h.id AND a.kind = 'state'
                 ORDER BY a.id DESC LIMIT 1), 'pending')
  FROM attempt_hosts h
 WHERE h.state != coalesce((SELECT to_state FROM audit a WHERE a.host_id = h.id AND a.kind = 'state'
                            ORDER BY a.id DESC LIMIT 1), 'pending');
SELECT 'host ' || h.id || ' ' || h.host || ': launches ' || h.launches || ', launch rows ' ||
       (SELECT count(*) FROM audit a WHERE a.host_id = h.id AND a.kind = 'launch')
  FROM attempt_hosts h
 WHERE h.launches != (SELECT count(*) FROM audit a WHERE a.host_id = h.id AND a.kind = 'launch');
SELECT 'attempt ' || t.id || ': state ' || t.state || ', audit says ' ||
       coalesce((SELECT to_state FROM audit a WHERE a.attempt_id = t.id AND a.host_id IS NULL
                 AND a.kind = 'state' ORDER BY a.id DESC LIMIT 1), 'pending')
  FROM attempts t
 WHERE t.state != coalesce((SELECT to_state FROM audit a WHERE a.attempt_id = t.id AND a.host_id IS NULL
                            AND a.kind = 'state' ORDER BY a.id DESC LIMIT 1), 'pending');
SELECT 'attempt ' || t.id || ': no attempt row' FROM attempts t
 WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.attempt_id = t.id AND a.kind = 'attempt');
SELECT 'host ' || h.id || ': no add row' FROM attempt_hosts h
 WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.host_id = h.id AND a.kind = 'add');
SQL
}

# two_per_run: run directories with more than one training process alive
# (trainsim's --pidfile names its run dir in its argv).
two_per_run() {
	for p in $(pgrep -f "$W/trainsim.py"); do
		# The core itself, not its shim (whose argv holds the core's).
		tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null |
		    awk -v runs="$RUNS" 'NR == 1 && $0 !~ /python/ { exit }
			index($0, runs "/") == 1 && /\/pid$/ { print }'
	done | sort | uniq -d
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
		[ -s "$T/spooled" ] && cmp -s "$T/spooled" "$T/stored" || {
			bad=$((bad + 1))
			echo "  $h: spooled $(wc -l < "$T/spooled"), stored $(wc -l < "$T/stored")"
		}
	done
	[ "$bad" = 0 ]
}

# ---- SIGKILL at random instants while 8 hosts stream ----
DB="$T/kill.db"
# 120 s of training: the kills take 40-80 s on a loaded 2-core box, and a
# watch started after the task ended exits before its kill (75 s was
# too short once: 71 of 72).
task killed 2400 0.05
"$DROVER" launch --db "$DB" "$T/killed.yaml" > /dev/null 2> "$T/launch.err"
check "launch for the kill test" test $? = 0
kills=0
i=0
while [ "$kills" -lt "$ITER" ] && [ "$i" -lt $((ITER * 2)) ]; do
	i=$((i + 1))
	"$DROVER" watch --db "$DB" killed > /dev/null 2>&1 &
	p=$!
	# 50..1000 ms: mid-connect, mid-catch-up, mid-stream.
	sleep "$(rand_s 50 1000)"
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

# ---- SIGKILL at random instants during launch, stop and relaunch ----
DB="$T/cycle.db"
task cycle 400 0.05 "$(H 1),$(H 2),$(H 3),$(H 4)"
ckills=0
twice=""
# killed_at LO HI CMD...: CMD in the background, SIGKILLed after LO..HI
# ms unless it ended; then no run dir may hold two training processes.
killed_at() {
	lo=$1 hi=$2; shift 2
	"$@" > /dev/null 2>> "$T/cycle.err" &
	p=$!
	sleep "$(rand_s "$lo" "$hi")"
	kill -KILL $p 2>/dev/null && ckills=$((ckills + 1))
	wait $p 2>/dev/null
	twice="$twice$(two_per_run)"
}
# At least CYCLES cycles, and more (up to 3 x CYCLES) until the kills of
# both parts reach KILLS: an operation that ends before its instant is not
# a kill.
KILLS=${FAULT_KILLS:-100}
i=0
while [ "$i" -lt "$CYCLES" ] || { [ $((ckills + kills)) -lt "$KILLS" ] && [ "$i" -lt $((CYCLES * 3)) ]; }; do
	i=$((i + 1))
	killed_at 100 4000 "$DROVER" launch --db "$DB" "$T/cycle.yaml"
	killed_at 100 2500 "$DROVER" relaunch --db "$DB" cycle --all
	killed_at 50 1200 "$DROVER" stop --db "$DB" --grace 1 cycle
	# What is left running is stopped for good before the next launch.
	timeout 60 "$DROVER" stop --db "$DB" --grace 1 cycle > /dev/null 2>&1
	twice="$twice$(two_per_run)"
done
echo "launch/relaunch/stop: $ckills kills in $i cycles, $((ckills + kills)) in all"
check "drover SIGKILLed $ckills times in launch, relaunch and stop ($((ckills + kills)) in all, want >= $KILLS)" \
    test $((ckills + kills)) -ge "$KILLS"
check "never two training processes for one host and attempt" test -z "$twice"
check "integrity_check ok after the launch/stop/relaunch kills" sh -c \
    "[ \"\$(sqlite3 '$DB' 'PRAGMA integrity_check')\" = ok ]"
audit_whole "$DB" > "$T/audit.diff"
sed 's/^/  /' "$T/audit.diff" | head -n 10
check "every recorded decision is whole: audit rows = states and launches ($(sqlite3 "$DB" 'select count(*) from audit') rows)" \
    test ! -s "$T/audit.diff"
starts=0
bad=0
unrec=0
for f in "$RUNS"/cycle-*/*/*/events.jsonl; do
	[ -f "$f" ] || continue
	# A run's launches alternate: starting, ..., exited, starting, ...
	jq -s -e '[.[] | select(.type == "state" and .scope == "run" and (.state == "starting" or .state == "exited")) | .state]
	    | . as $s | all(range(0; length); $s[.] == (if . % 2 == 0 then "starting" else "exited" end))' "$f" >/dev/null ||
	    { bad=$((bad + 1)); echo "  $f: a launch started before the last one ended"; }
	n=$(grep -c '"scope":"run","state":"starting"' "$f")
	starts=$((starts + n))
	# The decision came first: the host's row was set to starting and
	# its launch counted (one transaction, audited) before its agent ran,
	# so a kill in between leaves none uncounted.
	rd=$(dirname "$f")
	row=$(sqlite3 "$DB" "select h.launches, (select count(*) from audit a where a.host_id = h.id and a.kind = 'state' and a.to_state = 'starting') from attempt_hosts h where h.run_dir = '$rd'")
	l=${row%|*} st=${row#*|}
	if [ -z "$row" ] || [ "$st" = 0 ] || [ "$n" -gt "$l" ]; then
		unrec=$((unrec + 1))
		echo "  $rd: $n launches spooled; database: ${row:-no row} (launches|starting rows)"
	fi
done
check "each run dir's launches one after another ($starts launches)" test "$bad" = 0 -a "$starts" -gt 0
check "every launch an agent ran was decided in the database first" test "$unrec" = 0

# ---- links dropped for 5-30 s, again and again, on all 8 hosts ----
DB="$T/blip.db"
task blips 3600 0.05
export DROVER_KEEPALIVE_S=2
"$DROVER" launch --db "$DB" "$T/blips.yaml" > /dev/null 2> "$T/blip-launch.err"
"$DROVER" watch --db "$DB" blips > /dev/null 2> "$T/blip.err" &
wp=$!
sleep 3
pids0=$(cat "$RUNS"/blips-*/1/*/pid | sort | tr '\n' ' ')
# Each host: blips of 5-30 s with 1-4 s up between, until BLIPS are done
# (about BLIPS / 8 each, at once on all hosts).
per=$(( (BLIPS + 7) / 8 ))
for k in 1 2 3 4 5 6 7 8; do
	(
		for j in $(seq 1 "$per"); do
			sleep "$(rand_s 1000 4000)"
			sh "$RIG" --dir "$RIG_DIR" link-down "$k" >/dev/null 2>&1
			echo "down $k" >> "$T/blips.log"
			sleep "$(rand_s 5000 30000)"
			sh "$RIG" --dir "$RIG_DIR" link-up "$k" >/dev/null 2>&1
		done
	) &
done
t0=$(date +%s)
: >> "$T/blips.log"
wait_blips() { [ "$(grep -c '^down' "$T/blips.log")" -ge $((per * 8)) ] && ! sh "$RIG" --dir "$RIG_DIR" status 2>/dev/null | grep -q 'link down'; }
wait_for 400 wait_blips
nblips=$(grep -c '^down' "$T/blips.log")
echo "link blips: $nblips over 8 hosts in $(( $(date +%s) - t0 )) s"
pids1=$(cat "$RUNS"/blips-*/1/*/pid | sort | tr '\n' ' ')
check "link blips: $nblips (>= $BLIPS) dropped for 5-30 s over 8 hosts" test "$nblips" -ge "$BLIPS"
check "link blips: the hosts were seen lost" grep -q ': lost' "$T/blip.err"
check "link blips: no host failed (0 false verdicts)" sh -c "! grep -q ': failed' '$T/blip.err'"
check "link blips: the trainers kept their pids" test "$pids0" = "$pids1"
wait $wp
check "link blips: every host succeeded (no trainer was signalled)" sh -c \
    "\"$DROVER\" status --db '$DB' --json blips | jq -e '.task.state == \"succeeded\" and all(.hosts[]; .state == \"succeeded\")' >/dev/null"
check "link blips: the trainers exited 0 by themselves" sh -c \
    "cat '$RUNS'/blips-*/1/*/events.jsonl | jq -s -e '[.[] | select(.type == \"state\" and .scope == \"proc\" and .state == \"exited\")] | length == 8 and all(.[]; .code == 0 and .class == \"succeeded\")' >/dev/null"
check "link blips: database = spools on all 8 hosts" exactly_spooled "$DB" blips

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
