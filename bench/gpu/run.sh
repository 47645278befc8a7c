#!/bin/bash
# bench/gpu/run.sh - drover on a real GPU training, end to end, in one go.
#
# The workload is configs/examples/gpu/train_ddpm.py (a UNet denoiser,
# DDPM objective, bf16, accelerate + DDP, diffusers-style tqdm bar and
# checkpoints) as the 2-host task of configs/examples/gpu/ddpm-2proc.yaml:
# two "hosts" of the local transport on this machine, each its own agent
# and one accelerate process on the same GPU, NCCL over 127.0.0.1.
#
#   1. metrics: every optimizer step drover stored against the side file
#      the script wrote (bench/gpu/compare.py), on every drover run below;
#   2. failure and resume: SIGKILL the training process of host gpu2 mid
#      run; how long until drover's database has the host failed and the
#      root cause; relaunch --all; the first step of the new attempt;
#   3. overhead: the same training bare (the plan's argv started by hand,
#      output to files) and under drover, interleaved, REPEAT times each:
#      median step time (from the script's side file), and the agents'
#      CPU and memory from /proc;
#   4. telemetry: the nvidia-smi rows in the database's telemetry table.
#
# Needs build/drover and build/x86_64/drover-agent (make all agents); on a
# machine without libssh2/libyaml put them in build/lib (drover is run with
# LD_LIBRARY_PATH=build/lib). Writes summary.txt, logs.tar.gz and
# drover.db to $OUT (or bench/gpu/out). Sizes: STEPS, REPEAT, FAIL_STEPS,
# CKPT, KILL_AT, RES, CH, BATCH, BACKEND (auto|nccl|gloo), EXTRA (YAML list items
# appended to the command).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$SRC/build}
case "$BUILD" in /*) ;; *) BUILD="$SRC/$BUILD" ;; esac
RES_DIR=${OUT:-$SRC/bench/gpu/out}
W=${WORK:-/tmp/drover-gpu}
STEPS=${STEPS:-600}
REPEAT=${REPEAT:-3}
FAIL_STEPS=${FAIL_STEPS:-400}
CKPT=${CKPT:-100}
KILL_AT=${KILL_AT:-150}
RES=${RES:-32}
CH=${CH:-64}
BATCH=${BATCH:-128}
BACKEND=${BACKEND:-auto}
RUN_TIMEOUT=${RUN_TIMEOUT:-400}
EXTRA=${EXTRA:-}
PY=${PY:-python3}
H="$SRC/bench/gpu/helpers.py"

# At exit, whatever this script started and left (agents detach with
# setsid) is ended, by pid: every process whose command line or
# executable is under $W.
cleanup() {
	local p
	for p in $(cd /proc && ls -d [0-9]* 2>/dev/null); do
		[ "$p" = $$ ] && continue
		if tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q -- "$W/" ||
		    readlink /proc/$p/exe 2>/dev/null | grep -q -- "^$W/"; then
			kill -9 "$p" 2>/dev/null
		fi
	done
}
trap cleanup EXIT

rm -rf "$W"
mkdir -p "$W/home" "$RES_DIR"
export HOME="$W/home"		# the local "hosts" push agents and specs here
export DROVER_AGENT_DIR="$BUILD"
export LD_LIBRARY_PATH="$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
DROVER="$BUILD/drover"
AGENT="$HOME/.drover/bin/drover-agent"	# where the local transport pushes it
DB="$W/db"
SUM="$W/summary.txt"
: > "$SUM"
say() { printf '%s\n' "$*" | tee -a "$SUM"; }
now_ms() { date +%s%3N; }

# mkcfg NAME MAX_STEPS PORT: the example config, with this tree's paths
# and its own checkpoint folder.
mkcfg() {
	local extra=""
	[ -n "$EXTRA" ] && extra=", $EXTRA"
	sed -e "s|/opt/drover/src|$SRC|g" -e "s|/tmp/drover-gpu|$W|g" \
	    -e "s|^  name: ddpm\$|  name: $1|" \
	    -e "s|checkpoint_dir: .*|checkpoint_dir: $W/ckpt-$1|" \
	    -e "s|--max_train_steps, [0-9]*|--max_train_steps, $2|" \
	    -e "s|--checkpointing_steps, [0-9]*|--checkpointing_steps, $CKPT|" \
	    -e "s|--resolution, [0-9]*|--resolution, $RES|" \
	    -e "s|--base_channels, [0-9]*|--base_channels, $CH|" \
	    -e "s|--train_batch_size, [0-9]*|--train_batch_size, $BATCH|" \
	    -e "s|--ddp_backend, [a-z]*|--ddp_backend, $BACKEND|" \
	    -e "s|--nccl_timeout_s, \([0-9]*\)\]|--nccl_timeout_s, \1$extra]|" \
	    -e "s|master_port: [0-9]*|master_port: $3|" \
	    "$SRC/configs/examples/gpu/ddpm-2proc.yaml" > "$W/$1.yaml"
}

{
	echo "== machine"
	date -u
	uname -a
	nvidia-smi -L 2>&1
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
	$PY -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "nccl", ".".join(map(str, torch.cuda.nccl.version())) if torch.cuda.is_available() else "-")' 2>&1
	$PY -c 'import accelerate; print("accelerate", accelerate.__version__)' 2>&1 | tail -1
	command -v accelerate
	nproc
	ldd "$DROVER" | grep -E 'not found|ssh2|yaml' 
} > "$W/machine.txt" 2>&1
cat "$W/machine.txt" | tee -a "$SUM"
# NCCL refuses two ranks on one GPU of one host; with NCCL_HOSTID each
# process is a host of its own and NCCL joins them over sockets on lo.
# BACKEND=auto tries that first (an all-reduce of 2 processes) and falls
# back to gloo.
if [ "$BACKEND" = auto ]; then
	for r in 0 1; do
		NCCL_HOSTID="check-$r" NCCL_SOCKET_IFNAME=lo NCCL_IB_DISABLE=1 NCCL_NVLS_ENABLE=0 \
		    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29599 timeout 90 $PY -c '
import torch, torch.distributed as d
d.init_process_group("nccl", device_id=torch.device("cuda:0"))
t = torch.ones(4, device="cuda:0") * (d.get_rank() + 1)
d.all_reduce(t)
torch.cuda.synchronize()
print("nccl all_reduce rank", d.get_rank(), t.tolist(), "nccl", torch.cuda.nccl.version())
d.destroy_process_group()' > "$W/ncclcheck.$r.log" 2>&1 &
	done
	wait
	if [ "$(cat "$W"/ncclcheck.*.log | grep -c '^nccl all_reduce rank [01] \[3.0, 3.0, 3.0, 3.0\]')" = 2 ]; then
		BACKEND=nccl
	else
		BACKEND=gloo
		tail -5 "$W"/ncclcheck.*.log >> "$SUM"
	fi
	say "two processes, one GPU, NCCL_HOSTID per process: $(grep -h '^nccl' "$W"/ncclcheck.*.log | head -1) -> backend $BACKEND"
fi
say "sizes: STEPS=$STEPS REPEAT=$REPEAT FAIL_STEPS=$FAIL_STEPS CKPT=$CKPT KILL_AT=$KILL_AT RES=$RES CH=$CH BATCH=$BATCH BACKEND=$BACKEND EXTRA=$EXTRA"

port=29610
bare_run() {	# NAME
	mkcfg "$1" "$STEPS" $((port += 1))
	"$DROVER" plan --json "$W/$1.yaml" --set cluster.base_dir="$W/bare" > "$W/$1.plan.json" ||
	    { say "bare $1: plan failed"; return 1; }
	local t0=$(now_ms)
	timeout "$RUN_TIMEOUT" $PY "$H" bare "$W/$1.plan.json" > "$W/$1.bare.out" 2>&1
	local rc=$?
	say "bare $1: exit $rc, $(( ($(now_ms) - t0) / 1000 )) s"
}

drover_run() {	# NAME
	mkcfg "$1" "$STEPS" $((port += 1))
	rm -f "$W/$1.stop"
	$PY "$H" procstat "$W/$1.procstat.json" "$W/$1.stop" "$AGENT" "$DROVER" nvidia-smi &
	local sp=$! t0=$(now_ms)
	timeout "$RUN_TIMEOUT" "$DROVER" launch --follow --db "$DB" "$W/$1.yaml" > "$W/$1.out" 2> "$W/$1.err"
	local rc=$?
	touch "$W/$1.stop"
	wait $sp
	say "drover $1: launch --follow exit $rc, $(( ($(now_ms) - t0) / 1000 )) s"
	"$DROVER" metrics --db "$DB" "$1" --format csv > "$W/$1.csv"
	$PY "$SRC/bench/gpu/compare.py" "$W/$1.csv" \
	    "1:gpu1:$W/runs/$1/1/gpu1/side.jsonl" "1:gpu2:$W/runs/$1/1/gpu2/side.jsonl" \
	    > "$W/$1.compare" 2>&1
	say "metrics $1: $(head -2 "$W/$1.compare" | tr '\n' ';')"
	grep -v '^{' "$W/$1.compare" | sed -n '3,12p' >> "$SUM"
	say "agents $1: $($PY -c 'import json,sys; r=json.load(open(sys.argv[1])); a=r["exe"][sys.argv[3]]; d=r["exe"][sys.argv[2]]; n=r["exe"]["nvidia-smi"]; print("drover-agent x%d (both hosts): CPU %.3f %% of a core, peak RSS %.1f MiB, peak PSS %.1f MiB; their nvidia-smi x%d: CPU %.3f %%, peak RSS %.1f MiB; drover (head): CPU %.3f %%, peak RSS %.1f MiB; window %.0f s" % (a["max_processes"], a["cpu_pct_of_one_core"], a["peak_rss_mb"], a["peak_pss_mb"], n["max_processes"], n["cpu_pct_of_one_core"], n["peak_rss_mb"], d["cpu_pct_of_one_core"], d["peak_rss_mb"], r["wall_s"]))' "$W/$1.procstat.json" "$DROVER" "$AGENT")"
}

# 1 + 3: interleaved bare and drover runs.
i=1
while [ $i -le "$REPEAT" ]; do
	bare_run "ddpm-b$i"
	drover_run "ddpm-d$i"
	i=$((i + 1))
done

say "== overhead (median step time of each run, steps > 20, from the script's side file of gpu1 / gpu2)"
for k in b d; do
	i=1
	while [ $i -le "$REPEAT" ]; do
		n="ddpm-$k$i"
		base="$W/runs"; [ $k = b ] && base="$W/bare"
		s1=$($PY "$H" stepstats "$base/$n/1/gpu1/side.jsonl" 20)
		s2=$($PY "$H" stepstats "$base/$n/1/gpu2/side.jsonl" 20)
		echo "$n $s1" >> "$W/stepstats.txt"
		echo "$n.gpu2 $s2" >> "$W/stepstats.txt"
		i=$((i + 1))
	done
done
$PY - "$W/stepstats.txt" <<'EOF' | tee -a "$SUM"
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
	name, js = line.split(" ", 1)
	runs[name] = json.loads(js)
def med(k):
	v = [r["median_step_ms"] for n, r in runs.items() if n.startswith("ddpm-" + k) and "." not in n and r["median_step_ms"]]
	return v, (statistics.median(v) if v else None)
bv, b = med("b")
dv, d = med("d")
print("bare   medians ms:", " ".join("%.3f" % x for x in bv), "-> median %.3f" % b if b else "")
print("drover medians ms:", " ".join("%.3f" % x for x in dv), "-> median %.3f" % d if d else "")
if b and d:
	print("step time drover/bare = %.4f; throughput drover/bare = %.4f (goal >= 0.99)" % (d / b, b / d))
for n, r in sorted(runs.items()):
	print("  %-12s steps %4d median %.3f ms, mean %.3f ms, loss first 20 %.4f -> last 50 %.4f (all-rank avg %.4f)" % (
	    n, r["steps"], r["median_step_ms"] or 0, r["mean_step_ms"] or 0, r["loss_first20_mean"] or 0,
	    r["loss_last50_mean"] or 0, r["avg_loss_last50_mean"] or 0))
EOF

# 4: telemetry of the first drover run.
say "== telemetry (ddpm-d1): $($PY "$H" telemetry "$DB" ddpm-d1)"

# 2: failure and resume.
say "== failure and resume"
F=ddpm-f
tk=0
mkcfg $F "$FAIL_STEPS" $((port += 1))
"$DROVER" launch --follow --db "$DB" "$W/$F.yaml" > "$W/$F.out" 2> "$W/$F.err" &
fp=$!
side2="$W/runs/$F/1/gpu2/side.jsonl"
if last=$($PY "$H" wait-step "$side2" "$KILL_AT" 300); then
	victim=$(printf '%s' "$last" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
	ckpts=$(ls "$W/ckpt-$F" 2>/dev/null | tr '\n' ' ')
	tk=$(now_ms)
	kill -9 "$victim"
	sleep 0.2
	kstep=$(tail -1 "$side2" | $PY -c 'import json,sys; print(json.load(sys.stdin)["step"])')
	say "SIGKILL to pid $victim (train_ddpm.py of gpu2, rank 1) after its step $kstep; checkpoints then: $ckpts"
	det=""
	while [ $(( $(now_ms) - tk )) -lt 60000 ]; do
		st=$($PY "$H" host-state "$DB" $F gpu2 2>/dev/null)
		case "$st" in failed*) det=$(now_ms); break ;; esac
		sleep 0.05
	done
	if [ -n "$det" ]; then
		say "gpu2 failed in the database $((det - tk)) ms after the kill (polled every 50 ms): $(printf '%s' "$st" | cut -f2)"
	else
		say "gpu2 not failed in the database 60 s after the kill: $st"
	fi
	sleep 3
	"$DROVER" status --db "$DB" $F > "$W/$F.status1.txt" 2>&1
	$PY "$H" audit "$DB" $F > "$W/$F.audit1.jsonl"
	grep -i 'root' "$W/$F.status1.txt" | tee -a "$SUM"
	$PY - "$W/$F.audit1.jsonl" "$tk" <<'EOF' | tee -a "$SUM"
import json, sys
tk = int(sys.argv[2])
for line in open(sys.argv[1]):
	r = json.loads(line)
	if r["t"] >= tk - 1000:
		print("  audit +%d ms: %s %s %s -> %s: %s" % (r["t"] - tk, r["host"], r["kind"], r["from"], r["to"], r["reason"]))
EOF
	sed -n '1,40p' "$W/$F.status1.txt" >> "$W/$F.status1.short"
	st1=$($PY "$H" host-state "$DB" $F gpu1)
	say "gpu1 (the survivor) 3 s later: $st1"
else
	say "never reached step $KILL_AT on gpu2; see $F.err"
fi
kill -INT $fp 2>/dev/null
wait $fp
say "launch --follow ended (SIGINT): exit $?"
t0=$(now_ms)
timeout "$RUN_TIMEOUT" "$DROVER" relaunch --db "$DB" $F --all --follow > "$W/$F.relaunch.out" 2> "$W/$F.relaunch.err"
rc=$?
say "relaunch --all --follow: exit $rc, $(( ($(now_ms) - t0) / 1000 )) s"
grep -h 'Resuming from checkpoint' "$W"/runs/$F/2/*/rank-*.log | sed 's/^/  /' | tee -a "$SUM"
# Where the time to detection went: the agent's exit event (its clock)
# and the root-cause row; then every audit row of attempt 1 after the kill.
$PY "$H" audit "$DB" $F > "$W/$F.audit2.jsonl"
$PY - "$W/runs/$F/1/gpu2/events.jsonl" "$W/$F.audit2.jsonl" "$tk" <<'EOF' | tee -a "$SUM"
import json, sys
tk = int(sys.argv[3])
for line in open(sys.argv[1]):
	e = json.loads(line)
	if e.get("type") == "state" and e.get("scope") == "proc" and e.get("state") == "exited":
		print("  gpu2's agent saw its process (accelerate launch) exit +%d ms after the kill: %s" % (e["t"] - tk, e.get("reason")))
