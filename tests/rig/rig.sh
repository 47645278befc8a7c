#!/bin/sh
# rig.sh - a multi-host test rig on one machine: N network namespaces on one
# Linux bridge, each running its own OpenSSH sshd, for tests/regress/ and
# bench/. It is not a container runtime: the hosts share the root filesystem,
# the users and the processes' view of /proc; only the network (and, for sshd
# and its sessions, the hostname) is their own. Needs root, iproute2,
# openssh-server, openssh-client, util-linux and python3; no Docker, no
# systemd. Nothing leaves the bridge: the hosts have no default route.
#
# Usage, as a command:
#   rig.sh up N [--dir DIR] [--rsa]   N hosts; prints "rig: N hosts up in DIR ..."
#   rig.sh down [--dir DIR]           kill, delete, remove; idempotent
#   rig.sh link-down K | link-up K    the host's veth down/up (clients time out)
#   rig.sh sshd-stop K | sshd-start K (clients get "Connection refused")
#   rig.sh swap-hostkey K             new host key, sshd restarted (known_hosts
#                                     no longer matches); restore-hostkey K undoes
#   rig.sh exec K CMD...              CMD as root inside host K (net + hostname)
#   rig.sh addr K | status            status: "K ADDR NAME NETNS sshd PID|down, link up|down"
# K is a host index (1..N), its address or its name (rig01). DIR defaults to
# $RIG_DIR, then /tmp/drover-rig. "--dir DIR" may come before the command.
#
# Sourced (". tests/rig/rig.sh"): defines rig (the same commands, run in a
# subshell), rig_env DIR (loads DIR/env into the caller), rig_addr K and
# rig_ssh K CMD... (plain ssh through the rig's ssh_config).
#
# Address plan (docs in tests/rig/README.md): rig slot S (0..15, the first
# free one) owns 10.(231+S).0.0/16; the bridge drvS-br is 10.(231+S).0.1;
# host k is 10.(231+S).(1+(k-1)/250).(1+(k-1)%250), so 10.231.1.k for k <= 250
# in the first rig. Host k's netns and its root-side veth are both named
# drvS-hk; inside, the veth is eth0 and the hostname is rigNN (%02d).

RIG_MAXN=1000
RIG_NSLOTS=16
RIG_REG=/run/drover-rig
RIG_USER_DEFAULT=drovertest
RIG_USER_GECOS="drover test rig user (tests/rig/rig.sh)"

_rig_err() { echo "rig.sh: $*" >&2; }
_rig_die() { _rig_err "$@"; exit 1; }

_rig_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# _rig_alive PID: the process exists and is not a zombie (this machine's
# init may never reap orphans, so kill -0 alone is not enough).
_rig_alive() {
	case "$1" in '' | *[!0-9]*) return 1 ;; esac
	{ read -r _st <"/proc/$1/stat"; } 2>/dev/null || return 1
	_st=${_st##*) }
	_st=${_st%% *}
	[ -n "$_st" ] && [ "$_st" != Z ] && [ "$_st" != X ]
}

_rig_python() {
	if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi
}

# _rig_wait_ssh SECONDS ADDR...: every ADDR:22 sends an SSH banner.
_rig_wait_ssh() {
	"$(_rig_python)" - "$@" <<'PYEOF'
import asyncio, sys, time
limit = float(sys.argv[1])
addrs = sys.argv[2:]
deadline = time.monotonic() + limit
async def probe(a):
    while True:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(a, 22), 1.0)
            try:
                line = await asyncio.wait_for(r.readline(), 2.0)
            finally:
                w.close()
            if line.startswith(b"SSH-"):
                return True
        except (OSError, asyncio.TimeoutError):
            pass
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
async def main():
    res = await asyncio.gather(*(probe(a) for a in addrs))
    bad = [a for a, ok in zip(addrs, res) if not ok]
    if bad:
        print("no sshd answered within %gs on: %s" % (limit, " ".join(bad)),
              file=sys.stderr)
        return 1
    return 0
sys.exit(asyncio.run(main()))
PYEOF
}

_rig_octet() { echo $((231 + $1)); }

# _rig_hex2 N: sets _hx to N (0..255) as two hex digits, without a fork
# (dash forks for every $(...), and up runs this for every host).
_rig_hex2() {
	_hx=""
	for _nb in $(($1 / 16)) $(($1 % 16)); do
		case $_nb in
		10) _nb=a ;; 11) _nb=b ;; 12) _nb=c ;; 13) _nb=d ;; 14) _nb=e ;; 15) _nb=f ;;
		esac
		_hx="$_hx$_nb"
	done
}

