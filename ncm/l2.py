"""The L2 shim: IP packets (TUN side) ⇄ Ethernet frames (NCM side), sans-I/O.

Theory of operation.  NCM carries Ethernet frames; a TUN device carries bare IP packets.  Between
them we play a minimal host on a two-station Ethernet (us and the modem):
- ARP (RFC 826): answer requests for our IPv4 address; resolve the next hop (the gateway, or an
  on-link destination) with requests repeated every `arp_interval` up to `arp_retries` times,
  holding a few packets meanwhile (like Linux's unresolved queue); learn from any ARP that
  names a neighbour we already track.
- IPv6 neighbour discovery (RFC 4861 §7): answer Neighbor Solicitations for our link-local and
  global addresses (addresses seen as the source of our own outgoing packets count as ours, so
  SLAAC addresses the kernel makes on the TUN are answered too), resolve on-link destinations
  with NS to the solicited-node group, learn the router's MAC from its Router Advertisement and
  send traffic for off-link destinations there (a Router Solicitation asks for one).
- Everything else (other EtherTypes, frames for other stations, malformed packets) is dropped
  and counted by reason; nothing here raises on peer input.
If the modem never answers ARP/NS, ``learn_peer_mac`` falls back to the source MAC of IP frames it
sends us — the modem is the only other station on this link.
"""

from __future__ import annotations

import struct
from collections import Counter, deque
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address

__all__ = [
    "L2Config", "L2Shim", "NeighbourResolved", "NeighbourUnreachable", "L2Event",
    "ETH_P_IP", "ETH_P_ARP", "ETH_P_IPV6", "BROADCAST", "eui64_link_local", "icmpv6_checksum",
    "build_arp", "build_neighbor_solicitation", "build_neighbor_advertisement", "solicited_node",
]

ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0800, 0x0806, 0x86DD
BROADCAST = b"\xff" * 6
_T_IP, _T_ARP, _T_IPV6 = b"\x08\x00", b"\x08\x06", b"\x86\xdd"
ICMPV6_RS, ICMPV6_RA, ICMPV6_NS, ICMPV6_NA = 133, 134, 135, 136
_ALL_NODES = IPv6Address("ff02::1")
_ALL_ROUTERS = IPv6Address("ff02::2")
_UNSPECIFIED = IPv6Address("::")
_ARP_HDR = struct.Struct("!HHBBH")
_ROUTER = "router"        # neighbour-table key for "the IPv6 default router, not yet known"
NeighbourKey = IPv4Address | IPv6Address | str


@dataclass(frozen=True, slots=True)
class NeighbourResolved:
    address: NeighbourKey
    mac: bytes


@dataclass(frozen=True, slots=True)
class NeighbourUnreachable:
    address: NeighbourKey
    dropped: int
    message: str


L2Event = NeighbourResolved | NeighbourUnreachable


@dataclass(frozen=True)
class L2Config:
    mac: bytes                                   # our station address (the function's iMACAddress)
    ipv4: IPv4Interface | None = None            # our address/prefix (^DHCP or options)
    gateway: IPv4Address | None = None
    gateway_mac: bytes | None = None             # known already: no ARP needed
    ipv6: tuple[IPv6Address, ...] = ()           # global addresses we answer NS for
    ipv6_link_local: IPv6Address | None = None   # default: EUI-64 from `mac`
    arp_interval: float = 1.0
    arp_retries: int = 5
    queue_limit: int = 32                        # packets held per unresolved neighbour
    learn_ipv6_sources: bool = True
    learn_peer_mac: bool = True
    max_learned: int = 16

    def __post_init__(self) -> None:
        if len(self.mac) != 6 or self.mac[0] & 1:
            raise ValueError(f"our MAC must be a 6-byte unicast address, not {self.mac.hex(':')}")


