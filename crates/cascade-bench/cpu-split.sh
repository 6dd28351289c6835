#!/bin/bash
# Where the server's CPU goes while it accepts at full rate (BENCHMARKS.md, "Four times
# the flows, third round"): wrk (64 connections, SECONDS_RUN s, one-step SMS flows, the
# sandbox SMSC live) against the release server on a fresh store, ROUNDS times. For each
# run: flows/s, then per thread group (tokio workers, the store writer, the writer's
# and the readers' SQLite worker threads of sqlx) the share of one core used and the
# context switches per accepted flow (/proc/PID/task/*/stat and status, before and
# after). Needs wrk, sqlite3 and `cargo build --release -p cascade`; BIN= measures
# another build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=${SECONDS_RUN:-10}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-18185}
. "$ROOT/crates/cascade-bench/serve-lib.sh"

# One line per thread: name/tid, CPU ticks (user + system), voluntary and involuntary
# context switches. The name is read from `comm`; `stat` is read after its closing
# parenthesis, so a name with spaces cannot shift the fields. A thread that ends while
# it is read is left out.
snapshot() {
  local t stat ticks switches
  for t in /proc/"$1"/task/*; do
    stat=$(cat "$t/stat" 2>/dev/null) || continue
    switches=$(awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print v, n}' \
      "$t/status" 2>/dev/null) || continue
    ticks=$(echo "${stat##*) }" | awk '{print $12 + $13}')
    echo "$(tr ' ' _ < "$t/comm" 2>/dev/null)/$(basename "$t") $ticks $switches"
  done
}
flows() { sqlite3 "$WORK/data/cascade.db" "SELECT COUNT(*) FROM flows"; }
# Wall time in clock ticks: a share of one core is CPU ticks over this (steal time under
# a hypervisor counts as time the core was not had).
now_ticks() { python3 -c "import os, time; print(int(time.monotonic() * os.sysconf('SC_CLK_TCK')))"; }

for round in $(seq "$ROUNDS"); do
  serve
  pid=$(cat "$WORK/pid")
  n0=$(flows); t0=$(now_ticks); snapshot "$pid" > "$WORK/before"
  wrk -t2 -c64 -d"${SECONDS_RUN}s" -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
    "http://127.0.0.1:$PORT/failover" | grep -E "Requests/sec"
  snapshot "$pid" > "$WORK/after"; t1=$(now_ticks); n1=$(flows)
  stop
  python3 - "$WORK/before" "$WORK/after" $((n1 - n0)) $((t1 - t0)) <<'PY'
import sys
from collections import defaultdict

def load(path):
    rows = (l.split() for l in open(path))
    return {r[0]: list(map(int, r[1:])) for r in rows if len(r) == 4}

before, after = load(sys.argv[1]), load(sys.argv[2])
flows, wall = int(sys.argv[3]), int(sys.argv[4])
if flows <= 0 or wall <= 0:
    sys.exit(f"nothing to divide by: {flows} flows accepted in {wall} ticks")
busiest_sqlite = max((t for t in after if t.startswith("sqlx-sqlite")),
                     key=lambda t: after[t][0] - before.get(t, [0, 0, 0])[0], default=None)
groups = defaultdict(lambda: [0, 0, 0])
for thread, (cpu, vol, invol) in after.items():
    b = before.get(thread, [0, 0, 0])
    name = thread.split("/")[0]
    if thread == busiest_sqlite:
        name = "SQLite worker of the writer"
    elif name.startswith("sqlx-sqlite"):
        name = "SQLite workers of the readers"
    g = groups[name]
    g[0] += cpu - b[0]; g[1] += vol - b[1]; g[2] += invol - b[2]
print(f"flows accepted: {flows}")
total = [0, 0, 0]
for name, (cpu, vol, invol) in sorted(groups.items(), key=lambda g: -g[1][0]):
    total = [total[0] + cpu, total[1] + vol, total[2] + invol]
    print(f"  {name:30s} {100 * cpu / wall:5.1f} % of a core, "
          f"{vol / flows:5.2f} voluntary + {invol / flows:5.2f} involuntary switches per flow")
print(f"  {'the whole server':30s} {100 * total[0] / wall:5.1f} % of a core, "
      f"{total[1] / flows:5.2f} voluntary + {total[2] / flows:5.2f} involuntary switches per flow")
PY
done