# _rig_hv K: sets H_NAME (rigNN), H_ADDR, H_NS (netns and root-side veth),
# H_DIR and H_MAC (of eth0 inside) for host K of slot RIG_SLOT.
_rig_hv() {
	if [ "$1" -lt 10 ]; then H_NAME="rig0$1"; else H_NAME="rig$1"; fi
	H_ADDR="10.$((231 + RIG_SLOT)).$((1 + ($1 - 1) / 250)).$((1 + ($1 - 1) % 250))"
	H_NS="drv$RIG_SLOT-h$1"
	H_DIR="$DIR/$H_NAME"
	_rig_hex2 "$RIG_SLOT"
	H_MAC="02:d7:$_hx:01"
	_rig_hex2 $(($1 / 256))
	H_MAC="$H_MAC:$_hx"
	_rig_hex2 $(($1 % 256))
	H_MAC="$H_MAC:$_hx"
}

# Resolve DIR to an absolute path; refuse characters that ssh_config, the
# env file or sshd_config would need quoted.
_rig_set_dir() {
	d=${1:-${RIG_DIR:-/tmp/drover-rig}}
	case "$d" in /*) ;; *) d="$(pwd)/$d" ;; esac
	case "$d" in
	*[!A-Za-z0-9._/+-]*) _rig_die "rig dir '$d': use only letters, digits and . _ / + -" ;;
	/ | /tmp | /tmp/ | /home | /root | /run) _rig_die "rig dir '$d' is not a rig dir" ;;
	esac
	DIR=${d%/}
}

# _rig_is_rigdir DIR: DIR was made by rig.sh up (safe to rm -rf).
_rig_is_rigdir() { [ -f "$1/.drover-rig" ]; }

# _rig_slot_live S: slot S is registered to a rig dir that names it back.
_rig_slot_live() {
	[ -f "$RIG_REG/slot.$1" ] || return 1
	_d=$(cat "$RIG_REG/slot.$1" 2>/dev/null)
	[ -n "$_d" ] && _rig_is_rigdir "$_d" && [ "$(cat "$_d/slot" 2>/dev/null)" = "$1" ]
}

# _rig_slot_of_dir DIR: prints the slot DIR owns (registry first, so a rig
# whose dir was half-written or deleted is still found).
_rig_slot_of_dir() {
	for f in "$RIG_REG"/slot.*; do
		[ -f "$f" ] || continue
		if [ "$(cat "$f" 2>/dev/null)" = "$1" ]; then
			echo "${f##*/slot.}"
			return 0
		fi
	done
	if [ -f "$1/slot" ] && _rig_is_rigdir "$1"; then
		cat "$1/slot"
		return 0
	fi
	return 1
}

_rig_lock() {
	mkdir -p "$RIG_REG" || _rig_die "cannot create $RIG_REG"
	exec 9>"$RIG_REG/lock"
	flock 9 || _rig_die "cannot lock $RIG_REG/lock"
}
_rig_unlock() { flock -u 9 2>/dev/null; exec 9>&-; }

# The rig's own lock (fd 8 on DIR/.lock): up holds it from start to end, so
# a down racing an up (or an up killed with -9 whose children still run)
# waits for the building to stop before it looks for what to remove. The
# children that build (ip, ssh-keygen) inherit it; sshd must not.
_rig_dirlock() {
	[ "${_rig_dirlocked:-0}" = 1 ] && return 0
	_rig_is_rigdir "$DIR" || return 0
	exec 8>>"$DIR/.lock" || return 0
	flock -w 60 8 || _rig_err "warning: $DIR/.lock still held after 60s; going on"
	_rig_dirlocked=1
}

# _rig_ns_list S / _rig_link_list S: what exists of slot S, whoever made it.
_rig_ns_list() { ip netns list 2>/dev/null | awk -v p="drv$1-h" 'index($1, p) == 1 { print $1 }'; }
_rig_link_list() {
	ip -o link show 2>/dev/null |
	    awk -F': ' -v p="drv$1-" '{ n = $2; sub(/@.*/, "", n); if (index(n, p) == 1) print n }'
}

