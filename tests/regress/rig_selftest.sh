# rig_selftest.sh - the multi-host test rig (tests/rig/rig.sh) that the other
# multi-host tests stand on: 4 hosts answer a plain ssh client as the test
# user, at their planned addresses, under their own names; each injected
# fault looks to the client the way it does on a real cluster (timeout,
# refused, changed host key) and is undone; two rigs live side by side;
# down leaves nothing behind, also after an up killed with -9.
. "$(dirname "$0")/lib.sh"
RIG="$DROVER_SRC/tests/rig/rig.sh"

if [ "$(id -u)" != 0 ]; then
	skip "rig" "needs root (network namespaces, sshd on port 22)"
	exit 0
fi
if ! ip netns add "drvprobe-$$" 2>/dev/null; then
	skip "rig" "ip netns add failed: no network namespaces here"
	exit 0
fi
ip netns del "drvprobe-$$"

RD="$T/rig"
RD2="$T/rig2"
RD3="$T/rig3"
rig_cleanup() {
	for d in "$RD" "$RD2" "$RD3"; do sh "$RIG" down --dir "$d" >/dev/null 2>&1; done
}
trap 'rig_cleanup; cleanup' EXIT
trap 'exit 130' INT TERM HUP

# no_proc PATTERN: no process's command line matches (a function, not
# sh -c, so the pattern is not in the command line of the checker itself).
no_proc() { ! pgrep -f "$1" >/dev/null; }

ms() { echo $(($(date +%s%N) / 1000000)); }

# gone_slot S: nothing of rig slot S is left (namespaces, links).
gone_slot() {
	! ip netns list | grep -q "^drv$1-" && ! ip -o link show | grep -q ": drv$1-"
}

# --- up ---------------------------------------------------------------------
t0=$(ms)
sh "$RIG" up 4 --dir "$RD" >"$T/up.out" 2>"$T/up.err"
rc=$?
t1=$(ms)
if [ "$rc" = 0 ] && grep -q "^rig: 4 hosts up in $RD " "$T/up.out"; then
	pass "up 4 ($((t1 - t0)) ms)"
else
	fail "up 4" "exit $rc: $(cat "$T/up.out" "$T/up.err" | head -c 600)"
	exit 1
fi
# shellcheck disable=SC1091
. "$RD/env"
S=$RIG_SLOT
NET="10.$((231 + S))"
SSH="ssh -F $RIG_SSH_CONFIG"

check "env names the files" test -f "$RIG_KEY" -a -f "$RIG_KNOWN_HOSTS" -a -f "$RIG_SSH_CONFIG" -a "$RIG_N" = 4
check "hosts: 4 lines" test "$(wc -l <"$RD/hosts")" = 4
check "known_hosts: an ed25519 key per host" test "$(grep -c '^[0-9.]* ssh-ed25519 AAAA' "$RIG_KNOWN_HOSTS")" = 4
check "known_hosts: 4 different host keys" test "$(awk '{ print $3 }' "$RIG_KNOWN_HOSTS" | sort -u | wc -l)" = 4
check "bridge $RIG_BRIDGE has $NET.0.1/16" sh -c "ip -4 -o addr show dev '$RIG_BRIDGE' | grep -q ' $NET.0.1/16 '"

for k in 1 2 3 4; do
	want="$NET.1.$k"
	got=$(sed -n "${k}p" "$RD/hosts")
	if [ "$got" != "$want" ]; then
		fail "host $k address" "hosts line $k is '$got', want $want"
		continue
	fi
	out=$($SSH "$want" 'hostname; id -un; /usr/sbin/ip -4 -o addr show dev eth0' 2>"$T/err")
	name=$(echo "$out" | sed -n 1p)
	user=$(echo "$out" | sed -n 2p)
	if [ "$name" = "rig0$k" ] && [ "$user" = "$RIG_USER" ] &&
	    echo "$out" | sed -n 3p | grep -q " $want/16 "; then
		pass "host $k: $want answers as $user on rig0$k"
	else
		fail "host $k: $want answers" "$(echo "$out" | tr '\n' '|') $(head -c 300 "$T/err")"
	fi
done
check "ssh by name (rig03)" sh -c "$SSH rig03 hostname | grep -qx rig03"
check "rig.sh addr 3" test "$(sh "$RIG" addr 3 --dir "$RD")" = "$NET.1.3"
check "rig.sh exec 2 hostname" test "$(sh "$RIG" exec 2 --dir "$RD" hostname)" = rig02
check "rig.sh exec: inside the host's netns" sh -c "sh '$RIG' exec '$NET.1.2' --dir '$RD' ip -4 -o addr show dev eth0 | grep -q ' $NET.1.2/16 '"
check "hosts reach each other" sh "$RIG" exec 1 --dir "$RD" "$(command -v python3)" -c \
    "import socket; socket.create_connection(('$NET.1.4', 22), 2)"

# 4 hosts x 8 sessions at once: the rig's sshd takes a fan-out.
: >"$T/fan"
for a in $RIG_HOSTS; do
	for _ in 1 2 3 4 5 6 7 8; do
		($SSH "$a" true && echo ok >>"$T/fan") 2>/dev/null &
	done
done
wait
check "32 concurrent sessions all succeed" test "$(grep -c ok "$T/fan")" = 32

