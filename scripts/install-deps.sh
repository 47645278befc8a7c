#!/bin/sh
# install-deps.sh - installs every package drover needs to build, run and test
# on Debian 12 / Ubuntu 22.04+. Idempotent and quiet when all are present.
#
#   scripts/install-deps.sh            install what is missing (needs root)
#   scripts/install-deps.sh --check    list what is missing; exit 1 if any
#   scripts/install-deps.sh --ensure   install as root, else print the command
set -u

PKGS="build-essential pkg-config libncurses-dev libssh2-1-dev libjansson-dev
libyaml-dev libsqlite3-dev sqlite3 openssh-server openssh-client bubblewrap tmux
python3 python3-numpy iproute2 jq procps file pdsh busybox zsh clang libclang-rt-14-dev llvm
gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-user-binfmt"
# clang + libclang-rt: libFuzzer for tests/fuzz; llvm: llvm-symbolizer, so
# a fuzzer's crash report names functions and lines.
# Multiarch: the static aarch64 agent links Debian's arm64 jansson.
FOREIGN="libjansson-dev:arm64"

mode=${1:-install}

missing() {
	for p in $PKGS $FOREIGN; do
		s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
		case "$s" in
		*" installed") ;;
		*) printf '%s\n' "$p" ;;
		esac
	done
}

need=$(missing | tr '\n' ' ')
need=${need% }
if [ -z "$need" ]; then
	exit 0
fi
if [ "$mode" = "--check" ]; then
	echo "missing packages: $need"
	exit 1
fi

cmd="dpkg --add-architecture arm64 && apt-get update && apt-get install -y --no-install-recommends $need"
if [ "$(id -u)" != 0 ]; then
	echo "drover needs these packages: $need" >&2
	echo "install them with:" >&2
	echo "  sudo sh -c '$cmd'" >&2
	exit 1
fi

echo "installing: $need" >&2
case " $need " in
*:arm64*)
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		dpkg --add-architecture arm64
		# Ubuntu serves arm64 from ports.ubuntu.com, not the archive.
		if [ -r /etc/os-release ] && . /etc/os-release &&
		    [ "${ID:-}" = ubuntu ]; then
			echo "note: on Ubuntu, arm64 packages need ports.ubuntu.com in the apt sources (see docs/building.md in the drover tree)" >&2
		fi
	fi
	;;
esac
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt (unattended-upgrades on a fresh machine, a second
# shell) instead of failing at once on the dpkg lock.
LOCK="-o DPkg::Lock::Timeout=600"
# shellcheck disable=SC2086
apt-get $LOCK update -qq >/dev/null || { echo "apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get $LOCK install -y -qq --no-install-recommends $need >/dev/null ||
	{ echo "apt-get install failed: $need" >&2; exit 1; }
left=$(missing | tr '\n' ' ')
if [ -n "${left% }" ]; then
	echo "still missing after apt-get: $left" >&2
	exit 1
fi
echo "installed: $need" >&2
exit 0