# _rig_ns_pids NS...: every process whose network namespace is one of NS
# (what "ip netns pids" says, for all of them in one pass over /proc).
_rig_ns_pids() {
	_ps=""
	for _ns in "$@"; do _ps="$_ps /run/netns/$_ns"; done
	# shellcheck disable=SC2086
	inodes=$(stat -L -c 'net:[%i]' $_ps 2>/dev/null)
	[ -n "$inodes" ] || return 0
	find /proc/[0-9]*/ns -maxdepth 1 -name net -printf '%h %l\n' 2>/dev/null |
	    awk -v want="$inodes" 'BEGIN { n = split(want, w, "\n"); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
		ok[$2] { split($1, p, "/"); print p[3] }'
}

# _rig_teardown_slot S: kills every process in slot S's namespaces (sshd,
# sessions, whatever a test left running there) and deletes the namespaces,
# veths and bridge, all found by name, so it also cleans up after an up
# that died at any point.
_rig_teardown_slot() {
	s=$1
	nss=$(_rig_ns_list "$s")
	if [ -n "$nss" ]; then
		i=0
		while [ $i -lt 50 ]; do
			# shellcheck disable=SC2086
			pids=$(_rig_ns_pids $nss)
			[ -z "$pids" ] && break
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null
			sleep 0.05
			i=$((i + 1))
		done
		[ -n "$pids" ] && _rig_err "warning: processes still in slot $s's namespaces: $pids"
	fi
	# Deleting a namespace deletes the veth in it and so its root-side peer
	# (the kernel does that in one batch, far faster than "link del" of
	# each); whatever is left after a few seconds is deleted by name.
	links=$(_rig_link_list "$s")
	if [ -n "$links$nss" ]; then
		{
			for ns in $nss; do echo "netns del $ns"; done
			for l in $links; do case "$l" in *-br) echo "link del $l" ;; esac; done
		} | ip -force -batch - 2>/dev/null
		i=0
		while [ -n "$(_rig_link_list "$s")" ] && [ $i -lt 50 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		links=$(_rig_link_list "$s")
		if [ -n "$links" ]; then
			for l in $links; do echo "link del $l"; done | ip -force -batch - 2>/dev/null
		fi
	fi
	rm -f "$RIG_REG/slot.$s"
}

_rig_user_ours() {
	[ "$(getent passwd "$1" | cut -d: -f5)" = "$RIG_USER_GECOS" ]
}

# _rig_ensure_user USER: creates USER (shell /bin/sh, home /home/USER, no
# password but not locked: sshd without PAM refuses locked accounts).
_rig_ensure_user() {
	u=$1
	if ! getent passwd "$u" >/dev/null; then
		useradd -m -d "/home/$u" -s /bin/sh -c "$RIG_USER_GECOS" -p '*' -U "$u" ||
		    _rig_die "useradd $u failed"
		return 0
	fi
	pw=$(getent shadow "$u" | cut -d: -f2)
	case "$pw" in
	!*) _rig_die "user $u exists and is locked ($pw...); sshd without PAM refuses it; run: usermod -p '*' $u" ;;
	esac
	h=$(getent passwd "$u" | cut -d: -f6)
	[ -d "$h" ] || _rig_die "user $u exists but its home $h does not"
}

# _rig_other_live SLOT: some slot other than SLOT is live.
_rig_other_live() {
	s=0
	while [ $s -lt $RIG_NSLOTS ]; do
		[ "$s" != "$1" ] && _rig_slot_live "$s" && return 0
		s=$((s + 1))
	done
	return 1
}

# _rig_subnet_clash S: the root namespace already has an address or a route
# in slot S's /16 (someone else's network, or a leftover we do not own).
_rig_subnet_clash() {
	o=$(_rig_octet "$1")
	ip -4 -o addr show 2>/dev/null | awk '{ print $4 }' | grep -q "^10\.$o\." && return 0
	ip -4 route show 2>/dev/null | awk '{ print $1 }' | grep -q "^10\.$o\." && return 0
	return 1
}

_rig_need() {
	[ "$(id -u)" = 0 ] || _rig_die "needs root (network namespaces, sshd on port 22)"
	for c in ip ssh-keygen ssh unshare setsid flock useradd; do
		command -v "$c" >/dev/null 2>&1 || _rig_die "missing command: $c (run scripts/install-deps.sh)"
	done
	[ -x /usr/sbin/sshd ] || _rig_die "missing /usr/sbin/sshd (openssh-server)"
	[ -n "$(_rig_python)" ] || _rig_die "missing python3"
}

