"""The simulator's stand-in for the Internet: answers ICMP echo and UDP echo, IPv4 and IPv6.

When the simulator has no TUN device, the client's IP packets still need somewhere real to go.
`respond(packet)` returns the reply a host would send (RFC 792 echo reply, RFC 4443 §4.2 echo
reply, RFC 862 UDP echo on port 7) with fresh checksums, or None.  Any destination address
answers, so `ping 8.8.8.8` through the simulated modem works.  Packets with bad checksums,
fragments and anything else are counted and dropped, never raised.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Responder", "ResponderStats", "inet_checksum", "UDP_ECHO_PORT"]

UDP_ECHO_PORT = 7
_ICMP, _UDP, _ICMPV6 = 1, 17, 58


def inet_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s >> 16) + (s & 0xFFFF)
    return ~s & 0xFFFF


@dataclass
class ResponderStats:
    icmp_echo: int = 0
    udp_echo: int = 0
    bad_checksum: int = 0
    ignored: int = 0


class Responder:
    """Echo replies for the client's packets (see the module docstring)."""

    def __init__(self, ttl: int = 64) -> None:
        self.ttl = ttl
        self.stats = ResponderStats()

    def respond(self, packet: bytes) -> bytes | None:
        version = packet[0] >> 4 if packet else 0
        reply = self._v4(packet) if version == 4 else self._v6(packet) if version == 6 else None
        if reply is None:
            self.stats.ignored += 1
        return reply

    # -- IPv4 ------------------------------------------------------------------------------------
    def _v4(self, p: bytes) -> bytes | None:
        if len(p) < 20:
            return None
        ihl = (p[0] & 0x0F) * 4
        total = struct.unpack("!H", p[2:4])[0]
        if ihl < 20 or total < ihl or total > len(p):
            return None
        if inet_checksum(p[:ihl]):
            self.stats.bad_checksum += 1
            return None
        if struct.unpack("!H", p[6:8])[0] & 0x3FFF:  # MF set or an offset: a fragment
            return None
        src, dst, proto, body = p[12:16], p[16:20], p[9], p[ihl:total]
        if proto == _ICMP:
            if len(body) < 8 or body[0] != 8 or body[1] != 0:
                return None
            if inet_checksum(body):
                self.stats.bad_checksum += 1
                return None
            icmp = b"\0\0\0\0" + body[4:]
            icmp = icmp[:2] + struct.pack("!H", inet_checksum(icmp)) + icmp[4:]
            self.stats.icmp_echo += 1
            return self._ip4(dst, src, _ICMP, icmp, p[4:6])
        if proto == _UDP:
            udp = self._udp_echo(body, src + dst + bytes((0, _UDP)), dst + src + bytes((0, _UDP)))
            return None if udp is None else self._ip4(dst, src, _UDP, udp, p[4:6])
        return None

    def _ip4(self, src: bytes, dst: bytes, proto: int, payload: bytes, ident: bytes) -> bytes:
        hdr = struct.pack("!BBH2sHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, self.ttl, proto, 0, src, dst)
        return hdr[:10] + struct.pack("!H", inet_checksum(hdr)) + hdr[12:] + payload

    # -- IPv6 ------------------------------------------------------------------------------------
    def _v6(self, p: bytes) -> bytes | None:
        if len(p) < 40:
            return None
        plen = struct.unpack("!H", p[4:6])[0]
        if 40 + plen > len(p):
            return None
        nxt, src, dst, body = p[6], p[8:24], p[24:40], p[40:40 + plen]
        if dst[0] == 0xFF:  # multicast (e.g. neighbour/router solicitations): not ours to answer
            return None

        def pseudo(s: bytes, d: bytes, n: int, length: int) -> bytes:
            return s + d + struct.pack("!I3xB", length, n)

        if nxt == _ICMPV6:
            if len(body) < 8 or body[0] != 128 or body[1] != 0:
                return None
            if inet_checksum(pseudo(src, dst, _ICMPV6, len(body)) + body):
                self.stats.bad_checksum += 1
                return None
            icmp = bytes((129, 0, 0, 0)) + body[4:]
            csum = inet_checksum(pseudo(dst, src, _ICMPV6, len(icmp)) + icmp)
            self.stats.icmp_echo += 1
            return self._ip6(dst, src, _ICMPV6, icmp[:2] + struct.pack("!H", csum) + icmp[4:])
        if nxt == _UDP:
            udp = self._udp_echo(body, pseudo(src, dst, _UDP, len(body)), pseudo(dst, src, _UDP, len(body)),
                                 zero_ok=False)
            return None if udp is None else self._ip6(dst, src, _UDP, udp)
        return None

    def _ip6(self, src: bytes, dst: bytes, nxt: int, payload: bytes) -> bytes:
        return struct.pack("!IHBB", 6 << 28, len(payload), nxt, self.ttl) + src + dst + payload

    # -- UDP echo (RFC 862) ----------------------------------------------------------------------
    def _udp_echo(self, body: bytes, pseudo_in: bytes, pseudo_out: bytes, zero_ok: bool = True) -> bytes | None:
        if len(body) < 8:
            return None
        sport, dport, length, csum = struct.unpack("!HHHH", body[:8])
        if dport != UDP_ECHO_PORT or length < 8 or length > len(body):
            return None
        body = body[:length]
        # Pseudo headers: IPv6 passes all 40 octets, IPv4 passes 10 and the UDP length completes them.
        # In IPv4 a zero checksum means "none" (RFC 768); in IPv6 it is mandatory (RFC 8200 §8.1).
        if csum or not zero_ok:
            head = pseudo_in if len(pseudo_in) == 40 else pseudo_in + struct.pack("!H", length)
            if inet_checksum(head + body):
                self.stats.bad_checksum += 1
                return None
        udp = struct.pack("!HHHH", dport, sport, length, 0) + body[8:]
        tail = pseudo_out if len(pseudo_out) == 40 else pseudo_out + struct.pack("!H", length)
        c = inet_checksum(tail + udp) or 0xFFFF
        self.stats.udp_echo += 1
        return udp[:6] + struct.pack("!H", c) + udp[8:]
