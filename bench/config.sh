#!/bin/sh
# config.sh - the config loader on hostile YAML: each shape issue 7 names
# (nesting 100000 deep, an alias bomb, 10^6 keys, a NUL, invalid UTF-8),
# the shapes that reach the loader's caps (32768 nodes, 1 MiB) and the
# largest files it accepts, each loaded RUNS times in a fresh process by
# drover's loader and, as the peer in the same run, by libyaml alone
# (events only, no tree; once when it takes over a second). Prints the
# best and median time, the peak memory and the ratio to libyaml; the
# goal is < 10 ms and < 64 MB per shape.
# See bench/config.c.   RUNS (default 9)
set -u
. "$(dirname "$0")/lib.sh"
bench_bin bench-config
RUNS=${RUNS:-9}

mkdir -p "$BUILD"
D=$(mktemp -d "$BUILD/bench-config.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
echo "machine: $(bench_machine), RUNS=$RUNS"

# The shapes: NAME EXPECT (refused / loaded) and the file D/NAME.yaml.
python3 - "$D" <<'PY' || exit 1
import sys
d = sys.argv[1]
def w(name, data):
    with open(f"{d}/{name}.yaml", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
w("nest_flow_list", "[" * 100000)
w("nest_flow_map", "{a: " * 100000)
w("nest_block_list", "- " * 100000)
bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) +
    "]\n" for i in range(9))
w("alias_bomb", bomb)
w("keys_1e6", "".join(f"k{i}: v\n" for i in range(10**6)))
w("nul_byte", "a: 1\nb: x\0y\n")
w("invalid_utf8", "a: 1\nb: caf\xc3\n".encode("latin-1"))
w("cap_flow_list_400001", "[" + "a," * 400000 + "a]\n")
w("cap_keys_60000", "".join(f"k{i}: v\n" for i in range(60000)))
w("cap_flow_keys_500001", "{" + "a," * 500000 + "a}\n")
w("ok_keys_16383", "".join(f"k{i}: v\n" for i in range(16383)))
w("ok_scalar_1mib", "x: " + "a" * (1024 * 1024 - 4) + "\n")
w("ok_comment_1mib", "# " + "a" * (1024 * 1024 - 3) + "\n")
PY

printf '%-22s %-7s %9s %9s %8s %10s %7s  %s\n' shape result best_ms \
    median_ms peak_MB libyaml_ms ratio goal
total=0
met=0
for f in "$D"/*.yaml; do
	name=$(basename "$f" .yaml)
	for mode in drover libyaml; do
		i=0
		while [ "$i" -lt "$RUNS" ]; do
			"$BIN" "$mode" "$f" || exit 1
			i=$((i + 1))
			# libyaml alone is quadratic in flow nesting (11-48 s
			# for 100000 levels here): once is enough for those
			[ "$mode" = libyaml ] && [ "$(tail -n 1 \
			    "$D/$name.$mode" | cut -d. -f1)" -ge 1000 ] && break
		done >> "$D/$name.$mode"
	done
	case $name in ok_*) want=0 ;; *) want=1 ;; esac
	awk -v name="$name" -v want="$want" -v runs="$RUNS" '
	    FILENAME ~ /drover$/ { t[++n] = $1; if ($2 > kb) kb = $2
		if ($3 != want) bad = 1 }
	    FILENAME ~ /libyaml$/ { if (l == "" || $1 < l) l = $1 }
	    END {
		if (n != runs) { print name, "no data"; exit 1 }
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
			if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
		med = t[int((n + 1) / 2)]
		ok = t[1] < 10 && kb / 1024 < 64 && !bad
		res = want ? "refused" : "loaded"
		if (bad) res = "WRONG"
		ratio = 0
		if (l > 0) ratio = t[1] / l
		verdict = "NOT met"
		if (ok) verdict = "met"
		printf "%-22s %-7s %9.3f %9.3f %8.1f %10.3f %7.2f  %s\n",
		    name, res, t[1], med, kb / 1024, l, ratio, verdict
		if (bad) exit 2
		exit ok ? 0 : 3
	    }' "$D/$name.drover" "$D/$name.libyaml"
	rc=$?
	[ "$rc" = 1 ] || [ "$rc" = 2 ] && exit 1
	total=$((total + 1))
	[ "$rc" = 0 ] && met=$((met + 1))
done
echo "goal < 10 ms (best of $RUNS) and < 64 MB: $met of $total shapes met"
