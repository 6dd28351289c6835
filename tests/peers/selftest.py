#!/usr/bin/env python3
"""Checks the two peer scripts against each other on loopback: smpplib ESME -> smpp34 SMSC.

    .venv-peers/bin/python tests/peers/selftest.py [-v]

Each scenario starts smsc_smpp34.py on port 0, runs esme_smpplib.py against it, stops
the SMSC (stdin EOF or SIGTERM) and checks both sides' JSON. Prints one line per
scenario and a closing 'N passed, N failed' line; exit status 1 if any failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
VERBOSE = "-v" in sys.argv
LONG_GSM = ("Cascade concatenation test. " * 15)[:400]  # 400 GSM-7 chars -> 3 parts of 153


def run(smsc_flags, esme_flags, messages, stop="eof"):
    smsc = subprocess.Popen([PY, os.path.join(HERE, "smsc_smpp34.py"), "--port", "0",
                             "--system-id", "SMSC34", *smsc_flags],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = json.loads(smsc.stdout.readline())
    assert first["event"] == "listening" and first["port"] > 0, first
    esme = subprocess.run([PY, os.path.join(HERE, "esme_smpplib.py"), "--port", str(first["port"]),
                           "--system-id", "cascade", "--password", "pw", *esme_flags,
                           "--messages", json.dumps(messages)],
                          capture_output=True, text=True, timeout=60)
    time.sleep(0.3)  # let the SMSC log the unbind / last receipt_sent
    if stop == "eof":
        smsc.stdin.close()
    else:
        smsc.send_signal(signal.SIGTERM)
    out, err = smsc.stdout.read(), smsc.stderr.read()
    smsc.wait(timeout=20)
    events = [first] + [json.loads(line) for line in out.splitlines() if line.strip()]
    if VERBOSE:
        print("  smsc rc", smsc.returncode, "stderr:", err.strip())
        for e in events:
            print("  smsc", json.dumps(e)[:300])
        print("  esme rc", esme.returncode, "stderr:", esme.stderr.strip())
        print("  esme", esme.stdout.strip()[:3000])
    assert smsc.returncode == 0, (smsc.returncode, err)
    assert events[-1]["event"] == "stopped", events[-1]
    assert esme.returncode == 0, (esme.returncode, esme.stderr)
    return events, json.loads(esme.stdout), err


def submits(events, answer=None):
    return [e for e in events if e["event"] == "submit" and (answer is None or e["answer"] == answer)]


def all_receipted(res):
    assert not res["missing_receipts"], res["missing_receipts"]
    assert not res["unanswered"], res["unanswered"]
    for r in res["receipts"]:
        assert r["parsed"] and r["matched"], r
        assert r["tlvs"]["receipted_message_id"] == r["text_id"] == r["id"], r
    ids = sorted(s["message_id"] for s in res["submitted"] if s["status"] == 0)
    assert ids == sorted(r["id"] for r in res["receipts"]), (ids, res["receipts"])


def gsm_single():
    ev, res, _ = run(["--receipt-delay-ms", "50"], ["--timeout", "10"],
                     [{"to": "+306912345678", "from": "Cascade", "text": "Hello @£$ {ok}", "coding": "gsm"}])
    (s,) = submits(ev, "accepted")
    assert s["data_coding"] == 0 and s["esm_class"] == 0 and s["registered_delivery"] == 1, s
    assert s["source_addr"] == "Cascade" and (s["source_addr_ton"], s["source_addr_npi"]) == (5, 0), s
    assert s["destination_addr"] == "306912345678" and (s["dest_addr_ton"], s["dest_addr_npi"]) == (1, 1), s
    assert s["short_message_hex"] == "48656c6c6f2000010220" + "1b28" + "6f6b" + "1b29", s
    all_receipted(res)
    (r,) = res["receipts"]
    assert r["stat"] == "DELIVRD" and r["err"] == "000" and r["tlvs"]["message_state"] == 2, r
    assert r["text"] == "Hello @.$ {ok}" and r["source_addr"] == "306912345678", r
    assert [e["event"] for e in ev].count("receipt_sent") == 1


def ucs2_single():
    ev, res, _ = run([], ["--timeout", "10"],
                     [{"to": "+306912345678", "text": "Καλημέρα κόσμε", "coding": "ucs2"}])
    (s,) = submits(ev, "accepted")
    assert s["data_coding"] == 8 and bytes.fromhex(s["short_message_hex"]).decode("utf-16-be") == "Καλημέρα κόσμε"
    all_receipted(res)


def gsm_three_parts():
    ev, res, _ = run(["--receipt-delay-ms", "100"], ["--timeout", "10"],
                     [{"to": "+306912345678", "text": LONG_GSM, "coding": "gsm"}])
    ss = submits(ev, "accepted")
    assert len(ss) == 3, ss
    udh = [bytes.fromhex(s["short_message_hex"])[:6] for s in ss]
    ref = udh[0][3]
    assert udh == [bytes([5, 0, 3, ref, 3, i]) for i in (1, 2, 3)], udh
    assert all(s["esm_class"] == 0x40 for s in ss)
    body = b"".join(bytes.fromhex(s["short_message_hex"])[6:] for s in ss)
    assert body.decode("ascii") == LONG_GSM
    assert [p["part"] for p in res["submitted"]] == [1, 2, 3] and all(p["of"] == 3 for p in res["submitted"])
    all_receipted(res)
    assert len(res["receipts"]) == 3


def throttle_first_2():
    ev, res, _ = run(["--throttle-first", "2"], ["--timeout", "10", "--expect-throttle"],
                     [{"to": "+306912345678", "text": "throttled twice"}])
    assert [s["answer"] for s in submits(ev)] == ["throttled", "throttled", "accepted"], submits(ev)
    (p,) = res["submitted"]
    assert p["status"] == 0 and p["attempts"] == 3 and p["throttled"] == 2, p
    all_receipted(res)


def throttle_without_tolerance():
    ev, res, _ = run(["--throttle-first", "1"], ["--timeout", "5"],
                     [{"to": "+306912345678", "text": "a"}, {"to": "+306912345678", "text": "b"}])
    assert [s["answer"] for s in submits(ev)] == ["throttled", "accepted"], submits(ev)
    assert [p["status"] for p in res["submitted"]] == [0x58, 0], res["submitted"]
    all_receipted(res)


def drop_after_2_no_reconnect():
    ev, res, _ = run(["--drop-after", "2", "--receipt-delay-ms", "50"], ["--timeout", "5"],
                     [{"to": "+306912345678", "text": LONG_GSM}])
    answers = [s["answer"] for s in submits(ev)]
    assert answers[:2] == ["accepted", "dropped"] and set(answers[2:]) <= {"dropped"}, answers
    assert [p["part"] for p in res["submitted"]] == [1], res["submitted"]
    assert sorted(p["part"] for p in res["unanswered"]) == [2, 3], res["unanswered"]
    assert any("connection lost" in e for e in res["errors"]), res["errors"]


def drop_after_2_reconnect():
    # The receipt for part 1 falls due after the drop: the SMSC must keep it and send it
    # once the ESME has bound again; parts 2-3 are resent on the new bind and accepted.
    ev, res, err = run(["--drop-after", "2", "--receipt-delay-ms", "400"],
                       ["--timeout", "10", "--reconnect", "2"],
                       [{"to": "+306912345678", "text": LONG_GSM}], stop="sigterm")
    answers = [s["answer"] for s in submits(ev)]
    assert answers[:2] == ["accepted", "dropped"] and answers.count("accepted") == 3, answers
    assert [e["event"] for e in ev].count("bound") == 2, ev
    assert res["reconnects"] == 1
    all_receipted(res)
    assert sorted(p["part"] for p in res["submitted"]) == [1, 2, 3]


def receipt_waits_for_rebind():
    # Part 1's receipt falls due while the ESME is away (dropped, reconnecting after 1 s):
    # the SMSC must keep it and send it on the next bind.
    ev, res, err = run(["--drop-after", "2", "--receipt-delay-ms", "100"],
                       ["--timeout", "10", "--reconnect", "1", "--reconnect-delay-ms", "1000"],
                       [{"to": "+306912345678", "text": LONG_GSM}])
    kinds = [(e["event"], e.get("id")) for e in ev if e["event"] in ("bound", "unbound", "receipt_sent")]
    first_id = submits(ev, "accepted")[0]["id"]
    second_bind = [i for i, k in enumerate(kinds) if k[0] == "bound"][1]
    sent_ok = [i for i, e in enumerate(e for e in ev if e["event"] in ("bound", "unbound", "receipt_sent"))
               if e["event"] == "receipt_sent" and e["id"] == first_id and e["ok"]]
    assert sent_ok and sent_ok[0] > second_bind, kinds
    assert "queued" in err, err
    all_receipted(res)


def hex_ids_undeliv():
    ev, res, _ = run(["--id-form", "hex", "--receipt-stat", "UNDELIV"], ["--timeout", "10"],
                     [{"to": "+306912345678", "text": "will fail"}])
    (s,) = submits(ev, "accepted")
    assert any(c in "abcdef" for c in s["id"]), s
    all_receipted(res)
    (r,) = res["receipts"]
    assert r["stat"] == "UNDELIV" and r["dlvrd"] == "000" and r["err"] == "001" and r["tlvs"]["message_state"] == 5, r


def tx_rx_split_binds():
    # A transmitter bind submits, a receiver bind of the same system_id gets the receipt
    # (smpplib used directly). Also: stdin=/dev/null does not stop the SMSC; SIGTERM does.
    import select
    import smpplib.client
    smsc = subprocess.Popen([PY, os.path.join(HERE, "smsc_smpp34.py"), "--port", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    port = json.loads(smsc.stdout.readline())["port"]
    tx = smpplib.client.Client("127.0.0.1", port, allow_unknown_opt_params=True)
    rx = smpplib.client.Client("127.0.0.1", port, allow_unknown_opt_params=True)
    tx.connect()
    tx.bind_transmitter(system_id="cascade", password="pw")
    rx.connect()
    rx.bind_receiver(system_id="cascade", password="pw")
    got = []
    tx.set_message_sent_handler(lambda pdu: got.append(("resp", pdu.message_id.decode())))
    rx.set_message_received_handler(lambda pdu: got.append(("dlr", pdu.receipted_message_id.decode())))
    tx.send_message(source_addr="Cascade", destination_addr="306912345678", short_message=b"split",
                    registered_delivery=1)
    tx.read_once()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(got) < 2:
        if select.select([rx._socket], [], [], 0.1)[0]:
            rx.read_once()
    for c in (tx, rx):
        c.unbind()
        c.disconnect()
    time.sleep(0.3)
    assert smsc.poll() is None, "SMSC stopped with stdin=/dev/null"
    smsc.send_signal(signal.SIGTERM)
    out, err = smsc.communicate(timeout=20)
    events = [json.loads(line) for line in out.splitlines()]
    if VERBOSE:
        print("  ", got, err, *events, sep="\n  ")
    assert smsc.returncode == 0 and events[-1]["event"] == "stopped", (smsc.returncode, err)
    assert got == [("resp", "100001"), ("dlr", "100001")], got
    assert [e["bind"] for e in events if e["event"] == "bound"] == ["transmitter", "receiver"]
    sent = [e for e in events if e["event"] == "receipt_sent"]
    assert len(sent) == 1 and sent[0]["ok"], sent


def bind_failure_exit_code():
    p = subprocess.run([PY, os.path.join(HERE, "esme_smpplib.py"), "--port", "1", "--system-id", "x",
                        "--messages", "[]"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "failed" in p.stderr and p.stdout == "", (p.returncode, p.stderr)


SCENARIOS = [gsm_single, ucs2_single, gsm_three_parts, throttle_first_2, throttle_without_tolerance,
             drop_after_2_no_reconnect, drop_after_2_reconnect, receipt_waits_for_rebind,
             hex_ids_undeliv, tx_rx_split_binds, bind_failure_exit_code]

if __name__ == "__main__":
    passed = failed = 0
    for scenario in SCENARIOS:
        t = time.monotonic()
        try:
            scenario()
            passed += 1
            print(f"ok   {scenario.__name__} ({time.monotonic() - t:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {scenario.__name__}: {type(e).__name__}: {e}"[:2000], flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
