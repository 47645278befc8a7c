#!/usr/bin/env python3
"""measure.py - runs a command line REPEAT times and prints, as JSON, the
median wall time and the median CPU (user+sys) of everything it ran (the
command and all its children), from getrusage(RUSAGE_CHILDREN) deltas.
Used by bench/fanout.sh; the command must exit 0 or the run is reported
as failed.

  measure.py REPEAT -- CMD ARGS...
"""
import json, resource, statistics, subprocess, sys, time


def main():
    repeat = int(sys.argv[1])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    walls, cpus, fails = [], [], 0
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        t1 = time.monotonic()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            fails += 1
        walls.append(t1 - t0)
        cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    print(json.dumps({"wall_s": statistics.median(walls),
                      "cpu_s": statistics.median(cpus),
                      "runs": repeat, "failed_runs": fails}))


if __name__ == "__main__":
    main()
