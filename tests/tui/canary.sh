# canary.sh - a secret through launch, failure and relaunch --failed, with
# the console open on the task: it is in the training processes'
# environment and nowhere else - not in any process's argv, the run
# directories (spec, spool, logs, agent log), the uploaded specs, the
# database, drover's output, or the console's screen.
. "$(dirname "$0")/../regress/lib.sh"

command -v tmux > /dev/null || { skip "canary" "no tmux"; exit 0; }
DROVER="$BUILD/drover"
export DROVER_AGENT_DIR="$BUILD"
export HOME="$T/home"
mkdir -p "$HOME"
DB="$T/db"
S="drover-canary-$$"
tm() { tmux -L "$S" "$@"; }
trap 'tm kill-server 2>/dev/null; "$DROVER" stop --db "$DB" --grace 1 canary > /dev/null 2>&1; cleanup' EXIT

canary="cnry$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf 'HF_TOKEN=%s\n' "$canary" > "$T/secrets"
chmod 600 "$T/secrets"
# c2 fails at step 5 on its first run; the process never prints the token.
cat > "$T/task.yaml" <<YAML
cluster:
  hosts: "c[1-2]"
  transport: local
  base_dir: $T/runs
task:
  name: canary
  command: >-
    if [ \${host} = c2 ] && [ ! -e $T/c2-failed ]; then touch $T/c2-failed;
    exec python3 $SIM --format mindone --steps 2000 --interval 0.05 --fail-at 5; fi;
    exec python3 $SIM --format mindone --steps 2000 --interval 0.05
  parser: {format: mindone, mirror: all}
  secrets_file: $T/secrets
YAML
"$DROVER" launch --db "$DB" "$T/task.yaml" > "$T/out.launch" 2> "$T/err.launch"
check "canary: launched" test $? = 0
"$DROVER" watch --db "$DB" canary > "$T/out.watch" 2> "$T/err.watch" &
wp=$!
wait_for 30 grep -q '^c2: failed' "$T/err.watch"
kill -INT $wp
wait $wp
"$DROVER" relaunch --db "$DB" canary --failed > "$T/out.relaunch" 2> "$T/err.relaunch"
check "canary: c2 failed and was relaunched" test $? = 0

tm new-session -d -s c -x 160 -y 45 \
    "PATH='$PATH' LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME='$HOME' DROVER_AGENT_DIR='$BUILD' '$DROVER' console --db '$DB' 2> '$T/err.console'; sleep 600"
wait_for 10 sh -c "tmux -L $S capture-pane -p -t c | grep -q canary"
tm capture-pane -p -t c > "$T/screen.1"
tm send-keys -t c Enter; sleep 1.5
tm capture-pane -p -t c > "$T/screen.2"
tm send-keys -t c e; sleep 1
tm capture-pane -p -t c > "$T/screen.3"
check "canary: the console showed the task" grep -q "c2" "$T/screen.2"

# While it runs: in the cores' environment, in nobody's argv.
inenv=0
for p in $(pgrep -f "$SIM --format mindone"); do
	tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "HF_TOKEN=$canary" && inenv=$((inenv + 1))
done
check "canary: in the environment of the running training processes ($inenv)" test "$inenv" -ge 2
# (The pattern is not the canary itself, or this check's argv holds it.)
pat="${canary%?}[${canary#"${canary%?}"}]"
check "canary: in no process's argv" sh -c "! cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -aq '$pat'"

tm kill-server 2>/dev/null
"$DROVER" stop --db "$DB" --grace 1 canary > "$T/out.stop" 2> "$T/err.stop"
sqlite3 "$DB" .dump > "$T/dump.sql"
# Everything written, except the secrets file itself.
leaks=$(grep -rl -- "$canary" "$T" "$HOME" 2>/dev/null | grep -vx "$T/secrets")
check "canary: nowhere else (run dirs, spools, logs, specs, database, drover's output, console screens)" \
    test -z "$leaks"
[ -z "$leaks" ] || echo "$leaks" | sed -n "1,5s/^/  leak: /p"
check "canary: the scan saw what it scans (spools, specs, dump, screens)" sh -c \
    "ls '$T'/runs/canary-*/1/c2/events.jsonl '$HOME'/.drover/specs/* '$T/dump.sql' '$T/screen.3' >/dev/null"
