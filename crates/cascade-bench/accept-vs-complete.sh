#!/bin/bash
# Flows accepted and flows completed at several wrk concurrencies (BENCHMARKS.md, "Four
# times the flows, fifth round"). For each number of connections in CONNECTIONS (default
# "64 128 256 512"): a fresh store, wrk posting one-step SMS flows for SECONDS_RUN s
# (default 10) against the release binary with the sandbox SMSC live, then
#   - accepted flows/s and wrk's mean latency;
#   - the server's own POST /failover latency histogram (share of requests within
#     2, 5, 10 and 25 ms), scraped from /metrics at the end of the run;
#   - flows final (Succeeded or Failed) when wrk stopped, per second of the run;
#   - how long the pipeline took to finish every accepted flow, and the rate at which it
#     finished the backlog once wrk had stopped.
# Needs wrk, sqlite3 and `cargo build --release -p cascade`; BIN= measures another build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=${SECONDS_RUN:-10}
CONNECTIONS=${CONNECTIONS:-"64 128 256 512"}
PORT=${PORT:-18187}
. "$ROOT/crates/cascade-bench/serve-lib.sh"
export CASCADE_ADMIN_TOKEN=bench-admin-token-0123456789

echo "| connections | accepted/s | wrk mean latency | server: within 2 / 5 / 10 / 25 ms | final when wrk stopped (/s) | all final after | backlog finished at |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for c in $CONNECTIONS; do
  serve
  start=$(date +%s.%N)
  wrk -t2 -c"$c" -d"${SECONDS_RUN}s" -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
    "http://127.0.0.1:$PORT/failover" > "$WORK/wrk.out"
  stopped=$(date +%s.%N)
  read -r total final < <(flow_counts)
  histogram=$(curl -s -H "Authorization: Bearer $CASCADE_ADMIN_TOKEN" "http://127.0.0.1:$PORT/metrics" |
    grep 'request_duration_seconds_bucket' | grep 'method="POST"' | grep 'route="/failover"' || true)
  read -r all done_ < <(wait_all_final)
  finished=$(date +%s.%N)
  stop
  rate=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  latency=$(awk '/Latency/ {print $2; exit}' "$WORK/wrk.out")
  python3 - "$c" "$rate" "$latency" "$start" "$stopped" "$finished" "$total" "$final" "$all" "$done_" "$histogram" <<'PY'
import re, sys
c, rate, latency = sys.argv[1:4]
start, stopped, finished = map(float, sys.argv[4:7])
total, final, all_, done = map(int, sys.argv[7:11])
buckets = {}
for line in sys.argv[11].splitlines():
    m = re.search(r'le="([^"]+)".*\} ([0-9.e+]+)$', line)
    if m:
        buckets[m.group(1)] = float(m.group(2))
n = buckets.get("+Inf", 0)
within = " / ".join(f"{buckets.get(le, 0) / n * 100:.1f} %" if n else "-"
                    for le in ("0.002", "0.005", "0.01", "0.025"))
run = stopped - start
left = f"{finished - start:.1f} s" if all_ == done else f"{all_ - done} still open after {finished - start:.0f} s"
backlog = (all_ - final) / (finished - stopped) if finished > stopped else float("nan")
print(f"| {c} | {float(rate):,.0f} | {latency} | {within} | {final:,} ({final / run:,.0f}/s) "
      f"| {left} ({all_ / (finished - start):,.0f} flows/s overall) | {backlog:,.0f} flows/s |")
PY
done
