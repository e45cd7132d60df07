"""One timeline of what crossed the serial line: PPP frames both ways and the modem's text.

Every source becomes the same list of `Record`s — a live link (through `Tracer`, fed the raw
bytes the driver reads and writes), a raw serial capture, a pppd debug log, or a pcapng file —
and every sink reads that list: the trace printer, the pcapng writer, the ladder diagram.

Secrets: a PAP Authenticate-Request's password octets are replaced by '*' before a record
leaves this module unless asked otherwise, and AT commands that carry a PIN or a password are
masked.  CHAP secrets never cross the line; the CHAP response value may be shown.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

from ncm.ntb import parse_ntb
from pppstack.capture.pcapng import (
    TEXT_PDU_HEADER,
    Direction,
    Interface,
    LinkType,
    PcapngWriter,
    ppp_with_dir,
    text_pdu,
)
from pppstack.capture.pppdlog import LogFrame
from pppstack.describe import describe_frame, normalize_frame
from pppstack.describe.stream import ItemKind, Scanner

__all__ = ["RecordKind", "Record", "Tracer", "redact_pap", "redact_at", "to_pcapng", "from_pcapng",
           "from_serial", "from_log", "PcapngError", "ethernet_records"]  # fmt: skip


class RecordKind(Enum):
    FRAME = "frame"        # data: FF 03 + protocol + information
    TEXT = "text"          # data: one line of modem text (or an AT command we sent)
    ETHERNET = "ethernet"  # data: an Ethernet frame (NCM)
    END = "end"            # the link ended; note: why


@dataclass(frozen=True, slots=True)
class Record:
    time: float            # seconds: since the epoch for live links, else whatever the source had
    kind: RecordKind
    sent: bool | None      # True: we sent it; False: we received it; None: unknown
    data: bytes = b""
    note: str = ""         # FRAME: why it is approximate; END: the verdict; TEXT: unused

    def describe(self) -> str:
        if self.kind is RecordKind.FRAME:
            return describe_frame(self.data)
        if self.kind is RecordKind.TEXT:
            return self.data.decode("latin-1").strip()
        if self.kind is RecordKind.ETHERNET:
            return f"[Ethernet {len(self.data)} octets]"
        return self.note


def redact_pap(packet: bytes) -> bytes:
    """A PAP Authenticate-Request (FF 03 C0 23 01 ...) with its password octets turned into '*'."""
    if packet[:5] != b"\xff\x03\xc0\x23\x01" or len(packet) < 9:
        return packet
    end = 4 + min(int.from_bytes(packet[6:8], "big"), len(packet) - 4)
    wlen_at = 8 + 1 + packet[8]
    if wlen_at >= end:
        return packet[:8] + b"*" * (len(packet) - 8)  # lengths do not add up: hide it all
    stop = min(wlen_at + 1 + packet[wlen_at], end)
    return packet[: wlen_at + 1] + b"*" * (stop - wlen_at - 1) + packet[stop:]


# AT+CPIN="1234", AT+CPIN=1234,5678, AT^AUTHDATA=1,1,"","pw","user", AT+CGAUTH=1,1,"user","pw", AT$QCPDPP=1,1,"pw"
_AT_SECRET = re.compile(rb'(?i)(AT\s*(?:\+CPIN|\+CLCK|\+CPWD|\^AUTHDATA|\+CGAUTH|\$QCPDPP)\s*=)([^\r\n]*)')


def redact_at(line: bytes) -> bytes:
    """An AT command line with the arguments of PIN and password commands masked."""
    return _AT_SECRET.sub(lambda m: m.group(1) + b"****", line)


def _safe(rec: Record, keep_secrets: bool) -> Record:
    if keep_secrets:
        return rec
    if rec.kind is RecordKind.FRAME:
        return replace(rec, data=redact_pap(rec.data))
    if rec.kind is RecordKind.TEXT:
        return replace(rec, data=redact_at(rec.data))
    return rec


class Tracer:
    """Sans-I/O: raw serial bytes per direction in, Records out (frames de-framed, text by line).

    Outbound and inbound each get their own scanner: the directions interleave on the wire
    only in time, never inside a frame.
    """

    def __init__(self, keep_secrets: bool = False) -> None:
        self.keep_secrets = keep_secrets
        self.reset()

    def reset(self) -> None:
        """Forget partial frames (after bytes were skipped, the next flag starts afresh)."""
        self._scan = {True: Scanner(strict_accm=False), False: Scanner(strict_accm=False)}

    def feed(self, sent: bool, data: bytes, now: float) -> list[Record]:
        scanner = self._scan[sent]
        out: list[Record] = []
        for item in scanner.feed(data) + scanner.pending_text():
            if item.kind is ItemKind.FRAME:
                frame = normalize_frame(item.data)
                if frame is not None:
                    out.append(_safe(Record(now, RecordKind.FRAME, sent, frame), self.keep_secrets))
            elif item.kind is ItemKind.TEXT:
                out += [_safe(Record(now, RecordKind.TEXT, sent, line), self.keep_secrets)
                        for line in re.findall(rb"[^\r\n]*[\r\n]+|[^\r\n]+$", item.data) if line.strip()]
        return out


def ethernet_records(sent: bool, block: bytes, now: float) -> list[Record]:
    """The Ethernet frames of one NCM transfer block (a malformed block gives what parses)."""
    frames, _faults, _info = parse_ntb(block)
    return [Record(now, RecordKind.ETHERNET, sent, bytes(f)) for f in frames]


# -- sources ----------------------------------------------------------------------------------------

def from_serial(chunks: Iterable[bytes], sent: bool | None = False, accm: int = 0xFFFFFFFF) -> list[Record]:
    """A raw capture of one direction: each record's time is its byte offset in microseconds."""
    scanner = Scanner(accm, strict_accm=False)
    out: list[Record] = []
    items = [i for c in chunks for i in scanner.feed(c)] + scanner.finish()
    for item in items:
        t = item.offset / 1_000_000
        if item.kind is ItemKind.FRAME:
            frame = normalize_frame(item.data)
            if frame is not None:
                out.append(Record(t, RecordKind.FRAME, sent, frame))
        elif item.kind is ItemKind.TEXT:
            for line in re.findall(rb"[^\r\n]*[\r\n]*", item.data):
                if line.strip():
                    out.append(Record(t, RecordKind.TEXT, sent, line))
    return out


