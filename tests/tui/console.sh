# console.sh - the console driven through tmux (send-keys, capture-pane)
# against a live local cluster: open a running task, its hosts, a chart
# with data, a filter, a host's log, a failed host marked and relaunched
# and back running, quit without stopping anything, reopen on the same
# state. Every check reads what the screen shows.
. "$(dirname "$0")/../regress/lib.sh"

DROVER="$BUILD/drover"
export DROVER_AGENT_DIR="$BUILD"
export HOME="$T/home"
DB="$T/db"
S="drover-test-$$"
mkdir -p "$HOME"
command -v tmux > /dev/null || { skip "console" "no tmux"; exit 0; }

tm() { tmux -L "$S" "$@"; }
scr() { tm capture-pane -p -t c 2>/dev/null; }
has() { scr | grep -q -- "$1"; }
# wait_screen SECONDS PATTERN: until the screen shows it.
wait_screen() { wait_for "$1" has "$2"; }
keys() { tm send-keys -t c "$@"; sleep 0.4; }
console() {
	tm kill-session -t c 2>/dev/null
	sleep 0.3
	tm new-session -d -s c -x 120 -y 40 \
	    "PATH='$PATH' LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME='$HOME' DROVER_AGENT_DIR='$BUILD' '$DROVER' console --db '$DB' $1 2> '$T/console.err'; echo \"exit \$?\" >> '$T/console.err'; sleep 600"
}
cleanup_tm() { tm kill-server 2>/dev/null; "$DROVER" stop --db "$DB" --grace 2 tui > /dev/null 2>&1; }
trap 'cleanup_tm; cleanup' EXIT

# No GPU here: a stand-in nvidia-smi first on PATH prints what the real
# one prints, so the agents send telemetry.
mkdir -p "$T/bin"
ln -s "$DROVER_SRC/tests/tools/nvidia-smi" "$T/bin/nvidia-smi"
export PATH="$T/bin:$PATH"

# Three hosts; h2 fails at step 30 on its first run only.
cat > "$T/task.yaml" <<YAML
cluster:
  hosts: "h[1-3]"
  transport: local
  base_dir: $T/runs
  telemetry_interval_s: 1
task:
  name: tui
  command: >-
    if [ \${host} = h2 ] && [ ! -e $T/h2-failed ]; then touch $T/h2-failed;
    exec python3 $SIM --format diffusers --steps 3000 --interval 0.05 --fail-at 30; fi;
    exec python3 $SIM --format diffusers --steps 3000 --interval 0.05
  launcher: plain
  parser: diffusers
YAML
"$DROVER" launch --db "$DB" "$T/task.yaml" > /dev/null 2> "$T/launch.err"
check "the task started" test $? = 0

console ""
wait_screen 10 " tui  *running"
check "tasks view: the task, running, 3 hosts" sh -c \
    "tmux -L $S capture-pane -p -t c | grep -E '^ +1 tui +running +[0-9]/3 +1 '"
keys Enter
wait_screen 5 "Task #1 tui"
check "task view: every host with its node rank" sh -c \
    "tmux -L $S capture-pane -p -t c | grep -cE '^  h[123] +[012] ' | grep -qx 3"
wait_screen 20 "h2 .* failed"
check "task view: h2 failed, with its reason" has "h2 .* failed .*rank 1"
check "task view: the header says why" has "1 of 3 hosts failed; h2"
check "task view: the failed state is red" sh -c \
    "tmux -L $S capture-pane -p -e -t c | grep 'h2 ' | grep -q '31m'"
wait_screen 10 "^  h1 .* 95 *60/160G"
check "task view: device utilisation and memory from telemetry (mean 95%, 60 of 160 GiB)" \
    has "^  h1 .* 95 *60/160G"

keys c
wait_screen 5 "Charts of task #1"
check "charts: the loss chart titled" has "loss"
check "charts: the step time chart titled" has "step time"
check "charts: braille dots drawn" sh -c \
    "tmux -L $S capture-pane -p -t c | LC_ALL=C.UTF-8 grep -qP '[\\x{2801}-\\x{28FF}]'"
check "charts: points counted" sh -c \
    "tmux -L $S capture-pane -p -t c | grep -qE 'Charts of task #1: [1-9][0-9]* points'"
keys ":export svg $T/loss.svg" Enter
keys ":export png $T/loss.png" Enter
check "charts: the loss chart exported as SVG, a line per host" sh -c \
    "python3 -c 'import xml.dom.minidom, sys; d = xml.dom.minidom.parse(sys.argv[1]); sys.exit(len(d.getElementsByTagName(\"polyline\")) < 3)' '$T/loss.svg'"
