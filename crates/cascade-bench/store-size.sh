#!/bin/bash
# What a flow leaves in the store, by table and index (BENCHMARKS.md, "Four times the
# flows, sixth round"): wrk (64 connections, SECONDS_RUN s, default 5) posts one-step
# SMS flows to the release binary on a fresh store; once every flow is final the server
# stops, the log is checkpointed into the database, and `dbstat` gives each table's and
# index's pages (bytes on disk) and payload (bytes of the rows) per flow, with the
# average size of the three JSON columns as stored. Needs wrk, sqlite3 (dbstat compiled
# in, as Debian's is) and `cargo build --release -p cascade`; BIN= measures another
# build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=${SECONDS_RUN:-5}
PORT=${PORT:-18189}
. "$ROOT/crates/cascade-bench/serve-lib.sh"
serve
wrk -t2 -c64 -d"${SECONDS_RUN}s" -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
  "http://127.0.0.1:$PORT/failover" | grep -E "Requests/sec"
read -r all final < <(wait_all_final)
echo "flows: $all, final: $final"
stop
DB=$WORK/data/cascade.db
sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE);" > /dev/null
echo "database: $(( $(stat -c %s "$DB") / all )) bytes per flow"
echo "| table or index | bytes on disk per flow | of which row payload |"
echo "| --- | --- | --- |"
sqlite3 -separator ' | ' "$DB" \
  "SELECT '| ' || name, SUM(pgsize) / $all, (SUM(payload) / $all) || ' |' FROM dbstat
   GROUP BY name HAVING SUM(pgsize) / $all > 0 ORDER BY SUM(pgsize) DESC"
sqlite3 -separator ' ' "$DB" \
  "SELECT 'state', AVG(LENGTH(CAST(state AS BLOB))), 'bytes;' FROM flows;
   SELECT 'definition', AVG(LENGTH(CAST(definition AS BLOB))), 'bytes;' FROM flow_definitions;
   SELECT 'timeline entry', AVG(LENGTH(CAST(entry AS BLOB))), 'bytes,', COUNT(*) * 1.0 / $all,
     'per flow' FROM flow_events;"
