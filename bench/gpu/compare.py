#!/usr/bin/env python3
"""compare.py - every optimizer step drover stored (`drover metrics TASK
--format csv`) against the side file the training script wrote itself.

    compare.py METRICS.csv ATTEMPT:HOST:SIDE.jsonl... [--cut ATTEMPT:HOST:N]

For each (attempt, host) given, a step is a mismatch when it is in one
source and not the other, or when:
  - loss or lr differ from the script's value as tqdm prints it
    (tqdm.format_num: the shorter of '.3g' and repr): the bar is where
    drover reads them, so that is the exact value it can have;
  - the step time differs by more than 1 % from the script's own (time
    from one progress_bar.update() to the next; tqdm prints 1/rate with
    two decimals, smoothing=1 makes that the last step's).
--cut A:H:N compares only steps <= N of that attempt and host (a rank
killed mid-step leaves its last step half drawn). Prints one line per
(attempt, host) and a JSON summary last; exit 0 when nothing mismatched.
"""
import csv
import json
import sys

try:
	from tqdm import tqdm as _tqdm
	format_num = _tqdm.format_num
except ImportError:	# tqdm's own rule, for a machine without it
	def format_num(n):
		f = "{0:.3g}".format(n).replace("e+0", "e+").replace("e-0", "e-")
		n = str(n)
		return f if len(f) < len(n) else n

STEP_TOL = 0.01


def main(argv):
	cuts = {}
	pairs = []
	args = argv[1:]
	if not args:
		print(__doc__, file=sys.stderr)
		return 2
	csv_path = args.pop(0)
	while args:
		a = args.pop(0)
		if a == "--cut":
			at, host, n = args.pop(0).split(":")
			cuts[(int(at), host)] = int(n)
		else:
			at, host, path = a.split(":", 2)
			pairs.append((int(at), host, path))

	drover = {}
	with open(csv_path) as f:
		for r in csv.DictReader(f):
			drover.setdefault((int(r["attempt"]), r["host"]), {})[int(r["step"])] = r

	total = {"steps_compared": 0, "mismatches": 0, "missing_in_drover": 0,
	    "extra_in_drover": 0, "max_step_time_rel_diff": 0.0, "groups": []}
	for at, host, path in pairs:
		side = {}
		with open(path) as f:
			for line in f:
				if line.strip():
					o = json.loads(line)
					side[o["step"]] = o
		dm = drover.get((at, host), {})
		cut = cuts.get((at, host))
		steps = sorted(set(side) | set(dm))
		if cut is not None:
			steps = [s for s in steps if s <= cut]
		g = {"attempt": at, "host": host, "side_steps": len(side), "drover_steps": len(dm),
		    "first_step": min(dm) if dm else None, "last_step": max(dm) if dm else None,
		    "compared": 0, "mismatches": 0, "examples": [], "max_step_time_rel_diff": 0.0}
		for s in steps:
			why = []
			if s not in dm:
				why.append("missing in drover")
				total["missing_in_drover"] += 1
			elif s not in side:
				why.append("not in the side file")
				total["extra_in_drover"] += 1
			else:
				d, o = dm[s], side[s]
				g["compared"] += 1
				for k in ("loss", "lr"):
					want = float(format_num(o[k]))
					got = float(d[k]) if d[k] != "" else float("nan")
					if not (got == want or abs(got - want) <= 1e-9 * abs(want)):
						why.append(f"{k} {got!r} != {want!r} (raw {o[k]!r})")
				got = float(d["step_time_ms"]) if d["step_time_ms"] != "" else float("nan")
				rel = abs(got - o["step_time_ms"]) / o["step_time_ms"]
				g["max_step_time_rel_diff"] = max(g["max_step_time_rel_diff"], rel)
				if not rel <= STEP_TOL:
					why.append(f"step_time_ms {got:.3f} vs {o['step_time_ms']:.3f} ({rel * 100:.2f} %)")
			if why:
				g["mismatches"] += 1
				if len(g["examples"]) < 5:
					g["examples"].append(f"step {s}: " + "; ".join(why))
		total["steps_compared"] += g["compared"]
		total["mismatches"] += g["mismatches"]
		total["max_step_time_rel_diff"] = max(total["max_step_time_rel_diff"], g["max_step_time_rel_diff"])
		total["groups"].append(g)
		print(f"attempt {at} {host}: side {len(side)} steps, drover {len(dm)} "
		    f"(steps {g['first_step']}..{g['last_step']}), compared {g['compared']}"
		    f"{'' if cut is None else f' (to step {cut})'}, mismatches {g['mismatches']}, "
		    f"max step-time diff {g['max_step_time_rel_diff'] * 100:.3f} %")
		for e in g["examples"]:
			print("   ", e)
	print(json.dumps(total))
	return 0 if total["mismatches"] == 0 else 1


if __name__ == "__main__":
	sys.exit(main(sys.argv))
