#!/bin/bash
# The same wrk load as accept-vs-complete.sh, with the SMSC in a process of its own
# (BENCHMARKS.md, "Four times the flows, fifth round"): `cascade smsc-sim` on its own
# store, and the server sending SMS to it as to a real SMSC (`[[smsc]]`, one bind, a
# window of WINDOW submits, default 100 as the in-process sandbox SMSC's bind has, no
# throughput cap). The simulator's durable bookkeeping (each message it takes, each
# receipt it owes and sends) then goes through its own store's writer instead of the
# server's; both processes still share the machine's two cores. For each number of
# connections in CONNECTIONS (default "64 256"): accepted flows/s, flows final when wrk
# stopped, and when every flow was final. Needs wrk, sqlite3 and
# `cargo build --release -p cascade`; BIN= measures another build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=${SECONDS_RUN:-10}
CONNECTIONS=${CONNECTIONS:-"64 256"}
WINDOW=${WINDOW:-100}
PORT=${PORT:-18189}
SMPP_PORT=${SMPP_PORT:-18275}
SIM_ADMIN_PORT=${SIM_ADMIN_PORT:-18276}
. "$ROOT/crates/cascade-bench/serve-lib.sh"
SIM=
trap 'kill $(cat "$WORK/pid" 2>/dev/null) 2>/dev/null || true; [ -z "$SIM" ] || kill "$SIM" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat > "$WORK/cascade.toml" <<EOF
[[smsc]]
name = "external"
host = "127.0.0.1"
port = $SMPP_PORT
system_id = "cascade"
password = "secret"
binds = 1
window = $WINDOW
throughput = 0
receipt_ids = "same"
EOF
export CASCADE_CONFIG="$WORK/cascade.toml"

echo "| connections | accepted/s | final when wrk stopped (/s) | all final after |"
echo "| --- | --- | --- | --- |"
for c in $CONNECTIONS; do
  rm -rf "$WORK/sim"; mkdir -p "$WORK/sim"
  "$BIN" smsc-sim --listen "127.0.0.1:$SMPP_PORT" --admin "127.0.0.1:$SIM_ADMIN_PORT" \
    --database "sqlite://$WORK/sim/sim.db" > "$WORK/sim.out" 2>&1 &
  SIM=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SMPP_PORT") 2>/dev/null && break
    sleep 0.1
  done
  serve
  # The bind comes up in the background: wait until a flow goes through.
  for _ in $(seq 100); do
    curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d '{"flow":[{"type":"Sms","order":1,"from":"Cascade","to":"+306912345678","message":{"body":"warm"}}]}' \
      "http://127.0.0.1:$PORT/failover" > /dev/null
    read -r all done_ < <(flow_counts)
    [ "$done_" -ge 1 ] && break
    sleep 0.1
  done
  start=$(date +%s.%N)
  wrk -t2 -c"$c" -d"${SECONDS_RUN}s" -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
    "http://127.0.0.1:$PORT/failover" > "$WORK/wrk.out"
  stopped=$(date +%s.%N)
  read -r total final < <(flow_counts)
  read -r all done_ < <(wait_all_final)
  finished=$(date +%s.%N)
  stop
  kill "$SIM"; wait "$SIM" 2>/dev/null || true; SIM=
  rate=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  python3 - "$c" "$rate" "$start" "$stopped" "$finished" "$final" "$all" "$done_" <<'PY'
import sys
c, rate = sys.argv[1:3]
start, stopped, finished = map(float, sys.argv[3:6])
final, all_, done = map(int, sys.argv[6:9])
left = f"{finished - start:.1f} s" if all_ == done else f"{all_ - done} still open after {finished - start:.0f} s"
print(f"| {c} | {float(rate):,.0f} | {final:,} ({final / (stopped - start):,.0f}/s) "
      f"| {left} ({all_ / (finished - start):,.0f} flows/s overall) |")
PY
done
