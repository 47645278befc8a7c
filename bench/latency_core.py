#!/usr/bin/env python3
"""latency_core.py - the training core of bench/latency.sh: prints a JSON
metric line RATE times a second for SECONDS, each carrying t_emit, the
unix time in ms at which it was written, and appends the same line to
--copy FILE (what the `tail -F` peer reads)."""
import json, sys, time

rate = float(sys.argv[1]); seconds = float(sys.argv[2])
copy = open(sys.argv[3], "a", buffering=1) if len(sys.argv) > 3 else None
n = int(rate * seconds)
start = time.time()
for step in range(1, n + 1):
    delay = start + step / rate - time.time()
    if delay > 0:
        time.sleep(delay)
    line = json.dumps({"step": step, "total_steps": n, "loss": 1.0 / step,
                       "t_emit": int(time.time() * 1000)})
    print(line, flush=True)
    if copy:
        copy.write(line + "\n")
