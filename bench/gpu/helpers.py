#!/usr/bin/env python3
"""helpers.py - the parts of bench/gpu/run.sh that want Python (no jq there).

  helpers.py bare PLAN.json            run every host's processes of a
                                       `drover plan --json` by hand, the way
                                       a bash launcher does (cwd = run dir,
                                       the spec's env + PYTHONUNBUFFERED=1,
                                       output > rank-N.log); wait; exit 0
                                       only if all exited 0
  helpers.py procstat OUT.json STOPFILE EXE...
                                       sample /proc every 0.5 s for processes
                                       whose executable is one of EXE (by
                                       path, or by name when EXE has no '/')
                                       until STOPFILE exists: CPU % of one
                                       core and peak RSS / PSS, per EXE
  helpers.py wait-step SIDE.jsonl N TIMEOUT_S
                                       wait until the side file has step >= N;
                                       print the last record
  helpers.py host-state DB TASK HOST   print "STATE<TAB>REASON" of HOST in
                                       the latest attempt (read-only SQLite)
  helpers.py stepstats SIDE.jsonl SKIP median step time of the steps > SKIP
                                       (and loss at the start and the end)
  helpers.py telemetry DB TASK         telemetry rows of the task's attempts
  helpers.py audit DB TASK             the task's audit rows, as JSON lines
"""
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time


def cmd_bare(plan_path):
	plan = json.load(open(plan_path))
	procs = []
	for h in plan["hosts"]:
		spec = h["spec"]
		rd = h["run_dir"]
		os.makedirs(rd, exist_ok=True)
		for f in spec.get("files", []):
			p = os.path.join(rd, f["path"])
			with open(p, "w") as fh:
				fh.write(f["content"])
		for p in spec["processes"]:
			env = dict(os.environ)
			env.update(spec.get("env", {}))
			env.update(p.get("env", {}))
			env["PYTHONUNBUFFERED"] = "1"
			log = open(os.path.join(rd, "rank-%d.log" % p["rank"]), "w")
			procs.append((h["host"], subprocess.Popen(p["argv"], cwd=p.get("cwd", spec.get("cwd", rd)),
			    env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)))
	rc = 0
	for host, pr in procs:
		r = pr.wait()
		print(f"bare {host}: exit {r}")
		rc = rc or (r != 0)
	return rc


def _ticks(pid):
	with open(f"/proc/{pid}/stat") as f:
		s = f.read()
	fields = s[s.rindex(")") + 2:].split()
	return int(fields[11]) + int(fields[12])


def _status_kb(pid, key):
	with open(f"/proc/{pid}/status") as f:
		for line in f:
			if line.startswith(key + ":"):
				return int(line.split()[1])
	return 0


def _pss_kb(pid):
	try:
		with open(f"/proc/{pid}/smaps_rollup") as f:
			for line in f:
				if line.startswith("Pss:"):
					return int(line.split()[1])
	except OSError:
		pass
	return 0


def cmd_procstat(out, stop, exes):
	hz = os.sysconf("SC_CLK_TCK")
	first = {}	# pid -> (exe, ticks when first seen, seen at start?)
	last = {}	# pid -> ticks
	peak = {e: {"rss_kb": 0, "pss_kb": 0, "nproc": 0} for e in exes}
	t0 = time.time()
	samples = 0
	while True:
		per = {e: [0, 0, 0] for e in exes}
		for d in os.listdir("/proc"):
			if not d.isdigit():
				continue
			pid = int(d)
			try:
				exe = os.readlink(f"/proc/{pid}/exe")
			except OSError:
				continue
			exe = exe.removesuffix(" (deleted)")
			m = None
			for e in exes:
				if (e == exe) if "/" in e else (os.path.basename(exe) == e):
					m = e
					break
			if m is None:
				continue
			try:
				t = _ticks(pid)
				rss = _status_kb(pid, "VmRSS")
				pss = _pss_kb(pid)
			except OSError:
				continue
			if pid not in first:
				first[pid] = (m, t if samples == 0 else 0)
			last[pid] = t
			per[m][0] += rss
			per[m][1] += pss
			per[m][2] += 1
		for e in exes:
			peak[e]["rss_kb"] = max(peak[e]["rss_kb"], per[e][0])
			peak[e]["pss_kb"] = max(peak[e]["pss_kb"], per[e][1])
			peak[e]["nproc"] = max(peak[e]["nproc"], per[e][2])
		samples += 1
		if os.path.exists(stop):
			break
		time.sleep(0.5)
	wall = time.time() - t0
	res = {"wall_s": wall, "samples": samples, "exe": {}}
	for e in exes:
		ticks = sum(last[p] - first[p][1] for p in first if first[p][0] == e)
		res["exe"][e] = {"cpu_pct_of_one_core": ticks / hz / wall * 100 if wall > 0 else None,
		    "cpu_s": ticks / hz, "peak_rss_mb": peak[e]["rss_kb"] / 1024,
		    "peak_pss_mb": peak[e]["pss_kb"] / 1024, "max_processes": peak[e]["nproc"],
		    "pids_seen": sum(1 for p in first if first[p][0] == e)}
	json.dump(res, open(out, "w"), indent=1)
	return 0


