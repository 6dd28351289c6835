#!/bin/bash
# Which tables and indexes each commit rewrites (BENCHMARKS.md, "Four times the flows,
# fifth round"): wrk (64 connections) against the release binary on a fresh store; after
# SECONDS_COPY s (default 5) the database and its write-ahead log are copied while the
# server runs. The frames of the log's current generation (those whose salt matches its
# header: the commits since the last checkpoint reset it) are read, each frame's page is
# named by `dbstat` on the copy, and the frames per commit are printed per table or
# index. Needs wrk, python3 with sqlite3 (dbstat compiled in, as Debian's is) and
# `cargo build --release -p cascade`; BIN= measures another build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_COPY=${SECONDS_COPY:-5}
PORT=${PORT:-18188}
. "$ROOT/crates/cascade-bench/serve-lib.sh"
serve
wrk -t2 -c64 -d"$((SECONDS_COPY + 1))s" -s "$ROOT/crates/cascade-bench/wrk/post-flow.lua" \
  "http://127.0.0.1:$PORT/failover" > "$WORK/wrk.out" &
WRK=$!
sleep "$SECONDS_COPY"
mkdir -p "$WORK/copy"
cp "$WORK/data/cascade.db-wal" "$WORK/copy/c.db-wal"
cp "$WORK/data/cascade.db" "$WORK/copy/c.db"
wait "$WRK" || true
WRK=
grep Requests/sec "$WORK/wrk.out"
stop
python3 - "$WORK/copy/c.db" <<'PY'
import collections, sqlite3, struct, sys
db = sys.argv[1]
wal = open(db + "-wal", "rb").read()
_, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">8I", wal[:32])
pages, commits, off = [], 0, 32
while off + 24 + page_size <= len(wal):
    page, size_after, s1, s2 = struct.unpack(">4I", wal[off:off + 16])
    if (s1, s2) != (salt1, salt2):
        break
    pages.append(page)
    commits += size_after != 0
    off += 24 + page_size
owner = {page: name for name, page in sqlite3.connect(db).execute("SELECT name, pageno FROM dbstat")}
per = collections.Counter(owner.get(p, "(not in dbstat)") for p in pages)
commits = max(commits, 1)
print(f"{len(pages)} frames in {commits} commits: {len(pages) / commits:.1f} frames per commit")
for name, n in per.most_common():
    print(f"{n / commits:7.1f}  {name}")
PY
