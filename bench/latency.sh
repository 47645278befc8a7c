#!/bin/sh
# latency.sh - how long a metric line written on a rig host takes to be a
# row in the head node's database: N hosts (default 64) each print a JSON
# metric line 10 times a second for S seconds (bench/latency_core.py; each
# line carries t_emit, when it was written), launched and followed by
# `drover launch --follow`; a row's latency is its `stored` time minus its
# t_emit (same clock: the rig's hosts are namespaces of this machine).
# The peer, in the same run on the same lines: what the bash status quo
# sees, one `ssh HOST tail -F` per host, the latency being when the line
# reached the head node, measured after drover's run on the same rig and
# workload (started again; nothing follows it). Prints p50 / p99 / max of
# both, over all lines and over those after the first 10 s. Needs root.
set -u
: "${DROVER_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$DROVER_SRC/build}"
case "$BUILD" in /*) ;; *) BUILD="$DROVER_SRC/$BUILD" ;; esac
DROVER="$BUILD/drover"
RIG="$DROVER_SRC/tests/rig/rig.sh"
N=${N:-64}
SECS=${SECS:-30}
RATE=${RATE:-10}

[ "$(id -u)" = 0 ] || { echo "bench/latency.sh: needs root (the rig)" >&2; exit 1; }
D=$(mktemp -d /tmp/drover-latency.XXXXXX)
chmod 755 "$D"
trap 'sh "$RIG" down --dir "$D/rig" >/dev/null 2>&1; rm -rf "$RUNS" "$D"' EXIT
RUNS=/nonexistent
sh "$RIG" up "$N" --dir "$D/rig" >/dev/null || { echo "rig up failed" >&2; exit 1; }
. "$D/rig/env"
export DROVER_SSH_CONFIG="$RIG_SSH_CONFIG" DROVER_AGENT_DIR="$BUILD"
mkdir -p "$D/w"
cp "$DROVER_SRC/bench/latency_core.py" "$D/w/"
chmod -R a+rX "$D/w"
home=$(getent passwd "$RIG_USER" | cut -d: -f6)
RUNS="$home/drover-latency-$$"
cat > "$D/task.yaml" <<EOF
cluster:
  hosts: "^$RIG_DIR/hosts"
  transport: libssh2
  base_dir: ~/drover-latency-$$
  fanout: 64
task:
  name: latency
  command: [python3, "$D/w/latency_core.py", "$RATE", "$SECS", "\${run_dir}/copy.log"]
  launcher: plain
  parser: jsonl
EOF

# 1. drover: launch and follow, nothing else running.
"$DROVER" launch --follow --db "$D/drover.db" "$D/task.yaml" 2> "$D/launch.err"
rc=$?

# 2. The peer, on the same rig and workload, alone: the workload started
# again (by drover, which then leaves it: nothing follows it), one ssh
# tail -F per host reading the lines as they are written.
"$DROVER" launch --db "$D/peer.db" --set task.name=latencypeer "$D/task.yaml" > /dev/null 2> "$D/peer-launch.err"
# (run directories are BASE/TASK-ID/ATTEMPT/HOST)
peer_runs=$(ls -d "$RUNS"/latencypeer-*/1 2>/dev/null | head -n 1)
python3 - "$RIG_SSH_CONFIG" "${peer_runs:-$RUNS/latencypeer-?/1}" "$D/peer.txt" $((SECS + 5)) $(cat "$RIG_DIR/hosts") <<'EOF'
import json, os, selectors, subprocess, sys, time
cfg, runs, out, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
sel = selectors.DefaultSelector()
procs = []
for h in sys.argv[5:]:
    p = subprocess.Popen(["ssh", "-F", cfg, h, "tail", "-n", "+1", "-F",
                          "%s/%s/copy.log" % (runs, h)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.set_blocking(p.stdout.fileno(), False)
    sel.register(p.stdout, selectors.EVENT_READ, [b""])
    procs.append(p)
deadline = time.time() + secs
with open(out, "w") as f:
    while time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.read()
            if not data:
                continue
            now = time.time() * 1000
            buf = key.data[0] + data
            *lines, key.data[0] = buf.split(b"\n")
            for l in lines:
                try:
                    te = json.loads(l)["t_emit"]
                    f.write("%d %d\n" % (now - te, te))
                except Exception:
                    pass
for p in procs:
    p.kill()
EOF

sqlite3 -separator ' ' "$D/drover.db" "select stored - json_extract(extras, '\$.t_emit'), json_extract(extras, '\$.t_emit') from metrics" > "$D/drover.txt"
python3 - "$D/drover.txt" "$D/peer.txt" "$N" "$RATE" "$SECS" "$rc" <<'EOF'
import sys
rows = {}
for name in ("d", "p"):
    path = sys.argv[1] if name == "d" else sys.argv[2]
    rows[name] = [tuple(float(y) for y in x.split()) for x in open(path)
                  if len(x.split()) == 2]
# Steady state: lines written after the run's first 10 s (64 hosts
# starting at once on this machine's 2 cores).
def stats(name, steady):
    t0 = min(r[1] for r in rows[name]) if rows[name] else 0
    v = sorted(r[0] for r in rows[name] if not steady or r[1] > t0 + 10000)
    if not v:
        return None
    q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
    return len(v), q(0.5), q(0.99), v[-1]
n, rate, secs, rc = sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
print("latency: %s hosts x %s steps/s for %s s; drover launch --follow exit %s"
      % (n, rate, secs, rc))
print("%-40s %8s %8s %8s %8s" % ("", "lines", "p50_ms", "p99_ms", "max_ms"))
for label, name in (("drover (line -> row stored)", "d"),
                    ("peer: ssh tail -F (line arrived)", "p")):
    for steady in (False, True):
        s = stats(name, steady)
        what = label + (", after 10 s" if steady else ", all")
        if s is None:
            print("%-40s no data" % what)
        else:
            print("%-40s %8d %8.0f %8.0f %8.0f" % ((what,) + s))
EOF
