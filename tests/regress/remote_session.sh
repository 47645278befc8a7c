# remote_session.sh - long-lived sessions on the rig (remote/session.c):
# a host whose link goes down is reported lost within the silence limit,
# is retried with growing waits while it stays down, and comes back by
# itself when the link returns; the other host never notices; a swapped
# host key is not retried; sshd stopped and started again is reconnected.
. "$(dirname "$0")/lib.sh"

PROBE="$BUILD/rsession-probe"
rig_start 3 "remote sessions" || exit 0
h1=$(H 1) h2=$(H 2) h3=$(H 3)

# Link of host 1 down from ~3 s to ~14 s; keepalive 1 s (lost after 3
# silent intervals), connect timeout 1.5 s, backoff 500 ms doubling.
"$PROBE" -d 22 -i 300 -k 1 -c 1500 -b 500 -B 4000 "$h1" "$h2" \
    > "$T/probe.out" 2>&1 &
probe=$!
sleep 3
sh "$RIG" --dir "$RIG_DIR" link-down 1 >/dev/null 2>&1
down_at=$(date +%s%3N)
sleep 11
sh "$RIG" --dir "$RIG_DIR" link-up 1 >/dev/null 2>&1
wait $probe

# Times in the probe's own clock.
up1=$(awk -v h="$h1" '$2==h && $3=="state" && $4=="up" {print $1; exit}' "$T/probe.out")
lost=$(awk -v h="$h1" '$2==h && $3=="state" && $4=="down" {print $1; exit}' "$T/probe.out")
back=$(awk -v h="$h1" -v l="$lost" '$2==h && $3=="state" && $4=="up" && $1>l {print $1; exit}' "$T/probe.out")
check "host 1 connects" test -n "$up1"
check "host 1 reported down after its link was cut" test -n "$lost"
check "the reason names the host and the silence" \
    grep -q "^[0-9]* $h1 state down $h1: connection lost" "$T/probe.out"
# The link went down at ~3000 ms: lost within 3 keepalives + slack.
check "lost within 6 s of the cut (at ${lost:-?} ms)" \
    sh -c "[ ${lost:-0} -gt 2500 ] && [ ${lost:-0} -lt 9500 ]"
tries=$(awk -v h="$h1" -v l="$lost" -v b="${back:-99999999}" \
    '$2==h && $3=="state" && $4=="connecting" && $1>l && $1<b' "$T/probe.out" | wc -l)
check "retried while down ($tries attempts, not a tight loop)" \
    sh -c "[ $tries -ge 2 ] && [ $tries -le 8 ]"
gaps=$(awk -v h="$h1" -v l="$lost" -v b="${back:-99999999}" '
    $2==h && $3=="state" && $1>=l && $1<b && ($4=="down") {d=$1}
    $2==h && $3=="state" && $1>l && $1<b && ($4=="connecting") && d {print $1-d; d=0}' "$T/probe.out")
first=$(echo "$gaps" | head -n 1) last=$(echo "$gaps" | tail -n 1)
check "the waits grow (first ${first:-?} ms, last ${last:-?} ms)" \
    sh -c "[ ${first:-0} -ge 350 ] && [ ${last:-0} -gt ${first:-0} ]"
check "host 1 came back by itself after the link returned" test -n "$back"
ticks_after=$(awk -v h="$h1" -v b="${back:-99999999}" '$2==h && $3=="tick" && $4=="ok" && $1>b' "$T/probe.out" | wc -l)
check "commands run again on host 1 ($ticks_after ticks)" test "$ticks_after" -ge 3
check "host 2 never left up" sh -c \
    "! awk -v h='$h2' '\$2==h && \$3==\"state\" && \$4!=\"up\" && \$4!=\"connecting\"' '$T/probe.out' | grep -q . && \
     [ \$(awk -v h='$h2' '\$2==h && \$3==\"state\"' '$T/probe.out' | wc -l) = 2 ]"
ticks2=$(awk -v h="$h2" '$2==h && $3=="tick" && $4=="ok"' "$T/probe.out" | wc -l)
check "host 2 kept running commands ($ticks2 ticks)" test "$ticks2" -ge 40

# sshd and its session processes killed (every process in host 3's
# namespace), then sshd started again.
"$PROBE" -d 14 -i 300 -k 1 -c 1500 -b 500 -B 2000 "$h3" > "$T/probe3.out" 2>&1 &
probe=$!
sleep 3
for p in $(ip netns pids "drv${RIG_SLOT}-h3" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
sleep 4
sh "$RIG" --dir "$RIG_DIR" sshd-start 3 >/dev/null 2>&1
wait $probe
check "sshd killed: host 3 goes down" \
    grep -q "^[0-9]* $h3 state down" "$T/probe3.out"
check "sshd back: host 3 reconnects" sh -c \
    "awk '\$3==\"state\"{s=\$4} END{exit s!=\"up\"}' '$T/probe3.out'"

# A swapped host key is not retried: failed, once.
sh "$RIG" --dir "$RIG_DIR" swap-hostkey 2 >/dev/null 2>&1
"$PROBE" -d 4 -i 300 -b 200 -r "$h2" > "$T/probe2.out" 2>&1
sh "$RIG" --dir "$RIG_DIR" restore-hostkey 2 >/dev/null 2>&1
check "swapped host key: failed with the mismatch" \
    grep -q "^[0-9]* $h2 state failed $h2: host key mismatch" "$T/probe2.out"
check "swapped host key: one attempt, no retries" \
    test "$(grep -c ' state connecting' "$T/probe2.out")" = 1

# An unreachable first connection is retried only when asked (-r).
sh "$RIG" --dir "$RIG_DIR" link-down 1 >/dev/null 2>&1
"$PROBE" -d 3 -c 500 -b 200 "$h1" > "$T/probe1.out" 2>&1
check "first connection failing: failed at once without -r" sh -c \
    "grep -q ' state failed ' '$T/probe1.out' && test \$(grep -c ' state connecting' '$T/probe1.out') = 1"
"$PROBE" -d 3 -c 500 -b 200 -B 400 -r "$h1" > "$T/probe1r.out" 2>&1
check "first connection failing: retried with -r" sh -c \
    "test \$(grep -c ' state connecting' '$T/probe1r.out') -ge 3 && grep -q ' state down ' '$T/probe1r.out'"
sh "$RIG" --dir "$RIG_DIR" link-up 1 >/dev/null 2>&1
