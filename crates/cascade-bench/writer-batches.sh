#!/bin/bash
# How busy the store's writer is during the failover bench (BENCHMARKS.md, "Four times
# the flows, third round"): runs `cascade-bench failover` with the writer's debug log on
# (one line per write batch: operations, microseconds running them, flushing their rows
# and in all) and prints, per second of the run, the batches, operations per batch, the
# mean of each part, the p50 / p99 batch time and the share of the second the writer
# was in a batch. The log costs a little: the bench's own figures from this run are
# not the ones to report. Needs `cargo build --release -p cascade-bench`; BENCH= runs
# another build, extra arguments go to the bench.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH:-$ROOT/target/release/cascade-bench}
LOG=$(mktemp)
OUT=$(mktemp)
trap 'rm -f "$LOG" "$OUT"' EXIT
if ! RUST_LOG=warn,cascade_store::sqlite=debug "$BENCH" failover --concurrency 64 --flows 3000 \
  "$@" > "$OUT" 2> "$LOG"; then
  echo "the failover bench failed:" >&2
  grep -v "write batch" "$LOG" | tail -20 >&2
  exit 1
fi
grep "at the SMSC" "$OUT"
python3 - "$LOG" <<'PY'
import re, sys
from collections import defaultdict

line = re.compile(r"T(\d\d:\d\d:\d\d)\.\d+Z.*write batch ops=(\d+) ops_us=(\d+) flush_us=(\d+) elapsed_us=(\d+)")
seconds = defaultdict(list)
for l in open(sys.argv[1]):
    m = line.search(l)
    if m:
        seconds[m.group(1)].append(tuple(map(int, m.groups()[1:])))
if not seconds:
    sys.exit("no write batches in the log")
print("second    batches  ops/batch  ops µs  flush µs  commit µs  batch p50 / p99 µs  busy")
for second in sorted(seconds):
    b = seconds[second]
    n = len(b)
    total = sorted(x[3] for x in b)
    mean = lambda i: sum(x[i] for x in b) / n
    commit = sum(x[3] - x[1] - x[2] for x in b) / n
    print(f"{second}  {n:7d}  {mean(0):9.1f}  {mean(1):6.0f}  {mean(2):8.0f}  {commit:9.0f}"
          f"  {total[n // 2]:9d} / {total[min(n - 1, n * 99 // 100)]:6d}  {sum(total) / 1e4:3.0f} %")
PY
