# agent_bwrap.sh - a real multi-process job through `drover-agent run`
# inside bwrap (the container the tests can run): one rank is killed; the
# exit event, the spool's seq continuity, status, per-rank metrics, a second
# run on the same directory, argv byte-exactness and secrets are checked.
. "$(dirname "$0")/lib.sh"

if ! bwrap --ro-bind / / --dev /dev --proc /proc true 2>/dev/null; then
	skip "bwrap job" "bwrap cannot create a sandbox here"
	exit 0
fi
HOSTILE='sp ace'
procs="[$(sim_proc 0 --format diffusers --steps 400 --interval 0.02),
 $(sim_proc 1 --format mindone --steps 400 --interval 0.02),
 $(sim_proc 2 --format jsonl --steps 400 --interval 0.02),
 $(sim_proc 3 --format kohya --steps 400 --interval 0.02 --print-env HF_TOKEN \
   --print-argv -- "$HOSTILE" "q\"uo'te" '$HOME' '-x' "$(printf 'tab\there')" 'ü')]"
# The sandbox gets a fresh /tmp: bind the source tree (the workload) in,
# as users bind their code into their container.
BWRAP=$(jq -cn --arg src "$DROVER_SRC" \
    '{runtime: "bwrap", mounts: [{src: $src, dst: $src, ro: true}]}')
write_spec "$T/spec.json" job "$procs" \
    "{\"container\":$BWRAP,\"parser\":{\"format\":\"auto\"}}"
D="$T/runs/job/1/h1"
echo '{"HF_TOKEN":"hf_canary_7f3a9c"}' |
    "$AGENT" run --secrets-stdin "$T/spec.json" >"$T/hello" 2>"$T/err"
rc=$?
check "run exits 0 once the core runs" test "$rc" = 0
check "hello line names the run dir" jq -e --arg d "$D" \
    '.type == "hello" and .proto == 1 and .run == $d and .launch == 1' "$T/hello"
track "$(jq -r .pid "$T/hello" 2>/dev/null)"

"$AGENT" run "$T/spec.json" >/dev/null 2>"$T/err2"
rc=$?
check "second run on the same dir refuses" test "$rc" = 1
check "second run says the dir is in use" grep -q "in use by agent pid" "$T/err2"

wait_for 10 sh -c "'$AGENT' status '$D' | jq -e '[.ranks[] | select(.state == \"running\")] | length == 4'"
st=$("$AGENT" status "$D")
b1=$(echo "$st" | jq '.ranks[] | select(.rank == 1) | .child_pid')
c1=$(pgrep -P "$b1" | head -n 1)
check "the core runs inside bwrap (bwrap is its parent)" \
    sh -c "[ -n '$c1' ] && ps -o comm= -p '$b1' | grep -q bwrap && ps -o args= -p '$c1' | grep -q trainsim"
wait_for 10 sh -c "'$AGENT' status '$D' | jq -e '.ranks[] | select(.rank == 1) | .last_metric.step >= 5'"
# What the OOM killer does: SIGKILL to the training process itself.
kill -KILL "$c1"
SEL1='.type == "state" and .rank == 1 and .state == "exited"'
wait_for 10 ev_any "$D" "$SEL1"
check "killed rank: exit event says killed, possible OOM" ev_all "$D" "$SEL1" \
    '(.signal == 9 or .code == 137) and .class == "killed" and (.reason | test("OOM"))'

check "other ranks keep running" sh -c "'$AGENT' status '$D' | jq -e '[.ranks[] | select(.state == \"running\")] | length == 3'"
check "status: rank 1 exited 137 (bwrap relays SIGKILL as 128+9)" sh -c "'$AGENT' status '$D' | jq -e '.ranks[] | select(.rank == 1) | .state == \"exited\" and (.code == 137 or .signal == 9) and .alive == false'"
check "metrics from the four formats" sh -c \
    "jq -s -e '[.[] | select(.type == \"metric\") | .rank] | unique == [0,1,2,3]' '$D/events.jsonl'"
check "diffusers: last postfix per step (grad accumulation)" sh -c \
    "jq -s -e '[.[] | select(.type == \"metric\" and .rank == 0 and .step == 3)] | length == 1 and .[0].loss == 0.25 and .[0].lr == 0.0001'  '$D/events.jsonl'"

grep -a '^argv-hex ' "$D/rank-3.log" | head -n 1 > "$T/argvhex"
expect=$(printf '%s\n' --format kohya --steps 400 --interval 0.02 --print-env HF_TOKEN \
    --print-argv -- "$HOSTILE" "q\"uo'te" '$HOME' '-x' "$(printf 'tab\there')" 'ü' |
    python3 -c 'import sys; print("argv-hex " + " ".join(l.rstrip("\n").encode().hex() for l in sys.stdin))')
check "argv reaches the core byte for byte through bwrap" test "$(cat "$T/argvhex")" = "$expect"
check "secret reaches the process environment" grep -aq '^env HF_TOKEN=hf_canary_7f3a9c' "$D/rank-3.log"
check "secret is not in spec.json" sh -c "! grep -q hf_canary '$D/spec.json'"
check "secret is not in any process's argv" sh -c "! cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' | grep -aq 'hf_canary_[7]f3a9c'"

# Stop the rest through the attach channel; wait for the end.
(sleep 0.3; echo '{"cmd":"stop","grace_s":5}') | "$AGENT" attach "$D" > "$T/attach.out"
rc=$?
check "attach exits 0 when the run has ended" test "$rc" = 0
check "run ended with result stopped" run_ended "$D"
check "spool seq is 1..N without gap or repeat" spool_seq_ok "$D/events.jsonl"
check "attach delivered every event in order" sh -c \
    "jq -s -e '[.[] | select(.seq) | .seq] == [range(1; (map(select(.seq)) | length) + 1)]' '$T/attach.out'"
check "attach sent a heartbeat or ended cleanly" jq -s -e '.[0].type == "hello"' "$T/attach.out"
check "status: no process of the run is alive" sh -c \
    "'$AGENT' status '$D' | jq -e 'all(.ranks[]; .alive == false and .state == \"exited\")'"
left=""
for p in $("$AGENT" status "$D" | jq -r '.ranks[] | .pid, .child_pid'); do
	s=$(ps -o stat= -p "$p" 2>/dev/null)
	[ -n "$s" ] && [ "${s#Z}" = "$s" ] && left="$left $p"
done
check "no keeper or core of the run is left running" test -z "$left"

# A secret printed in an error line is redacted in the spool.
write_spec "$T/leak.json" leak \
    '[{"rank":0,"shell":true,"argv":["echo \"RuntimeError: token $HF_TOKEN rejected\"; exit 3"]}]' \
    "{\"container\":$BWRAP}"
echo '{"HF_TOKEN":"hf_canary_7f3a9c"}' |
    "$AGENT" run --secrets-stdin "$T/leak.json" >/dev/null 2>&1
wait_for 10 run_ended "$T/runs/leak/1/h1"
check "error line with a secret is spooled redacted" ev_any "$T/runs/leak/1/h1" \
    '.type == "log" and (.line | test("token \\[secret HF_TOKEN\\] rejected"))'
check "the secret is nowhere in the spool" sh -c "! grep -q hf_canary '$T/runs/leak/1/h1/events.jsonl'"
check "exit 3 recorded as failed" ev_all "$T/runs/leak/1/h1" \
    '.type == "state" and .scope == "proc" and .state == "exited"' \
    '.code == 3 and .class == "failed"'