roots = []
for line in open(sys.argv[2]):
	r = json.loads(line)
	if r["attempt"] == 1 and r["t"] >= tk:
		print("  attempt 1 audit +%d ms: %s %s %s -> %s: %s" % (r["t"] - tk, r["host"], r["kind"], r["from"], r["to"], r["reason"]))
		if r["kind"] == "root_cause":
			roots.append(r["reason"])
print("  root causes recorded for attempt 1: %d: %s" % (len(roots), " | ".join(roots)))
EOF
"$DROVER" status --db "$DB" $F > "$W/$F.status2.txt" 2>&1
head -3 "$W/$F.status2.txt" | tee -a "$SUM"
"$DROVER" metrics --db "$DB" $F --format csv > "$W/$F.csv"
$PY - "$W/$F.csv" <<'EOF' | tee -a "$SUM"
import csv, sys
f = {}
for r in csv.DictReader(open(sys.argv[1])):
	k = (r["attempt"], r["host"])
	s = int(r["step"])
	lo, hi = f.get(k, (s, s))
	f[k] = (min(lo, s), max(hi, s))
for k in sorted(f):
	print("  attempt %s %s: steps %d..%d in drover" % (k[0], k[1], f[k][0], f[k][1]))
EOF
# attempt 1 ended by the kill: compare up to the step before the kill's
last1=$(tail -1 "$W/runs/$F/1/gpu2/side.jsonl" | $PY -c 'import json,sys; print(json.load(sys.stdin)["step"] - 1)')
$PY "$SRC/bench/gpu/compare.py" "$W/$F.csv" \
    "1:gpu1:$W/runs/$F/1/gpu1/side.jsonl" "1:gpu2:$W/runs/$F/1/gpu2/side.jsonl" \
    "2:gpu1:$W/runs/$F/2/gpu1/side.jsonl" "2:gpu2:$W/runs/$F/2/gpu2/side.jsonl" \
    --cut "1:gpu1:$last1" --cut "1:gpu2:$last1" > "$W/$F.compare" 2>&1
grep -v '^{' "$W/$F.compare" | tee -a "$SUM"

# What comes back.
cp "$SUM" "$RES_DIR/summary.txt"
(cd "$W" && for f in *.err *.out *.relaunch.* *.csv *.compare *.procstat.json *.plan.json \
    stepstats.txt machine.txt ncclcheck.*.log *.status*.txt *.audit*.jsonl *.yaml; do [ -e "$f" ] && echo "$f"; done;
    find runs bare -name 'side.jsonl' -o -name 'events.jsonl' -o -name 'agent.log' -o -name 'accelerate_config.yaml';
    find runs bare -name 'rank-*.log' -size -2M) > "$W/files.txt"
tar -C "$W" -czf "$RES_DIR/logs.tar.gz" -T "$W/files.txt" 2>/dev/null
cp "$DB" "$RES_DIR/drover.db" 2>/dev/null
ls -la "$RES_DIR"
