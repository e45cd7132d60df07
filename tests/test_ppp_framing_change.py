"""The Link tells the framer about negotiated framing with typed messages in `outq`, in order.

Each FramingChange must sit exactly where RFC 1661/1662 (and Linux's ppp_async) apply it: right
after our LCP Configure-Ack (tx ACCM), when the peer acks our request (rx ACCM, MRU), at LCP
Opened (PFC/ACFC) and at LCP down (back to the defaults).  pppos.py frames from these alone.
"""

from __future__ import annotations

from ppp_support import seeded

from pppstack.config import LinkConfig
from pppstack.link import FULL_ACCM, FramingChange, Link, OutPacket
from pppstack.wire import Code, ControlPacket, Option, Protocol, build_options


def _link(**kw: object) -> Link:
    return Link(LinkConfig(**{"user": "", "password": "", **kw}), seeded(1))


def _drain(link: Link) -> list[object]:
    out, link.outq = link.outq, []
    return [(ControlPacket.parse(o.info).code if o.protocol == Protocol.LCP else o.protocol)
            if isinstance(o, OutPacket) else o for o in out]


def _lcp(link: Link, code: int, ident: int, data: bytes, now: float = 0.0) -> None:
    link.receive(Protocol.LCP, ControlPacket(code, ident, data).build(), now)


def test_each_edge_is_one_change_at_its_place_in_the_queue() -> None:
    link = _link(asyncmap=0x000A0000, mru=1400)
    link.open(0.0)
    assert _drain(link) == [Code.CONF_REQ]  # nothing changes before LCP agrees on anything
    ours = link.lcp_options.last_request

    # the peer asks ACCM 0x00000000, PFC and ACFC: our Ack, then (and only then) its ACCM
    peer = build_options([Option(2, bytes(4)), Option(7), Option(8)])
    _lcp(link, Code.CONF_REQ, 7, peer)
    assert _drain(link) == [Code.CONF_REQ, Code.CONF_ACK, FramingChange(tx_accm=0)]

    # the peer acks our request: our ACCM and MRU now hold for what we receive; LCP opens, so
    # PFC/ACFC follow, before anything the Network phase sends
    _lcp(link, Code.CONF_ACK, link.lcp._reqid, ours)  # noqa: SLF001
    out = _drain(link)
    assert out[:2] == [FramingChange(rx_accm=0x000A0000, mru=1500), FramingChange(pfc=True, acfc=True)]
    assert Protocol.IPCP in out[2:] and not any(isinstance(o, FramingChange) for o in out[2:])

    # the peer renegotiates (Configure-Request in Opened): LCP goes down first, so the defaults
    # come back before our new request and our Ack
    _lcp(link, Code.CONF_REQ, 8, build_options([Option(2, b"\x00\x00\x00\x0f")]))
    out = [o for o in _drain(link) if o != Protocol.IPCP]
    assert out == [FramingChange(tx_accm=FULL_ACCM, pfc=False, acfc=False), Code.CONF_REQ, Code.CONF_ACK,
                   FramingChange(tx_accm=0x0F)]


def test_a_naked_or_stale_reply_changes_nothing() -> None:
    link = _link(asyncmap=0x000A0000)
    link.open(0.0)
    _drain(link)
    _lcp(link, Code.CONF_ACK, 0x55, link.lcp_options.last_request)            # wrong Identifier: stale
    _lcp(link, Code.CONF_REQ, 1, build_options([Option(1, b"\x00\x10")]))     # MRU 16: we Nak it
    assert _drain(link) == [Code.CONF_REQ, Code.CONF_NAK]
    assert not any(isinstance(o, FramingChange) for o in link.outq)
