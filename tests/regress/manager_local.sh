# manager_local.sh - the manager on the local transport (no sshd): the
# compile grace and the stall rule (stalled, then running again when steps
# come), straggler ratios in status, drover logs and the console's log
# model (tests/tools/logtail_probe.c), hccl rank tables read from the
# hosts, a secret that reaches the process and nothing else, and the
# --hosts and --set of a launch kept with the task for its relaunches.
. "$(dirname "$0")/lib.sh"

DROVER="$BUILD/drover"
SIM="$DROVER_SRC/tests/data/workloads/trainsim.py"
export DROVER_AGENT_DIR="$BUILD"
DB="$T/db"
# The local "hosts" push the agent and specs under $HOME: keep them here.
export HOME="$T/home"
mkdir -p "$HOME"

# Three hosts; node 2 is three times slower; node 0 pauses 12 s mid-run;
# all wait 3 s before their first step (the compile grace is 2 s).
cat > "$T/task.yaml" <<YAML
cluster:
  hosts: "h[1-3]"
  transport: local
  base_dir: $T/runs
task:
  name: local
  command: >-
    iv=0.05; [ \${node_rank} = 2 ] && iv=0.15; sleep 3;
    python3 $SIM --format mindone --steps 20 --interval \$iv;
    [ \${node_rank} = 0 ] && sleep 12;
    exec python3 $SIM --format mindone --start 21 --steps 40 --interval \$iv
  launcher: plain
  parser: mindone
  compile_grace_s: 2
  stall: {factor: 5, floor_s: 10}
YAML
"$DROVER" launch --follow --db "$DB" "$T/task.yaml" > /dev/null 2> "$T/run.err"
check "the task ran to the end" test $? = 0
check "no first step within the compile grace: stalled" \
    grep -q "^h1: stalled (no first step [0-9]* s after start (past the compile grace))" "$T/run.err"
check "a step after the grace: running again" sh -c \
    "grep -A50 '^h1: stalled (no first step' '$T/run.err' | grep -q '^h1: running'"
check "no step for the stall limit mid-run: stalled with the last step" \
    grep -q "^h1: stalled (no step for 1[0-9] s on h1 (last step 20; limit 10 s))" "$T/run.err"
check "steps again: running" sh -c \
    "grep -A50 'no step for' '$T/run.err' | grep -q '^h1: running'"
check "the other hosts never stalled mid-run" sh -c "! grep -q '^h[23]: stalled (no step for' '$T/run.err'"

"$DROVER" status --db "$DB" --json local > "$T/st.json"
r3=$(jq '.hosts[] | select(.host == "h3") | .straggler' "$T/st.json")
r2=$(jq '.hosts[] | select(.host == "h2") | .straggler' "$T/st.json")
check "straggler: h3 is ~3x the others' median ($r3)" \
    awk -v r="$r3" 'BEGIN { exit !(r > 2.5 && r < 3.5) }'
check "straggler: h2 is below 1 against h1,h3 ($r2)" \
    awk -v r="$r2" 'BEGIN { exit !(r > 0.3 && r < 0.8) }'
"$DROVER" status --db "$DB" local > "$T/st.txt"
check "status shows the ratio" grep -q "^h3 .* x[23]\.[0-9][0-9] " "$T/st.txt"

"$DROVER" logs --db "$DB" local h2 -n 2 > "$T/logs.out" 2>&1
check "logs: the last lines of h2's rank log" sh -c \
    "[ \$(wc -l < '$T/logs.out') = 2 ] && grep -q '^Step 40/40' '$T/logs.out'"
"$DROVER" logs --db "$DB" local --rank 2 -n 2 > "$T/logs2.out" 2>&1
check "logs --rank finds the host" grep -q "^Step 40/40" "$T/logs2.out"
"$DROVER" logs --db "$DB" local --rank 9 > /dev/null 2> "$T/logs3.err"
check "logs of a rank nobody runs: a clear error" sh -c \
    "[ $? = 1 ] && grep -q 'no host runs rank 9' '$T/logs3.err'"

