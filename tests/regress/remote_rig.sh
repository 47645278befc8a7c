# remote_rig.sh - drover exec and drover push on a 16-host rig (network
# namespaces with real sshds): every host answers; an unknown host is
# refused every time (20 tries), then accepted with --accept-new; a
# swapped host key is refused every time (20 tries, libssh2 and OpenSSH,
# exec and launch); auth failure; a host whose link is down fails within the
# connect timeout while the 15 others finish; sshd killed mid-command
# gives that host a clear failure; uploads are skipped by checksum;
# hostile arguments arrive byte for byte (exec; and 5000 through a
# launch's config, plan, spec and agent on 2 hosts).
. "$(dirname "$0")/lib.sh"

DROVER="$BUILD/drover"
N=16
rig_start $N "remote rig" || exit 0
ALL="^$RIG_DIR/hosts"

"$DROVER" exec "$ALL" -- hostname > "$T/out" 2> "$T/err"
rc=$?
check "exec on $N hosts exits 0" test "$rc" = 0
check "exec: every host answered once" test "$(sort -u "$T/out" | wc -l)" = $N
check "exec: host k answers as rig k" sh -c "grep -qx '$(H 7): rig07' '$T/out'"
check "exec: summary line" grep -q "$N host(s): $N ok" "$T/err"

# Unknown host: an empty known_hosts, refused, then --accept-new.
sed "s|$RIG_KNOWN_HOSTS|$T/kh_new|" "$RIG_SSH_CONFIG" > "$T/ssh_config_new"
DROVER_SSH_CONFIG="$T/ssh_config_new" "$DROVER" exec "$(H 1)" -- true 2> "$T/err"
rc=$?
check "unknown host refused (exit 1)" test "$rc" = 1
# Every time, for libssh2 and for the OpenSSH transport, until accepted.
urefused=0
for i in $(seq 1 10); do
	for tr in libssh2 openssh; do
		DROVER_SSH_CONFIG="$T/ssh_config_new" "$DROVER" exec --transport "$tr" "$(H 1)" -- touch "/tmp/drover-unknown-ran-$$" 2>/dev/null ||
		    urefused=$((urefused + 1))
	done
done
echo "unknown host refused $urefused/20"
check "unknown host refused $urefused/20 times (libssh2 and openssh), the command never ran" \
    sh -c "[ $urefused = 20 ] && [ ! -e /tmp/drover-unknown-ran-$$ ]"
check "unknown host: fingerprint and how to accept" sh -c \
    "grep -q 'unknown host key (ssh-ed25519 SHA256:' '$T/err' && grep -q -- '--accept-new' '$T/err'"
check "unknown host: nothing recorded" test ! -s "$T/kh_new"
DROVER_SSH_CONFIG="$T/ssh_config_new" "$DROVER" exec --accept-new "$(H 1)" -- true 2> "$T/err"
check "--accept-new connects" test $? = 0
check "--accept-new recorded the key" sh -c "ssh-keygen -F '$(H 1)' -f '$T/kh_new' | grep -q ssh-ed25519"
DROVER_SSH_CONFIG="$T/ssh_config_new" "$DROVER" exec "$(H 1)" -- true 2>/dev/null
check "recorded key is accepted afterwards without the flag" test $? = 0

# Swapped host key: refused every time, with both fingerprints and file:line.
sh "$RIG" --dir "$RIG_DIR" swap-hostkey 3 >/dev/null 2>&1
refused=0
tries=0
for i in $(seq 1 10); do
	for tr in libssh2 openssh; do
		tries=$((tries + 1))
		"$DROVER" exec --transport "$tr" "$(H 3)" -- touch "/tmp/drover-swapped-ran-$$" 2> "$T/err.$tr" && continue
		grep -q "host key mismatch\|REMOTE HOST IDENTIFICATION HAS CHANGED\|Host key verification failed" "$T/err.$tr" &&
		    refused=$((refused + 1))
	done
done
cp "$T/err.libssh2" "$T/err"
echo "swapped host key refused $refused/$tries"
check "swapped host key refused $refused/$tries times (libssh2 and openssh)" test "$refused" = "$tries" -a "$tries" -ge 20
check "swapped host key: the command never ran" test ! -e "/tmp/drover-swapped-ran-$$"
# A launch too: nothing is pushed or started on any host.
cat > "$T/swap.yaml" <<YAML
cluster:
  hosts: "$(H 2),$(H 3)"
  transport: libssh2
  base_dir: ~/drover-swap-$$
task:
  name: swapped
  command: [touch, "/tmp/drover-swapped-ran-$$"]
YAML
DROVER_AGENT_DIR="$BUILD" "$DROVER" launch --db "$T/swap.db" "$T/swap.yaml" > /dev/null 2> "$T/swap.err"
check "launch onto a swapped host key refused, naming the mismatch" sh -c \
    "[ $? != 0 ] && grep -q 'host key mismatch' '$T/swap.err'"