def eui64_link_local(mac: bytes) -> IPv6Address:
    """fe80::/64 with the modified EUI-64 interface identifier (RFC 4291 App. A)."""
    iid = bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:6]
    return IPv6Address(b"\xfe\x80" + bytes(6) + iid)


def solicited_node(addr: IPv6Address) -> IPv6Address:
    return IPv6Address(b"\xff\x02" + bytes(9) + b"\x01\xff" + addr.packed[13:])


def _mcast6_mac(addr: bytes) -> bytes:
    return b"\x33\x33" + addr[12:16]


def _ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def icmpv6_checksum(src: bytes, dst: bytes, icmp: bytes) -> int:
    """RFC 4443 §2.3: over the pseudo-header (RFC 8200 §8.1) and the message with a zero checksum."""
    pseudo = src + dst + struct.pack("!I3xB", len(icmp), 58)
    return (~_ones_sum(pseudo + icmp)) & 0xFFFF


def _ipv6_icmp(src: IPv6Address, dst: IPv6Address, icmp: bytearray) -> bytes:
    struct.pack_into("!H", icmp, 2, icmpv6_checksum(src.packed, dst.packed, bytes(icmp)))
    return struct.pack("!IHBB", 0x60000000, len(icmp), 58, 255) + src.packed + dst.packed + bytes(icmp)


def build_arp(op: int, sha: bytes, spa: IPv4Address, tha: bytes, tpa: IPv4Address, dst_mac: bytes) -> bytes:
    """An Ethernet frame carrying an ARP request (op 1) or reply (op 2)."""
    return (dst_mac + sha + _T_ARP + _ARP_HDR.pack(1, ETH_P_IP, 6, 4, op) + sha + spa.packed + tha + tpa.packed)


def build_neighbor_solicitation(mac: bytes, src: IPv6Address, target: IPv6Address) -> bytes:
    dst = solicited_node(target)
    icmp = bytearray(struct.pack("!BBHI", ICMPV6_NS, 0, 0, 0) + target.packed + b"\x01\x01" + mac)
    return _mcast6_mac(dst.packed) + mac + _T_IPV6 + _ipv6_icmp(src, dst, icmp)


def build_neighbor_advertisement(mac: bytes, src: IPv6Address, dst: IPv6Address, dst_mac: bytes,
                                 target: IPv6Address, solicited: bool) -> bytes:
    flags = 0x20000000 | (0x40000000 if solicited else 0)        # O, and S when answering an NS
    icmp = bytearray(struct.pack("!BBHI", ICMPV6_NA, 0, 0, flags) + target.packed + b"\x02\x01" + mac)
    return dst_mac + mac + _T_IPV6 + _ipv6_icmp(src, dst, icmp)


def _build_router_solicitation(mac: bytes, src: IPv6Address) -> bytes:
    icmp = bytearray(struct.pack("!BBHI", ICMPV6_RS, 0, 0, 0) + b"\x01\x01" + mac)
    return _mcast6_mac(_ALL_ROUTERS.packed) + mac + _T_IPV6 + _ipv6_icmp(src, _ALL_ROUTERS, icmp)


def _lladdr_option(options: bytes, kind: int) -> bytes | None:
    """Source (1) / Target (2) Link-Layer Address option of an NDP message (RFC 4861 §4.6.1)."""
    i = 0
    while i + 2 <= len(options):
        t, ln = options[i], options[i + 1] * 8
        if ln == 0 or i + ln > len(options):
            return None
        if t == kind and ln >= 8:
            return options[i + 2:i + 8]
        i += ln
    return None


@dataclass
class _Neighbour:
    mac: bytes | None = None
    tries: int = 0
    next_try: float = 0.0
    queue: deque[bytes] = field(default_factory=deque)


