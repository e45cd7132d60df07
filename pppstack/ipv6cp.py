"""IPv6CP's option codec (RFC 5072 §4.1 Interface-Identifier).

We ask for our identifier (configured, else random, never zero).  A peer asking zero is Naked with
a suggestion; a peer asking our own identifier is a collision (§4.1): we Nak it with a fresh one.
The link-local addresses are fe80::/64 + identifier (events.link_local).

Address policy, as pppd's for IPCP addresses: an identifier we were given (`ipv6 A,B`, or
`ipv6cp-use-ipaddr` from the IPv4 addresses) is kept against the peer's Naks unless
`ipv6cp_accept_local`, and a peer asking for another identifier than B is Naked with B unless
`ipv6cp_accept_remote`.  Identifiers not configured are negotiable: Naks of ours are adopted
unless they collide with the peer's.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

from pppstack.config import LinkConfig
from pppstack.fsm.options import ACK, BaseCodec, OptionSet, OptionVerdict, nak

__all__ = ["InterfaceIdentifier", "Ipv6cpOptions"]

ZERO_IFID = bytes(8)


class InterfaceIdentifier(BaseCodec):
    type, name, data_len = 1, "Interface-Identifier", 8

    def __init__(self, config: LinkConfig, rng: Callable[[int], bytes]) -> None:
        self.config = config
        self.rng = rng
        self.mine = config.ipv6_local_ifid or _from_ipv4(config.local_ip, config.ipv6cp_use_ipaddr)
        self.his_wanted = config.ipv6_remote_ifid or _from_ipv4(config.remote_ip, config.ipv6cp_use_ipaddr)
        self.want = self.mine or self._fresh()
        self.got = ZERO_IFID
        self.his = ZERO_IFID
        self.enabled = True

    def _fresh(self, avoid: bytes = ZERO_IFID) -> bytes:
        for _ in range(8):
            value = bytearray(self.rng(8))
            value[0] &= ~0x02  # RFC 5072 §4.1: a random identifier has the "u" bit clear
            if bytes(value) not in (ZERO_IFID, avoid):
                return bytes(value)
        return b"\x02\x00\x00\xff\xfe\x00\x00\x01" if avoid != b"\x02\x00\x00\xff\xfe\x00\x00\x01" else b"\x02" * 8

    def reset(self) -> None:
        self.enabled, self.got = True, ZERO_IFID
        if self.mine is not None:
            self.want = self.mine

    def request(self) -> bytes | None:
        return self.want if self.enabled else None

    def on_ack(self, data: bytes) -> None:
        self.got = self.want

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        if give_up:
            self.enabled = False  # Max-Failure Naks: stop asking rather than loop for ever
        elif self.mine is not None and not self.config.ipv6cp_accept_local:
            self.want = self.mine  # configured and not negotiable: ask it again
        elif data != ZERO_IFID and data != self.his:
            self.want = data
        else:
            self.want = self._fresh(avoid=self.his)

    def on_reject(self) -> None:
        self.enabled = False

    def peer_start(self) -> None:
        self.his = ZERO_IFID

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        want_his = self.his_wanted
        if data == ZERO_IFID:
            return nak(want_his or self._fresh(avoid=self.want))
        if data == self.want:  # collision (§4.1)
            fresh = want_his if want_his is not None and want_his != self.want else self._fresh(avoid=self.want)
            return nak(fresh)
        if want_his is not None and data != want_his and not self.config.ipv6cp_accept_remote:
            return nak(want_his)
        self.his = data
        return ACK


def _from_ipv4(addr: IPv4Address | None, use: bool) -> bytes | None:
    """pppd ipv6cp-use-ipaddr: the identifier ::a.b.c.d from an IPv4 address (None when unused)."""
    if not use or addr is None or int(addr) == 0:
        return None
    return bytes(4) + addr.packed


class Ipv6cpOptions(OptionSet):
    def __init__(self, config: LinkConfig, rng: Callable[[int], bytes]) -> None:
        self.ifid = InterfaceIdentifier(config, rng)
        super().__init__([self.ifid])

    @property
    def local(self) -> bytes:
        return self.ifid.got if self.ifid.got != ZERO_IFID else self.ifid.want

    @property
    def remote(self) -> bytes:
        return self.ifid.his