check "launch refused: nothing started on the other host either" sh -c \
    "[ ! -e /tmp/drover-swapped-ran-$$ ] && [ ! -e /home/$RIG_USER/drover-swap-$$ ]"
check "mismatch names known_hosts file:line and both keys" sh -c \
    "grep -q '$RIG_KNOWN_HOSTS line [0-9]* has another key (SHA256:' '$T/err'"
sh "$RIG" --dir "$RIG_DIR" restore-hostkey 3 >/dev/null 2>&1

"$DROVER" exec -u nobody "$(H 2)" -- true 2> "$T/err"
check "auth failure: exit 1 with the reason" sh -c \
    "[ $? = 1 ] && grep -q 'authentication failed for nobody' '$T/err' && grep -q 'auth failed 1' '$T/err'"

# One dead link: that host times out; the 15 others finish normally.
sh "$RIG" --dir "$RIG_DIR" link-down 5 >/dev/null 2>&1
t0=$(date +%s%N)
"$DROVER" exec -t 2 "$ALL" -- hostname > "$T/out" 2> "$T/err"
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
check "link down: 15 hosts ran it" test "$(wc -l < "$T/out")" = 15
check "link down: that host reported as timeout" sh -c "grep -q 'timeout 1: $(H 5)' '$T/err'"
check "link down: all done within the 2 s connect timeout + 1 s ($ms ms)" test "$ms" -lt 3000
sh "$RIG" --dir "$RIG_DIR" link-up 5 >/dev/null 2>&1

# sshd (and the session) killed mid-command.
# (15 s of sleep, so that a loaded box still kills it mid-command.)
"$DROVER" exec -T 40 "$(H 6),$(H 7)" -- sh -c 'echo started; sleep 15; echo finished' > "$T/out" 2> "$T/err" &
ep=$!
check "sshd killed: both commands started" wait_for 15 sh -c "grep -c started '$T/out' | grep -qx 2"
ns=$(sh "$RIG" --dir "$RIG_DIR" status 2>/dev/null | awk -v a="$(H 6)" '$0 ~ a { for (i = 1; i <= NF; i++) if ($i ~ /^drv[0-9]+-h[0-9]+$/) print $i }' | head -n 1)
[ -n "$ns" ] || ns="drv${RIG_SLOT}-h6"
for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
wait "$ep"
rc=$?
check "sshd killed mid-command: exit 1" test "$rc" = 1
check "sshd killed: the other host finished" grep -q "$(H 7): finished" "$T/out"
check "sshd killed: that host failed with a clear reason" sh -c \
    "grep -q '$(H 6)' '$T/err' && grep -Eq 'connection lost [0-9]+: $(H 6)|exit status 1: $(H 6)' '$T/err'"
sh "$RIG" --dir "$RIG_DIR" sshd-start 6 >/dev/null 2>&1

# Upload: written, then skipped by checksum, then written after a change.
head -c 200000 /dev/urandom > "$T/blob"
dst="/home/$RIG_USER/drover-push-test/blob"
"$DROVER" push "$(H 1),$(H 2)" "$T/blob" "$dst" > "$T/out" 2>&1
check "push: written" test "$(grep -c ': written' "$T/out")" = 2
"$DROVER" push "$(H 1),$(H 2)" "$T/blob" "$dst" > "$T/out" 2>&1
check "push again: skipped by checksum" test "$(grep -c 'unchanged (same sha256)' "$T/out")" = 2
echo more >> "$T/blob"
"$DROVER" push "$(H 1)" "$T/blob" "$dst" > "$T/out" 2>&1
check "push after a change: written" grep -q ': written' "$T/out"
check "push: remote bytes equal local" sh -c \
    "[ \"\$('$DROVER' exec '$(H 1)' -- sha256sum '$dst' 2>/dev/null | awk '{ print \$2 }')\" = \"\$(sha256sum '$T/blob' | awk '{ print \$1 }')\" ]"
rm -rf "/home/$RIG_USER/drover-push-test"

# Hostile arguments, byte for byte, through the remote shell.
python3 - "$T/args" <<'PY'
import random, sys
random.seed(7)
pool = ["'", '"', "$(id)", "`id`", ";", "&&", "|", "\n", "\t", " ", "\\",
        "*", "?", "~", "!", "#", "-n", "--", "$HOME", "${x}", "\u00fc",
        "\u2603", "\xff".encode("latin-1").decode("utf-8", "surrogateescape"), ""]
with open(sys.argv[1], "wb") as f:
    for _ in range(200):
        a = "".join(random.choice(pool) for _ in range(random.randint(0, 6)))
        f.write(a.encode("utf-8", "surrogateescape") + b"\0")