_rig_load() {
	_rig_is_rigdir "$DIR" && [ -f "$DIR/env" ] ||
	    _rig_die "no rig in $DIR (run: rig.sh up N --dir $DIR)"
	# shellcheck disable=SC1091
	. "$DIR/env"
}

# _rig_index K: host index from an index, an address or a name.
_rig_index() {
	case "$1" in
	'') _rig_die "which host? give an index 1..$RIG_N, an address or a name" ;;
	*[!0-9]*)
		k=$(awk -v a="$1" '$1 == a { print NR; exit }' "$DIR/hosts")
		if [ -z "$k" ]; then
			case "$1" in
			rig[0-9]*) k=$(echo "${1#rig}" | sed 's/^0*//') ;;
			esac
		fi
		;;
	*) k=$1 ;;
	esac
	case "$k" in '' | *[!0-9]*) _rig_die "no host '$1' in the rig in $DIR" ;; esac
	[ "$k" -ge 1 ] && [ "$k" -le "$RIG_N" ] || _rig_die "no host '$1' in the rig in $DIR (1..$RIG_N)"
	echo "$k"
}

# _rig_start_sshd K [net]: starts host K's sshd in the background, in its
# netns and a UTS namespace of its own; with "net", first runs the host's
# net.batch (addresses, links up) inside the netns. Does not wait.
_rig_start_sshd() {
	_rig_hv "$1"
	[ -e "$H_DIR/sshd.pid" ] && : >"$H_DIR/sshd.pid"
	setsid ip netns exec "$H_NS" unshare --uts /bin/sh -c \
	    '{ [ -z "$4" ] || ip -batch "$4"; } &&
	     echo "$1" > /proc/sys/kernel/hostname &&
	     exec /usr/sbin/sshd -D -f "$2" -E "$3"' \
	    sh "$H_NAME" "$H_DIR/sshd_config" "$H_DIR/sshd.log" "${2:+$H_DIR/net.batch}" \
	    </dev/null >>"$H_DIR/start.log" 2>&1 8>&- 9>&- &
}

_rig_stop_sshd() {
	_rig_hv "$1"
	hd=$H_DIR
	p=""
	[ -f "$hd/sshd.pid" ] && read -r p <"$hd/sshd.pid"
	_rig_alive "$p" || return 0
	kill -TERM "$p" 2>/dev/null
	i=0
	while _rig_alive "$p" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	_rig_alive "$p" && kill -KILL "$p" 2>/dev/null
	i=0
	while _rig_alive "$p" && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
	rm -f "$hd/sshd.pid"
}

# _rig_gen_hostkeys K: host K's key pair(s), in the background.
_rig_gen_hostkeys() {
	_rig_hv "$1"
	ssh-keygen -q -t ed25519 -N '' -C "$H_NAME" -f "$H_DIR/ssh_host_ed25519_key" </dev/null 9>&- &
	if [ "$RIG_RSA" = 1 ]; then
		ssh-keygen -q -t rsa -b 3072 -N '' -C "$H_NAME" -f "$H_DIR/ssh_host_rsa_key" </dev/null 9>&- &
	fi
}

# _rig_write_sshd_config K (after _rig_hv K).
_rig_write_sshd_config() {
	{
		printf '# drover test rig: host %s (%s), written by tests/rig/rig.sh\n' "$1" "$H_NAME"
		printf 'ListenAddress %s:22\nHostKey %s/ssh_host_ed25519_key\n' "$H_ADDR" "$H_DIR"
		[ "$RIG_RSA" = 1 ] && printf 'HostKey %s/ssh_host_rsa_key\n' "$H_DIR"
		printf 'PidFile %s/sshd.pid\nAuthorizedKeysFile %s/authorized_keys\nAllowUsers %s\n' \
		    "$H_DIR" "$DIR" "$RIG_USER"
		printf '%s\n' "StrictModes no" "UsePAM no" "PasswordAuthentication no" \
		    "KbdInteractiveAuthentication no" "PubkeyAuthentication yes" \
		    "PermitRootLogin no" "MaxStartups 100:30:200" "MaxSessions 50" \
		    "LoginGraceTime 30" "LogLevel VERBOSE" "UseDNS no" "PrintMotd no" \
		    "PrintLastLog no" "X11Forwarding no" "AllowTcpForwarding yes" \
		    "Subsystem sftp internal-sftp"
		[ -n "$RIG_EXTRA_SSHD" ] && printf '%s\n' "$RIG_EXTRA_SSHD"
	} >"$H_DIR/sshd_config"
}

