#!/bin/sh
# latency.sh - how long a metric line written on a rig host takes to be a
# row in the head node's database: N hosts (default 64) each print a JSON
# metric line 10 times a second for S seconds (bench/latency_core.py; each
# line carries t_emit, when it was written), launched and followed by
# `drover launch --follow`; a row's latency is its `stored` time minus its
# t_emit (same clock: the rig's hosts are namespaces of this machine).
# The peer, in the same run on the same lines: what the bash status quo
# sees, one `ssh HOST tail -F` per host, the latency being when the line
# reached the head node. Prints p50 / p99 / max of both. Needs root.
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
trap 'kill $peer 2>/dev/null; sh "$RIG" down --dir "$D/rig" >/dev/null 2>&1; rm -rf "$RUNS" "$D"' EXIT
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

"$DROVER" launch --follow --db "$D/drover.db" "$D/task.yaml" 2> "$D/launch.err" &
dpid=$!
# The peer: one ssh tail -F per host, started once the files exist.
i=0
while [ "$(ls "$RUNS"/latency/1/*/copy.log 2>/dev/null | wc -l)" -lt "$N" ] && [ $i -lt 300 ]; do
	sleep 0.1; i=$((i + 1))
done
python3 - "$RIG_SSH_CONFIG" "$RUNS/latency/1" "$D/peer.txt" $(cat "$RIG_DIR/hosts") <<'EOF' &
import json, os, selectors, subprocess, sys, time
cfg, runs, out = sys.argv[1], sys.argv[2], sys.argv[3]
sel = selectors.DefaultSelector()
procs = []
for h in sys.argv[4:]:
    p = subprocess.Popen(["ssh", "-F", cfg, h, "tail", "-n", "+1", "-F",
                          "%s/%s/copy.log" % (runs, h)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.set_blocking(p.stdout.fileno(), False)
    sel.register(p.stdout, selectors.EVENT_READ, [b""])
    procs.append(p)
lat = []
deadline = time.time() + float(os.environ.get("PEER_SECS", "60"))
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
                    f.write("%d\n" % (now - json.loads(l)["t_emit"]))
                except Exception:
                    pass
for p in procs:
    p.kill()
EOF
peer=$!
export PEER_SECS=$((SECS + 20))
wait $dpid
rc=$?
sleep 2
kill $peer 2>/dev/null
wait $peer 2>/dev/null

sqlite3 "$D/drover.db" "select stored - json_extract(extras, '\$.t_emit') from metrics" > "$D/drover.txt"
python3 - "$D/drover.txt" "$D/peer.txt" "$N" "$RATE" "$SECS" "$rc" <<'EOF'
import sys
def stats(path):
    v = sorted(float(x) for x in open(path) if x.strip())
    if not v:
        return None
    q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
    return len(v), q(0.5), q(0.99), v[-1]
n, rate, secs, rc = sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
print("latency: %s hosts x %s steps/s for %s s; drover launch --follow exit %s"
      % (n, rate, secs, rc))
print("%-28s %8s %8s %8s %8s" % ("", "lines", "p50_ms", "p99_ms", "max_ms"))
for name, path in (("drover (line -> row stored)", sys.argv[1]),
                   ("peer: ssh tail -F (arrival)", sys.argv[2])):
    s = stats(path)
    if s is None:
        print("%-28s no data" % name)
    else:
        print("%-28s %8d %8.0f %8.0f %8.0f" % ((name,) + s))
EOF
