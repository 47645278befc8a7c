# examples_plan.sh - every ready config in configs/examples (and the demo's)
# passes `drover plan`, stage by stage, and plans what its header says:
# the HCCL example's merged rank table against one written by hand from
# the two hosts' tables, the launcher argv of each, the rendered
# accelerate configs; every cluster file plans under a small task; a rank
# table that is missing or broken is refused with the file named.
. "$(dirname "$0")/lib.sh"

DROVER="$BUILD/drover"
EX="$DROVER_SRC/configs/examples"
export HOME="$T/home"
mkdir -p "$HOME"

# plan_ok NAME FILE [ARGS...]: drover plan exits 0 (text and --json).
plan_ok() {
	name=$1; shift
	if "$DROVER" plan "$@" > "$T/plan.txt" 2> "$T/plan.err" &&
	    "$DROVER" plan --json "$@" > "$T/plan.json" 2>> "$T/plan.err"; then
		pass "$name"
	else
		fail "$name" "$(head -n 3 "$T/plan.err")"
	fi
}
# pj NAME JQ: the last --json plan satisfies JQ.
pj() {
	check "$1" jq -e "$2" "$T/plan.json"
}

n=0
for f in "$EX"/*.yaml; do
	n=$((n + 1))
	stages=$(sed -n 's/^    - name: \([A-Za-z0-9_.-]*\).*/\1/p' "$f")
	for s in ${stages:-main}; do
		if [ -n "$stages" ]; then set -- --stage "$s"; else set --; fi
		plan_ok "$(basename "$f") ${s}: drover plan" "$f" "$@"
	done
done
check "there are examples to plan ($n)" test "$n" -ge 5

# --- MindONE SDXL on 910B: the seed launcher's job -----------------------
f="$EX/mindone-sdxl-910b.yaml"
plan_ok "mindone-sdxl-910b: plan" "$f"
jq -S '.rank_table' "$T/plan.json" > "$T/rt.json"
jq -S . "$DROVER_SRC/tests/data/ranktables/examples_sdxl_910b_merged.json" > "$T/rt_want.json"
check "mindone-sdxl-910b: the merged rank table is the expected one" \
    cmp -s "$T/rt.json" "$T/rt_want.json"
pj "mindone-sdxl-910b: table: 2 servers in id order, ranks 0-15, host 2's devices keep their IPs" \
    '.rank_table.server_count == "2" and
     [.rank_table.server_list[].server_id] == ["192.168.203.2", "192.168.203.3"] and
     [.rank_table.server_list[].device[].rank_id] == [range(16) | tostring] and
     .rank_table.server_list[1].device[7].device_ip == "192.98.11.8"'
pj "mindone-sdxl-910b: 8 processes a host, DEVICE_ID 0-7, RANK_ID 8-15 on the second" \
    '[.hosts[1].spec.processes[] | [.env.DEVICE_ID, .env.RANK_ID]] ==
     [range(8) | [tostring, (. + 8 | tostring)]]'
pj "mindone-sdxl-910b: HCCL env: RANK_SIZE 16, timeout 7200, the table file" \
    'all(.hosts[].spec.env; .RANK_SIZE == "16" and .DEVICE_NUM == "8" and
     .HCCL_CONNECT_TIMEOUT == "7200" and (.RANK_TABLE_FILE | endswith("/rank_table.json")))'
pj "mindone-sdxl-910b: docker exec into mindspore1212 as ml" \
    'all(.hosts[].spec.container; . == {"runtime": "docker-exec", "name": "mindspore1212"})'
pj "mindone-sdxl-910b: train.py with the weight, data, snr_gamma, timestep bias, lpw" \
    '.hosts[0].spec.processes[0].argv | join(" ") |
     test("^python train.py --config configs/training/sd_xl_base_finetune_910b.yaml --weight checkpoints/sd_xl_base_1.0_ms.ckpt --data_path /data/pokemon_blip/train .*--snr_gamma 5.0 --timestep_bias_strategy range .*--lpw True$")'
pj "mindone-sdxl-910b: metrics from device 0 only" \
    '[.hosts[].spec.processes[] | .metrics] == (([true] + [range(7) | false]) as $h | $h + $h)'
check "mindone-sdxl-910b: the rendered table is in each host's files" jq -e \
    '[.hosts[].spec.files[] | select(.path == "rank_table.json")] | length == 2' "$T/plan.json"
check "mindone-sdxl-910b: host user and a 45-minute compile grace in the file" sh -c \
    "grep -q '^  user: ml\$' '$f' && grep -q '^  compile_grace_s: 2700 ' '$f'"

# The same config with a table missing, then a broken one: refused, named.
mkdir -p "$T/ex/rank_tables"
cp "$f" "$T/ex/"
cp "$EX"/rank_tables/hccl_8p_01234567_192.168.203.2.json "$T/ex/rank_tables/"
"$DROVER" plan "$T/ex/mindone-sdxl-910b.yaml" > /dev/null 2> "$T/miss.err"
check "a missing rank table: refused, the file named" sh -c \
    "[ $? != 0 ] && grep -q 'hccl_8p_01234567_192.168.203.3.json: No such file' '$T/miss.err'"
echo '{"version": "1.0", "server_list": [' > "$T/ex/rank_tables/hccl_8p_01234567_192.168.203.3.json"
"$DROVER" plan "$T/ex/mindone-sdxl-910b.yaml" > /dev/null 2> "$T/bad.err"
check "a broken rank table: refused, the file named" sh -c \
    "[ $? != 0 ] && grep -q '192.168.203.3.json' '$T/bad.err'"

