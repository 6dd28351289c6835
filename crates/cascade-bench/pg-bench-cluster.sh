#!/bin/bash
set -e
B=/usr/lib/postgresql/15/bin
D=/tmp/pgbench-cluster
rm -rf $D; mkdir -p $D; chown nobody $D
runuser -u nobody -- $B/initdb -D $D/data -U cascade --auth=trust -E UTF8 >/dev/null
runuser -u nobody -- $B/pg_ctl -D $D/data -o "-p 55433 -c listen_addresses=127.0.0.1 -k $D -c max_connections=200 -c shared_buffers=512MB" -l $D/log -w start >/dev/null
echo started