# The console's log model (tests/tools/logtail_probe.c, tui/logtail.c):
# the host and rank found as drover logs finds them, lines through the
# loop over the local transport, a torchrun-style traceback classed as
# one block, a line appended while it follows (tail -F), and a second
# logtail opened after the first was freed inside its own callback.
cat > "$T/tb.sh" <<'SH'
echo "step one"
echo "WARNING: slow disk"
printf '[rank0]: Traceback (most recent call last):\n'
printf '[rank0]:   File "train.py", line 3, in <module>\n'
printf '[rank1]: loading shard 3\n'
printf '[rank0]:     main()\n'
printf '[rank0]: RuntimeError: CUDA out of memory\n'
printf 'bar  1%%\rbar 50%%\rbar 100%%\n'
echo "after the traceback"
SH
cat > "$T/tb.yaml" <<YAML
cluster:
  hosts: "t1"
  transport: local
  base_dir: $T/runs
task:
  name: tb
  command: [sh, $T/tb.sh]
YAML
"$DROVER" launch --follow --db "$DB" "$T/tb.yaml" > /dev/null 2> "$T/tb.err"
tblog=$(echo "$T"/runs/tb-*/1/t1/rank-0.log)
# appended once the probe has shown what was there: a line tail -F brings
(wait_for 20 grep -q '^LINE 9 ' "$T/probe.out"; echo "appended live" >> "$tblog") &
"$BUILD/logtail-probe" --db "$DB" -t 20 -r -u "appended live" tb > "$T/probe.out" 2>&1
check "logtail: lines arrive, a live one too, and a reopen works" test $? = 0
sed -n '/^LINE/p' "$T/probe.out" | sed -n 1,10p > "$T/probe.first"
cat > "$T/probe.want" <<'TXT'
LINE 1 plain step one
LINE 2 warn WARNING: slow disk
LINE 3 traceback [rank0]: Traceback (most recent call last):
LINE 4 traceback [rank0]:   File "train.py", line 3, in <module>
LINE 5 plain [rank1]: loading shard 3
LINE 6 traceback [rank0]:     main()
LINE 7 traceback [rank0]: RuntimeError: CUDA out of memory
LINE 8 plain bar 100%
LINE 9 plain after the traceback
LINE 10 plain appended live
TXT
check "logtail: the lines, classed (the traceback as one block, redraws collapsed)" \
    cmp -s "$T/probe.first" "$T/probe.want"
check "logtail: status names the host and the rank's log" \
    grep -q "^STATUS following t1 rank-0.log$" "$T/probe.out"
check "logtail: the reopened tail starts again at line 1" sh -c \
    "[ \$(grep -c '^LINE 1 plain step one$' '$T/probe.out') = 2 ] && [ \$(grep -c '^FOUND$' '$T/probe.out') = 2 ]"
"$BUILD/logtail-probe" --db "$DB" --rank 9 -u x tb > "$T/probe9.out" 2>&1
check "logtail: a rank nobody runs is an error at once" \
    grep -q "^OPEN-ERROR no host runs rank 9$" "$T/probe9.out"
mv "$T/tb.yaml" "$T/tb.yaml.away"
"$BUILD/logtail-probe" --db "$DB" -u x tb > "$T/probe-nocfg.out" 2>&1
check "logtail: a config it cannot read is an error at once, naming the host" \
    grep -q "^OPEN-ERROR cannot read the task's config, which says how to reach t1: " "$T/probe-nocfg.out"
mv "$T/tb.yaml.away" "$T/tb.yaml"

# hccl with the rank table read from the hosts: no /etc/hccn.conf here, so
# the probe asks hccn_tool (a stand-in on PATH, as the telemetry tests do
# for nvidia-smi: each call hands out the next device address).
mkdir -p "$T/bin"
cat > "$T/bin/hccn_tool" <<SH
#!/bin/sh
n=\$(flock "$T/hccn.lock" sh -c 'c=\$(cat "$T/hccn.count" 2>/dev/null || echo 0); echo \$((c + 1)) > "$T/hccn.count"; echo \$c')
echo "ipaddr:192.98.10.\$((n + 1))"
echo "netmask:255.255.255.0"
SH
chmod +x "$T/bin/hccn_tool"
cat > "$T/hccl.yaml" <<YAML
cluster:
  hosts: "n[1-2]"
  transport: local
  devices_per_host: 2
  base_dir: $T/runs
task:
  name: hccl
  command: [python3, $SIM, --format, mindone, --steps, "3", --interval, "0.01",
            --print-env, RANK_ID]
  launcher: hccl
  parser: mindone
YAML
if [ -r /etc/hccn.conf ]; then
	skip "hccl from the hosts" "this machine has an /etc/hccn.conf"
