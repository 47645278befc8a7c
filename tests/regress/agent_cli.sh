# agent_cli.sh - usage errors exit 2 with a message; an invalid spec starts
# nothing and names every bad field; --version answers.
. "$(dirname "$0")/lib.sh"

for args in "" "bogus" "run" "run --nope x.json" "run a.json b.json" \
    "attach" "attach --from 0 /tmp" "attach --from x /tmp" "status" \
    "status a b" "adopt" "parse --format" "parse --format nope -"; do
	# shellcheck disable=SC2086
	"$AGENT" $args </dev/null >/dev/null 2>"$T/err"
	rc=$?
	if [ "$rc" = 2 ] && grep -qi "usage\|unknown\|format" "$T/err"; then
		pass "usage error exits 2: '$args'"
	else
		fail "usage error exits 2: '$args'" "exit $rc: $(head -c 200 "$T/err")"
	fi
done

check "--version" sh -c "'$AGENT' --version | grep -q '^drover-agent [0-9]'"

cat > "$T/bad.json" <<JSON
{"spec":1,"task":"x/y","attempt":1,"host_id":"h","base_dir":"$T/runs",
 "container":{"runtime":"docker-run"},
 "processes":[{"rank":0,"argv":["true"]},{"rank":0,"argv":[]}]}
JSON
"$AGENT" run "$T/bad.json" >"$T/out" 2>"$T/err"
rc=$?
check "invalid spec exits 1" test "$rc" = 1
check "invalid spec names task" grep -q '^task: ' "$T/err"
check "invalid spec names container.image" grep -q 'image' "$T/err"
check "invalid spec names processes[1].argv" grep -q 'processes\[1\].argv' "$T/err"
check "invalid spec names the duplicate rank" grep -q 'processes\[1\].rank' "$T/err"
check "invalid spec: JSON error line on stdout" jq -e '.type == "error"' "$T/out"
check "invalid spec starts nothing (no run dir)" test ! -e "$T/runs"

printf '{"spec":1,' > "$T/trunc.json"
"$AGENT" run "$T/trunc.json" >/dev/null 2>"$T/err"
check "truncated spec: line and column" grep -q 'trunc.json:1:[0-9]*: not valid JSON' "$T/err"

write_spec "$T/nocmd.json" nocmd "[$(jq -cn '{rank:0, argv:["/nonexistent/train"]}')]"
"$AGENT" run "$T/nocmd.json" >"$T/out" 2>"$T/err"
rc=$?
check "missing program: run exits 1" test "$rc" = 1
check "missing program: says why" grep -q "No such file or directory" "$T/err"
