#!/bin/bash
# `cascade send --csv` rows per second beside POST /failover under wrk, on one fresh
# SQLite store each (BENCHMARKS.md, "The command line against wrk"). Needs wrk and
# `cargo build --release -p cascade`. ROWS rows for the CSV run (default 20000).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROWS=${ROWS:-20000}
PORT=${PORT:-18181}
. "$ROOT/crates/cascade-bench/serve-lib.sh"

echo "## POST /failover under wrk (64 connections, 10 s)"
serve; wrk -t2 -c64 -d10s -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" "http://127.0.0.1:$PORT/failover" | grep -E "Requests/sec|Latency|Non-2xx"; stop
echo "## the same, each request with its own Idempotency-Key"
serve; KEYS=1 wrk -t2 -c64 -d10s -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" "http://127.0.0.1:$PORT/failover" | grep -E "Requests/sec|Latency|Non-2xx"; stop

echo "## cascade send --csv, $ROWS rows, concurrency 64"
python3 - "$WORK/rows.csv" "$ROWS" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("phone,name\n")
    for i in range(int(sys.argv[2])):
        f.write(f"+3069{10_000_000 + i:08d},Customer {i}\n")
PY
echo '{"flow":[{"type":"Sms","order":1,"from":"Cascade","to":"{{phone}}","message":{"body":"Hello {{name}}"}}]}' > "$WORK/flow.json"
serve
START=$(date +%s.%N)
CASCADE_URL=http://127.0.0.1:$PORT CASCADE_APP_ID=bench CASCADE_APP_SECRET=bench-secret-0123 \
  "$BIN" send --csv "$WORK/rows.csv" --template "$WORK/flow.json" --rate 1000000 --concurrency 64 | head -3
END=$(date +%s.%N)
python3 -c "print(f'rows/s: {$ROWS / ($END - $START):.0f} ({$END - $START:.1f} s)')"
stop
