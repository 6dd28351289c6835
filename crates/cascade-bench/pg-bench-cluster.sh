#!/bin/bash
# A PostgreSQL cluster for the benchmarks of BENCHMARKS.md ("PostgreSQL and several
# nodes"): durable as in production (fsync and synchronous_commit on, the defaults),
# shared_buffers 512 MB, on 127.0.0.1:${PORT:-55433}, in ${DIR:-/tmp/pgbench-cluster}.
# Run as root it runs the cluster as `nobody`. Stop it with:
#   runuser -u nobody -- /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgbench-cluster/data stop
# Then: cascade-bench nodes --database-url postgres://cascade@127.0.0.1:55433/postgres
set -euo pipefail
BIN=${BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DIR=${DIR:-/tmp/pgbench-cluster}
PORT=${PORT:-55433}
as() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
rm -rf "$DIR"; mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown nobody "$DIR"
as "$BIN/initdb" -D "$DIR/data" -U cascade --auth=trust -E UTF8 >/dev/null
as "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start \
  -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR -c max_connections=200 -c shared_buffers=512MB" >/dev/null
echo "postgres://cascade@127.0.0.1:$PORT/postgres"