# --- the MindONE pipeline ------------------------------------------------
f="$EX/mindone-sdxl-cache-train-merge-infer.yaml"
plan_ok "pipeline: cache stage" "$f" --stage cache
pj "pipeline: cache: --task cache on 16 NPUs with the merged table" \
    '.stage == "cache" and .world_size == 16 and .rank_table.server_count == "2" and
     (.hosts[0].spec.processes[0].argv | index("--task") as $i | .[$i + 1] == "cache")'
plan_ok "pipeline: merge stage" "$f" --stage merge
pj "pipeline: merge: merge_weight.py, plain, node 0 only" \
    '.launcher == "plain" and (.hosts[0].spec.processes[0].argv[-1] |
     test("node_rank|^\\[ 0 = 0 \\]") and test("tools/weight_merge/merge_weight.py"))'
plan_ok "pipeline: infer stage" "$f" --stage infer
pj "pipeline: infer: sampling_without_streamlit.py" \
    '.hosts[0].spec.processes[0].argv[-1] | test("demo/sampling_without_streamlit.py")'

# --- kohya over torchrun ---------------------------------------------------
f="$EX/sd-scripts-sdxl-multinode.yaml"
plan_ok "sd-scripts: plan" "$f"
pj "sd-scripts: one torchrun a node, node rank 1 of 2, 8 processes, sdxl_train.py" \
    '.hosts[1].spec.processes[0].argv[0:11] == ["torchrun", "--nnodes", "2", "--node_rank", "1",
     "--nproc_per_node", "8", "--master_addr", "gpu01", "--master_port", "29500"] and
     .hosts[1].spec.processes[0].argv[11] == "sdxl_train.py"'
pj "sd-scripts: bucketing, fp16, gradient checkpointing; kohya parser; the bastion cluster's container" \
    '(.hosts[0].spec.processes[0].argv | index("--enable_bucket") != null and
      index("--gradient_checkpointing") != null and (index("--mixed_precision") as $i | .[$i + 1] == "fp16")) and
     .hosts[0].spec.parser.format == "kohya" and .hosts[0].spec.container.runtime == "docker-run"'

# --- SANA LoRA: accelerate + DeepSpeed ---------------------------------------
f="$EX/diffusers-sana-lora-deepspeed.yaml"
plan_ok "sana: train stage" "$f" --stage train
jq -r '.hosts[1].spec.files[] | select(.path == "accelerate_config.yaml") | .content' \
    "$T/plan.json" > "$T/acc.json"
check "sana: node 1's accelerate config: ZeRO-2, bf16, standard launcher, rank 1 of 2, 16 processes" jq -e \
    '.distributed_type == "DEEPSPEED" and .deepspeed_config.zero_stage == 2 and
     .deepspeed_config.deepspeed_multinode_launcher == "standard" and .mixed_precision == "bf16" and
     .machine_rank == 1 and .num_machines == 2 and .num_processes == 16 and .main_process_ip == "gpu01"' \
    "$T/acc.json"
pj "sana: accelerate launch of train_dreambooth_lora_sana.py, bf16" \
    '.hosts[0].spec.processes[0].argv | .[0:2] == ["accelerate", "launch"] and
     index("train_dreambooth_lora_sana.py") != null and (index("--mixed_precision") as $i | .[$i + 1] == "bf16")'
plan_ok "sana: infer stage" "$f" --stage infer
pj "sana: infer: 4 processes a node" '.hosts[0].spec.processes[0].argv | index("--num_processes") as $i | .[$i + 1] == "8"'

# --- SD 1.x LoRA, fp32 and fp16 --------------------------------------------
f="$EX/diffusers-sd15-lora.yaml"
for p in fp32:no fp16:fp16; do
	s=${p%%:*}; want=${p#*:}
	plan_ok "sd15: $s stage" "$f" --stage "$s"
	pj "sd15: $s: mixed_precision $want, one GPU in docker run, its own output dir" \
	    "(.hosts[0].spec.files[0].content | fromjson | .mixed_precision == \"$want\") and
	     .hosts[0].spec.container.accelerator == \"nvidia\" and
	     (.hosts[0].spec.processes[0].argv | index(\"--output_dir\") as \$i | .[\$i + 1] | endswith(\"/$s\"))"
done

# --- cluster files under a small task ---------------------------------------
for c in ascend-910b:2 gpu-bastion:4 localhost:1; do
	name=${c%%:*}; hosts=${c#*:}
	cat > "$T/c-$name.yaml" <<YAML
cluster: $EX/clusters/$name.yaml
task:
  name: probe
  command: [hostname]
YAML
	plan_ok "clusters/$name.yaml: plan" "$T/c-$name.yaml"
	pj "clusters/$name.yaml: $hosts hosts" ".hosts | length == $hosts"
done

# --- the demo's config ----------------------------------------------------
plan_ok "configs/demo/demo.yaml: plan" "$DROVER_SRC/configs/demo/demo.yaml" \
    --set "task.cwd=$DROVER_SRC/configs/demo"
pj "demo: 4 local hosts, parser auto, demo3 fails once" \
    '(.hosts | length) == 4 and all(.hosts[].spec.parser; .format == "auto") and
     (.hosts[2].spec.processes[0].argv[-1] | test("fail=\"--fail-at 100\""))'