# --- link-down: the client times out -----------------------------------------
a2="$NET.1.2"
sh "$RIG" link-down 2 --dir "$RD"
t0=$(ms)
$SSH -o ConnectTimeout=2 "$a2" true >/dev/null 2>"$T/err"
rc=$?
dt=$(($(ms) - t0))
if [ "$rc" != 0 ] && [ "$dt" -ge 1800 ] && [ "$dt" -le 4000 ] &&
    grep -q "timed out" "$T/err" && ! grep -q "refused" "$T/err"; then
	pass "link-down: ssh times out after ${dt} ms"
else
	fail "link-down: ssh times out in about 2 s" "exit $rc after ${dt} ms: $(head -c 300 "$T/err")"
fi
check "link-down: the other hosts still answer" $SSH rig01 true
sh "$RIG" link-up 2 --dir "$RD"
check "link-up: host 2 answers again" wait_for 10 $SSH "$a2" true

# --- sshd-stop: connection refused -------------------------------------------
a3="$NET.1.3"
sh "$RIG" sshd-stop 3 --dir "$RD"
t0=$(ms)
$SSH -o ConnectTimeout=5 "$a3" true >/dev/null 2>"$T/err"
rc=$?
dt=$(($(ms) - t0))
if [ "$rc" != 0 ] && [ "$dt" -lt 1500 ] && grep -q "Connection refused" "$T/err"; then
	pass "sshd-stop: connection refused after ${dt} ms"
else
	fail "sshd-stop: connection refused at once" "exit $rc after ${dt} ms: $(head -c 300 "$T/err")"
fi
sh "$RIG" sshd-start 3 --dir "$RD"
check "sshd-start: host 3 answers again" $SSH "$a3" true

# --- swap-hostkey: strict checking refuses -----------------------------------
a4="$NET.1.4"
sh "$RIG" swap-hostkey 4 --dir "$RD"
out=$($SSH "$a4" echo ran 2>"$T/err")
rc=$?
if [ "$rc" != 0 ] && [ -z "$out" ] &&
    grep -q "REMOTE HOST IDENTIFICATION HAS CHANGED" "$T/err" &&
    grep -q "Host key verification failed" "$T/err"; then
	pass "swap-hostkey: strict checking refuses the changed key"
else
	fail "swap-hostkey: strict checking refuses" "exit $rc, out '$out': $(head -c 300 "$T/err")"
fi
check "swap-hostkey: known_hosts untouched" test "$(grep -c "^$a4 " "$RIG_KNOWN_HOSTS")" = 1
sh "$RIG" restore-hostkey 4 --dir "$RD"
check "restore-hostkey: host 4 answers again" $SSH "$a4" true

# --- a second rig beside the first -------------------------------------------
if sh "$RIG" up 2 --dir "$RD2" >"$T/up2.out" 2>&1; then
	S2=$(cat "$RD2/slot")
	check "second rig: another slot" test "$S2" != "$S"
	check "second rig: answers" sh -c "ssh -F '$RD2/ssh_config' rig01 hostname | grep -qx rig01"
	sh "$RIG" down --dir "$RD2"
	check "second rig: down removed it" gone_slot "$S2"
	check "second rig: down left the first one up" $SSH rig01 true
else
	fail "second rig: up 2" "$(head -c 600 "$T/up2.out")"
fi

# --- down ---------------------------------------------------------------------
# Something a test left running on a host must not survive down.
marker=$((20000 + $$ % 10000))
$SSH rig01 "nohup sleep $marker </dev/null >/dev/null 2>&1 &"
check "a session's process is running" wait_for 5 pgrep -x -f "sleep $marker"
ours=0
[ "$(getent passwd "$RIG_USER" | cut -d: -f5)" = "drover test rig user (tests/rig/rig.sh)" ] && ours=1
sh "$RIG" down --dir "$RD"
rc=$?
check "down exits 0" test "$rc" = 0
check "down: no namespace, bridge or veth of the rig" gone_slot "$S"
check "down: no sshd of the rig" no_proc "sshd -D -f $RD/"
check "down: no process left from a session" no_proc "^sleep $marker\$"
check "down: no rig dir" test ! -e "$RD"
check "down: slot released" test ! -e "/run/drover-rig/slot.$S"
if [ "$ours" = 1 ] && ! ls /run/drover-rig/slot.* >/dev/null 2>&1; then
	check "down: removed the test user it created" sh -c "! getent passwd '$RIG_USER'"
fi
check "down again: idempotent" sh "$RIG" down --dir "$RD"

# --- an up killed with -9 half-way, then down --------------------------------
sh "$RIG" up 8 --dir "$RD3" >/dev/null 2>&1 &
up=$!
if wait_for 20 sh -c "[ -s '$RD3/slot' ] && ip netns list | grep -q \"^drv\$(cat '$RD3/slot')-h\""; then
	S3=$(cat "$RD3/slot")
	kill -KILL "$up"
	wait "$up" 2>/dev/null
	sh "$RIG" down --dir "$RD3"
	check "killed up: down exits 0" test $? = 0
	check "killed up: down left no namespace, bridge or veth" gone_slot "$S3"
	check "killed up: down left no sshd" no_proc "sshd -D -f $RD3/"
	check "killed up: down removed the rig dir" test ! -e "$RD3"
else
	kill -KILL "$up" 2>/dev/null
	fail "killed up" "the up never created its namespaces"
fi
