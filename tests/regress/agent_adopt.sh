# agent_adopt.sh - SIGKILL the agent mid-run: training is not disturbed
# (same pids, still writing), `attach --adopt --from K` afterwards delivers
# every event from K exactly once, in order, and every optimizer step of
# every rank is in the spool exactly once.
. "$(dirname "$0")/lib.sh"

STEPS=150
procs="[$(sim_proc 0 --format diffusers --steps $STEPS --interval 0.03),
 $(sim_proc 1 --format mindone --steps $STEPS --interval 0.03),
 $(sim_proc 2 --format kohya --steps $STEPS --interval 0.03)]"
write_spec "$T/spec.json" adopt "$procs"
D="$T/runs/adopt/1/h1"
"$AGENT" run "$T/spec.json" > "$T/hello" || fail "run" "exit $?"
apid=$(jq -r .pid "$T/hello")
wait_for 10 sh -c "[ \$(jq -s '[.[] | select(.type == \"metric\")] | length' '$D/events.jsonl') -ge 20 ]"
K=$(tail -n 1 "$D/events.jsonl" | jq .seq)
before=$("$AGENT" status "$D" | jq -c '[.ranks[] | [.rank, .pid, .child_pid]]')
kill -KILL "$apid"
sleep 1
# (A zombie counts as dead: PID 1 here may be slow to reap.)
check "agent is dead" sh -c "s=\$(ps -o stat= -p $apid); [ -z \"\$s\" ] || [ \"\${s#Z}\" != \"\$s\" ]"
after=$("$AGENT" status "$D" | jq -c '[.ranks[] | [.rank, .pid, .child_pid]]')
check "training keeps its pids after the agent died" test "$before" = "$after"
check "training still alive" sh -c "'$AGENT' status '$D' | jq -e '[.ranks[] | select(.alive)] | length == 3'"
size1=$(stat -c %s "$D/rank-1.log")
sleep 0.5
size2=$(stat -c %s "$D/rank-1.log")
check "training still writes its log with no agent" test "$size2" -gt "$size1"
check "no events are spooled while no agent runs" test \
    "$(tail -n 1 "$D/events.jsonl" | jq .seq)" -ge "$K"
"$AGENT" run "$T/spec.json" >/dev/null 2>"$T/err"
rc=$?
check "run refuses while an earlier launch's processes live" test "$rc" = 1
check "run names the live ranks and how to adopt" grep -q "still running.*adopt" "$T/err"

"$AGENT" attach --adopt --from "$K" "$D" > "$T/attach.out"
rc=$?
check "attach --adopt exits 0 at the end of the run" test "$rc" = 0
check "attach: first event is seq K" sh -c \
    "jq -s -e '[.[] | select(.seq)][0].seq == $K' '$T/attach.out'"
check "attach: every event from K exactly once, in order" sh -c \
    "jq -s -e '[.[] | select(.seq) | .seq] as \$s | \$s == [range($K; $K + (\$s | length))]' '$T/attach.out'"
check "attach: ends with the run's exited state" sh -c \
    "jq -s -e '[.[] | select(.seq)][-1] | .scope == \"run\" and .state == \"exited\" and .result == \"succeeded\"' '$T/attach.out'"
check "spool seq 1..N, no gap, no repeat" spool_seq_ok "$D/events.jsonl"
for r in 0 1 2; do
	check "rank $r: every step 1..$STEPS spooled exactly once" sh -c \
	    "jq -s -e '[.[] | select(.type == \"metric\" and .rank == $r) | .step] == [range(1; $STEPS + 1)]' '$D/events.jsonl'"
done
check "exit codes recorded after adoption (0 for all)" sh -c \
    "jq -s -e '[.[] | select(.type == \"state\" and .scope == \"proc\" and .state == \"exited\") | .code] == [0,0,0]' '$D/events.jsonl'"
check "an adopted event marks the takeover" sh -c \
    "jq -s -e 'any(.[]; .type == \"state\" and .state == \"adopted\")' '$D/events.jsonl'"

# A torn last line (crash mid-write) is cut and seq continues.
printf '{"seq":999999,"t":1,"type":"me' >> "$D/events.jsonl"
last=$(jq -s '[.[]? | .seq] | max' "$D/events.jsonl" 2>/dev/null || true)
write_spec "$T/spec.json" adopt "[$(sim_proc 0 --format jsonl --steps 3 --interval 0.01)]"
"$AGENT" run "$T/spec.json" > "$T/hello2" 2>"$T/err2"
check "relaunch into the same attempt: launch 2" jq -e '.launch == 2' "$T/hello2"
wait_for 10 run_ended "$D"
check "relaunch: torn line cut, seq continues without gap" spool_seq_ok "$D/events.jsonl"