else
	PATH="$T/bin:$PATH" "$DROVER" launch --follow --db "$DB" "$T/hccl.yaml" > /dev/null 2> "$T/hccl.err"
	check "hccl: launched with the table read from the hosts" test $? = 0
	hd=$(echo "$T"/runs/hccl-*/1)
	rt="$hd/n2/rank_table.json"
	check "hccl: one merged table, 2 servers, ranks 0-3, 4 distinct addresses" sh -c \
	    "jq -e '.server_count == \"2\" and ([.server_list[].device[].rank_id] == [\"0\",\"1\",\"2\",\"3\"]) and ([.server_list[].device[].device_ip] | unique | length == 4)' '$rt' >/dev/null"
	check "hccl: the same table on both hosts" cmp -s "$rt" "$hd/n1/rank_table.json"
	check "hccl: each process got its RANK_ID" sh -c \
	    "grep -q '^env RANK_ID=3' '$hd/n2/rank-3.log' && grep -q '^env RANK_ID=0' '$hd/n1/rank-0.log'"
fi

# A secret: in the process's environment, nowhere else (not the spec, the
# uploaded spec, the spool, the database, drover's output or its plan).
canary="canary-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf 'HF_TOKEN=%s\n' "$canary" > "$T/secrets"
chmod 600 "$T/secrets"
cat > "$T/secret.yaml" <<YAML
cluster:
  hosts: "s[1-2]"
  transport: local
  base_dir: $T/runs
task:
  name: secret
  command: [python3, $SIM, --format, mindone, --steps, "3", --interval, "0.01",
            --print-env, HF_TOKEN]
  parser: {format: mindone, mirror: all}
  secrets_file: $T/secrets
YAML
"$DROVER" plan "$T/secret.yaml" > "$T/secret.plan" 2>&1
"$DROVER" launch --follow --db "$DB" "$T/secret.yaml" > "$T/secret.out" 2> "$T/secret.err"
check "secret: the task ran" test $? = 0
sd=$(echo "$T"/runs/secret-*/1)
check "secret: the run directories carry the task's id (BASE/TASK-ID/ATTEMPT/HOST)" \
    test -d "$sd/s1" -a -d "$sd/s2"
check "secret: the process had it in its environment" \
    grep -q "^env HF_TOKEN=$canary" "$sd/s1/rank-0.log"
check "secret: the spooled copy of that line is masked" \
    grep -q 'env HF_TOKEN=\[secret HF_TOKEN\]' "$sd/s1/events.jsonl"