def from_log(frames: Iterable[LogFrame]) -> list[Record]:
    """pppd's sent/rcvd lines as records; lines sharing a time stamp keep their order 1 µs apart."""
    out: list[Record] = []
    last = -1.0
    base: float | None = None
    for f in frames:
        if f.rebuilt is None:
            continue
        if f.time is not None:
            base = f.time if base is None else base
            t = max(f.time - base, last + 1e-6)
        else:
            t = last + 1e-6 if last >= 0 else 0.0
        last = t
        out.append(Record(t, RecordKind.FRAME, f.sent, f.rebuilt.frame, f.rebuilt.note))
    return out


# -- pcapng -----------------------------------------------------------------------------------------

_PPP, _TEXT, _ETH = 0, 1, 2
_INTERFACES = [
    Interface(LinkType.PPP_WITH_DIR, "ppp", "PPP frames on the modem's serial port"),
    Interface(LinkType.UPPER_PDU, "modem-text", "the modem's text and our AT commands, in the same timeline"),
    Interface(LinkType.ETHERNET, "ncm", "Ethernet frames of the NCM data path"),
]


def to_pcapng(records: Iterable[Record], keep_secrets: bool = False) -> bytes:
    """The records as one pcapng file: PPP (direction), modem text (comments) and Ethernet."""
    writer = PcapngWriter(_INTERFACES)
    parts = [writer.header()]
    for rec in records:
        rec = _safe(rec, keep_secrets)
        direction = Direction.UNKNOWN if rec.sent is None else (Direction.OUTBOUND if rec.sent else Direction.INBOUND)
        if rec.kind is RecordKind.FRAME:
            parts.append(writer.packet(_PPP, rec.time, ppp_with_dir(rec.data, bool(rec.sent)), direction=direction,
                                       comment=f"approximate: {rec.note}" if rec.note else ""))
        elif rec.kind is RecordKind.TEXT:
            who = "AT" if rec.sent else "modem"
            parts.append(writer.packet(_TEXT, rec.time, text_pdu(rec.data), direction=direction,
                                       comment=f"{who}: {rec.describe()}"))
        elif rec.kind is RecordKind.ETHERNET:
            parts.append(writer.packet(_ETH, rec.time, rec.data, direction=direction))
        elif rec.kind is RecordKind.END:
            parts.append(writer.packet(_TEXT, rec.time, text_pdu(rec.note.encode()),
                                       comment=f"end: {rec.note}"))
    return b"".join(parts)


