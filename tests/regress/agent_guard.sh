# agent_guard.sh - what the agent must never do, through the real agent and
# drover on the local transport: label an exit wrongly (9 exit codes, each
# from a real process), signal a process that is not the recorded one
# after its pid was reused (drover stop and agent stop), open a listening
# socket, or write through a run directory that is a symlink or another
# user's.
. "$(dirname "$0")/lib.sh"

DROVER="$BUILD/drover"
export DROVER_AGENT_DIR="$BUILD"
export HOME="$T/home"
mkdir -p "$HOME"

# ---- exit classification: one rank per code, one run ----
# (Each exits at once: the agent stops the others of a gang when one
# fails at start, so a slow one would be labelled "stopped"; 126 and 127
# come from env, as a spawn that fails stops the launch: see nostart.)
printf 'echo never\n' > "$T/noexec.sh"
chmod 644 "$T/noexec.sh"
cat > "$T/codes" <<EOF
0 succeeded ["true"]
1 failed ["false"]
2 failed ["ls","/nonexistent-drover-guard"]
125 container ["env","--no-such-option-drover"]
126 container ["env","$T/noexec.sh"]
127 container ["env","/nonexistent-drover-guard/cmd"]
137 killed ["sh","-c","kill -KILL \$\$"]
139 crashed ["sh","-c","kill -SEGV \$\$"]
143 terminated ["sh","-c","kill -TERM \$\$"]
EOF
procs=$(awk '{ a = $0; sub(/^[^ ]* [^ ]* /, "", a); printf "%s{\"rank\":%d,\"argv\":%s}", (NR > 1 ? "," : ""), NR - 1, a }' "$T/codes")
write_spec "$T/codes.json" codes "[$procs]"
D="$T/runs/codes/1/h1"
"$AGENT" run "$T/codes.json" > /dev/null 2> "$T/codes.err"
wait_for 20 run_ended "$D"
right=0
n=0
while read -r code class argv; do
	r=$n; n=$((n + 1))
	got=$(ev "$D" "[.[] | select(.type == \"state\" and .scope == \"proc\" and .state == \"exited\" and .rank == $r)][0] | [.code, .signal, .class] | @tsv" | tr -d '"')
	gc=$(echo "$got" | cut -f1); gs=$(echo "$got" | cut -f2); gl=$(echo "$got" | cut -f3)
		# The status as a shell reports it: the code, or 128 + the signal.
	if [ -n "$gs" ] && [ "$gs" != null ] && [ "$gs" != 0 ]; then st=$((128 + gs)); else st=$gc; fi
	if [ "$st" = "$code" ] && [ "$gl" = "$class" ]; then
		right=$((right + 1))
	else
		echo "  exit $code: want $class, got status $st class $gl"
	fi
done < "$T/codes"
echo "exit classes: $right/$n labels correct"
check "exit classes: $right/$n labels correct" test "$right" = 9 -a "$n" = 9

# ---- a launch whose command cannot start ends, and leaves no agent ----
cat > "$T/nostart.yaml" <<YAML
cluster:
  hosts: "n[1-2]"
  transport: local
  base_dir: $T/runs
task:
  name: nostart
  command: [$T/noexec.sh]
YAML
timeout 30 "$DROVER" launch --follow --db "$T/db3" "$T/nostart.yaml" > /dev/null 2> "$T/nostart.err"
rc=$?
check "launch --follow of a command that cannot start ends with exit 1 (got $rc)" test "$rc" = 1
check "it names the reason: exit 126, cannot be invoked" \
    grep -q "n1: failed (rank 0 exited 126 (the command cannot be invoked" "$T/nostart.err"
check "no agent of that run is left" sh -c "! pgrep -f 'specs/nostart-1-1-n[12].json' >/dev/null"

# ---- no listening socket: the agent and its shims, during a run ----
# listeners PID...: the inodes of those processes' sockets that listen
# (TCP state 0A, any bound UDP, a unix socket with __SO_ACCEPTCON).
listeners() {
	for p in "$@"; do
		ls -l "/proc/$p/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'
	done | sort -u > "$T/inodes"
	{
		awk 'FNR > 1 && $4 == "0A" { print $10 }' /proc/net/tcp /proc/net/tcp6
		awk 'FNR > 1 { print $10 }' /proc/net/udp /proc/net/udp6
		awk 'FNR > 1 && $4 == "00010000" { print $7 }' /proc/net/unix
	} | sort -u > "$T/listening"
	comm -12 "$T/inodes" "$T/listening"
}
write_spec "$T/sock.json" sock "[$(sim_proc 0 --format jsonl --steps 1000 --interval 0.03),
 $(sim_proc 1 --format jsonl --steps 1000 --interval 0.03)]"