check "secret: plan shows the name, masked" grep -q "HF_TOKEN=\*\*\*\*\*\*\*\*" "$T/secret.plan"
sqlite3 "$DB" .dump > "$T/dump.sql"
leaks=$(grep -l -- "$canary" "$T/secret.plan" "$T/secret.out" "$T/secret.err" "$T/dump.sql" \
    "$sd"/*/spec.json "$sd"/*/events.jsonl "$sd"/*/agent.log \
    "$HOME"/.drover/specs/* 2>/dev/null)
check "secret: not in the plan, drover's output, the database, specs, spools, agent logs" test -z "$leaks"
chmod 644 "$T/secrets"
"$DROVER" launch --db "$DB" "$T/secret.yaml" > /dev/null 2> "$T/secret644.err"
check "secret: a secrets file others can read is refused before anything starts" sh -c \
    "[ $? != 0 ] && grep -q 'mode 0644' '$T/secret644.err' && [ \$(ls -d '$T'/runs/secret-* | wc -l) = 1 ]"

# relaunch --all with a host replaced and one excluded: the new attempt
# runs on exactly those hosts, in that order (node ranks follow it).
cat > "$T/hosts.yaml" <<YAML
cluster:
  hosts: "r[1-3]"
  transport: local
  base_dir: $T/runs
task:
  name: swap
  command: [python3, $SIM, --format, mindone, --steps, "3", --interval, "0.01"]
  restart: {backoff_s: 0}
YAML
"$DROVER" launch --follow --db "$DB" "$T/hosts.yaml" > /dev/null 2>&1
"$DROVER" relaunch --db "$DB" swap --all --replace r2=r9 --exclude r3 --follow > /dev/null 2> "$T/swap.err"
check "relaunch --all --replace --exclude runs" test $? = 0
check "the new attempt's hosts: r1 (node 0), r9 (node 1)" sh -c \
    "\"$DROVER\" status --db '$DB' --json swap | jq -e '[.hosts[] | [.host, .node_rank]] == [[\"r1\",0],[\"r9\",1]] and .task.attempt == 2' >/dev/null"
"$DROVER" relaunch --db "$DB" swap --all --replace r7=r8 > /dev/null 2> "$T/swap2.err"
check "--replace of a host the task does not have: refused, named" \
    grep -q "r7 is not a host of the task" "$T/swap2.err"

# restart.auto: node 1 fails at step 5; drover stops node 0, then starts
# attempt 2 by itself with the resume arguments (which skip the failure),
# and follows it to success.
cat > "$T/auto.yaml" <<YAML
cluster:
  hosts: "a[1-2]"
  transport: local
  base_dir: $T/runs
task:
  name: auto
  command: >-
    f=""; [ \${node_rank} = 1 ] && f="--fail-at 5 --exit-code 3";
    exec python3 $SIM --format mindone --steps 150 --interval 0.02 \$f "\$@"
  resume_args: [--start, "6"]
  restart: {auto: true, max: 1, backoff_s: 1}
YAML
"$DROVER" launch --follow --db "$DB" "$T/auto.yaml" > /dev/null 2> "$T/auto.err"
check "restart.auto: launch --follow ends 0 after the restart" test $? = 0
check "restart.auto: the root cause named" grep -q "gang failure: rank 1 exited 3.* on a2" "$T/auto.err"
check "restart.auto: the survivor stopped" grep -q "stopping the other hosts (restart.auto)" "$T/auto.err"
check "restart.auto: attempt 2 started by itself" grep -q "automatic restart after attempt #[0-9]* failed" "$T/auto.err"
"$DROVER" status --db "$DB" --json auto > "$T/auto.json"
check "restart.auto: attempt 2 succeeded" jq -e '.task.attempt == 2 and .task.state == "succeeded"' "$T/auto.json"
first=$("$DROVER" metrics --db "$DB" auto --host a2 --format jsonl | jq -s '[.[] | select(.attempt == 2) | .step] | min')
check "restart.auto: attempt 2 resumed at step 6 ($first)" test "$first" = 6
# (a2 fails 0.1 s in: on a loaded box a1 may be stopped before its first
# step, which is stopped early too: 0 then.)
last1=$("$DROVER" metrics --db "$DB" auto --host a1 --format jsonl | jq -s '[.[] | select(.attempt == 1) | .step] | max // 0')
check "restart.auto: node 0 of attempt 1 was stopped early (last step $last1)" test "$last1" -lt 150

# relaunch --all after a gang failure whose survivor still runs: the
# survivor exits 1 on SIGTERM (as torchrun and accelerate do), and that
# later failure, seen by the relaunching drover, is not a second root cause.
cat > "$T/rc.yaml" <<YAML
cluster:
  hosts: "k[1-2]"
  transport: local
  base_dir: $T/runs
task:
  name: rootonce
  command: >-
    if [ \${node_rank} = 1 ]; then exec python3 $SIM --format mindone --steps 100 --interval 0.05 --fail-at 3 --exit-code 3; fi;
    trap 'exit 1' TERM; python3 $SIM --format mindone --steps 2000 --interval 0.05 & wait
  stop_grace_s: 5
  restart: {backoff_s: 0}
YAML
"$DROVER" launch --follow --db "$DB" "$T/rc.yaml" > /dev/null 2> "$T/rc.err" &
rcf=$!
track "$rcf"
wait_for 30 grep -q "gang failure: rank 1 exited 3" "$T/rc.err"
kill -INT "$rcf"; wait "$rcf"
"$DROVER" relaunch --db "$DB" rootonce --all > /dev/null 2> "$T/rc2.err"
"$DROVER" stop --db "$DB" rootonce --grace 1 > /dev/null 2>&1
roots=$(sqlite3 "$DB" "SELECT group_concat(au.reason, '|') FROM audit au JOIN attempts a ON a.id = au.attempt_id JOIN tasks t ON t.id = a.task_id WHERE t.name = 'rootonce' AND a.number = 1 AND au.kind = 'root_cause'")
check "relaunch --all: the survivor's exit on SIGTERM is no second root cause ($roots)" \
    test "$roots" = "gang failure: rank 1 exited 3 on k2"
check "relaunch --all: no second gang failure reported" sh -c "! grep -q 'gang failure' '$T/rc2.err'"

# --hosts and --set stay with the task: relaunch --all after a failure
# runs the new attempt on the launch's hosts with the launch's values (not
# the file's), a relaunch's own --set is kept for the next one, and a
# --set that names a secret, or holds one, is not kept.
canary2="canary-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf 'SETS_TOKEN=%s\n' "$canary2" > "$T/sets.secrets"
chmod 600 "$T/sets.secrets"
cat > "$T/sets.yaml" <<YAML
cluster:
  hosts: "q[1-4]"
  transport: local
  base_dir: $T/runs
task:
  name: sets
  command: >-
    [ \${node_rank} = 1 ] && [ \${attempt} = 1 ] && exit 3;
    exec python3 $SIM --format mindone --steps 3 --interval 0.01 --print-env SETS_MARK
  env: {SETS_MARK: from-file}
  secrets_file: $T/sets.secrets
  restart: {max: 5, backoff_s: 0}
YAML
"$DROVER" launch --follow --db "$DB" "$T/sets.yaml" --hosts 'q[2-3]' \
    --set task.env.SETS_MARK=from-set --set "task.env.SETS_TOKEN=$canary2" \
    --set task.env.SETS_TOKEN=typed-by-hand > /dev/null 2> "$T/sets1.err"
check "sets: attempt 1 failed on its second host" sh -c \
    "[ $? = 1 ] && grep -q '^q3: failed' '$T/sets1.err'"
check "sets: the --set holding a secret is not kept, and says so" grep -q \
    "set task.env.SETS_TOKEN is not kept with the task (its value holds the secret SETS_TOKEN)" "$T/sets1.err"
check "sets: the --set of a secret's name is not kept, and says so" grep -q \
    "set task.env.SETS_TOKEN is not kept with the task (it sets SETS_TOKEN, a name of the secrets file)" "$T/sets1.err"
"$DROVER" relaunch --db "$DB" sets --all --follow > /dev/null 2> "$T/sets2.err"
check "sets: relaunch --all ran to the end" test $? = 0
"$DROVER" status --db "$DB" --json sets > "$T/sets2.json"
check "sets: attempt 2 ran on the launch's hosts, q2 (node 0) and q3 (node 1)" \
    jq -e '[.hosts[] | [.host, .node_rank]] == [["q2",0],["q3",1]] and .task.attempt == 2 and .task.state == "succeeded"' "$T/sets2.json"
sd=$(echo "$T"/runs/sets-*)
check "sets: attempt 2 had the launch's --set value on both hosts" sh -c \
    "grep -q '^env SETS_MARK=from-set$' '$sd/2/q2/rank-0.log' && grep -q '^env SETS_MARK=from-set$' '$sd/2/q3/rank-1.log'"
check "sets: no other host was started" sh -c "[ \"\$(ls '$sd/2')\" = \"\$(printf 'q2\\nq3')\" ]"
check "sets: the task keeps the --hosts and the plain --set, in order" \
    jq -e '[.task.config_sets[] | [.path, .value]] == [["cluster.hosts","q[2-3]"],["task.env.SETS_MARK","from-set"]]' "$T/sets2.json"
"$DROVER" relaunch --db "$DB" sets --all --set task.env.SETS_MARK=second --follow > /dev/null 2>&1
"$DROVER" relaunch --db "$DB" sets --all --follow > /dev/null 2> "$T/sets4.err"
check "sets: a relaunch's --set is kept: attempt 4 ran with it on the same hosts" sh -c \
    "[ -f '$sd/4/q3/rank-1.log' ] && grep -q '^env SETS_MARK=second$' '$sd/4/q2/rank-0.log' && grep -q '^env SETS_MARK=second$' '$sd/4/q3/rank-1.log' && [ \"\$(ls '$sd/4')\" = \"\$(printf 'q2\\nq3')\" ]"
"$DROVER" status --db "$DB" --json sets > "$T/sets4.json"
check "sets: the relaunch's --set appended to the task's list" \
    jq -e '[.task.config_sets[] | .value] == ["q[2-3]","from-set","second"] and .task.attempt == 4' "$T/sets4.json"
sqlite3 "$DB" .dump > "$T/sets-dump.sql"
check "sets: the secret is not in the database" sh -c "! grep -q -- '$canary2' '$T/sets-dump.sql'"
