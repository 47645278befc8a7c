# hostile_argv.sh - 100000 hostile argument strings through config -> plan
# -> spec -> agent -> process argv on the local transport (10 launches of
# 10000; tests/tools/hostile_args.py says what they hold): every one
# arrives byte for byte. A config holding a NUL or bytes that are not
# UTF-8 is refused with a clear message before anything starts.
. "$(dirname "$0")/lib.sh"

DROVER="$BUILD/drover"
export DROVER_AGENT_DIR="$BUILD"
export HOME="$T/home"
mkdir -p "$HOME"
HA="$DROVER_SRC/tests/tools/hostile_args.py"
PYX=$(python3 -c 'import sys; print(sys.executable)')
LAUNCHES=${HOSTILE_LAUNCHES:-10}
PER=${HOSTILE_PER:-10000}

total=0
exact=0
for i in $(seq 1 "$LAUNCHES"); do
	"$PYX" "$HA" gen "$i" "$PER" "$T/args.yaml" "$T/want.$i" \
	    "$PYX" "$HA" dump '${run_dir}/argv.bin'
	{
		cat <<YAML
cluster:
  hosts: "x1"
  transport: local
  base_dir: $T/runs
task:
  name: hostile$i
  command:
YAML
		cat "$T/args.yaml"
	} > "$T/h$i.yaml"
	"$DROVER" launch --follow --db "$T/db" "$T/h$i.yaml" > /dev/null 2> "$T/h$i.err" ||
	    { echo "  launch $i: exit $?"; tail -n 3 "$T/h$i.err"; }
	"$PYX" "$HA" cmp "$T/want.$i" "$(echo "$T"/runs/hostile$i-*/1/x1/argv.bin)" > "$T/cmp.$i"
	n=$(sed -n 's|^\([0-9]*\)/\([0-9]*\) .*|\1 \2|p' "$T/cmp.$i")
	exact=$((exact + ${n% *}))
	total=$((total + ${n#* }))
	sed -n '2,$p' "$T/cmp.$i"
done
echo "hostile argv (local): $exact/$total arguments byte-exact"
check "hostile argv: $exact/$total arguments byte-exact over $LAUNCHES launches" \
    test "$exact" = "$total" -a "$total" = $((LAUNCHES * PER))

# What a config cannot hold: refused, naming the place and the reason.
for bad in '\000' '\377' '\300\200' '\365'; do
	printf 'cluster:\n  hosts: "x1"\n  transport: local\n  base_dir: %s/runs\ntask:\n  name: bad\n  command: [true, "%b"]\n' \
	    "$T" "a${bad}b" > "$T/bad.yaml"
	"$DROVER" launch --db "$T/db" "$T/bad.yaml" > /dev/null 2> "$T/bad.err"
	rc=$?
	lbl=$(printf '%s' "$bad" | tr '\\' ' ')
	case "$bad" in
	*000*) want="bad.yaml:7:[0-9]*: a NUL byte (offset [0-9]*); a config must be UTF-8 text" ;;
	*) want="bad.yaml:7:[0-9]*: invalid UTF-8 (byte 0x[0-9a-f]* at offset [0-9]*); a config must be UTF-8 text" ;;
	esac
	check "config with the raw bytes (octal)$lbl refused (exit $rc), file:line:col and why" \
	    sh -c "[ $rc = 1 ] && grep -q '$want' '$T/bad.err'"
done
printf 'cluster:\n  hosts: "x1"\n  transport: local\n  base_dir: %s/runs\ntask:\n  name: bad\n  command: [true, "a\\0b"]\n' \
    "$T" > "$T/bad.yaml"
"$DROVER" launch --db "$T/db" "$T/bad.yaml" > /dev/null 2> "$T/bad.err"
check "config with an escaped NUL (YAML \"\\\\0\") refused" grep -q 'a NUL character (\\0) in a string' "$T/bad.err"
check "nothing was started for the refused configs" test -z "$(ls -d "$T"/runs/bad* 2>/dev/null)"
