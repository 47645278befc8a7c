# demo.sh - `make demo` headless (scripts/demo.sh with no terminal), in a
# temporary demo folder: it exits 0; every host's loss falls (from
# `drover metrics`); each host's log is read by the parser of its format;
# the scripted failure of demo3 and its relaunch into the same attempt are
# recorded, and the relaunch resumed from a checkpoint; the demo wrote
# nothing outside its folder. About 45 s.
. "$(dirname "$0")/lib.sh"

DROVER="$BUILD/drover"
D="$T/demo"
arch=$(uname -m)
if [ ! -x "$BUILD/$arch/drover-agent" ]; then
	fail "demo" "$BUILD/$arch/drover-agent is not built (make $BUILD/$arch/drover-agent)"
	exit 0
fi
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
	skip "demo" "/usr/bin/python3 has no numpy (apt-get install python3-numpy)"
	exit 0
fi

touch "$T/start"
DROVER_DEMO_DIR="$D" DROVER_SRC="$DROVER_SRC" BUILD="$BUILD" \
    sh "$DROVER_SRC/scripts/demo.sh" < /dev/null > "$T/demo.out" 2>&1
rc=$?
check "the demo exits 0 ($rc)" test "$rc" = 0
check "its summary names the failure and the relaunch" sh -c \
    "grep -q '^  failure: gang failure: rank 2 exited 1 on demo3' '$T/demo.out' &&
     grep -q '^  relaunch: demo3 (relaunch --failed)' '$T/demo.out' &&
     grep -q '^  task demo-ddpm: succeeded' '$T/demo.out'"
check "nothing written to the user's drover folders" sh -c \
    "[ -z \"\$(find '$HOME/.drover' '${XDG_DATA_HOME:-$HOME/.local/share}/drover' -newer '$T/start' 2>/dev/null)\" ]"

export HOME="$D/home" XDG_DATA_HOME="$D/data"
check "the database is in the demo folder" test -f "$D/data/drover/drover.db"
"$DROVER" metrics demo-ddpm --format jsonl > "$T/m.jsonl" 2> "$T/m.err"
check "drover metrics reads it" test -s "$T/m.jsonl"
for h in demo1 demo2 demo3 demo4; do
	# mean loss of steps 1-10 against the last 10 steps (the last value
	# stored for each step: demo3 ran steps 81-100 twice).
	r=$(jq -s -r --arg h "$h" '[.[] | select(.host == $h and .loss != null)] |
	    (map(select(.step <= 10) | .loss) | add / length) as $a |
	    (group_by(.step) | map(last) | .[-10:] | map(.loss) | add / length) as $z |
	    (map(.step) | max) as $n | "\($a) \($z) \($n)"' "$T/m.jsonl" 2>/dev/null)
	set -- $r
	check "$h: loss falls (steps 1-10: ${1:-?}, last 10: ${2:-?}) to step ${3:-?}" \
	    awk -v a="${1:-0}" -v z="${2:-1}" -v n="${3:-0}" \
	    'BEGIN { exit !(a > 0.6 && z < 0.75 * a && n == 240) }'
done

# Each host's log in its format, each found by the auto parser.
n=0
for f in diffusers mindone kohya jsonl; do
	n=$((n + 1))
	log=$(ls "$D"/home/runs/demo-ddpm-*/1/demo$n/rank-*.log 2>/dev/null | head -n 1)
	check "demo$n logs in the $f format" sh -c \
	    "'$AGENT' parse --format auto '$log' 2>&1 | grep -q 'detected format: $f\$'"
done
check "kohya's epochs and JSON lines' epochs reached the metrics" jq -s -e \
    '([.[] | select(.host == "demo3") | .epoch] | max) >= 10 and
     ([.[] | select(.host == "demo4") | .epoch] | max) >= 10 and
     ([.[] | select(.host == "demo1" or .host == "demo2") | .lr] | all(. != null))' "$T/m.jsonl"

"$DROVER" status --json demo-ddpm > "$T/st.json"
check "one failure recorded: the root cause on demo3" jq -e \
    '[.events[] | select(.kind == "root_cause")] | length == 1 and
     .[0].host == "demo3" and (.[0].reason | test("rank 2 exited 1"))' "$T/st.json"
check "one relaunch, of demo3, into the same attempt" jq -e \
    '[.events[] | select(.kind == "relaunch")] | length == 1 and .[0].host == "demo3" and .[0].attempt == 1' "$T/st.json"
check "demo3 launched twice, the others once; all succeeded" jq -e \
    '[.hosts[] | [.host, .launches, .state]] == [["demo1",1,"succeeded"],["demo2",1,"succeeded"],["demo3",2,"succeeded"],["demo4",1,"succeeded"]]' "$T/st.json"
check "the task's config path is recorded absolute" jq -e \
    '.task.config_path | startswith("/")' "$T/st.json"
check "the relaunch resumed from demo3's step-80 checkpoint" sh -c \
    "grep -q '^resuming from step 80' '$D'/home/runs/demo-ddpm-*/1/demo3/rank-2.log"
check "checkpoints reached the spool" sh -c \
    "[ \$(grep -c '\"type\":\"ckpt\"' '$D'/home/runs/demo-ddpm-*/1/demo2/events.jsonl) -ge 5 ]"
# Learned, not just fitted noise: far more samples near a mode than chance.
for h in demo1 demo2 demo3 demo4; do
	pct=$(sed -n "s/^  $h sample check: \([0-9]*\)%.*/\1/p" "$T/demo.out")
	check "$h: ${pct:-?}% of its samples near a mode (chance: ~5%)" \
	    test "${pct:-0}" -ge 20
done