_rig_up() {
	n=$1
	case "$n" in '' | *[!0-9]*) _rig_die "usage: rig.sh up N [--dir DIR] [--rsa]" ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le $RIG_MAXN ] || _rig_die "N must be 1..$RIG_MAXN"
	_rig_need
	t0=$(_rig_now_ms)

	if [ -e "$DIR" ] && ! _rig_is_rigdir "$DIR"; then
		[ -z "$(ls -A "$DIR" 2>/dev/null)" ] ||
		    _rig_die "$DIR exists and is not a rig dir; give another --dir"
	fi
	if _rig_is_rigdir "$DIR" || _rig_slot_of_dir "$DIR" >/dev/null 2>&1; then
		_rig_err "note: tearing down the rig left in $DIR"
		_rig_down
	fi
	mkdir -p "$DIR" || _rig_die "cannot create $DIR"
	chmod 755 "$DIR"
	: >"$DIR/.drover-rig"
	_rig_dirlock

	# Slot, user and registry under one lock, so two rigs never pick the
	# same names or subnet; anything named for a slot nobody holds is a
	# leftover and is removed before the slot is reused.
	_rig_lock
	RIG_SLOT=""
	s=0
	while [ $s -lt $RIG_NSLOTS ]; do
		if ! _rig_slot_live "$s"; then
			if [ -n "$(_rig_ns_list "$s")$(_rig_link_list "$s")" ] || [ -f "$RIG_REG/slot.$s" ]; then
				_rig_err "note: removing leftovers of rig slot $s"
				_rig_teardown_slot "$s"
			fi
			if ! _rig_subnet_clash "$s"; then
				RIG_SLOT=$s
				break
			fi
		fi
		s=$((s + 1))
	done
	[ -n "$RIG_SLOT" ] || { _rig_unlock; _rig_die "no free rig slot (0..$((RIG_NSLOTS - 1))); see /run/drover-rig/slot.* for the rig dirs, and rig.sh down --dir DIR"; }
	echo "$RIG_SLOT" >"$DIR/slot"
	echo "$DIR" >"$RIG_REG/slot.$RIG_SLOT"
	# Rigs up at once (tests run side by side) each get their own user,
	# so one's home (pushed agents, run dirs) is not another's.
	[ -n "${RIG_TEST_USER:-}" ] || [ "$RIG_SLOT" = 0 ] ||
	    RIG_USER=$RIG_USER_DEFAULT$RIG_SLOT
	(_rig_ensure_user "$RIG_USER") || { _rig_unlock; _rig_down; exit 1; }
	_rig_unlock

	# From here on a failure tears down what was built (RIG_KEEP=1 keeps it
	# for a post-mortem; rig.sh down removes it later).
	_rig_fail() {
		_rig_err "$@"
		if [ -n "${RIG_KEEP:-}" ]; then
			_rig_err "up failed; RIG_KEEP is set, left the rig in $DIR"
		else
			_rig_err "up failed; tearing down"
			_rig_down
		fi
		exit 1
	}

	if [ ! -d /run/sshd ]; then
		mkdir -p /run/sshd && chmod 755 /run/sshd || _rig_fail "cannot create /run/sshd"
	fi

	o=$(_rig_octet "$RIG_SLOT")
	br="drv$RIG_SLOT-br"
	RIG_N=$n

	# Keys: the client's, then every host's, generated in parallel. The
	# per-host loops avoid $(...): dash forks for each one.
	ssh-keygen -q -t ed25519 -N '' -C "drover-rig-client" -f "$DIR/id_ed25519" </dev/null ||
	    _rig_fail "ssh-keygen failed"
	cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
	chmod 644 "$DIR/authorized_keys"
	dirs=""
	k=1
	while [ $k -le "$n" ]; do
		_rig_hv "$k"
		dirs="$dirs $H_DIR"
		k=$((k + 1))
	done
	# shellcheck disable=SC2086
	mkdir -p $dirs || _rig_fail "cannot create the host dirs in $DIR"
	k=1
	while [ $k -le "$n" ]; do
		_rig_gen_hostkeys "$k"
		[ $((k % 128)) = 0 ] && wait
		k=$((k + 1))
	done
	wait

	# The test user must be able to read authorized_keys (sshd reads it as
	# the user), so every directory above DIR must be searchable.
	if command -v runuser >/dev/null 2>&1; then
		runuser -u "$RIG_USER" -- test -r "$DIR/authorized_keys" ||
		    _rig_fail "$RIG_USER cannot read $DIR/authorized_keys; make the directories above $DIR searchable (chmod o+x) or use another --dir"
	fi

	# OpenSSH 9.8+ penalises sources that fail often; a fan-out test from
	# one address must not be throttled. Older sshd rejects the option.
	RIG_EXTRA_SSHD=""
	printf 'PerSourcePenalties no\nHostKey %s\n' "$DIR/rig01/ssh_host_ed25519_key" >"$DIR/probe_config"
	/usr/sbin/sshd -t -f "$DIR/probe_config" >/dev/null 2>&1 && RIG_EXTRA_SSHD="PerSourcePenalties no"
	rm -f "$DIR/probe_config"

	# Everything per host: the root namespace's part of the network in one
	# ip batch; each host's own part (addresses, links up) in a batch file
	# its sshd wrapper runs inside the namespace; sshd_config; the client
	# files.
	: >"$DIR/hosts"
	: >"$DIR/known_hosts"
	: >"$DIR/ssh_config"
	hosts=""
	names=""
	{
		printf 'link add %s address 02:d7:%s:00:00:01 type bridge stp_state 0 forward_delay 0\n' \
		    "$br" "$(_rig_hex2 "$RIG_SLOT"; echo "$_hx")"
		printf 'addr add 10.%s.0.1/16 dev %s\nlink set %s up\n' "$o" "$br" "$br"
	} >"$DIR/net.batch"
	k=1
	while [ $k -le "$n" ]; do
		_rig_hv "$k"
		kt=""
		kb=""
		[ -s "$H_DIR/ssh_host_ed25519_key.pub" ] && read -r kt kb _ <"$H_DIR/ssh_host_ed25519_key.pub"
		[ -n "$kb" ] || _rig_fail "host key generation failed for host $k ($H_DIR)"
		printf '%s %s %s\n' "$H_ADDR" "$kt" "$kb" >>"$DIR/known_hosts"
		if [ "$RIG_RSA" = 1 ]; then
			kb=""
			[ -s "$H_DIR/ssh_host_rsa_key.pub" ] && read -r kt kb _ <"$H_DIR/ssh_host_rsa_key.pub"
			[ -n "$kb" ] || _rig_fail "rsa host key generation failed for host $k ($H_DIR)"
			printf '%s %s %s\n' "$H_ADDR" "$kt" "$kb" >>"$DIR/known_hosts"
		fi
		printf '%s\n' "$H_ADDR" >>"$DIR/hosts"
		printf '%s\n' "Host $H_NAME" "	HostName $H_ADDR" >>"$DIR/ssh_config"
		# A permanent neighbour entry in the root namespace: with the link
		# down the client's SYNs go nowhere (a timeout), instead of ARP
		# failing into "No route to host" after 3 s.
		printf '%s\n' "netns add $H_NS" \
		    "link add $H_NS type veth peer name eth0 address $H_MAC netns $H_NS" \
		    "link set $H_NS master $br up" \
		    "neigh replace $H_ADDR lladdr $H_MAC dev $br nud permanent" >>"$DIR/net.batch"
		printf '%s\n' "link set lo up" "addr add $H_ADDR/16 dev eth0" "link set eth0 up" \
		    >"$H_DIR/net.batch"
		_rig_write_sshd_config "$k"
		hosts="$hosts $H_ADDR"
		names="$names $H_NAME"
		k=$((k + 1))
	done
	# One block for every host, the way a cluster's config usually reads
	# (Host 10.0.*), so hosts share their settings as they do there.
	printf '%s\n' "Host 10.$((231 + RIG_SLOT)).*.* rig*" "	Port 22" \
	    "	User $RIG_USER" "	IdentityFile $DIR/id_ed25519" "	IdentitiesOnly yes" \
	    "	UserKnownHostsFile $DIR/known_hosts" "	GlobalKnownHostsFile /dev/null" \
	    "	StrictHostKeyChecking yes" "	UpdateHostKeys no" "	CheckHostIP no" \
	    "	BatchMode yes" "	ConnectTimeout 5" "	ControlMaster no" "	ControlPath none" \
	    >>"$DIR/ssh_config"
	cat >"$DIR/env" <<EOF
