# install.sh - make install / make uninstall with PREFIX and DESTDIR: the
# programs, the agent builds and drover(1) land where they should; the
# installed drover finds its agents in PREFIX/lib/drover (a task on the
# local transport runs with them), and uninstall removes every file.
. "$(dirname "$0")/lib.sh"

D="$T/dest"
make -s -C "$DROVER_SRC" BUILD="$BUILD" PREFIX=/opt/drv DESTDIR="$D" install \
    > "$T/install.out" 2>&1
check "make install exits 0" test $? = 0
for f in bin/drover bin/drover-agent "lib/drover/$(uname -m)/drover-agent" share/man/man1/drover.1; do
	check "installed: PREFIX/$f" test -s "$D/opt/drv/$f"
done
check "drover(1) renders without warnings" sh -c \
    "groff -man -ww -z '$D/opt/drv/share/man/man1/drover.1' 2>&1 | [ \$(wc -c) = 0 ]"
check "the installed drover runs" "$D/opt/drv/bin/drover" --version

# The installed drover pushes the installed agent (nothing beside it in
# bin/); a trailing byte tells that copy from the build tree's (an ELF file
# runs with it).
printf '\n' >> "$D/opt/drv/lib/drover/$(uname -m)/drover-agent"
export HOME="$T/home"
mkdir -p "$HOME"
cat > "$T/task.yaml" <<YAML
cluster:
  hosts: inst1
  transport: local
  base_dir: $T/runs
task:
  name: inst
  command: [python3, $SIM, --format, jsonl, --steps, "3", --interval, "0.01"]
YAML
env -u DROVER_AGENT_DIR "$D/opt/drv/bin/drover" launch --follow --db "$T/db" \
    "$T/task.yaml" > /dev/null 2> "$T/launch.err"
check "the installed drover launches with PREFIX/lib/drover's agent" sh -c \
    "[ $? = 0 ] && cmp -s '$D/opt/drv/lib/drover/$(uname -m)/drover-agent' '$HOME/.drover/bin/drover-agent'"

make -s -C "$DROVER_SRC" BUILD="$BUILD" PREFIX=/opt/drv DESTDIR="$D" uninstall \
    > "$T/uninstall.out" 2>&1
check "make uninstall exits 0" test $? = 0
left=$(find "$D/opt/drv" -type f 2>/dev/null)
check "uninstall left no file behind (${left:-none})" test -z "$left"
