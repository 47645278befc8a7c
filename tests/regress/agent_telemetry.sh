# agent_telemetry.sh - device telemetry reaches the spool while a job runs.
# No GPU exists here, so a stand-in `nvidia-smi` first on PATH prints what
# the real one prints for --query-gpu ... --format=csv,noheader,nounits -l N.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/bin"
ln -s "$DROVER_SRC/tests/tools/nvidia-smi" "$T/bin/nvidia-smi"
printf '%s\n' "0, GPU-11111111-2222-3333-4444-555555555555, 97, 30123, 81559, 64, 312.50" \
    "1, GPU-66666666-7777-8888-9999-000000000000, 95, 30000, 81559, 62, [N/A]" > "$T/gpus.csv"
export DROVER_NVSMI_CSV="$T/gpus.csv"
write_spec "$T/spec.json" tel "[$(sim_proc 0 --format jsonl --steps 40 --interval 0.1)]" \
    '{"telemetry":{"interval_s":1}}'
D="$T/runs/tel/1/h1"
PATH="$T/bin:$PATH" "$AGENT" run "$T/spec.json" >/dev/null || fail "run" "exit $?"
wait_for 15 run_ended "$D"
check "telemetry events spooled during the run" ev_any "$D" '.type == "telemetry"'
check "telemetry: source and both GPUs with their figures" ev_all "$D" '.type == "telemetry"' \
    '.source == "nvidia-smi" and (.devices | length) == 2 and .devices[0].util_pct == 97 and .devices[0].mem_used_mb == 30123 and .devices[0].mem_total_mb == 81559'
check "telemetry: an [N/A] field is absent, not zero" ev_all "$D" '.type == "telemetry"' \
    '(.devices[1] | has("power_w") | not)'
check "no nvidia-smi left running after the run" sh -c "! pgrep -f '$T/bin/nvidia-sm[i]' >/dev/null"

write_spec "$T/spec2.json" notel "[$(sim_proc 0 --format jsonl --steps 3 --interval 0.05)]" \
    '{"telemetry":{"interval_s":1}}'
PATH="/usr/bin:/bin" "$AGENT" run "$T/spec2.json" >/dev/null 2>&1 ||
    PATH="$(dirname "$PY"):/usr/bin:/bin" "$AGENT" run "$T/spec2.json" >/dev/null
wait_for 10 run_ended "$T/runs/notel/1/h1"
check "no telemetry tool: no telemetry events" sh -c \
    "jq -s -e 'any(.[]; .type == \"telemetry\") | not' '$T/runs/notel/1/h1/events.jsonl'"
check "no telemetry tool: the run still succeeds" sh -c \
    "tail -n 1 '$T/runs/notel/1/h1/events.jsonl' | jq -e '.result == \"succeeded\"'"