check "charts: and as PNG" sh -c \
    "head -c 8 '$T/loss.png' | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"
keys Escape

keys / h 3
wait_screen 3 "filter: h3"
check "filter: h3 shown" has "^  h3 "
check "filter: h1 hidden" sh -c "! tmux -L $S capture-pane -p -t c | grep -q '^  h1 '"
keys Escape
wait_screen 3 "^  h1 "
check "filter cleared: h1 back" has "^  h1 "

# A mouse click (xterm X10 encoding, as tmux passes it) on h3's row,
# screen row 6: the detail line follows the selection.
tm send-keys -t c -l "$(printf '\033[M &\047')"
tm send-keys -t c -l "$(printf '\033[M#&\047')"
wait_screen 3 "^ h3: running"
check "mouse: a click selects the host under it" has "^ h3: running"

keys g Enter
wait_screen 5 "following h1 rank-0.log"
check "logs: h1's rank 0, live" has "following h1 rank-0.log"
check "logs: the trainer's progress lines" has "Steps: .*step_loss="
keys Escape

keys r
wait_screen 3 "Relaunch task #1"
check "relaunch view: the failed host comes marked" has "^\* h2 .*failed .*relaunch"
keys Enter
wait_screen 3 "Relaunch 1 host into task #1 attempt #1"
check "relaunch: the confirmation names the host" sh -c \
    "tmux -L $S capture-pane -p -t c | grep -A1 'Relaunch 1 host' | grep -q '^ *h2 *$'"
keys y
keys Escape
wait_screen 20 "h2 .* running"
check "relaunch: h2 running again" has "h2 .* running"
keys g j
check "relaunch: h2's reason, whole, on the detail line" has "^ h2: running, relaunched into the same attempt (launches: 2)"

keys q
wait_screen 3 "quitting never stops training"
check "quit: says the training goes on" has "quitting never stops training"
keys q
wait_for 5 grep -q "^exit 0" "$T/console.err"
check "quit: the console exited 0" grep -q "^exit 0" "$T/console.err"
check "quit: the console said so on the terminal too" grep -q "the training goes on" "$T/console.err"
check "quit: every host still running" sh -c \
    "'$DROVER' status --db '$DB' --json tui | jq -e '[.hosts[].state] == [\"running\",\"running\",\"running\"]'"

console "tui"
wait_screen 10 "Task #1 tui"
check "reopened on the task: the same hosts, all running" sh -c \
    "tmux -L $S capture-pane -p -t c | grep -cE '^  h[123] .* running' | grep -qx 3"
keys j
check "reopened: h2's relaunch still recorded" has "^ h2: running, relaunched into the same attempt (launches: 2)"
tm resize-window -t c -x 80 -y 24
sleep 0.6
check "resized to 80x24: the hosts and the key line still shown" sh -c \
    "tmux -L $S capture-pane -p -t c | grep -q '^  h3 ' && tmux -L $S capture-pane -p -t c | sed -n 24p | grep -q '?:help'"
tm resize-window -t c -x 120 -y 40
sleep 0.6
keys e
wait_screen 5 "Events of task #1"
check "events: the relaunch in the audit log" has "relaunch"

# A launch from the console: the plan, a confirmation, progress per host.
cat > "$T/small.yaml" <<YAML
cluster:
  hosts: "s[1-2]"
  transport: local
  base_dir: $T/runs
task:
  name: small
  command: >-
    echo "数据集加载完成: 1200 张图像"; exec python3 $SIM --format kohya --steps 600 --interval 0.05
  launcher: plain
  parser: kohya
YAML
keys ":launch $T/small.yaml" Enter
wait_screen 5 "Launch $T/small.yaml"
check "launch: the plan of each host shown" has "s2"
keys H
keys C-u "s[1-3]" Enter
wait_screen 5 "cluster.hosts=s\\[1-3\\]"
check "launch: a host range edited into a --set" has "s3"
keys Enter
wait_screen 3 "Launch task small"
check "launch: the confirmation names every host" has "s1, s2, s3"
keys y
wait_screen 20 "s3 .*running"
check "launch: progress per host up to running" sh -c \
    "tmux -L $S capture-pane -p -t c | grep -cE '^ s[123] +\\[#{20}\\] running' | grep -qx 3"
keys ":open small" Enter
wait_screen 5 "Task #2 small"
keys g Enter
wait_screen 5 "following s1 rank-0.log"
check "logs: a CJK line shown whole (two columns a character)" has "数据集加载完成: 1200 张图像"
"$DROVER" stop --db "$DB" --grace 2 small > /dev/null 2>&1 &
keys q q
