#!/usr/bin/env python3
"""Time searches on a store kept by `cascade-bench search --keep-store DIR`, with any
build of Cascade: the same terms, in the same order, whichever binary runs, so two builds
(or one build before and after a migration) are compared on the same rows.

    crates/cascade-bench/search-kept.py BIN DB [REQUESTS]

BIN is a `cascade` binary, DB the kept `bench.db`. The server starts on that file
(migrating it first if BIN is newer: the time to the first answer is printed), takes a
token of the bench's application, then sends REQUESTS (default 200) of each kind one at a
time and prints p50 / p99 in ms and the totals seen. CONTAINS_TERMS=a,b,… adds a kind
that sends those `contains` terms in turn. Needs only Python's standard library.
"""

import base64
import http.client
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

APP, SECRET = "bench-app", "bench-secret-0123"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def numbers(db, n, rng):
    """`n` recipients of the searched account's steps, drawn at random by row id."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    (top,) = conn.execute("SELECT MAX(id) FROM flow_steps").fetchone()
    found = []
    while len(found) < n:
        row = conn.execute(
            "SELECT recipient FROM flow_steps WHERE id >= ? ORDER BY id LIMIT 1",
            (rng.randrange(top),),
        ).fetchone()
        if row:
            found.append(row[0])
    conn.close()
    return found


def main():
    binary, db = sys.argv[1], sys.argv[2]
    requests = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    to_is = numbers(db, requests, random.Random(1))
    port = free_port()
    env = dict(
        os.environ,
        CASCADE_LISTEN=f"127.0.0.1:{port}",
        CASCADE_DATABASE_URL=f"sqlite://{db}",
        CASCADE_SANDBOX_SMPP_LISTEN="127.0.0.1:0",
        CASCADE_RATE_LIMIT_PER_SECOND="0",
    )
    log = tempfile.NamedTemporaryFile(prefix="search-kept-", suffix=".log", delete=False)
    started = time.monotonic()
    server = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log)
    try:
        conn = None
        while True:
            if server.poll() is not None:
                sys.exit(f"the server stopped; its log: {log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                conn.request("GET", "/healthz")
                if conn.getresponse().read() and True:
                    break
            except OSError:
                time.sleep(0.2)
        print(f"| server answering (migrations included) | {time.monotonic() - started:.1f} s |")
        basic = base64.b64encode(f"{APP}:{SECRET}".encode()).decode()
        conn.request(
            "POST",
            "/oauth/token",
            body="grant_type=client_credentials",
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        token = json.loads(conn.getresponse().read())["access_token"]

        def to(op, term):
            return [{"fieldName": "to", "searchOperator": op, "searchTerm": term}]

        kinds = [
            ("no filter, first page", lambda r, i: None),
            ("`to is <a number>`", lambda r, i: to("is", to_is[i])),
            ("`to starts_with +3069` + 4 digits", lambda r, i: to("starts_with", f"+3069{r.randrange(10_000):04}")),
            ("`to starts_with +3069` + 2 digits", lambda r, i: to("starts_with", f"+3069{r.randrange(100):02}")),
            ("`to contains` 5 digits", lambda r, i: to("contains", f"{r.randrange(100_000):05}")),
        ]
        listed = [t for t in os.environ.get("CONTAINS_TERMS", "").split(",") if t]
        if listed:
            kinds.append(
                (f"`to contains` one of {', '.join(listed)}", lambda r, i: to("contains", listed[i % len(listed)]))
            )
        for k, (name, body_of) in enumerate(kinds):
            rng = random.Random(100 + k)
            times, totals = [], []
            for i in range(requests):
                body = body_of(rng, i)
                payload = json.dumps(body) if body is not None else ""
                t0 = time.perf_counter()
                conn.request(
                    "POST",
                    "/failover/tracking",
                    body=payload,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
                answer = conn.getresponse()
                page = answer.read()
                times.append((time.perf_counter() - t0) * 1e3)
                if answer.status != 200:
                    sys.exit(f"{name}: {answer.status} {page[:300]!r}")
                totals.append(json.loads(page)["totalElements"])
            times.sort()
            p50 = times[len(times) // 2]
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"| {name} | {p50:.2f} / {p99:.2f} ms ({requests} requests); "
                f"totalElements {min(totals)}–{max(totals)}, sum {sum(totals)} |"
            )
    finally:
        server.terminate()
        server.wait()
        os.unlink(log.name)


if __name__ == "__main__":
    main()