"$AGENT" run "$T/sock.json" > "$T/sock.hello"
SD="$T/runs/sock/1/h1"
wait_for 10 sh -c "'$AGENT' status '$SD' | jq -e '[.ranks[] | select(.state == \"running\")] | length == 2'"
# A peer that listens, to show the scan sees one.
"$(python3 -c 'import sys; print(sys.executable)')" -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
u = socket.socket(socket.AF_UNIX); u.bind("'"$T"'/l.sock"); u.listen()
time.sleep(30)' &
lp=$!
track "$lp"
wait_for 20 sh -c "ls -l /proc/$lp/fd | grep -c socket: | grep -qx 2"
check "socket scan sees a listening peer (tcp and unix)" test "$(listeners $lp | wc -l)" = 2
# Watched for 2 s, with attach (the channel drover uses) open meanwhile.
"$AGENT" attach "$SD" > /dev/null &
atp=$!
found=""
apids=""
agent_exe=$(readlink -f "$AGENT")
for i in 1 2 3 4; do
	apids=$(for e in /proc/[0-9]*/exe; do
		if [ "$(readlink "$e" 2>/dev/null)" = "$agent_exe" ]; then
			p=${e#/proc/}; echo "${p%/exe}"
		fi
	done)
	found="$found$(listeners $apids)"
	sleep 0.5
done
kill "$lp" 2>/dev/null
echo '{"cmd":"stop","grace_s":2}' | "$AGENT" attach "$SD" > /dev/null
kill "$atp" 2>/dev/null
check "agent processes found ($(echo $apids | wc -w): supervisor, shims, attach)" \
    test "$(echo $apids | wc -w)" -ge 4
check "the agent opens no listening socket (tcp, tcp6, udp, udp6, unix)" test -z "$found"
wait_for 20 run_ended "$SD"

# ---- PID reuse: a stop never signals a process that is not ours ----
if [ "$(id -u)" != 0 ] || [ ! -w /proc/sys/kernel/ns_last_pid ]; then
	skip "pid reuse" "needs root (kernel.ns_last_pid)"
else
	write_spec "$T/reuse.json" reuse '[{"rank":0,"argv":["sleep","300"]}]'
	RD="$T/runs/reuse/1/h1"
	"$PY" "$DROVER_SRC/tests/tools/pidreuse.py" --launch "$AGENT" "$RD" \
	    sh -c "echo '{\"cmd\":\"stop\",\"grace_s\":1}' | '$AGENT' attach --adopt '$RD'" \
	    -- "$AGENT" run "$T/reuse.json" > "$T/reuse.out" 2>&1
	check "agent stop after pid reuse: the impostor at the shim's pid survives" \
	    grep -q '^impostor shim [0-9]* alive$' "$T/reuse.out"
	check "agent stop after pid reuse: the impostor at the core's pid survives" \
	    grep -q '^impostor core [0-9]* alive$' "$T/reuse.out"
	check "agent stop after pid reuse: the rank is recorded as ended, not signalled" \
	    ev_all "$RD" '.type == "state" and .scope == "proc" and .state == "exited"' '.rank == 0'

	cat > "$T/reuse.yaml" <<YAML
cluster:
  hosts: "g1"
  transport: local
  base_dir: $T/runs
task:
  name: reuse2
  command: [sleep, "300"]
YAML
	"$PY" "$DROVER_SRC/tests/tools/pidreuse.py" --launch "$AGENT" "$T/runs/reuse2-1/1/g1" \
	    "$DROVER" stop --db "$T/db" reuse2 \
	    -- "$DROVER" launch --db "$T/db" "$T/reuse.yaml" > "$T/reuse2.out" 2>&1
	check "drover stop after pid reuse: the impostor at the shim's pid survives" \
	    grep -q '^impostor shim [0-9]* alive$' "$T/reuse2.out"
	check "drover stop after pid reuse: the impostor at the core's pid survives" \
	    grep -q '^impostor core [0-9]* alive$' "$T/reuse2.out"
	check "drover stop after pid reuse: drover stop exits 0" grep -q '^stop exit 0$' "$T/reuse2.out"
fi

# ---- a run directory that is a symlink or another user's ----
mkdir -p "$T/elsewhere" "$T/runs/evil-1/1" "$T/runs/other-2/1/g1"
chmod 777 "$T/elsewhere"
ln -s "$T/elsewhere" "$T/runs/evil-1/1/g1"
for name in evil other; do
	cat > "$T/$name.yaml" <<YAML
cluster:
  hosts: "g1"
  transport: local
  base_dir: $T/runs
task:
  name: $name
  command: [sh, -c, "echo ran > $T/$name.ran"]
YAML
done
"$DROVER" launch --db "$T/db2" "$T/evil.yaml" > /dev/null 2> "$T/evil.err"
rc=$?
check "launch into a symlinked run dir fails (exit $rc)" test "$rc" != 0
check "launch names the symlink" grep -q "symlink" "$T/evil.err"
check "nothing written through the symlink" test -z "$(ls -A "$T/elsewhere")"
check "the command never ran" test ! -e "$T/evil.ran"
if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	chown nobody "$T/runs/other-2/1/g1"
	"$DROVER" launch --db "$T/db2" "$T/other.yaml" > /dev/null 2> "$T/other.err"
	rc=$?
	check "launch into another user's run dir fails (exit $rc)" test "$rc" != 0
	check "launch names the owner" grep -q "owned by uid $(id -u nobody)" "$T/other.err"
	check "nothing written into it" test -z "$(ls -A "$T/runs/other-2/1/g1")"
	check "the command never ran" test ! -e "$T/other.ran"
else
	skip "run dir of another user" "needs root and the user nobody"
fi
