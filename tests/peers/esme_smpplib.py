#!/usr/bin/env python3
"""A third-party ESME for Cascade's SMPP interoperability tests, built on PyPI `smpplib`.

Binds transceiver, submits the given messages (long ones split by
`smpplib.gsm.make_parts` with a UDH concatenation header, esm_class 0x40), asks for a
receipt for every part (registered_delivery=1), collects the submit_sm_resp ids and the
deliver_sm receipts, and stops once every accepted part has a receipt or --timeout
seconds have passed. Prints ONE JSON object on stdout:

  {"submitted": [{"to","part","of","message_id","status",...}],
   "receipts":  [{"id","stat","err","text","tlvs",...}],
   "unanswered": [{"to","part","of",...}],         # submit_sm never answered
   "missing_receipts": [...], "mo": [...], "errors": [...]}

Exit status 0 whenever the run itself worked, whatever the SMSC answered; 2 when it
could not connect or bind (reason on stderr), 64 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import select
import socket
import sys
import time

import smpplib.client
import smpplib.consts as C
import smpplib.exceptions
import smpplib.gsm

THROTTLED = C.SMPP_ESME_RTHROTTLED  # 0x58


class BindFailed(Exception):
    pass


def addr(value: str, alnum_ok: bool) -> tuple[str, int, int]:
    """(address, ton, npi): "+3069..." -> international/E.164, digits -> unknown/E.164,
    anything else -> alphanumeric (only sensible as a source)."""
    if value.startswith("+") and value[1:].isdigit():
        return value[1:], 1, 1
    if value.isdigit():
        return value, 0, 1
    if not alnum_ok:
        raise ValueError(f"destination {value!r} is not a number")
    return value, 5, 0


RECEIPT_RE = re.compile(
    r"id:(?P<id>\S*)\s+sub:(?P<sub>\S*)\s+dlvrd:(?P<dlvrd>\S*)\s+submit date:(?P<submit_date>\S*)"
    r"\s+done date:(?P<done_date>\S*)\s+stat:(?P<stat>\S*)\s+err:(?P<err>\S*)(?:\s+[Tt]ext:(?P<text>.*))?",
    re.S,
)


def decode(v):
    return v.decode("latin-1") if isinstance(v, (bytes, bytearray)) else v


def pdu_tlvs(pdu) -> dict:
    """The optional parameters smpplib parsed on this PDU, by smpplib's name.
    (smpplib skips tags it does not know; those cannot be reported.)"""
    out = {}
    for name in pdu.params:
        if name not in C.OPTIONAL_PARAMS:
            continue
        value = getattr(pdu, name, None)
        if value is None:
            continue
        if isinstance(value, (bytes, bytearray)):
            p = pdu.params[name]
            value = value.decode("latin-1") if p.type is str else bytes(value).hex()
        out[name] = value
    return out


class Part:
    def __init__(self, msg_index, to, sender, part, of, body, data_coding, esm_class):
        self.msg_index = msg_index
        self.to, self.sender = to, sender
        self.part, self.of = part, of
        self.body, self.data_coding, self.esm_class = body, data_coding, esm_class
        self.message_id = None
        self.status = None  # command_status of the final submit_sm_resp
        self.attempts = 0
        self.throttled = 0
        self.sequence = None
        self.not_before = 0.0
        self.receipt = None

    def row(self) -> dict:
        return {"message": self.msg_index, "to": self.to, "part": self.part, "of": self.of,
                "message_id": self.message_id, "status": self.status,
                "attempts": self.attempts, "throttled": self.throttled,
                "data_coding": self.data_coding, "esm_class": self.esm_class}


class Esme:
    def __init__(self, args, parts):
        self.args = args
        self.parts = parts
        self.queue = list(parts)  # to send, in order
        self.outstanding = {}     # sequence -> Part
        self.receipts = []
        self.mo = []
        self.errors = []
        self.client = None
        self.reconnects = 0

    # ---- connection ----------------------------------------------------------------
    def connect(self) -> None:
        c = smpplib.client.Client(self.args.host, self.args.port, timeout=5,
                                  allow_unknown_opt_params=True)
        c.set_message_sent_handler(self.on_submit_resp)
        c.set_message_received_handler(self.on_deliver)
        c.set_error_pdu_handler(self.on_error_pdu)
        try:
            c.connect()
            c.bind_transceiver(system_id=self.args.system_id, password=self.args.password,
                               system_type=self.args.system_type)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as e:
            try:
                c.disconnect()
            except Exception:  # noqa: BLE001
                pass
            raise BindFailed(f"bind_transceiver to {self.args.host}:{self.args.port} failed: "
                             f"{type(e).__name__} {e}") from e
        self.client = c

    def lost_connection(self, why: str) -> bool:
        """The SMSC went away. Returns True if we are connected again."""
        self.errors.append(f"connection lost: {why}")
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001
            pass
        self.client = None
        lost = sorted(self.outstanding.items())
        self.outstanding.clear()
        if self.reconnects >= self.args.reconnect:
            # Report the in-flight ones as unanswered; keep them out of the queue.
            self.unanswered_lost = [p for _, p in lost]
            return False
        self.reconnects += 1
        self.queue[:0] = [p for _, p in lost]  # resend what was in flight, first
        time.sleep(self.args.reconnect_delay_ms / 1000)
        try:
            self.connect()
        except BindFailed as e:
            self.errors.append(str(e))
            self.unanswered_lost = [p for _, p in lost]
            return False
        return True

    # ---- smpplib callbacks ---------------------------------------------------------
    def on_error_pdu(self, pdu):
        # smpplib's default raises PDUError on any non-zero command_status. A
        # submit_sm_resp also reaches on_submit_resp right after this, so it is handled
        # there; a generic_nack is the SMSC refusing the PDU with that sequence.
        if pdu.command == "generic_nack":
            part = self.outstanding.pop(pdu.sequence, None)
            if part is not None:
                part.status = int(pdu.status)
            else:
                self.errors.append(f"generic_nack seq {pdu.sequence} status 0x{int(pdu.status):x}")

    def on_submit_resp(self, pdu, **_):
        part = self.outstanding.pop(pdu.sequence, None)
        if part is None:
            self.errors.append(f"submit_sm_resp for unknown seq {pdu.sequence}")
            return
        status = int(pdu.status)
        if status == THROTTLED and self.args.expect_throttle and part.throttled < self.args.throttle_retries:
            part.throttled += 1
            part.not_before = time.monotonic() + self.args.throttle_wait_ms / 1000
            self.queue.insert(0, part)
            return
        if status == THROTTLED:
            part.throttled += 1
        part.status = status
        if status == C.SMPP_ESME_ROK:
            part.message_id = decode(pdu.message_id)
            # A receipt may come before the submit_sm_resp it refers to (a race real
            # SMSCs have too): attach one that arrived early.
            for r in self.receipts:
                if not r["matched"] and self.match(r["id"]) is part or (
                        not r["matched"] and self.match(r["text_id"]) is part):
                    self.attach(r, part)
                    r["before_resp"] = True
                    break

    def on_deliver(self, pdu, **_):
        text = decode(pdu.short_message) or ""
        tlvs = pdu_tlvs(pdu)
        if not (pdu.esm_class or 0) & 0x3C:  # no receipt bits: a mobile-originated message
            self.mo.append({"from": decode(pdu.source_addr), "to": decode(pdu.destination_addr),
                            "data_coding": pdu.data_coding, "esm_class": pdu.esm_class,
                            "short_message_hex": (pdu.short_message or b"").hex(), "tlvs": tlvs})
            return C.SMPP_ESME_ROK
        m = RECEIPT_RE.search(text)
        fields = m.groupdict() if m else {}
        rid = tlvs.get("receipted_message_id") or fields.get("id")
        receipt = {
            "id": rid,
            "text_id": fields.get("id"),
            "stat": fields.get("stat"),
            "err": fields.get("err"),
            "sub": fields.get("sub"),
            "dlvrd": fields.get("dlvrd"),
            "submit_date": fields.get("submit_date"),
            "done_date": fields.get("done_date"),
            "text": fields.get("text"),
            "raw": text,
            "parsed": m is not None,
            "esm_class": pdu.esm_class,
            "source_addr": decode(pdu.source_addr),
            "destination_addr": decode(pdu.destination_addr),
            "tlvs": tlvs,
        }
        receipt["matched"] = False
        part = self.match(rid) or self.match(fields.get("id"))
        if part is not None:
            self.attach(receipt, part)
        self.receipts.append(receipt)
        return C.SMPP_ESME_ROK

    @staticmethod
    def attach(receipt: dict, part: Part) -> None:
        receipt["matched"] = True
        part.receipt = receipt
        receipt["to"], receipt["part"], receipt["of"] = part.to, part.part, part.of

    def match(self, rid):
        if not rid:
            return None
        for p in self.parts:
            if p.message_id is None:
                continue
            if p.message_id == rid:
                return p
            # The classic mismatch: hex id in submit_sm_resp, decimal in the receipt.
            try:
                if int(p.message_id, 16) == int(rid, 10):
                    return p
            except ValueError:
                pass
        return None

    # ---- main loop -----------------------------------------------------------------
    def done(self) -> bool:
        if self.queue or self.outstanding:
            return False
        if not self.args.registered_delivery & 0x03:
            return True  # no receipts asked for
        return all(p.receipt is not None for p in self.parts if p.message_id is not None)

    def send_ready(self) -> None:
        now = time.monotonic()
        while self.queue and len(self.outstanding) < self.args.window:
            part = self.queue[0]
            if part.not_before > now:
                return
            self.queue.pop(0)
            src, src_ton, src_npi = addr(part.sender, alnum_ok=True)
            dst, dst_ton, dst_npi = addr(part.to, alnum_ok=False)
            part.attempts += 1
            pdu = self.client.send_message(
                source_addr_ton=src_ton, source_addr_npi=src_npi, source_addr=src,
                dest_addr_ton=dst_ton, dest_addr_npi=dst_npi, destination_addr=dst,
                short_message=part.body, data_coding=part.data_coding, esm_class=part.esm_class,
                registered_delivery=self.args.registered_delivery,
            )
            part.sequence = pdu.sequence
            self.outstanding[pdu.sequence] = part

    def run(self) -> dict:
        self.unanswered_lost = []
        deadline = time.monotonic() + self.args.timeout
        self.connect()
        connected = True
        while connected and time.monotonic() < deadline and not self.done():
            try:
                self.send_ready()
                wait = 0.05 if self.queue else 0.2
                readable, _, _ = select.select([self.client._socket], [], [], wait)
                if readable:
                    self.client.read_once(auto_send_enquire_link=False)
            except (smpplib.exceptions.ConnectionError, OSError, socket.timeout) as e:
                connected = self.lost_connection(f"{type(e).__name__} {e}".strip())
        if self.client is not None:
            try:
                self.client.unbind()
            except Exception as e:  # noqa: BLE001 - the SMSC may answer or just close
                self.errors.append(f"unbind: {type(e).__name__} {e}".strip())
            try:
                self.client.disconnect()
            except Exception:  # noqa: BLE001
                pass
        unanswered = [p for p in self.outstanding.values()] + self.unanswered_lost + self.queue
        submitted = [p.row() for p in self.parts if p.status is not None]
        return {
            "submitted": submitted,
            "receipts": self.receipts,
            "unanswered": [dict(p.row(), sent=p.attempts > 0) for p in unanswered],
            "missing_receipts": [p.row() for p in self.parts
                                 if p.message_id is not None and p.receipt is None],
            "mo": self.mo,
            "reconnects": self.reconnects,
            "errors": self.errors,
            "timed_out": not self.done(),
        }


def build_parts(messages) -> list[Part]:
    parts = []
    for i, m in enumerate(messages):
        coding = m.get("coding", "gsm").lower()
        if coding == "gsm":
            encoding = C.SMPP_ENCODING_DEFAULT
        elif coding in ("ucs2", "ucs-2"):
            encoding = C.SMPP_ENCODING_ISO10646
        else:
            raise ValueError(f"message {i}: coding {coding!r} is not gsm or ucs2")
        # make_parts falls back to UCS-2 by itself when the text is not GSM-7.
        bodies, data_coding, esm_class = smpplib.gsm.make_parts(m["text"], encoding=encoding)
        for n, body in enumerate(bodies, start=1):
            parts.append(Part(i, m["to"], m.get("from", "Cascade"), n, len(bodies), body,
                              data_coding, esm_class))
    return parts


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--system-id", required=True)
    p.add_argument("--password", default="")
    p.add_argument("--system-type", default="")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--messages", help='JSON: [{"to":"+3069...","from":"Cascade","text":"...","coding":"gsm|ucs2"}]')
    src.add_argument("--messages-file", help="a file holding that JSON ('-' = stdin)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds for the whole run")
    p.add_argument("--window", type=int, default=10, help="submit_sm in flight at once")
    p.add_argument("--registered-delivery", type=int, default=1)
    p.add_argument("--expect-throttle", action="store_true",
                   help="on ESME_RTHROTTLED (0x58) wait --throttle-wait-ms and resend the part")
    p.add_argument("--throttle-wait-ms", type=int, default=200)
    p.add_argument("--throttle-retries", type=int, default=20)
    p.add_argument("--reconnect", type=int, default=0,
                   help="when the SMSC drops the connection, reconnect (at most N times) and "
                        "resend what was unanswered")
    p.add_argument("--reconnect-delay-ms", type=int, default=200)
    p.add_argument("--verbose", action="store_true", help="smpplib debug log on stderr")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.ERROR,
                        format="esme_smpplib: %(name)s %(levelname)s %(message)s")
    try:
        if args.messages is not None:
            raw = args.messages
        elif args.messages_file == "-":
            raw = sys.stdin.read()
        else:
            with open(args.messages_file, encoding="utf-8") as f:
                raw = f.read()
        messages = json.loads(raw)
        if isinstance(messages, dict):
            messages = [messages]
        parts = build_parts(messages)
        for part in parts:  # validate addresses before binding
            addr(part.sender, alnum_ok=True)
            addr(part.to, alnum_ok=False)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"esme_smpplib: bad messages: {type(e).__name__}: {e}", file=sys.stderr)
        return 64
    try:
        result = Esme(args, parts).run()
    except BindFailed as e:
        print(f"esme_smpplib: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
