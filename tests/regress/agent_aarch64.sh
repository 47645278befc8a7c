# agent_aarch64.sh - the static aarch64 agent (Ascend hosts are Kunpeng
# aarch64) runs under qemu-user: `parse` on a fixture gives the same output
# as the x86_64 agent, and a short `run` spawns, follows and records a job.
#
# `run` re-executes itself (the shim), so the kernel must know to hand
# aarch64 binaries to qemu: this registers qemu-user-binfmt's rule with
# binfmt_misc when it is missing (as systemd-binfmt does at boot), and
# removes it again afterwards.
. "$(dirname "$0")/lib.sh"

A64="$BUILD/aarch64/drover-agent"
if [ ! -x "$A64" ] || ! command -v qemu-aarch64 >/dev/null; then
	skip "aarch64 agent" "no $A64 or no qemu-aarch64 (make agents; install-deps)"
	exit 0
fi
check "aarch64 binary is a static aarch64 ELF" sh -c \
    "file '$A64' | grep -q 'ARM aarch64.*statically linked'"
check "aarch64 --version under qemu" sh -c "qemu-aarch64 '$A64' --version | grep -q '^drover-agent'"
for f in mindone kohya diffusers jsonl; do
	qemu-aarch64 "$A64" parse --format "$f" "$DROVER_SRC/tests/data/logs/$f.log" > "$T/a64.$f" 2>/dev/null
	"$AGENT" parse --format "$f" "$DROVER_SRC/tests/data/logs/$f.log" > "$T/x86.$f" 2>/dev/null
	check "parse $f: aarch64 output == x86_64 output (non-empty)" sh -c \
	    "[ -s '$T/x86.$f' ] && cmp -s '$T/a64.$f' '$T/x86.$f'"
done

registered=""
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
	if [ "$(id -u)" = 0 ] && [ -r /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
		[ -e /proc/sys/fs/binfmt_misc/register ] ||
		    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
		grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register 2>/dev/null &&
		    registered=1
	fi
fi
if ! "$A64" --version >/dev/null 2>&1; then
	skip "aarch64 run under qemu" "the kernel cannot run aarch64 binaries (no binfmt_misc rule, not root)"
	exit 0
fi
write_spec "$T/spec.json" a64 "[$(sim_proc 0 --format mindone --steps 5 --interval 0.05),
 $(sim_proc 1 --format jsonl --steps 5 --interval 0.05 --fail-at 3 --exit-code 7)]"
D="$T/runs/a64/1/h1"
"$A64" run "$T/spec.json" > "$T/hello" 2>"$T/err"
check "aarch64 run: hello" jq -e '.type == "hello" and .launch == 1' "$T/hello"
wait_for 30 run_ended "$D"
check "aarch64 run: ended" run_ended "$D"
check "aarch64 run: rank 0's steps 1..5" sh -c \
    "jq -s -e '[.[] | select(.type == \"metric\" and .rank == 0) | .step] == [1,2,3,4,5]' '$D/events.jsonl'"
check "aarch64 run: rank 1 exit 7 recorded" ev_all "$D" \
    '.type == "state" and .rank == 1 and .state == "exited"' '.code == 7 and .class == "failed"'
check "aarch64 run: traceback spooled whole" ev_any "$D" \
    '.type == "log" and .what == "traceback" and (.line | test("RuntimeError: simulated failure at step 3"))'
check "aarch64 run: seq continuity" spool_seq_ok "$D/events.jsonl"
check "aarch64 status works" sh -c "'$A64' status '$D' | jq -e '.state == \"exited\" and .result == \"failed\"'"
[ -n "$registered" ] && echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64
exit 0