class PcapngError(ValueError):
    """Input that is not a pcapng file we can read; the message says where."""


def from_pcapng(data: bytes) -> list[Record]:
    """Records from a pcapng file (ours, or any with PPP_WITH_DIR / PPP / Ethernet interfaces)."""
    if data[:4] != b"\x0a\x0d\x0d\x0a" or len(data) < 12:
        raise PcapngError("not a pcapng file (no Section Header Block)")
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    links: list[int] = []
    out: list[Record] = []
    pos = 0
    while pos + 12 <= len(data):
        kind, total = struct.unpack_from(order + "II", data, pos)
        if total < 12 or pos + total > len(data):
            raise PcapngError(f"block at offset {pos} runs past the end of the file")
        body = data[pos + 8 : pos + total - 4]
        if kind == 0x0A0D0D0A:
            links = []
        elif kind == 1:
            links.append(struct.unpack_from(order + "H", body, 0)[0])
        elif kind == 6 and len(body) >= 20:
            iface, hi, lo, cap, _orig = struct.unpack_from(order + "IIIII", body, 0)
            packet = body[20 : 20 + cap]
            flags, comment = _epb_options(body[20 + cap + (-cap % 4):], order)
            link = links[iface] if iface < len(links) else -1
            out += _record(link, ((hi << 32) | lo) / 1_000_000, packet, flags, comment)
        pos += total
    return out


def _epb_options(opts: bytes, order: str) -> tuple[int, str]:
    flags, comment, i = 0, "", 0
    while i + 4 <= len(opts):
        code, length = struct.unpack_from(order + "HH", opts, i)
        value = opts[i + 4 : i + 4 + length]
        if code == 0:
            break
        if code == 2 and length == 4:
            flags = struct.unpack(order + "I", value)[0]
        elif code == 1:
            comment = value.decode("utf-8", "replace")
        i += 4 + length + (-length % 4)
    return flags, comment


def _record(link: int, t: float, packet: bytes, flags: int, comment: str) -> list[Record]:
    sent: bool | None = {1: False, 2: True}.get(flags & 3)
    note = comment[len("approximate: "):] if comment.startswith("approximate: ") else ""
    if link == LinkType.PPP_WITH_DIR and packet:
        frame = normalize_frame(packet[1:])
        return [] if frame is None else [Record(t, RecordKind.FRAME, packet[0] != 0, frame, note)]
    if link in (9, 50):  # PPP, PPP_HDLC
        frame = normalize_frame(packet)
        return [] if frame is None else [Record(t, RecordKind.FRAME, sent, frame, note)]
    if link == LinkType.UPPER_PDU and packet.startswith(TEXT_PDU_HEADER):
        if comment.startswith("end: "):
            return [Record(t, RecordKind.END, None, b"", comment[5:])]
        return [Record(t, RecordKind.TEXT, sent, packet[len(TEXT_PDU_HEADER):])]
    if link == LinkType.ETHERNET:
        return [Record(t, RecordKind.ETHERNET, sent, packet)]
    return []
