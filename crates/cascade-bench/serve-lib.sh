# Sourced by the shell benches: start and stop the release binary on a fresh SQLite store
# with the bench application, as a new user would run it. The caller sets ROOT and PORT
# (and BIN to measure another build); this makes WORK, a scratch directory removed at
# exit with the server and any load generator whose pid is in WRK. `serve [RUST_LOG]`
# exports TOKEN, a bearer token.
BIN=${BIN:-$ROOT/target/release/cascade}
WORK=$(mktemp -d)
WRK=
trap 'kill $(cat "$WORK/pid" 2>/dev/null) 2>/dev/null || true; [ -z "$WRK" ] || kill "$WRK" 2>/dev/null || true; rm -rf "$WORK"' EXIT
serve() {
  rm -rf "$WORK/data"; mkdir -p "$WORK/data"
  CASCADE_LISTEN=127.0.0.1:$PORT CASCADE_SANDBOX_SMPP_LISTEN=127.0.0.1:0 \
  CASCADE_DATABASE_URL="sqlite://$WORK/data/cascade.db" CASCADE_RATE_LIMIT_PER_SECOND=0 \
  CASCADE_DEFAULT_BALANCE=100000000 CASCADE_BOOTSTRAP_APPLICATION=bench:bench-secret-0123 \
  RUST_LOG=${1:-warn} "$BIN" serve > "$WORK/serve.out" 2>&1 &
  echo $! > "$WORK/pid"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  TOKEN=$(curl -s -u bench:bench-secret-0123 -d grant_type=client_credentials \
    "http://127.0.0.1:$PORT/oauth/token" | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
  export TOKEN
}
stop() { kill "$(cat "$WORK/pid")"; wait "$(cat "$WORK/pid")" 2>/dev/null || true; }
# Prints how many flows the store holds and how many of them are final (Succeeded or
# Failed).
flow_counts() {
  sqlite3 "$WORK/data/cascade.db" \
    "SELECT COUNT(*), COALESCE(SUM(status IN ('Succeeded','Failed')), 0) FROM flows" | tr '|' ' '
}
# Waits until every flow is final, at most 120 s, and then prints both counts (equal
# unless it gave up).
wait_all_final() {
  local all done_
  for _ in $(seq 1200); do
    read -r all done_ < <(flow_counts)
    [ "$all" = "$done_" ] && break
    sleep 0.1
  done
  echo "$all $done_"
}