class L2Shim:
    """IP packets in via ``send_ip`` → Ethernet frames out via ``take_frames``; Ethernet frames
    in via ``receive_frame`` → IP packets out via ``take_packets`` (plus ARP/NDP answers in
    ``take_frames``).  ``get_timer``/``handle_timer`` drive the ARP/NS retries."""

    def __init__(self, config: L2Config) -> None:
        self.config = config
        self.mac = config.mac
        self.counters: Counter[str] = Counter()
        self._packets: list[bytes] = []
        self._frames: list[bytes] = []
        self._events: deque[L2Event] = deque()
        self._neigh: dict[NeighbourKey, _Neighbour] = {}
        self._hdr4: dict[bytes, bytes] = {}       # IPv4 dst -> ready Ethernet header
        self._hdr6: dict[bytes, bytes] = {}
        self._peer_mac: bytes | None = None
        self.ll6 = config.ipv6_link_local or eui64_link_local(config.mac)
        self._ours6: set[bytes] = {self.ll6.packed, *(a.packed for a in config.ipv6)}
        self._learned6: deque[bytes] = deque()
        self._router_mac: bytes | None = None
        self._ipv4 = config.ipv4
        self._ip4 = config.ipv4.ip.packed if config.ipv4 else None
        self._net4 = config.ipv4.network if config.ipv4 and config.ipv4.network.prefixlen < 31 else None
        if config.gateway is not None and config.gateway_mac is not None:
            self._neigh[config.gateway] = _Neighbour(config.gateway_mac)

    # ------------------------------------------------------------------ queues
    def take_packets(self) -> list[bytes]:
        p, self._packets = self._packets, []
        return p

    def take_frames(self) -> list[bytes]:
        f, self._frames = self._frames, []
        return f

    @property
    def has_output(self) -> bool:
        """Frames to send or events to report (cheap check for the receive hot path)."""
        return bool(self._frames or self._events)

    def next_event(self) -> L2Event | None:
        return self._events.popleft() if self._events else None

    @property
    def gateway_mac(self) -> bytes | None:
        gw = self.config.gateway
        n = self._neigh.get(gw) if gw is not None else None
        return n.mac if n else None

    def neighbours(self) -> dict[str, str]:
        return {str(k): n.mac.hex(":") for k, n in self._neigh.items() if n.mac}

    # ------------------------------------------------------------------ start / timers
    def start(self, now: float) -> None:
        """Begin resolving the gateway at once, so the first packet does not wait for ARP."""
        if self.config.gateway is not None and self._ipv4 is not None:
            self._resolve(self.config.gateway, now)

    def get_timer(self) -> float | None:
        t = [n.next_try for n in self._neigh.values() if n.mac is None]
        return min(t) if t else None

    def handle_timer(self, now: float) -> None:
        for key, n in list(self._neigh.items()):
            if n.mac is None and now >= n.next_try:
                if n.tries >= self.config.arp_retries:
                    dropped = len(n.queue)
                    self.counters["unresolved_dropped"] += dropped
                    del self._neigh[key]
                    what = "ARP" if isinstance(key, IPv4Address) else "neighbour solicitation"
                    self._events.append(NeighbourUnreachable(
                        key, dropped, f"{key} did not answer {n.tries} {what} requests; "
                                      f"{dropped} packet(s) dropped"))
                else:
                    self._solicit(key, n, now)

    def _resolve(self, key: NeighbourKey, now: float) -> _Neighbour:
        n = self._neigh.get(key)
        if n is None:
            n = self._neigh[key] = _Neighbour()
            self._solicit(key, n, now)
        return n

    def _solicit(self, key: NeighbourKey, n: _Neighbour, now: float) -> None:
        n.tries += 1
        n.next_try = now + self.config.arp_interval
        if isinstance(key, IPv4Address):
            if self._ipv4 is None:
                return
            self.counters["arp_requests_sent"] += 1
            self._frames.append(build_arp(1, self.mac, self._ipv4.ip, bytes(6), key, BROADCAST))
        elif isinstance(key, IPv6Address):
            self.counters["ns_sent"] += 1
            self._frames.append(build_neighbor_solicitation(self.mac, self.ll6, key))
        else:
            self.counters["rs_sent"] += 1
            self._frames.append(_build_router_solicitation(self.mac, self.ll6))

    def _learn(self, key: NeighbourKey, mac: bytes) -> None:
        n = self._neigh.get(key)
        if n is None:
            if len(self._neigh) >= 64:
                return
            n = self._neigh[key] = _Neighbour()
        changed = n.mac != mac
        n.mac = mac
        if changed:
            self._hdr4.clear()
            self._hdr6.clear()
            self._events.append(NeighbourResolved(key, mac))
        while n.queue:
            pkt = n.queue.popleft()
            self._frames.append(mac + self.mac + (_T_IP if pkt[0] >> 4 == 4 else _T_IPV6) + pkt)

    # ------------------------------------------------------------------ IP -> Ethernet
    def send_ip(self, packet: bytes, now: float) -> None:
        """Queue an IP packet from the TUN side; it leaves as a frame now or after resolution."""
        if not packet:
            self.counters["tx_empty"] += 1
            return
        v = packet[0] >> 4
        if v == 4 and len(packet) >= 20:
            dst = packet[16:20]
            hdr = self._hdr4.get(dst)
            if hdr is not None:
                self._frames.append(hdr + packet)
                return
            self._send4_slow(packet, dst, now)
        elif v == 6 and len(packet) >= 40:
            dst = packet[24:40]
            if self.config.learn_ipv6_sources:
                self._note_source6(packet[8:24])
            hdr = self._hdr6.get(dst)
            if hdr is not None:
                self._frames.append(hdr + packet)
                return
            self._send6_slow(packet, dst, now)
        else:
            self.counters["tx_not_ip"] += 1

    def _queue(self, key: NeighbourKey, packet: bytes, now: float) -> None:
        n = self._resolve(key, now)
        if n.mac is not None:        # known, but the header cache was cleared
            self._frames.append(n.mac + self.mac + (_T_IP if packet[0] >> 4 == 4 else _T_IPV6) + packet)
            return
        if len(n.queue) >= self.config.queue_limit:
            n.queue.popleft()
            self.counters["unresolved_dropped"] += 1
        n.queue.append(packet)

    def _send4_slow(self, packet: bytes, dst: bytes, now: float) -> None:
        a = IPv4Address(dst)
        if a.is_multicast:
            mac = b"\x01\x00\x5e" + bytes([dst[1] & 0x7F]) + dst[2:]
        elif dst == b"\xff\xff\xff\xff" or (self._net4 is not None and a == self._net4.broadcast_address):
            mac = BROADCAST
        else:
            if self._net4 is not None and a in self._net4:
                hop: IPv4Address | None = a
            else:
                hop = self.config.gateway
            n = self._neigh.get(hop) if hop is not None else None
            if n is not None and n.mac is not None:
                mac = n.mac
            elif hop is None or self._ipv4 is None:
                if self._peer_mac is None:
                    self.counters["tx_no_route"] += 1
                    return
                mac = self._peer_mac
            else:
                self._queue(hop, packet, now)
                return
        hdr = mac + self.mac + _T_IP
        if len(self._hdr4) < 1024:
            self._hdr4[dst] = hdr
        self._frames.append(hdr + packet)

    def _send6_slow(self, packet: bytes, dst: bytes, now: float) -> None:
        if dst[0] == 0xFF:
            mac = _mcast6_mac(dst)
        else:
            a = IPv6Address(dst)
            key: NeighbourKey = a if a.is_link_local else _ROUTER
            n = self._neigh.get(key)
            if n is not None and n.mac is not None:
                mac = n.mac
            elif key is _ROUTER and (self._router_mac or self.gateway_mac or self._peer_mac):
                mac = self._router_mac or self.gateway_mac or self._peer_mac  # type: ignore[assignment]
            else:
                self._queue(key, packet, now)
                return
        hdr = mac + self.mac + _T_IPV6
        if len(self._hdr6) < 1024:
            self._hdr6[dst] = hdr
        self._frames.append(hdr + packet)

    def _note_source6(self, src: bytes) -> None:
        if src in self._ours6 or src[0] == 0xFF or src == bytes(16):
            return
        self._ours6.add(src)
        self._learned6.append(src)
        if len(self._learned6) > self.config.max_learned:
            self._ours6.discard(self._learned6.popleft())

    # ------------------------------------------------------------------ Ethernet -> IP
    def receive_frame(self, frame: bytes, now: float) -> None:
        if len(frame) < 14:
            self.counters["rx_runt"] += 1
            return
        dst = frame[0:6]
        if dst != self.mac and dst != BROADCAST and not (dst[0] & 1):
            self.counters["rx_not_for_us"] += 1
            return
        et = frame[12:14]
        if et == _T_IP:
            self._rx_ipv4(frame)
        elif et == _T_IPV6:
            self._rx_ipv6(frame, now)
        elif et == _T_ARP:
            self._rx_arp(frame, now)
        else:
            self.counters["rx_other_ethertype"] += 1

    def receive_frames(self, frames: list[bytes], now: float) -> None:
        """`receive_frame` for each of a block's frames.  Unicast IPv4 to our MAC, the bulk of
        a busy link, is taken here without two calls per frame (the same checks as
        `_rx_ipv4`); every other frame, and all of them until the peer's MAC is learned, goes
        through `receive_frame`."""
        mac = self.mac
        append = self._packets.append
        slow = self.receive_frame
        fast = self._peer_mac is not None or not self.config.learn_peer_mac
        for f in frames:
            n = len(f)
            if fast and n >= 34 and f[12:14] == _T_IP and f[0:6] == mac and f[14] >> 4 == 4:
                total = (f[16] << 8) | f[17]
                if total >= 20 and 14 + total <= n:
                    append(f[14:14 + total])
                    continue
            slow(f, now)

    def receive_spans(self, block: bytes, spans: list[int], now: float) -> None:
        """`receive_frames` for frames given as [offset, length, ...] inside `block`: the IP
        packet of unicast IPv4 to us is sliced straight out of the block (one copy)."""
        mac = self.mac
        append = self._packets.append
        slow = self.receive_frame
        fast = self._peer_mac is not None or not self.config.learn_peer_mac
        for k in range(0, len(spans), 2):
            i, n = spans[k], spans[k + 1]
            if fast and n >= 34 and block[i + 12:i + 14] == _T_IP and block[i:i + 6] == mac and block[i + 14] >> 4 == 4:
                total = (block[i + 16] << 8) | block[i + 17]
                if total >= 20 and 14 + total <= n:
                    append(block[i + 14:i + 14 + total])
                    continue
            slow(block[i:i + n], now)

    def _rx_ipv4(self, frame: bytes) -> None:
        if len(frame) < 34 or frame[14] >> 4 != 4:
            self.counters["rx_bad_ip"] += 1
            return
        total = (frame[16] << 8) | frame[17]
        if total < 20 or 14 + total > len(frame):
            self.counters["rx_bad_ip"] += 1
            return
        if self.config.learn_peer_mac and self._peer_mac is None and frame[0:6] == self.mac:
            self._peer_mac = frame[6:12]
        self._packets.append(frame[14:14 + total])

    def _rx_ipv6(self, frame: bytes, now: float) -> None:
        if len(frame) < 54 or frame[14] >> 4 != 6:
            self.counters["rx_bad_ip"] += 1
            return
        total = 40 + ((frame[18] << 8) | frame[19])
        if 14 + total > len(frame):
            self.counters["rx_bad_ip"] += 1
            return
        pkt = frame[14:14 + total]
        if pkt[6] == 58 and total >= 48 and pkt[40] in (ICMPV6_RA, ICMPV6_NS, ICMPV6_NA, ICMPV6_RS):
            if not self._rx_ndp(frame[6:12], pkt, now):
                return
        elif frame[0] & 1 and frame[0:2] != b"\x33\x33":
            self.counters["rx_not_for_us"] += 1
            return
        if self.config.learn_peer_mac and self._peer_mac is None and frame[0:6] == self.mac:
            self._peer_mac = frame[6:12]
        self._packets.append(pkt)

    def _rx_ndp(self, src_mac: bytes, pkt: bytes, now: float) -> bool:
        """Handle an NDP message; True if it should also go up to the TUN side (RA only)."""
        icmp = pkt[40:]
        src, dst = pkt[8:24], pkt[24:40]
        if pkt[7] != 255 or icmp[1] != 0 or icmpv6_checksum(src, dst, icmp[:2] + b"\0\0" + icmp[4:]) != \
                struct.unpack_from("!H", icmp, 2)[0]:
            self.counters["rx_bad_ndp"] += 1        # RFC 4861 §7.1.1: silently discard
            return False
        t = icmp[0]
        if t == ICMPV6_RA:
            if len(icmp) < 16:
                self.counters["rx_bad_ndp"] += 1
                return False
            mac = _lladdr_option(icmp[16:], 1) or src_mac
            self.counters["ra_received"] += 1
            if mac != self._router_mac:
                self._router_mac = mac
                self._hdr6.clear()
            if IPv6Address(src).is_link_local:
                self._learn(IPv6Address(src), mac)
            if _ROUTER in self._neigh:
                self._learn(_ROUTER, mac)
            return True
        if t == ICMPV6_RS:
            self.counters["rx_rs_ignored"] += 1
            return False
        if len(icmp) < 24:
            self.counters["rx_bad_ndp"] += 1
            return False
        target = icmp[8:24]
        if t == ICMPV6_NS:
            self.counters["ns_received"] += 1
            if target not in self._ours6:
                self.counters["ns_not_ours"] += 1
                return False
            sll = _lladdr_option(icmp[24:], 1)
            if src == bytes(16):            # duplicate address detection: answer all-nodes
                self._frames.append(build_neighbor_advertisement(
                    self.mac, IPv6Address(target), _ALL_NODES, _mcast6_mac(_ALL_NODES.packed),
                    IPv6Address(target), False))
            else:
                to_mac = sll or src_mac
                if sll is not None and IPv6Address(src) in self._neigh:
                    self._learn(IPv6Address(src), sll)
                self._frames.append(build_neighbor_advertisement(
                    self.mac, IPv6Address(target), IPv6Address(src), to_mac, IPv6Address(target), True))
            self.counters["na_sent"] += 1
            return False
        # NA: complete a resolution we started (or refresh one we have)
        self.counters["na_received"] += 1
        tll = _lladdr_option(icmp[24:], 2) or src_mac
        key = IPv6Address(target)
        if key in self._neigh:
            self._learn(key, tll)
        return False

    def _rx_arp(self, frame: bytes, now: float) -> None:
        if len(frame) < 42:
            self.counters["rx_bad_arp"] += 1
            return
        htype, ptype, hlen, plen, op = _ARP_HDR.unpack_from(frame, 14)
        if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4 or op not in (1, 2):
            self.counters["rx_bad_arp"] += 1
            return
        sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
        sender = IPv4Address(spa)
        # RFC 826: merge the sender into the table if we track it (or if it is for us).
        if sender in self._neigh or (self._ip4 is not None and tpa == self._ip4 and spa != bytes(4)):
            if sha[0] & 1 == 0:
                self._learn(sender, sha)
        if op == 1:
            self.counters["arp_requests_received"] += 1
            if self._ip4 is not None and tpa == self._ip4:
                self.counters["arp_replies_sent"] += 1
                self._frames.append(build_arp(2, self.mac, self._ipv4.ip, sha, sender, sha))  # type: ignore[union-attr]
        else:
            self.counters["arp_replies_received"] += 1

