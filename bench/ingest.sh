#!/bin/sh
# ingest.sh - the head node's store: metric events/s through the engine's
# path (proto_decode_line + store_ingest in per-host batches) against the
# raw limit of SQLite on the same table (one prepared INSERT, one
# transaction), in the same run, on a fresh database on this machine's
# disk (under $BUILD, not /tmp, which may be a tmpfs). See bench/ingest.c.
#   EVENTS (default 1000000), HOSTS (64), BATCH (256)
set -u
. "$(dirname "$0")/lib.sh"
bench_bin bench-ingest
EVENTS=${EVENTS:-1000000}
HOSTS=${HOSTS:-64}
BATCH=${BATCH:-256}

mkdir -p "$BUILD"
D=$(mktemp -d "$BUILD/bench-ingest.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
fs=$(df -PT "$D" 2>/dev/null | awk 'NR == 2 { print $2 }')
echo "machine: $(bench_machine), database on ${fs:-?}"
"$BIN" -n "$EVENTS" -H "$HOSTS" -b "$BATCH" -d "$D"