# drover test rig in $DIR (source this file)
RIG_DIR='$DIR'
RIG_N=$n
RIG_HOSTS='${hosts# }'
RIG_NAMES='${names# }'
RIG_USER='$RIG_USER'
RIG_KEY='$DIR/id_ed25519'
RIG_KNOWN_HOSTS='$DIR/known_hosts'
RIG_SSH_CONFIG='$DIR/ssh_config'
RIG_SLOT=$RIG_SLOT
RIG_SUBNET='10.$o.0.0/16'
RIG_BRIDGE='$br'
RIG_BRIDGE_ADDR='10.$o.0.1'
RIG_RSA=$RIG_RSA
export RIG_DIR RIG_N RIG_HOSTS RIG_NAMES RIG_USER RIG_KEY RIG_KNOWN_HOSTS RIG_SSH_CONFIG RIG_SLOT RIG_SUBNET RIG_BRIDGE RIG_BRIDGE_ADDR RIG_RSA
EOF

	# One sshd -t, so a config this sshd rejects fails here with its
	# message instead of as 30 s of silence.
	/usr/sbin/sshd -t -f "$DIR/rig01/sshd_config" 2>"$DIR/sshd-t.err" ||
	    _rig_fail "sshd -t rejects the rig's config: $(cat "$DIR/sshd-t.err")"
	rm -f "$DIR/sshd-t.err"

	ip -batch "$DIR/net.batch" || _rig_fail "network setup failed (ip -batch $DIR/net.batch)"
	k=1
	while [ $k -le "$n" ]; do
		_rig_start_sshd "$k" net
		k=$((k + 1))
	done
	# shellcheck disable=SC2086
	if ! _rig_wait_ssh 30 $hosts 8>&-; then
		for f in "$DIR"/rig*/start.log "$DIR"/rig*/sshd.log; do
			[ -s "$f" ] && { _rig_err "$f:"; tail -n 5 "$f" >&2; }
		done
		_rig_fail "sshd did not come up"
	fi
	t1=$(_rig_now_ms)
	hosts=${hosts# }
	echo "rig: $n hosts up in $DIR (${hosts%% *}..$H_ADDR, slot $RIG_SLOT, $(((t1 - t0) / 1000)).$(printf '%03d' $(((t1 - t0) % 1000)))s)"
}

