# agent_rotate.sh - rank logs are capped and rotated, and no step is lost
# to a rotation; the spool still holds every step.
. "$(dirname "$0")/lib.sh"

STEPS=400
write_spec "$T/spec.json" rot "[$(sim_proc 0 --format mindone --steps $STEPS --interval 0.002)]" \
    '{"log":{"max_bytes":8192,"keep":1}}'
D="$T/runs/rot/1/h1"
"$AGENT" run "$T/spec.json" >/dev/null || fail "run" "exit $?"
wait_for 30 run_ended "$D"
check "rotated file exists" test -f "$D/rank-0.log.1"
check "no second rotated file (keep 1)" test ! -e "$D/rank-0.log.2"
check "rank-0.log within the cap" test "$(stat -c %s "$D/rank-0.log")" -le 8192
check "rank-0.log.1 within the cap" test "$(stat -c %s "$D/rank-0.log.1")" -le 8192
check "every step parsed across rotations" sh -c \
    "jq -s -e '[.[] | select(.type == \"metric\") | .step] == [range(1; $STEPS + 1)]' '$D/events.jsonl'"
