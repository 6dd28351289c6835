#!/bin/bash
# Issue 14's accept figures (BENCHMARKS.md, "Four times the flows"): POST /failover under
# wrk against the release binary on a fresh SQLite store (fsync on, the sandbox SMSC over
# SMPP on loopback, every flow submitted and its receipt applied while wrk runs), then:
#   - flows accepted per second and wrk's latency;
#   - bytes the server wrote to disk per accepted flow (/proc/PID/io write_bytes, which
#     counts WAL frames, checkpoints and fsyncs' data) and the store's size per flow;
#   - the server's resident memory at the end of the run (VmRSS, VmHWM);
#   - SQL statements per flow, from a second, shorter run that logs every statement
#     (sqlx's debug log for the readers, the writer's `cascade_store::writer_sql`; the
#     logs slow the server down, so its rate is not reported).
# Needs wrk, sqlite3 and `cargo build --release -p cascade`. SECONDS_RUN (default 10),
# CONNECTIONS (default 64).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=${SECONDS_RUN:-10}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-18182}
# BIN=... measures another build (a baseline).
. "$ROOT/crates/cascade-bench/serve-lib.sh"
written() { awk '/^write_bytes/ {print $2}' "/proc/$(cat $WORK/pid)/io"; }
flows() { sqlite3 "$WORK/data/cascade.db" "SELECT COUNT(*) FROM flows"; }
# Waits until every flow is final (the pipeline drained), at most 60 s; says how many
# are still open then (they are counted all the same).
drain() {
  local open
  for _ in $(seq 600); do
    open=$(sqlite3 "$WORK/data/cascade.db" "SELECT COUNT(*) FROM flows WHERE status NOT IN ('Succeeded','Failed')")
    [ "$open" = 0 ] && return 0
    sleep 0.1
  done
  echo "$open flows still open after 60 s"
}

echo "## POST /failover under wrk ($CONNECTIONS connections, ${SECONDS_RUN} s)"
serve
before=$(written)
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
  "http://127.0.0.1:$PORT/failover" | tee "$WORK/wrk.out" | grep -E "Requests/sec|Latency|Non-2xx|requests in"
drain
after=$(written)
n=$(flows)
grep -E "^(VmRSS|VmHWM)" "/proc/$(cat $WORK/pid)/status"
stop
size=$(du -sb "$WORK/data" | cut -f1)
python3 - "$n" "$before" "$after" "$size" <<'PY'
import sys
n, before, after, size = map(int, sys.argv[1:])
print(f"flows: {n}; written: {(after - before) / n / 1024:.1f} KiB per flow; "
      f"store (db + wal): {size / n / 1024:.2f} KiB per flow")
PY

echo "## SQL statements per flow (every statement logged; 5 s)"
serve "warn,sqlx::query=debug,cascade_store::writer_sql=debug"
wrk -t2 -c"$CONNECTIONS" -d5s -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
  "http://127.0.0.1:$PORT/failover" > /dev/null
drain
n=$(flows)
stop
# The writer's statements come from SQLite's profile hook, which also reports the
# statements SQLite runs for itself (the FTS5 trigram index's shadow tables, named
# 'main'.'…'): counted apart.
grep -E "sqlx::query|cascade_store::writer_sql" "$WORK/serve.out" > "$WORK/statements"
total=$(grep -vc "'main'\." "$WORK/statements" || true)
internal=$(grep -c "'main'\." "$WORK/statements" || true)
python3 - "$n" "$total" "$internal" <<'PY'
import sys
n, total, internal = map(int, sys.argv[1:])
print(f"flows: {n}; statements: {total} ({total / n:.2f} per flow, start-up included); "
      f"SQLite's own (FTS5 shadow tables): {internal} ({internal / n:.2f} per flow)")
PY
sed -E 's/.*summary="([^"]{0,44}).*/\1/' "$WORK/statements" | sort | uniq -c | sort -rn | head -16