_rig_down() {
	[ "$(id -u)" = 0 ] || _rig_die "needs root"
	_rig_dirlock
	_rig_lock
	s=$(_rig_slot_of_dir "$DIR" 2>/dev/null)
	if [ -n "$s" ]; then
		_rig_teardown_slot "$s"
		u=$RIG_USER
		[ -f "$DIR/env" ] && u=$(sed -n "s/^RIG_USER='\(.*\)'$/\1/p" "$DIR/env")
		if [ -n "$u" ] && _rig_user_ours "$u" && ! _rig_other_live "$s"; then
			userdel -r "$u" >/dev/null 2>&1 || _rig_err "userdel $u failed"
		fi
	fi
	if _rig_is_rigdir "$DIR"; then
		rm -rf "$DIR"
	elif [ -e "$DIR" ] && [ -n "$s" ]; then
		_rig_err "$DIR has no rig marker; left it in place"
	fi
	_rig_unlock
	[ "${_rig_dirlocked:-0}" = 1 ] && exec 8>&-
	_rig_dirlocked=0
}

_rig_status() {
	k=1
	while [ $k -le "$RIG_N" ]; do
		_rig_hv "$k"
		p=""
		[ -s "$H_DIR/sshd.pid" ] && read -r p <"$H_DIR/sshd.pid"
		if _rig_alive "$p"; then sd="sshd $p"; else sd="sshd down"; fi
		if ip -o link show "$H_NS" 2>/dev/null | grep -q '[<,]UP[,>]'; then lk="link up"; else lk="link down"; fi
		echo "$k $H_ADDR $H_NAME $H_NS $sd, $lk"
		k=$((k + 1))
	done
}

_rig_usage() {
	sed -n '/^# Usage, as a command:/,/^# \$RIG_DIR, then/p' "$0" 2>/dev/null |
	    sed 's/^# \{0,1\}//' >&2
	exit 2
}

