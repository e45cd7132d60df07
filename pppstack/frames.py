"""PPP frames by hand: build the bytes a serial line carries, and read them back.

For scripted peers, tests and the curious — the engine itself does not use these helpers.

    >>> from pppstack.frames import encode_options, read_frames, wire_packet
    >>> raw = wire_packet(0xC021, 1, 0x2A, encode_options((5, b"\\x00\\x00\\x00\\x01")))
    >>> read_frames(raw)
    [(49185, ControlPacket(code=1, identifier=42, data=b'\\x05\\x06\\x00\\x00\\x00\\x01'))]

Everything goes through the same RFC 1662 framing (`pppstack.hdlc`) and RFC 1661 packet codec
(`pppstack.wire`) as the engine, so what these helpers build is what a peer would send.
"""

from __future__ import annotations

from pppstack import hdlc
from pppstack.wire import ControlPacket, build_frame, split_frame

__all__ = ["wire_packet", "wire_ip", "read_frames", "encode_options", "ControlPacket"]

FULL_ACCM = 0xFFFFFFFF  # what LCP packets always use (RFC 1662 §7.1)


def encode_options(*pairs: tuple[int, bytes]) -> bytes:
    """Configuration options as sent in a Configure-Request: (type, value) pairs, each given its
    Length octet.

    Raises:
        ValueError: a type outside 0..255 or a value longer than 253 octets.
    """
    out = bytearray()
    for kind, value in pairs:
        if not 0 <= kind <= 0xFF or len(value) > 0xFD:
            raise ValueError(f"option type {kind} with {len(value)} octets does not fit an option")
        out += bytes((kind, len(value) + 2)) + value
    return bytes(out)


def wire_packet(protocol: int, code: int, identifier: int, data: bytes = b"", *, accm: int = FULL_ACCM) -> bytes:
    """One control packet (LCP, IPCP, PAP, CHAP...) as HDLC-framed bytes for the serial line, with
    the Address/Control field and a two-octet protocol, as LCP packets always go out.

    Raises:
        ValueError: the packet is longer than 65535 octets, or ``accm`` is not a 32-bit map.
    """
    return hdlc.encode(build_frame(protocol, ControlPacket(code, identifier, data).build()), accm)


def wire_ip(packet: bytes, *, accm: int = FULL_ACCM) -> bytes:
    """One IPv4 or IPv6 packet as HDLC-framed bytes (protocol 0x0021 or 0x0057 by its version).

    Raises:
        ValueError: the packet is neither IPv4 nor IPv6.
    """
    version = packet[0] >> 4 if packet else 0
    if version not in (4, 6):
        raise ValueError(f"not an IP packet (version {version})")
    return hdlc.encode(build_frame(0x21 if version == 4 else 0x57, packet), accm)


def read_frames(data: bytes) -> list[tuple[int, ControlPacket | bytes]]:
    """Every whole frame in a stretch of serial bytes, as (protocol, packet): a ControlPacket for
    control protocols (0x8000 and up, and 0xC0xx), the raw information field otherwise.  Frames
    with a bad FCS are left out, as a receiver would drop them.

    Raises:
        MalformedPacket: a frame whose header or control packet does not parse.
    """
    result: list[tuple[int, ControlPacket | bytes]] = []
    for frame in hdlc.Decoder(accm=0).feed(data):
        protocol, info = split_frame(frame)
        result.append((protocol, ControlPacket.parse(info) if protocol >= 0x8000 else info))
    return result
