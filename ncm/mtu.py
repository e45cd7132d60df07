"""What MTU an NCM function can carry, and the ICMP "too big" answer for a packet over it.

The largest IP packet is bounded three ways: the Ethernet frame the function takes
(wMaxSegmentSize of the CDC Ethernet functional descriptor, header included - f_ncm and most
modems say 1514), one frame in an NTB we send (dwNtbOutMaxSize less the NTH, an NDP with one
entry and its terminator, and the worst alignment pads), and one frame in an NTB we receive
(the input size we set, with the device's IN pads).  `max_mtu` takes the least of them.

A packet the TUN hands us that is bigger than the MTU cannot be sent; a kernel interface would
answer it as a router does: ICMP Destination Unreachable, Fragmentation Needed, with the
next-hop MTU (RFC 1191 §4) for IPv4 with DF set, ICMPv6 Packet Too Big (RFC 4443 §3.2) for
IPv6.  `too_big_reply` builds that answer (None when none is due: no DF, an ICMP error
itself, a packet too short to be IP).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from ncm.l2 import icmpv6_checksum
from ncm.ntb import DPE16, DPE32, NDP16_HDR, NDP32_HDR, NTH16_LEN, NTH32_LEN
from ncm.params import NtbParameters

__all__ = ["ETH_HLEN", "MtuLimit", "max_mtu", "too_big_reply"]

ETH_HLEN = 14
IPV4_MIN_MTU = 68          # RFC 791
IPV6_MIN_MTU = 1280        # RFC 8200 §5


def _sane(v: int) -> int:
    return v if v >= 4 and v & (v - 1) == 0 else 4


@dataclass(frozen=True, slots=True)
class MtuLimit:
    mtu: int
    reason: str            # which bound decided, in words


def _frame_room(block: int, ntb32: bool, divisor: int, alignment: int) -> int:
    """The largest datagram alone in an NTB of `block` bytes, counting worst-case pads."""
    hdr, ndp, dpe = (NTH32_LEN, NDP32_HDR, DPE32) if ntb32 else (NTH16_LEN, NDP16_HDR, DPE16)
    # as the aggregator reads them (a power of two, at least 4), or the device's own if larger
    div = max(_sane(divisor), min(divisor, 1024))
    align = max(_sane(alignment), min(alignment, 1024))
    # NTH, NDP pad, NDP with one entry + terminator, datagram pad, and one byte the sender may
    # add so the transfer ends with a short packet.
    return block - (hdr + align - 1 + ndp + 2 * dpe + div - 1 + 1)


def max_mtu(params: NtbParameters, *, max_segment: int | None, rx_max: int, ntb32: bool = False) -> MtuLimit:
    """The largest IP MTU this function carries both ways, and which limit set it."""
    out_max = min(params.dwNtbOutMaxSize, 0xFFFF if not ntb32 else params.dwNtbOutMaxSize)
    bounds = [
        (_frame_room(out_max, ntb32, params.wNdpOutDivisor, params.wNdpOutAlignment) - ETH_HLEN,
         f"one frame in the device's {out_max}-byte NTBs (dwNtbOutMaxSize)"),
        (_frame_room(rx_max, ntb32, params.wNdpInDivisor, params.wNdpInAlignment) - ETH_HLEN,
         f"one frame in the {rx_max}-byte NTBs we receive"),
    ]
    if max_segment:
        bounds.append((max_segment - ETH_HLEN, f"the function's wMaxSegmentSize of {max_segment} bytes"))
    mtu, reason = min(bounds)
    return MtuLimit(max(mtu, IPV4_MIN_MTU), reason)


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def too_big_reply(packet: bytes, mtu: int, *, src4: IPv4Address | None = None,
                  src6: IPv6Address | None = None) -> bytes | None:
    """The ICMP/ICMPv6 "too big" answer to `packet` (longer than `mtu`) from `src4`/`src6`, the
    address we speak for on this link; None when no answer is due."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20 and src4 is not None:
        ihl = (packet[0] & 0x0F) * 4
        flags_frag = struct.unpack_from("!H", packet, 6)[0]
        if ihl < 20 or len(packet) < ihl or not flags_frag & 0x4000:
            return None                  # no DF: a router would fragment; we count and drop
        if flags_frag & 0x1FFF:
            return None                  # RFC 1122 §3.2.2: only about the first fragment
        if packet[9] == 1 and len(packet) > ihl and packet[ihl] in (3, 4, 5, 11, 12):
            return None                  # never about an ICMP error
        quoted = packet[:ihl + 8]        # RFC 792: the header and 64 bits of the datagram
        icmp = bytearray(struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quoted)
        struct.pack_into("!H", icmp, 2, _csum(bytes(icmp)))
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(icmp), 0, 0, 64, 1, 0,
                                   src4.packed, packet[12:16]))
        struct.pack_into("!H", ip, 10, _csum(bytes(ip)))
        return bytes(ip + icmp)
    if version == 6 and len(packet) >= 40 and src6 is not None:
        nxt = packet[6]
        if nxt == 58 and len(packet) > 40 and packet[40] < 128:
            return None                  # RFC 4443 §2.4 (e.1): never about an ICMPv6 error
        dst = packet[8:24]               # back to the sender
        quoted = packet[:IPV6_MIN_MTU - 40 - 8]   # as much as fits in the minimum MTU
        icmp6 = bytearray(struct.pack("!BBHI", 2, 0, 0, max(mtu, IPV6_MIN_MTU)) + quoted)
        struct.pack_into("!H", icmp6, 2, icmpv6_checksum(src6.packed, dst, bytes(icmp6)))
        hdr = struct.pack("!IHBB16s16s", 6 << 28, len(icmp6), 58, 64, src6.packed, dst)
        return hdr + bytes(icmp6)
    return None
