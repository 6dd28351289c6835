#!/bin/bash
# Resident memory of the release server accepting at full rate for SOAK_SECONDS (default
# 600) under wrk (64 connections, one-step SMS flows through the sandbox SMSC, fsync on),
# sampled every SAMPLE_SECONDS (default 30): the curve of BENCHMARKS.md, "Four times the
# flows". Prints one line per sample: elapsed seconds, flows stored, VmRSS, the store's
# size on disk. Needs wrk, sqlite3 and `cargo build --release -p cascade`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SOAK_SECONDS=${SOAK_SECONDS:-600}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-30}
PORT=${PORT:-18183}
. "$ROOT/crates/cascade-bench/serve-lib.sh"

serve
wrk -t2 -c64 -d"${SOAK_SECONDS}s" -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
  "http://127.0.0.1:$PORT/failover" > "$WORK/wrk.out" &
WRK=$!
start=$(date +%s)
printf "%8s %10s %10s %10s\n" seconds flows rss_mb store_mb
while kill -0 "$WRK" 2>/dev/null; do
  sleep "$SAMPLE_SECONDS"
  now=$(date +%s)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$(cat "$WORK/pid")/status")
  flows=$(sqlite3 "$WORK/data/cascade.db" "SELECT COUNT(*) FROM flows")
  store=$(du -sm "$WORK/data" | cut -f1)
  printf "%8d %10d %10.1f %10d\n" $((now - start)) "$flows" "$(echo "$rss / 1024" | bc -l)" "$store"
done
grep -E "Requests/sec|Latency|Non-2xx|requests in" "$WORK/wrk.out"
grep -E "^(VmRSS|VmHWM)" "/proc/$(cat "$WORK/pid")/status"
stop
