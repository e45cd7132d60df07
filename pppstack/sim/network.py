"""The network side of the simulated modem's PPP: our own engine configured as the operator.

Theory of operation.  After CONNECT the modem answers PPP the way a Huawei stick does (anchors
§1.9): it sends its own LCP Configure-Request with ``<auth chap MD5>`` at once, challenges as
"UMTS_CHAP_SRVR" and accepts whatever credentials come back (the stick does not check them; the
network takes them with the PDP activation), assigns the address by Configure-Nak (RFC 1332 §3.3)
and offers DNS with ``ms-dns`` (RFC 1877).  Two faults need a look at frames before the engine
sees them, so with IPCP_STALL or DEAD_ECHO a small filter deframes the client's bytes first:

* IPCP stall: the first N IPCP Configure-Requests get a Nak with Huawei's placeholders
  (10.64.64.64, DNS 10.11.12.13/14), as 3G networks do while the PDP context comes up;
* dead echo: from T seconds on, LCP Echo-Requests are dropped (a dead bearer, tty still up).

IP packets from the client go to the built-in `Responder` or, when a TUN is used, out through
`take_packets()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from pppstack import events as ev
from pppstack import hdlc
from pppstack.config import LinkConfig
from pppstack.errors import MalformedPacket
from pppstack.pppos import PPPoS
from pppstack.sim.responder import Responder
from pppstack.wire import Code, ControlPacket, Protocol, parse_options

__all__ = ["NetworkSettings", "NetworkSide", "PLACEHOLDER_ADDR", "PLACEHOLDER_DNS"]

PLACEHOLDER_ADDR = IPv4Address("10.64.64.64")
PLACEHOLDER_DNS = (IPv4Address("10.11.12.13"), IPv4Address("10.11.12.14"))
_FULL_ACCM = 0xFFFFFFFF
_LCP, _IPCP = Protocol.LCP, Protocol.IPCP
_IPCP_ADDR, _IPCP_DNS1, _IPCP_DNS2 = 3, 129, 131


@dataclass(frozen=True)
class NetworkSettings:
    client_ip: IPv4Address
    gateway_ip: IPv4Address
    dns: tuple[IPv4Address, ...]
    ipv6: bool = True
    accept_any_credentials: bool = True
    secrets: tuple[tuple[str, str], ...] = ()     # checked only when accept_any_credentials is off
    chap_name: str = "UMTS_CHAP_SRVR"
    ipcp_stall_naks: int = 0
    dead_echo_after: float | None = None
    respond: bool = True                           # False: IP packets leave through take_packets()


class NetworkSide:
    """One PPP session as the network (see the module docstring)."""

    def __init__(self, settings: NetworkSettings, rng: Callable[[int], bytes], now: float) -> None:
        self.settings = settings
        self.config = LinkConfig(
            require_chap=True, secrets=dict(settings.secrets),
            accept_any_credentials=settings.accept_any_credentials, name=settings.chap_name,
            local_ip=settings.gateway_ip,
            remote_ip=settings.client_ip, ipcp_accept_remote=False, ipcp_accept_local=False,
            ms_dns=settings.dns, usepeerdns=False, noipv6=not settings.ipv6)
        self.ppp = PPPoS(self.config, rng)
        self.started = now
        self.responder = Responder() if settings.respond else None
        self._filter = hdlc.Decoder(accm=0, mru=16384) if (
            settings.ipcp_stall_naks or settings.dead_echo_after is not None) else None
        self._out: list[bytes] = []
        self._packets: list[bytes] = []
        self.naks_sent = 0
        self.echoes_dropped = 0
        self.down: ev.LinkDown | None = None
        self.events: list[ev.Event] = []
        self.ppp.open(now)
        self._collect(now)

    # -- driver API ------------------------------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> None:
        if self._filter is None:
            self.ppp.receive_data(data, now)
        else:
            passed = [f for f in self._filter.feed(data) if self._pass(f, now)]
            self._filter.take_garbage()
            if passed:
                self.ppp.receive_data(hdlc.encode_many(passed, accm=_FULL_ACCM), now)
        self._collect(now)

    def send_ip(self, packet: bytes, now: float) -> None:
        self.ppp.send_ip(packet, now)
        self._collect(now)

    def take_packets(self) -> list[bytes]:
        out, self._packets = self._packets, []
        return out

    def data_to_send(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    def get_timer(self) -> float | None:
        return self.ppp.get_timer()

    def handle_timer(self, now: float) -> None:
        self.ppp.handle_timer(now)
        self._collect(now)

    def close(self, now: float) -> None:
        self.ppp.close("Modem hung up", now)
        self._collect(now)

    @property
    def ipv4_up(self) -> bool:
        return bool(self.ppp.link.ip4_open)

    # -- internals -------------------------------------------------------------------------------
    def _collect(self, now: float) -> None:
        ppp = self.ppp
        packets = [bytes(p) for p in ppp.take_packets()]  # views into the read; the responder builds bytes
        if packets:
            if self.responder is None:
                self._packets.extend(packets)
            else:
                replies = [r for r in map(self.responder.respond, packets) if r is not None]
                if replies:
                    ppp.send_ip_many(replies, now)
        out = ppp.data_to_send()
        if out:
            self._out.append(out)
        while (e := ppp.next_event()) is not None:
            self.events.append(e)
            if isinstance(e, ev.LinkDown):
                self.down = e

    def _pass(self, frame: bytes, now: float) -> bool:
        i = 2 if frame[:2] == b"\xff\x03" else 0
        if len(frame) < i + 1:
            return True
        if frame[i] & 1:
            proto, i = frame[i], i + 1
        elif len(frame) >= i + 2:
            proto, i = (frame[i] << 8) | frame[i + 1], i + 2
        else:
            return True
        info = frame[i:]
        s = self.settings
        if proto == _LCP and info[:1] == bytes((Code.ECHO_REQ,)) and s.dead_echo_after is not None \
                and now - self.started >= s.dead_echo_after:
            self.echoes_dropped += 1
            return False
        if proto == _IPCP and info[:1] == bytes((Code.CONF_REQ,)) and self.naks_sent < s.ipcp_stall_naks:
            nak = self._stall_nak(info)
            if nak is not None:
                self.naks_sent += 1
                self._out.append(hdlc.encode(b"\xff\x03\x80\x21" + nak, _FULL_ACCM))
                return False
        return True

    def _stall_nak(self, info: bytes) -> bytes | None:
        """A Nak with Huawei's placeholders for a request that asks only address and DNS."""
        try:
            req = ControlPacket.parse(info)
            options = parse_options(req.data)
        except MalformedPacket:
            return None
        wanted = {_IPCP_ADDR: PLACEHOLDER_ADDR, _IPCP_DNS1: PLACEHOLDER_DNS[0], _IPCP_DNS2: PLACEHOLDER_DNS[1]}
        if any(o.type not in wanted or len(o.data) != 4 for o in options):
            return None  # anything else (VJ, …) is the engine's to reject
        # a request without an address still gets one suggested (RFC 1661 §5.3 lets a Nak add options)
        types = [o.type for o in options] or [_IPCP_ADDR]
        body = b"".join(bytes((t, 6)) + wanted[t].packed for t in types)
        return ControlPacket(Code.CONF_NAK, req.identifier, body).build()
