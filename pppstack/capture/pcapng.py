"""A pcapng encoder (draft-ietf-opsawg-pcapng): blocks in, bytes out; the caller writes them.

Why pcapng and not classic pcap: one file holds several interfaces (PPP with direction, the
modem's text, NCM's Ethernet), per-packet direction flags and comments, so the AT dialogue,
CONNECT, the first LCP frame and the hang-up sit in one Wireshark timeline.

Layout (little-endian, every block padded to 32 bits and framed by its total length twice):
Section Header Block, one Interface Description Block per interface, then Enhanced Packet
Blocks.  Timestamps are microseconds since the epoch (if_tsresol left at its default, 10^-6).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["LinkType", "Direction", "PcapngWriter", "Interface", "ppp_with_dir", "text_pdu", "TEXT_PDU_HEADER"]

_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_OPT_END, _OPT_COMMENT = 0, 1
_IF_NAME, _IF_DESCRIPTION = 2, 3
_EPB_FLAGS = 2
_SHB_USERAPPL = 4


class LinkType(IntEnum):
    """tcpdump.org link types we write."""

    ETHERNET = 1
    UPPER_PDU = 252      # Wireshark's exported PDU: the modem's text, handed to its "data-text-lines" dissector
    PPP_WITH_DIR = 204   # one octet (0 received by this host, 1 sent by it), then FF 03 + protocol


class Direction(IntEnum):
    """epb_flags bits 0-1 (inbound 1, outbound 2)."""

    UNKNOWN = 0
    INBOUND = 1
    OUTBOUND = 2


@dataclass(frozen=True, slots=True)
class Interface:
    link_type: LinkType
    name: str
    description: str = ""
    snaplen: int = 0  # 0: no limit


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(opts: list[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    return b"".join(_option(c, v) for c, v in opts) + struct.pack("<HH", _OPT_END, 0)


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def ppp_with_dir(frame: bytes, sent: bool) -> bytes:
    """A PPP frame (FF 03 + two-octet protocol) behind LINKTYPE_PPP_WITH_DIR's direction octet."""
    return (b"\x01" if sent else b"\x00") + frame


def _text_header() -> bytes:
    name = b"data-text-lines"
    padded = name + b"\0" * (-len(name) % 4)
    # exported_pdu tags are big-endian: 12 = dissector name, 0 = end of options
    return struct.pack(">HH", 12, len(padded)) + padded + struct.pack(">HH", 0, 0)


TEXT_PDU_HEADER = _text_header()


def text_pdu(text: bytes) -> bytes:
    """Text as an UPPER_PDU packet that Wireshark shows as "Line-based text data"."""
    return TEXT_PDU_HEADER + text


class PcapngWriter:
    """Sans-I/O: each method returns the bytes to append to the file, in order.

    `header()` first (section header and every interface), then `packet()` per packet.
    Interfaces are numbered in the order given.
    """

    def __init__(self, interfaces: list[Interface], application: str = "pppstack") -> None:
        if not interfaces:
            raise ValueError("a pcapng section needs at least one interface")
        self.interfaces = list(interfaces)
        self.application = application

    def header(self) -> bytes:
        shb = struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1)
        shb += _options([(_SHB_USERAPPL, self.application.encode())])
        out = _block(_SHB, shb)
        for iface in self.interfaces:
            body = struct.pack("<HHI", int(iface.link_type), 0, iface.snaplen)
            opts = [(_IF_NAME, iface.name.encode())]
            if iface.description:
                opts.append((_IF_DESCRIPTION, iface.description.encode()))
            out += _block(_IDB, body + _options(opts))
        return out

    def packet(self, interface: int, timestamp: float, data: bytes, *, direction: Direction = Direction.UNKNOWN,
               comment: str = "", original_length: int | None = None) -> bytes:
        """One Enhanced Packet Block; `timestamp` in seconds since the epoch."""
        if not 0 <= interface < len(self.interfaces):
            raise ValueError(f"no interface {interface}")
        micros = max(0, round(timestamp * 1_000_000))
        orig = len(data) if original_length is None else max(original_length, len(data))
        body = struct.pack("<IIIII", interface, micros >> 32, micros & 0xFFFFFFFF, len(data), orig) + _pad(data)
        opts: list[tuple[int, bytes]] = []
        if comment:
            opts.append((_OPT_COMMENT, comment.encode("utf-8", "backslashreplace")))
        if direction is not Direction.UNKNOWN:
            opts.append((_EPB_FLAGS, struct.pack("<I", int(direction))))
        return _block(_EPB, body + _options(opts))