def _side(path):
	out = []
	try:
		with open(path) as f:
			for line in f:
				if line.endswith("\n"):
					out.append(json.loads(line))
	except FileNotFoundError:
		pass
	return out


def cmd_wait_step(path, n, timeout):
	end = time.time() + timeout
	while time.time() < end:
		s = _side(path)
		if s and s[-1]["step"] >= n:
			print(json.dumps(s[-1]))
			return 0
		time.sleep(0.05)
	print(f"timed out waiting for step {n} in {path}", file=sys.stderr)
	return 1


def _db(path):
	return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def cmd_host_state(db, task, host):
	c = _db(db)
	r = c.execute("""SELECT ah.state, ah.reason FROM attempt_hosts ah
	    JOIN attempts a ON a.id = ah.attempt_id JOIN tasks t ON t.id = a.task_id
	    WHERE t.name = ? AND ah.host = ? ORDER BY t.id DESC, a.number DESC LIMIT 1""",
	    (task, host)).fetchone()
	print("\t".join(str(x) for x in r) if r else "none\t")
	return 0


def cmd_stepstats(path, skip):
	s = _side(path)
	st = [o["step_time_ms"] for o in s if o["step"] > skip]
	head = [o["loss"] for o in s[:20]]
	tail = [o["loss"] for o in s[-50:]]
	res = {"steps": len(s), "median_step_ms": statistics.median(st) if st else None,
	    "mean_step_ms": statistics.fmean(st) if st else None,
	    "loss_first20_mean": statistics.fmean(head) if head else None,
	    "loss_last50_mean": statistics.fmean(tail) if tail else None,
	    "avg_loss_last50_mean": statistics.fmean([o["avg_loss"] for o in s[-50:]]) if s else None}
	print(json.dumps(res))
	return 0


def cmd_telemetry(db, task):
	c = _db(db)
	rows = c.execute("""SELECT a.number, ah.host, te.t, te.source, te.device, te.util_pct,
	    te.mem_used_mb, te.mem_total_mb, te.temp_c, te.power_w
	    FROM telemetry te JOIN attempt_hosts ah ON ah.id = te.host_id
	    JOIN attempts a ON a.id = ah.attempt_id JOIN tasks t ON t.id = a.task_id
	    WHERE t.name = ? ORDER BY te.t""", (task,)).fetchall()
	keys = ["attempt", "host", "t", "source", "device", "util_pct", "mem_used_mb",
	    "mem_total_mb", "temp_c", "power_w"]
	rows = [dict(zip(keys, r)) for r in rows]
	util = [r["util_pct"] for r in rows if r["util_pct"] is not None]
	mem = [r["mem_used_mb"] for r in rows if r["mem_used_mb"] is not None]
	res = {"rows": len(rows), "hosts": sorted({r["host"] for r in rows}),
	    "sources": sorted({str(r["source"]) for r in rows}),
	    "util_pct_max": max(util) if util else None,
	    "util_pct_median": statistics.median(util) if util else None,
	    "mem_used_mb_max": max(mem) if mem else None,
	    "mem_total_mb": rows[0]["mem_total_mb"] if rows else None,
	    "sample": rows[len(rows) // 2] if rows else None}
	print(json.dumps(res))
	return 0


def cmd_audit(db, task):
	c = _db(db)
	for r in c.execute("""SELECT au.t, a.number, ah.host, au.kind, au.actor, au.from_state,
	    au.to_state, au.reason FROM audit au JOIN tasks t ON t.id = au.task_id
	    LEFT JOIN attempts a ON a.id = au.attempt_id LEFT JOIN attempt_hosts ah ON ah.id = au.host_id
	    WHERE t.name = ? ORDER BY au.id""", (task,)):
		print(json.dumps(dict(zip(["t", "attempt", "host", "kind", "actor", "from", "to", "reason"], r))))
	return 0


def main(a):
	if len(a) < 2:
		print(__doc__, file=sys.stderr)
		return 2
	c = a[1]
	if c == "bare":
		return cmd_bare(a[2])
	if c == "procstat":
		return cmd_procstat(a[2], a[3], a[4:])
	if c == "wait-step":
		return cmd_wait_step(a[2], int(a[3]), float(a[4]))
	if c == "host-state":
		return cmd_host_state(a[2], a[3], a[4])
	if c == "stepstats":
		return cmd_stepstats(a[2], int(a[3]))
	if c == "telemetry":
		return cmd_telemetry(a[2], a[3])
	if c == "audit":
		return cmd_audit(a[2], a[3])
	print(__doc__, file=sys.stderr)
	return 2


if __name__ == "__main__":
	sys.exit(main(sys.argv))
