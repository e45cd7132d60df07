"""IPCP NBNS (RFC 1877 options 130/132) as pppd does it: a client with `request_wins` asks
<ms-wins 0.0.0.0> and adopts the Nak, drops it on Reject; a server with `ms_wins` offers by Nak."""

from __future__ import annotations

from ipaddress import IPv4Address

from ppp_support import Wire, both_up, client, feed, opts, out_packets, server

from pppstack import events as ev
from pppstack.describe import describe_packet
from pppstack.fsm.automaton import State
from pppstack.wire import ControlPacket

IPCP = 0x8021
Z = bytes(4)
W1, W2 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def in_network_phase(x):
    """Engine with LCP pretended open; returns it and the IPCP Configure-Request it sent."""
    x.open(0.0)
    out_packets(x)
    x.link.lcp.state = State.OPENED
    x.link._network_phase()  # noqa: SLF001
    x.link._settle()  # noqa: SLF001
    x._flush()  # noqa: SLF001
    (req,) = [pkt for pr, pkt in out_packets(x) if pr == IPCP and pkt.code == 1]
    return x, req


def ipcp_sent(x) -> list[ControlPacket]:
    return [pkt for pr, pkt in out_packets(x) if pr == IPCP]


def events(x, kind: type) -> list:
    got = []
    while (e := x.next_event()) is not None:
        if isinstance(e, kind):
            got.append(e)
    return got


def test_default_first_request_is_unchanged() -> None:
    _, req = in_network_phase(client())
    assert req.data == opts((3, Z), (129, Z), (131, Z))


def test_request_wins_asks_zero_and_adopts_the_nak() -> None:
    x, req = in_network_phase(client(request_wins=True))
    assert req.data == opts((3, Z), (129, Z), (131, Z), (130, Z), (132, Z))
    assert describe_packet(IPCP, req.build()).endswith("<ms-wins 0.0.0.0> <ms-wins 0.0.0.0>]")
    addr, d1, d2 = bytes([10, 9, 8, 7]), bytes([8, 8, 8, 8]), bytes([8, 8, 4, 4])
    feed(x, IPCP, 3, req.identifier, opts((3, addr), (129, d1), (131, d2), (130, W1), (132, W2)), 0.0)
    (req2,) = [p for p in ipcp_sent(x) if p.code == 1]
    assert req2.data == opts((3, addr), (129, d1), (131, d2), (130, W1), (132, W2))
    assert describe_packet(IPCP, req2.build()).endswith("<ms-wins 10.0.0.1> <ms-wins 10.0.0.2>]")
    feed(x, IPCP, 2, req2.identifier, req2.data, 0.0)  # Ack
    feed(x, IPCP, 1, 7, opts((3, bytes([10, 64, 64, 64]))), 0.0)  # peer's request, acked
    (up,) = events(x, ev.Ipv4Up)
    assert up.wins == (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"))
    assert up.dns == (IPv4Address("8.8.8.8"), IPv4Address("8.8.4.4"))


def test_rejected_wins_is_dropped_and_the_rest_negotiates() -> None:
    x, req = in_network_phase(client(request_wins=True))
    feed(x, IPCP, 4, req.identifier, opts((130, Z), (132, Z)), 0.0)
    (req2,) = [p for p in ipcp_sent(x) if p.code == 1]
    assert req2.data == opts((3, Z), (129, Z), (131, Z))


def test_server_offers_wins_by_nak_and_acks_it_back() -> None:
    x, _ = in_network_phase(server(ms_wins=("10.0.0.1", "10.0.0.2")))
    feed(x, IPCP, 1, 1, opts((3, bytes([10, 11, 12, 13])), (130, Z), (132, Z)), 0.0)
    (nak,) = [p for p in ipcp_sent(x) if p.code == 3]
    assert nak.data == opts((130, W1), (132, W2))
    feed(x, IPCP, 1, 2, opts((3, bytes([10, 11, 12, 13])), (130, W1), (132, W2)), 0.0)
    (ack,) = [p for p in ipcp_sent(x) if p.code == 2]
    assert ack.data == opts((3, bytes([10, 11, 12, 13])), (130, W1), (132, W2))


def test_server_without_ms_wins_rejects_and_one_value_rejects_the_secondary() -> None:
    x, _ = in_network_phase(server())
    feed(x, IPCP, 1, 1, opts((3, bytes([10, 11, 12, 13])), (130, Z), (132, Z)), 0.0)
    (rej,) = [p for p in ipcp_sent(x) if p.code == 4]
    assert rej.data == opts((130, Z), (132, Z))
    x, _ = in_network_phase(server(ms_wins=("10.0.0.1",)))
    feed(x, IPCP, 1, 1, opts((3, bytes([10, 11, 12, 13])), (130, Z), (132, Z)), 0.0)
    (rej,) = [p for p in ipcp_sent(x) if p.code == 4]
    assert rej.data == opts((132, Z))


def test_two_engines_hand_wins_to_the_client() -> None:
    w = Wire(client(request_wins=True), server(ms_wins=("10.0.0.1", "10.0.0.2")))
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w, v6=False), max_time=30)
    (up,) = w.of("a", ev.Ipv4Up)
    assert up.wins == (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"))
    assert up.dns == (IPv4Address("10.11.12.1"), IPv4Address("10.11.12.2"))
    assert w.of("b", ev.Ipv4Up)[0].wins == ()


def test_two_engines_without_ms_wins_come_up_with_no_wins() -> None:
    w = Wire(client(request_wins=True), server())
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w, v6=False), max_time=30)
    (up,) = w.of("a", ev.Ipv4Up)
    assert up.wins == () and up.local == IPv4Address("10.11.12.13")
    assert w.now == 1000.0  # the Reject was handled in one round, no timeout
