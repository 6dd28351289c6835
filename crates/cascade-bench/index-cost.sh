#!/bin/bash
# What the search indexes cost the accept rate (BENCHMARKS.md, "Four times the flows,
# second round"): wrk (64 connections, SECONDS_RUN s, one-step SMS flows, the sandbox
# SMSC live) against the release server as shipped and with parts of its schema dropped
# by sqlite3 right after start-up, the variants alternated ROUNDS times. A measurement
# only: a store cut this way cannot search. Prints flows/s, bytes written per flow and
# peak memory per run. Needs wrk, sqlite3 and `cargo build --release -p cascade`; BIN=
# measures another build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=${SECONDS_RUN:-10}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18184}
. "$ROOT/crates/cascade-bench/serve-lib.sh"

VARIANTS=(
  "as shipped|"
  "no recipients trigger|DROP TRIGGER flow_steps_recipients_insert"
  "no recipients trigger, no flow_steps indexes|DROP TRIGGER flow_steps_recipients_insert; DROP INDEX flow_steps_recipient; DROP INDEX flow_steps_recipient_rev; DROP INDEX flow_steps_account_flow; DROP INDEX flow_steps_multi"
  "no flows_account_* indexes|DROP INDEX flows_account_created; DROP INDEX flows_account_updated; DROP INDEX flows_account_status; DROP INDEX flows_account_termination"
)

written() { awk '/^write_bytes/ {print $2}' "/proc/$(cat "$WORK/pid")/io"; }
for round in $(seq "$ROUNDS"); do
  for variant in "${VARIANTS[@]}"; do
    name=${variant%%|*}
    cut=${variant#*|}
    serve
    [ -z "$cut" ] || sqlite3 "$WORK/data/cascade.db" "$cut"
    before=$(written)
    rate=$(wrk -t2 -c64 -d"${SECONDS_RUN}s" -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
      "http://127.0.0.1:$PORT/failover" | awk '/Requests\/sec/ {print $2}')
    sleep 3
    after=$(written)
    n=$(sqlite3 "$WORK/data/cascade.db" "SELECT COUNT(*) FROM flows")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$(cat "$WORK/pid")/status")
    stop
    printf "round %s | %-42s | %8s flows/s | %5.1f KiB/flow | peak %4d MB\n" "$round" "$name" \
      "$rate" "$(echo "($after - $before) / $n / 1024" | bc -l)" $((hwm / 1024))
  done
done