# rig CMD ARGS...: the command-line interface; runs in a subshell, so it is
# safe to call from a sourcing script.
_rig_main() {
	DIR=""
	cmd=""
	arg=""
	RIG_RSA=0
	RIG_USER=${RIG_TEST_USER:-$RIG_USER_DEFAULT}
	while [ $# -gt 0 ]; do
		case "$1" in
		--dir) [ $# -ge 2 ] || _rig_die "--dir needs a value"; DIR=$2; shift 2; continue ;;
		--dir=*) DIR=${1#--dir=}; shift; continue ;;
		--rsa) RIG_RSA=1; shift; continue ;;
		-h | --help) _rig_usage ;;
		--) shift; break ;;
		-*) [ "$cmd" = exec ] && [ -n "$arg" ] && break; _rig_die "unknown option $1" ;;
		esac
		if [ -z "$cmd" ]; then
			cmd=$1
		elif [ -z "$arg" ]; then
			arg=$1
		elif [ "$cmd" = exec ]; then
			break
		else
			_rig_die "$cmd: unexpected argument '$1'"
		fi
		shift
	done
	_rig_set_dir "$DIR"
	case "$cmd" in
	up) _rig_up "$arg" ;;
	down)
		_rig_down
		;;
	link-down | link-up | sshd-stop | sshd-start | swap-hostkey | restore-hostkey | exec | addr)
		_rig_load
		[ "$(id -u)" = 0 ] || [ "$cmd" = addr ] || _rig_die "needs root"
		k=$(_rig_index "$arg") || exit 1
		_rig_hv "$k"
		hd=$H_DIR
		case "$cmd" in
		addr) echo "$H_ADDR" ;;
		link-down) ip link set "$H_NS" down ;;
		link-up) ip link set "$H_NS" up ;;
		sshd-stop) _rig_stop_sshd "$k" ;;
		sshd-start)
			p=""
			[ -s "$hd/sshd.pid" ] && read -r p <"$hd/sshd.pid"
			_rig_alive "$p" && exit 0
			_rig_start_sshd "$k"
			_rig_wait_ssh 10 "$H_ADDR"
			;;
		swap-hostkey | restore-hostkey)
			if [ "$cmd" = swap-hostkey ]; then
				for f in "$hd"/ssh_host_*_key "$hd"/ssh_host_*_key.pub; do
					[ -e "$f.orig" ] || cp -p "$f" "$f.orig"
					rm -f "$f"
				done
				_rig_gen_hostkeys "$k"
				wait
				[ -s "$hd/ssh_host_ed25519_key.pub" ] || _rig_die "ssh-keygen failed for $hd"
			else
				for f in "$hd"/ssh_host_*.orig; do
					[ -e "$f" ] && mv -f "$f" "${f%.orig}"
				done
			fi
			_rig_stop_sshd "$k"
			_rig_start_sshd "$k"
			_rig_wait_ssh 10 "$H_ADDR"
			;;
		exec)
			[ $# -gt 0 ] || _rig_die "usage: rig.sh exec K CMD..."
			exec ip netns exec "$H_NS" unshare --uts /bin/sh -c \
			    'echo "$1" > /proc/sys/kernel/hostname && shift && exec "$@"' \
			    sh "$H_NAME" "$@"
			;;
		esac
		;;
	status) _rig_load; _rig_status ;;
	'') _rig_usage ;;
	*) _rig_err "unknown command '$cmd'"; _rig_usage ;;
	esac
}

# rig CMD ARGS...: the command-line interface for a script that sources this
# file; runs in a subshell, so its exits and variables stay there.
rig() (
	_rig_main "$@"
)

# rig_env DIR: loads DIR/env (RIG_DIR, RIG_HOSTS, ...) into this shell.
rig_env() {
	# shellcheck disable=SC1090,SC1091
	[ -f "${1:-$RIG_DIR}/env" ] && . "${1:-$RIG_DIR}/env"
}
# rig_addr K: host K's address (after rig_env).
rig_addr() { echo "$RIG_HOSTS" | tr ' ' '\n' | sed -n "${1}p"; }
# rig_ssh K CMD...: plain OpenSSH to host K as the test user.
rig_ssh() {
	_rig_a=$(rig_addr "$1")
	shift
	ssh -F "$RIG_SSH_CONFIG" "$_rig_a" "$@"
}

case "${0##*/}" in
rig.sh) _rig_main "$@"; exit $? ;;
esac