PY
python3 - "$DROVER" "$(H 4)" "$T/args" <<'PY' > "$T/hostile"
import subprocess, sys
drover, host, path = sys.argv[1:4]
args = [a.decode("utf-8", "surrogateescape") for a in open(path, "rb").read().split(b"\0")[:-1]]
want = b"".join(a.encode("utf-8", "surrogateescape") + b"\0" for a in args).hex()
out = subprocess.run([drover, "exec", host, "--", "sh", "-c",
    'printf "%s\\0" "$@" | od -An -tx1 | tr -d " \\n"', "sh"] + args,
    capture_output=True).stdout.decode()
got = out.split(": ", 1)[1].strip() if ": " in out else ""
print("match" if got == want else "MISMATCH want=%s got=%s" % (want[:80], got[:80]))
PY
check "200 hostile arguments arrive byte for byte" grep -qx match "$T/hostile"

# Hostile arguments through config, plan, spec, agent and argv over ssh
# (the bulk runs on the local transport in hostile_argv.sh).
# (The rig user runs the dumper: a copy it can read, the system python.)
mkdir -p "$RIG_DIR/work"
cp "$DROVER_SRC/tests/tools/hostile_args.py" "$RIG_DIR/work/"
chmod -R a+rX "$RIG_DIR/work"
HA="$RIG_DIR/work/hostile_args.py"
PYX=/usr/bin/python3
"$PYX" "$HA" gen 99 5000 "$T/hargs.yaml" "$T/hwant" \
    "$PYX" "$HA" dump '${run_dir}/argv.bin'
{
	cat <<YAML
cluster:
  hosts: "$(H 10),$(H 11)"
  transport: libssh2
  base_dir: ~/drover-hostile-$$
task:
  name: hostile
  command:
YAML
	cat "$T/hargs.yaml"
} > "$T/hostile.yaml"
DROVER_AGENT_DIR="$BUILD" timeout 120 "$DROVER" launch --follow --db "$T/hostile.db" "$T/hostile.yaml" > /dev/null 2> "$T/hostile.err"
check "hostile launch over ssh ran" test $? = 0
hx=0
for k in 10 11; do
	"$PYX" "$HA" cmp "$T/hwant" "$(echo /home/$RIG_USER/drover-hostile-$$/hostile-*/1/$(H $k)/argv.bin)" > "$T/hcmp"
	sed -n '2,$p' "$T/hcmp"
	hx=$((hx + $(sed -n 's|^\([0-9]*\)/.*|\1|p' "$T/hcmp")))
done
echo "hostile argv (ssh): $hx/10000 arguments byte-exact"
check "hostile argv over ssh: $hx/10000 arguments byte-exact (2 hosts)" test "$hx" = 10000
rm -rf "/home/$RIG_USER/drover-hostile-$$"

# The agent for each host's architecture, skipped when unchanged.
rm -rf "/home/$RIG_USER/.drover"
"$DROVER" push --agent "$(H 1),$(H 2)" > "$T/out" 2>&1
check "push --agent: written to both hosts" test "$(grep -c ': written' "$T/out")" = 2
"$DROVER" push --agent "$(H 1),$(H 2)" > "$T/out" 2>&1
check "push --agent again: unchanged" test "$(grep -c 'unchanged' "$T/out")" = 2
check "pushed agent runs on the host" sh -c \
    "'$DROVER' exec '$(H 1)' -- .drover/bin/drover-agent --version | grep -q 'drover-agent [0-9]'"
mkdir -p "$T/armonly/aarch64"
"$DROVER" push --agent --agent-dir "$T/armonly" "$(H 1)" > "$T/out" 2>&1
check "push --agent without a build for the host's arch names it" sh -c \
    "[ $? = 1 ] && grep -q 'x86_64 agent .* is missing: run make agents' '$T/out'"
rm -rf "/home/$RIG_USER/.drover"

# A link that dies mid-command: keepalives go unanswered, the host is lost
# after three intervals, the other host finishes.
"$DROVER" exec -k 1 -T 30 "$(H 8),$(H 9)" -- sh -c 'echo started; sleep 7; echo finished' > "$T/out" 2> "$T/err" &
ep=$!
wait_for 5 sh -c "grep -c started '$T/out' | grep -qx 2"
t0=$(date +%s%N)
sh "$RIG" --dir "$RIG_DIR" link-down 8 >/dev/null 2>&1
wait "$ep"
t1=$(date +%s%N)
check "silent link mid-command: that host lost by keepalive" sh -c \
    "grep -q '$(H 8): connection lost: no answer to keepalives' '$T/err'"
check "silent link: the other host finished" grep -q "$(H 9): finished" "$T/out"
sh "$RIG" --dir "$RIG_DIR" link-up 8 >/dev/null 2>&1
