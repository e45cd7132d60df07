"""IPCP's option codecs (RFC 1332, RFC 1877 for DNS/NBNS).

Client side (pppd with `noipdefault usepeerdns`): we ask `<addr 0.0.0.0> <ms-dns1 0.0.0.0>
<ms-dns2 0.0.0.0>` and adopt what the peer Naks back.  Server side: a peer asking 0.0.0.0 (or an
address other than `remote_ip`) is Naked with `remote_ip`; `ms_dns` values are offered by Nak.
NBNS (130/132) follows DNS but is off by default as in pppd: `request_wins` asks for it,
`ms_wins` offers it (a peer asking with none configured is Rejected).  VJ compression (2) is
refused.  IP-Addresses (1, deprecated by RFC 1332 §3.1) is accepted from a peer that still sends
it, judged by its source address like option 3.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from pppstack.config import LinkConfig
from pppstack.fsm.options import ACK, REJECT, BaseCodec, OptionSet, OptionVerdict, nak

__all__ = ["IpAddress", "IpAddresses", "Dns", "IpcpOptions"]

ZERO = IPv4Address(0)
DEFAULT_REMOTE = IPv4Address("10.64.64.64")


class _PeerAddress:
    """How we judge the address the peer asks for (shared by options 1 and 3)."""

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        self.his: IPv4Address | None = None

    def judge(self, addr: IPv4Address) -> tuple[OptionVerdict, bytes]:
        want = self.config.remote_ip
        if addr == ZERO:
            if want is None:
                return REJECT  # pppd: he wants an address and we have none to give
            return nak(want.packed)
        if want is not None and addr != want and not self.config.ipcp_accept_remote:
            return nak(want.packed)
        self.his = addr
        return ACK


class IpAddress(BaseCodec):
    type, name, data_len = 3, "IP-Address", 4

    def __init__(self, config: LinkConfig, peer: _PeerAddress) -> None:
        self.config = config
        self.peer = peer
        self.want = config.local_ip or ZERO
        self.got = ZERO
        self.enabled = True

    def reset(self) -> None:
        self.want, self.got, self.enabled = self.config.local_ip or ZERO, ZERO, True

    def request(self) -> bytes | None:
        return self.want.packed if self.enabled else None

    def on_ack(self, data: bytes) -> None:
        self.got = self.want

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        addr = IPv4Address(data)
        if addr != ZERO and (self.config.local_ip is None or self.config.ipcp_accept_local):
            self.want = addr  # the network assigns our address
        elif give_up:
            self.enabled = False  # we cannot agree: stop asking rather than loop for ever
        if not requested and not give_up:
            self.enabled = True  # the peer insists on it after all

    def on_reject(self) -> None:
        self.enabled = False
        if self.want != ZERO:
            self.got = self.want  # pppd ipcp_up: a configured address stands when the peer will not discuss it

    def peer_start(self) -> None:
        self.peer.his = None

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        return self.peer.judge(IPv4Address(data))

    def unsolicited_nak(self) -> bytes | None:
        # the peer did not ask for an address but we have one for it: tell it (pppd does the same)
        if self.config.remote_ip is not None and self.peer.his is None:
            return self.config.remote_ip.packed
        return None


class IpAddresses(BaseCodec):
    """The deprecated IP-Addresses option (RFC 1172): source then destination address.

    We send it only as pppd does (`old_addrs`): when the peer rejected IP-Address (3).
    """

    type, name, data_len = 1, "IP-Addresses", 8

    def __init__(self, config: LinkConfig, peer: _PeerAddress, addr: IpAddress) -> None:
        self.config = config
        self.peer = peer
        self.addr = addr
        self.enabled = True

    def reset(self) -> None:
        self.enabled = True

    def request(self) -> bytes | None:
        if self.addr.enabled or not self.enabled:
            return None
        return self.addr.want.packed + (self.config.remote_ip or ZERO).packed

    def on_ack(self, data: bytes) -> None:
        self.addr.got = self.addr.want

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        if give_up:
            self.enabled = False
            return
        ours = IPv4Address(data[:4])
        if ours != ZERO and (self.config.local_ip is None or self.config.ipcp_accept_local):
            self.addr.want = ours

    def on_reject(self) -> None:
        self.enabled = False

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        verdict, hint = self.peer.judge(IPv4Address(data[:4]))
        if verdict is OptionVerdict.NAK:
            return nak(hint + data[4:])
        return verdict, hint


class Dns(BaseCodec):
    """Primary (129) or Secondary (131) DNS server address (RFC 1877)."""

    data_len = 4
    names = {129: "Primary-DNS", 131: "Secondary-DNS"}

    def __init__(self, type_: int, config: LinkConfig) -> None:
        self.type = type_
        self.name = self.names[type_]
        self.index = 0 if type_ in (129, 130) else 1
        self.config = config
        self.want: IPv4Address | None = None
        self.got: IPv4Address | None = None
        self.rejected = False  # the peer Configure-Rejected it (it has none to give, or no RFC 1877)
        self.reset()

    def asking(self) -> bool:
        return self.config.usepeerdns

    def offered(self) -> tuple[IPv4Address, ...]:
        return self.config.ms_dns

    def reset(self) -> None:
        self.want = ZERO if self.asking() else None
        self.got = None
        self.rejected = False

    def request(self) -> bytes | None:
        return self.want.packed if self.want is not None else None

    def on_ack(self, data: bytes) -> None:
        self.got = self.want if self.want != ZERO else None

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        if give_up:
            self.want = None
        elif requested:
            self.want = IPv4Address(data)

    def on_reject(self) -> None:
        self.want = None
        self.rejected = True

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        ours = self.offered()
        if len(ours) <= self.index:
            return REJECT
        if data != ours[self.index].packed:
            return nak(ours[self.index].packed)
        return ACK


class Wins(Dns):
    """Primary (130) or Secondary (132) NBNS server address (RFC 1877); pppd's ms-wins."""

    names = {130: "Primary-NBNS", 132: "Secondary-NBNS"}

    def asking(self) -> bool:
        return self.config.request_wins

    def offered(self) -> tuple[IPv4Address, ...]:
        return self.config.ms_wins


class Vj(BaseCodec):
    """IP-Compression-Protocol: Van Jacobson compression is refused (modems reject it anyway)."""

    type, name = 2, "IP-Compression-Protocol"


class IpcpOptions(OptionSet):
    def __init__(self, config: LinkConfig) -> None:
        peer = _PeerAddress(config)
        self.peer = peer
        self.addr = IpAddress(config, peer)
        self.dns1 = Dns(129, config)
        self.dns2 = Dns(131, config)
        self.wins1 = Wins(130, config)
        self.wins2 = Wins(132, config)
        codecs = [IpAddresses(config, peer, self.addr), self.addr, self.dns1, self.dns2, self.wins1, self.wins2, Vj()]
        super().__init__(codecs)

    @property
    def local(self) -> IPv4Address:
        return self.addr.got

    @property
    def remote(self) -> IPv4Address:
        if self.peer.his is not None:
            return self.peer.his
        # pppd: "Could not determine remote IP address: defaulting to 10.64.64.64"
        return self.addr.config.remote_ip or DEFAULT_REMOTE

    @property
    def dns(self) -> tuple[IPv4Address, ...]:
        return tuple(d.got for d in (self.dns1, self.dns2) if d.got is not None)

    @property
    def wins(self) -> tuple[IPv4Address, ...]:
        return tuple(w.got for w in (self.wins1, self.wins2) if w.got is not None)
