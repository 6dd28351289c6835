#!/usr/bin/env python3
"""A third-party SMSC for Cascade's SMPP interoperability tests, built on PyPI `smpp34`.

The SMPP session itself (bind handshake, enquire_link, windowing, PDU codec, the
submit_sm_resp / deliver_sm the ESME sees) is smpp34's `Server`. In front of it sits a
thin TCP relay in this script, because smpp34's Python API cannot do three things the
tests need (see tests/peers/README.md):

* report the port it listens on when given port 0 (the relay owns the public socket);
* close one ESME's connection abruptly without answering (`--drop-after`);
* expose every submit_sm field (SubmitSmEvent has no validity_period, no
  schedule_delivery_time, no sequence_number): the relay decodes each submit_sm with
  `smpp34.decode` and reports the fields from that.

The relay also forwards each ESME's requests one at a time (the next request goes to
smpp34 only after the previous submit_sm has been answered), because smpp34's
`Server.next()` yields the submit_sm of one window out of wire order. That makes
"the Nth submit_sm" well defined. The ESME can still keep a full window in flight.

Output: one JSON object per line on stdout, flushed; diagnostics go to stderr.
Stops on SIGTERM/SIGINT, or on EOF of stdin when stdin is a pipe, socket or tty
(a /dev/null or regular-file stdin is ignored, so `script &` keeps running).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import stat
import struct
import sys
import threading

import smpp34

# SMPP 3.4 command ids the relay needs to recognise.
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
BIND_RECEIVER_RESP = 0x80000001
BIND_TRANSCEIVER_RESP = 0x80000009
SUBMIT_SM_RESP = 0x80000004
ESME_RINVBNDSTS = 0x00000004
BIND_TRANSCEIVER = 0x00000009
RESP_BIT = 0x80000000
BIND_KINDS = {BIND_RECEIVER: "receiver", BIND_TRANSMITTER: "transmitter", BIND_TRANSCEIVER: "transceiver"}

# message_state values (SMPP 3.4 section 5.2.28) for the receipt's stat: word.
MESSAGE_STATES = {
    "ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4,
    "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8,
}

MAX_PDU = 64 * 1024


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    print(f"smsc_smpp34: {msg}", file=sys.stderr, flush=True)


def smpp_time(t: dt.datetime) -> str:
    return t.strftime("%y%m%d%H%M")


# GSM 03.38 default alphabet and its escape (0x1B) extension, for the receipt's text:.
GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
           0x3E: "]", 0x40: "|", 0x65: "€"}


def gsm_decode(octets: bytes) -> str:
    """Unpacked GSM-7 (one septet per octet, as SMPP carries it) to text."""
    out, esc = [], False
    for b in octets:
        if esc:
            out.append(GSM_EXT.get(b, "?"))
            esc = False
        elif b == 0x1B:
            esc = True
        else:
            out.append(GSM_BASIC[b] if b < 0x80 else "?")
    return "".join(out)


def receipt_text_of(short_message: bytes, esm_class: int, data_coding: int) -> str:
    """First 20 characters of the submitted text, printable ASCII only, for `text:`."""
    body = short_message
    if esm_class & 0x40 and body:  # UDHI: skip the user data header
        body = body[1 + body[0]:]
    if data_coding == 0x08:
        text = body.decode("utf-16-be", errors="replace")
    elif data_coding == 0x00:
        text = gsm_decode(body)
    else:  # IA5 / Latin-1 / binary
        text = body.decode("latin-1")
    return "".join(c if " " <= c <= "~" else "." for c in text[:20])


class Pending:
    """A submit_sm forwarded to smpp34, waiting for its SubmitSmEvent / submit_sm_resp."""

    def __init__(self, pdu: smpp34.SubmitSm, ordinal: int, decision: str):
        self.pdu = pdu
        self.ordinal = ordinal
        self.decision = decision  # "accepted" | "throttled"
        self.answered = asyncio.Event()


class Conn:
    """One ESME TCP connection and its relay to the inner smpp34 server."""

    def __init__(self, smsc: "Smsc", reader, writer):
        self.smsc = smsc
        self.c_reader = reader
        self.c_writer = writer
        self.u_reader = None
        self.u_writer = None
        self.session_id: str | None = None
        self.bind_kind: str | None = None
        self.inflight: Pending | None = None
        self.unbind_seq: int | None = None  # an unbind smpp34 has not answered yet
        self.rx_as_trx = False  # a bind_receiver shown to smpp34 as bind_transceiver
        self.bind_waiter: asyncio.Future | None = None
        self.closed = False
        self.dropping = False  # --drop-after fired: the SMSC is "gone", say nothing more
        self.peer = writer.get_extra_info("peername")

    async def run(self) -> None:
        try:
            self.u_reader, self.u_writer = await asyncio.open_connection(
                self.smsc.inner_host, self.smsc.inner_port)
        except OSError as e:
            log(f"cannot reach the inner smpp34 server: {e}")
            self.close()
            return
        up = asyncio.create_task(self.pump_upstream())
        try:
            await self.pump_client()
        finally:
            self.close()
            up.cancel()
            await asyncio.gather(up, return_exceptions=True)

    @staticmethod
    async def read_pdu(reader) -> bytes | None:
        try:
            head = await reader.readexactly(4)
            (length,) = struct.unpack(">I", head)
            if length < 16 or length > MAX_PDU:
                log(f"bad command_length {length}")
                return None
            return head + await reader.readexactly(length - 4)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return None

    async def pump_client(self) -> None:
        """ESME -> smpp34, requests in wire order, one submit_sm at a time."""
        while not self.closed:
            raw = await self.read_pdu(self.c_reader)
            if raw is None:
                return
            command_id, _status, seq = struct.unpack(">III", raw[4:16])
            if command_id & RESP_BIT:  # deliver_sm_resp, enquire_link_resp, ...: pass straight on
                self.forward_up(raw)
                continue
            if command_id == UNBIND:
                self.unbind_seq = seq
            if command_id in BIND_KINDS:
                await self.forward_bind(raw, command_id)
            elif command_id == SUBMIT_SM and self.rx_as_trx:
                log(f"submit_sm on a receiver bind (seq {seq}): ESME_RINVBNDSTS")
                self.c_writer.write(struct.pack(">IIII", 16, SUBMIT_SM_RESP, ESME_RINVBNDSTS, seq))
            elif command_id == SUBMIT_SM:
                if not await self.forward_submit(raw, seq):
                    return  # dropped: connection closed
            else:
                self.forward_up(raw)

    def forward_up(self, raw: bytes) -> None:
        if self.u_writer is not None and not self.u_writer.is_closing():
            self.u_writer.write(raw)

    async def forward_bind(self, raw: bytes, command_id: int) -> None:
        # One bind at a time across all connections, so the Esme event smpp34 yields
        # for it is known to belong to this connection.
        async with self.smsc.bind_lock:
            self.bind_kind = BIND_KINDS[command_id]
            self.bind_waiter = asyncio.get_running_loop().create_future()
            self.smsc.binding = self
            if command_id == BIND_RECEIVER and self.smsc.args.workarounds:
                # smpp34 1.5.0 answers a receiver's deliver_sm_resp with generic_nack
                # 0x03 and fails the deliver_sm; as a transceiver session it works.
                raw = raw[:4] + struct.pack(">I", BIND_TRANSCEIVER) + raw[8:]
                self.rx_as_trx = True
            self.forward_up(raw)
            try:
                await asyncio.wait_for(asyncio.shield(self.bind_waiter), 10)
            except asyncio.TimeoutError:
                log("no bind event from smpp34 within 10 s")
            finally:
                self.smsc.binding = None

    async def forward_submit(self, raw: bytes, seq: int) -> bool:
        smsc = self.smsc
        try:
            pdu = smpp34.decode(raw)
        except smpp34.SmppError as e:
            log(f"undecodable submit_sm (seq {seq}): {e}; passing it to smpp34 as is")
            self.forward_up(raw)
            return True
        smsc.received += 1
        ordinal = smsc.received
        if smsc.args.drop_after and not smsc.dropped and ordinal >= smsc.args.drop_after:
            smsc.dropped = True
            self.dropping = True
            smsc.emit_submit(pdu, self, ordinal, None, "dropped")
            await self.drop_rest()
            return False
        if smsc.args.stall_after and ordinal == smsc.args.stall_after and smsc.stall_until is None:
            smsc.stall_until = asyncio.get_running_loop().time() + smsc.args.stall_ms / 1000
            emit({"event": "stalled", "ms": smsc.args.stall_ms})
        if smsc.stall_until is not None:
            wait = smsc.stall_until - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.closed:
                return False
        decision = "throttled" if ordinal <= smsc.args.throttle_first else "accepted"
        self.inflight = Pending(pdu, ordinal, decision)
        self.forward_up(raw)
        try:
            await asyncio.wait_for(self.inflight.answered.wait(), 15)
        except asyncio.TimeoutError:
            log(f"smpp34 did not answer submit_sm seq {seq} within 15 s")
        self.inflight = None
        return True

    async def drop_rest(self) -> None:
        """Report the submit_sm already in flight behind the dropped one, then cut the TCP connection."""
        while True:
            try:
                raw = await asyncio.wait_for(self.read_pdu(self.c_reader), 0.1)
            except asyncio.TimeoutError:
                break
            if raw is None:
                break
            command_id = struct.unpack(">I", raw[4:8])[0]
            if command_id == SUBMIT_SM:
                try:
                    pdu = smpp34.decode(raw)
                except smpp34.SmppError:
                    continue
                self.smsc.received += 1
                self.smsc.emit_submit(pdu, self, self.smsc.received, None, "dropped")
        self.close()  # no unbind, no answers: the SMSC just goes away

    async def pump_upstream(self) -> None:
        """smpp34 -> ESME, everything as is; notes the answers the relay waits for."""
        while True:
            raw = await self.read_pdu(self.u_reader)
            if self.dropping:  # drop_rest() closes the connection
                if raw is None:
                    return
                continue
            if raw is None:
                if self.unbind_seq is not None and not self.c_writer.is_closing() and self.smsc.args.workarounds:
                    # smpp34 1.5.0 often closes the socket on unbind before its
                    # unbind_resp is written; give the ESME the answer SMPP requires.
                    log(f"smpp34 closed without unbind_resp (seq {self.unbind_seq}); relay sends it")
                    self.c_writer.write(struct.pack(">IIII", 16, UNBIND_RESP, 0, self.unbind_seq))
                self.close()
                return
            command_id, status, seq = struct.unpack(">III", raw[4:16])
            if command_id == UNBIND_RESP and seq == self.unbind_seq:
                self.unbind_seq = None
            if command_id == BIND_TRANSCEIVER_RESP and self.rx_as_trx:
                raw = raw[:4] + struct.pack(">I", BIND_RECEIVER_RESP) + raw[8:]
            if (self.inflight is not None and command_id & RESP_BIT
                    and seq == self.inflight.pdu.sequence_number):
                self.inflight.answered.set()
            if (command_id & RESP_BIT and (command_id & ~RESP_BIT) in BIND_KINDS and status != 0
                    and self.bind_waiter is not None and not self.bind_waiter.done()):
                self.bind_waiter.set_result(None)
            if command_id == GENERIC_NACK and self.bind_waiter is not None and not self.bind_waiter.done():
                self.bind_waiter.set_result(None)
            if not self.c_writer.is_closing():
                self.c_writer.write(raw)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        emit({"event": "closed", "session_id": self.session_id})
        for w in (self.c_writer, self.u_writer):
            if w is not None:
                try:
                    w.close()
                except Exception:  # noqa: BLE001 - closing twice / broken pipe
                    pass
        if self.inflight is not None:
            self.inflight.answered.set()
        self.smsc.conns.discard(self)


class Smsc:
    def __init__(self, args):
        self.args = args
        self.inner_host = "127.0.0.1"
        self.inner_port = 0
        self.server: smpp34.Server | None = None
        self.conns: set[Conn] = set()
        self.by_session: dict[str, Conn] = {}
        self.esmes: dict[str, smpp34.Esme] = {}  # session_id -> Esme (bound)
        self.binding: Conn | None = None
        self.bind_lock = asyncio.Lock()
        self.received = 0
        self.dropped = False
        self.stall_until = None  # --stall-after: when answers start again (loop time)
        self.next_id = 0
        self.pending_receipts: dict[str, list[dict]] = {}  # system_id -> receipts not yet delivered
        self.tasks: set[asyncio.Task] = set()
        self.stop = asyncio.Event()

    # ---- ids, events -------------------------------------------------------------------
    def new_message_id(self) -> str:
        self.next_id += 1
        if self.args.id_form == "hex":
            return format(0xA0F00000 + self.next_id, "x")  # always has letters: catches "parse as decimal"
        return str(100000 + self.next_id)

    def emit_submit(self, pdu: smpp34.SubmitSm, conn: Conn, ordinal: int, message_id, answer: str) -> None:
        esme = self.esmes.get(conn.session_id or "")
        emit({
            "event": "submit",
            "n": ordinal,
            "id": message_id,
            "answer": answer,
            "system_id": esme.system_id if esme else None,
            "session_id": conn.session_id,
            "sequence_number": pdu.sequence_number,
            "service_type": pdu.service_type,
            "source_addr": pdu.source_addr,
            "source_addr_ton": pdu.source_addr_ton,
            "source_addr_npi": pdu.source_addr_npi,
            "destination_addr": pdu.destination_addr,
            "dest_addr_ton": pdu.dest_addr_ton,
            "dest_addr_npi": pdu.dest_addr_npi,
            "esm_class": pdu.esm_class,
            "protocol_id": pdu.protocol_id,
            "priority_flag": pdu.priority_flag,
            "schedule_delivery_time": pdu.schedule_delivery_time,
            "validity_period": pdu.validity_period,
            "registered_delivery": pdu.registered_delivery,
            "replace_if_present_flag": pdu.replace_if_present_flag,
            "data_coding": pdu.data_coding,
            "sm_default_msg_id": pdu.sm_default_msg_id,
            "short_message_hex": pdu.short_message.hex(),
            "tlvs": {f"0x{t.tag:04x}": t.value.hex() for t in pdu.tlvs},
        })

    def spawn(self, coro) -> None:
        t = asyncio.create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    # ---- smpp34 events -----------------------------------------------------------------
    async def events(self) -> None:
        while True:
            ev = await self.server.next()
            if isinstance(ev, smpp34.Esme):
                self.on_bound(ev)
            elif isinstance(ev, smpp34.SubmitSmEvent):
                self.on_submit(ev)
            elif isinstance(ev, smpp34.Unbound):
                esme = self.esmes.pop(ev.session_id, None)
                self.by_session.pop(ev.session_id, None)  # its sockets close on their own
                emit({"event": "unbound", "session_id": ev.session_id,
                      "system_id": esme.system_id if esme else None})
            else:
                log(f"unexpected event {ev!r}")

    def on_bound(self, esme: smpp34.Esme) -> None:
        self.esmes[esme.session_id] = esme
        conn = self.binding
        kind = None
        if conn is not None:
            conn.session_id = esme.session_id
            kind = conn.bind_kind
            self.by_session[esme.session_id] = conn
            if conn.bind_waiter is not None and not conn.bind_waiter.done():
                conn.bind_waiter.set_result(esme.session_id)
        emit({"event": "bound", "system_id": esme.system_id, "session_id": esme.session_id,
              "bind": kind, "can_receive": esme.can_receive})
        if esme.can_receive and self.pending_receipts.get(esme.system_id):
            self.spawn(self.flush_pending(esme.system_id))

    def on_submit(self, ev: smpp34.SubmitSmEvent) -> None:
        conn = self.by_session.get(ev.session_id)
        pending = conn.inflight if conn is not None else None
        if pending is None:  # cannot happen with the relay in front; answer anyway
            log(f"submit_sm from session {ev.session_id} the relay did not see; accepting")
            ev.accept(self.new_message_id())
            return
        if pending.decision == "throttled":
            ev.reject(smpp34.ESME_RTHROTTLED)
            self.emit_submit(pending.pdu, conn, pending.ordinal, None, "throttled")
            return
        message_id = self.new_message_id()
        ev.accept(message_id)
        self.emit_submit(pending.pdu, conn, pending.ordinal, message_id, "accepted")
        rd = pending.pdu.registered_delivery & 0x03
        failure = self.args.receipt_stat != "DELIVRD"
        if self.args.receipt_delay_ms >= 0 and (rd == 1 or (rd == 2 and failure)):
            receipt = self.make_receipt(pending.pdu, message_id, ev.session_id)
            self.spawn(self.deliver_later(receipt, self.args.receipt_delay_ms / 1000, pending.answered))

    # ---- receipts ----------------------------------------------------------------------
    def make_receipt(self, pdu: smpp34.SubmitSm, message_id: str, session_id: str) -> dict:
        esme = self.esmes.get(session_id)
        return {
            "id": message_id,
            "system_id": esme.system_id if esme else None,
            "session_id": session_id,
            "submitted": dt.datetime.now(),
            "pdu": pdu,
        }

    def receipt_pdu_args(self, r: dict) -> tuple[str, bytes, dict]:
        pdu, stat_word = r["pdu"], self.args.receipt_stat
        delivered = stat_word == "DELIVRD"
        err = self.args.receipt_err if self.args.receipt_err is not None else ("000" if delivered else "001")
        text = (f"id:{r['id']} sub:001 dlvrd:{'001' if delivered else '000'} "
                f"submit date:{smpp_time(r['submitted'])} done date:{smpp_time(dt.datetime.now())} "
                f"stat:{stat_word} err:{err} "
                f"text:{receipt_text_of(pdu.short_message, pdu.esm_class, pdu.data_coding)}")
        kwargs = dict(
            source_addr=pdu.destination_addr,
            source_addr_ton=pdu.dest_addr_ton,
            source_addr_npi=pdu.dest_addr_npi,
            dest_addr_ton=pdu.source_addr_ton,
            dest_addr_npi=pdu.source_addr_npi,
            esm_class=0x04,
            tlvs=[
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, r["id"].encode() + b"\0"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([MESSAGE_STATES.get(stat_word, 7)])),
            ],
        )
        return pdu.source_addr, text.encode("ascii"), kwargs

    def pick_esme(self, r: dict) -> smpp34.Esme | None:
        esme = self.esmes.get(r["session_id"])
        if esme is not None and esme.can_receive:
            return esme
        for esme in self.esmes.values():
            if esme.system_id == r["system_id"] and esme.can_receive:
                return esme
        return None

    async def deliver_later(self, r: dict, delay: float, answered: asyncio.Event) -> None:
        # smpp34 may write a deliver_sm ahead of the submit_sm_resp it was just told to
        # send; wait until the relay has passed the resp to the ESME, so a receipt never
        # overtakes the message id it refers to.
        try:
            await asyncio.wait_for(answered.wait(), 15)
        except asyncio.TimeoutError:
            pass
        if delay > 0:
            await asyncio.sleep(delay)
        await self.deliver(r)

    async def deliver(self, r: dict) -> None:
        esme = self.pick_esme(r)
        if esme is None:
            self.queue_receipt(r, "no bound receiver")
            return
        dest, text, kwargs = self.receipt_pdu_args(r)
        try:
            resp = await asyncio.wait_for(esme.deliver_sm(dest, text, **kwargs), 15)
        except (smpp34.SmppError, asyncio.TimeoutError) as e:
            emit({"event": "receipt_sent", "id": r["id"], "ok": False, "session_id": esme.session_id,
                  "error": str(e) or type(e).__name__, "retry": True})
            self.queue_receipt(r, str(e))
            return
        emit({"event": "receipt_sent", "id": r["id"], "ok": resp.is_success,
              "command_status": resp.command_status, "session_id": esme.session_id,
              "stat": self.args.receipt_stat})


    def queue_receipt(self, r: dict, why: str) -> None:
        self.pending_receipts.setdefault(r["system_id"], []).append(r)
        r["failures"] = r.get("failures", 0) + 1
        log(f"receipt {r['id']} for {r['system_id']} queued ({why})")
        # An ESME of that system_id may have bound while this one was failing: try it
        # (a few times; after that the receipt waits for the next bind).
        if r["failures"] <= 5 and any(e.system_id == r["system_id"] and e.can_receive for e in self.esmes.values()):
            self.spawn(self.flush_pending(r["system_id"], delay=0.2))

    async def flush_pending(self, system_id: str, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        queued = self.pending_receipts.pop(system_id, [])
        for r in queued:
            r["session_id"] = None  # any bind of that ESME will do now
            await self.deliver(r)

    # ---- lifecycle ---------------------------------------------------------------------
    async def start_inner(self) -> None:
        last = None
        for _ in range(10):
            with socket.socket() as s:  # smpp34.Server cannot report the port it got for 0
                s.bind((self.inner_host, 0))
                self.inner_port = s.getsockname()[1]
            self.server = smpp34.Server(self.inner_host, self.inner_port, system_id=self.args.system_id)
            try:
                await self.server.start()
                return
            except smpp34.SmppError as e:
                last = e
        raise RuntimeError(f"smpp34 server would not start: {last}")

    async def drop_periodically(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            live = [c for c in self.conns if not c.closed]
            emit({"event": "dropping", "connections": len(live)})
            for conn in live:
                conn.close()

    async def on_client(self, reader, writer) -> None:
        conn = Conn(self, reader, writer)
        self.conns.add(conn)
        await conn.run()

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        watch_stdin(loop, self.stop)
        await self.start_inner()
        public = await asyncio.start_server(self.on_client, self.args.host, self.args.port)
        port = public.sockets[0].getsockname()[1]
        emit({"event": "listening", "port": port, "host": self.args.host})
        events = asyncio.create_task(self.events())
        stopper = asyncio.create_task(self.stop.wait())
        if self.args.drop_every_ms:
            self.spawn(self.drop_periodically(self.args.drop_every_ms / 1000))
        done, _ = await asyncio.wait({events, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if events in done and events.exception() is not None:
            log(f"smpp34 event loop failed: {events.exception()!r}")
        public.close()
        for conn in list(self.conns):
            conn.close()
        for t in (events, stopper, *self.tasks):
            t.cancel()
        await asyncio.gather(events, stopper, *self.tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self.server.stop(), 5)
        except Exception as e:  # noqa: BLE001
            log(f"smpp34 stop: {e!r}")
        left = sum(len(v) for v in self.pending_receipts.values())
        emit({"event": "stopped", "undelivered_receipts": left})
        return 0


def watch_stdin(loop, stop: asyncio.Event) -> None:
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(0)):
        return  # /dev/null or a file: EOF means nothing

    def reader():
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=reader, daemon=True).start()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (reported on the first line)")
    p.add_argument("--system-id", default="SMPP34SMSC", help="system_id this SMSC answers binds with")
    p.add_argument("--receipt-delay-ms", type=int, default=0,
                   help="send each receipt N ms after accepting the submit_sm; -1 = send no receipts")
    p.add_argument("--receipt-stat", default="DELIVRD", type=str.upper,
                   choices=sorted(MESSAGE_STATES), help="stat: word (and message_state TLV) of receipts")
    p.add_argument("--receipt-err", default=None,
                   help="err: field of receipts (default 000 for DELIVRD, 001 otherwise)")
    p.add_argument("--throttle-first", type=int, default=0,
                   help="answer the first N submit_sm with ESME_RTHROTTLED (0x58)")
    p.add_argument("--drop-after", type=int, default=0,
                   help="on receiving the Nth submit_sm, close that ESME's connection without answering "
                        "it or the ones behind it (once)")
    p.add_argument("--drop-every-ms", type=int, default=0,
                   help="every N ms, close every ESME connection as it is (no unbind, whatever is in "
                        "flight unanswered); the ESME binds again")
    p.add_argument("--stall-after", type=int, default=0,
                   help="on receiving the Nth submit_sm, stop answering for --stall-ms (once); the held "
                        "submit_sm are answered afterwards, on connections that are still open")
    p.add_argument("--stall-ms", type=int, default=0)
    p.add_argument("--id-form", choices=("dec", "hex"), default="dec")
    p.add_argument("--no-workarounds", dest="workarounds", action="store_false",
                   help="pass smpp34 1.5.0's own behaviour through: no unbind_resp filled in when it "
                        "closes without one, bind_receiver not presented to it as bind_transceiver")
    return p.parse_args(argv)


if __name__ == "__main__":
    rc = asyncio.run(Smsc(parse_args()).main())
    sys.stdout.flush()
    sys.stderr.flush()
    # smpp34 1.5.0's tokio threads can call into Python while the interpreter finalizes
    # ("PyGILState_Release: thread state ... must be current", SIGSEGV/SIGABRT in about 1
    # run in 15 here); everything is written by now, so skip finalization.
    os._exit(rc)
