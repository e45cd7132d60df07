"""Two engines back to back through real HDLC bytes on a fake clock: client (modem side user) vs
server (network side), with no authentication, PAP and CHAP, over a clean and a hostile wire."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from ppp_support import Wire, both_up, client, server

from pppstack import events as ev
from pppstack.fsm.automaton import State
from pppstack.link import Phase

AUTH = {
    "none": ({}, {}),
    "pap": (dict(user="web", password="web"), dict(require_pap=True, secrets={"web": "web"})),
    "chap": (dict(user="", password=""), dict(require_chap=True, secrets={"": ""})),
    "chap-named": (dict(user="alice", password="s3cret"), dict(require_chap=True, secrets={"alice": "s3cret"})),
    "chap-wildcard": (dict(user="anyone", password="pw"), dict(require_chap=True, secrets={"*": "pw"})),
    "pap-wildcard": (dict(user="anyone", password="pw"), dict(require_pap=True, secrets={"*": "pw"})),
}


def ip4(payload: bytes, src: str = "10.11.12.13", dst: str = "10.64.64.64") -> bytes:
    total = 20 + len(payload)
    return (bytes([0x45, 0, total >> 8, total & 0xFF, 0, 0, 0, 0, 64, 17, 0, 0]) + IPv4Address(src).packed
            + IPv4Address(dst).packed + payload)


def ip6(payload: bytes) -> bytes:
    return bytes([0x60, 0, 0, 0, 0, len(payload), 17, 64]) + bytes(32) + payload


def check_open(w: Wire) -> None:
    for side in (w.a, w.b):
        assert side.phase is Phase.NETWORK
        assert side.link.lcp.state is State.OPENED
        assert side.link.ipcp.state is State.OPENED
        assert side.link.ipv6cp.state is State.OPENED
    (up_a,) = w.of("a", ev.Ipv4Up)
    (up_b,) = w.of("b", ev.Ipv4Up)
    assert up_a.local == IPv4Address("10.11.12.13") and up_a.peer == IPv4Address("10.64.64.64")
    assert up_a.dns == (IPv4Address("10.11.12.1"), IPv4Address("10.11.12.2"))
    assert up_b.local == IPv4Address("10.64.64.64") and up_b.peer == IPv4Address("10.11.12.13")
    (v6a,) = w.of("a", ev.Ipv6Up)
    (v6b,) = w.of("b", ev.Ipv6Up)
    assert v6a.local_ifid == v6b.peer_ifid and v6a.peer_ifid == v6b.local_ifid
    assert v6a.local_ifid != v6a.peer_ifid and str(v6a.local_ll).startswith("fe80::")


def exchange(w: Wire) -> None:
    p4 = ip4(b"\x00\x01\x7d\x7e\x11\x13" * 50)  # bytes that need escaping
    p6 = ip6(b"v6 payload")
    w.a.send_ip(p4, w.now)
    w.a.send_ip(p6, w.now)
    w.b.send_ip(ip4(b"back", "10.64.64.64", "10.11.12.13"), w.now)
    w.step()
    assert w.b.take_packets() == [p4, p6]
    assert w.a.take_packets() == [ip4(b"back", "10.64.64.64", "10.11.12.13")]


@pytest.mark.parametrize("auth", sorted(AUTH))
def test_clean_wire_reaches_network_and_carries_ip(auth: str) -> None:
    ca, sa = AUTH[auth]
    w = Wire(client(**ca), server(**sa))
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w), max_time=30)
    check_open(w)
    assert w.now == 1000.0  # no retransmission was needed
    if auth != "none":
        (ok_a,) = w.of("a", ev.AuthSucceeded)
        (ok_b,) = w.of("b", ev.AuthSucceeded)
        assert ok_a.protocol == ok_b.protocol == auth.split("-")[0].upper()
        assert ok_b.as_authenticator and not ok_a.as_authenticator
        assert ok_b.peer_name == ca["user"]
    exchange(w)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("auth", ["pap", "chap"])
def test_hostile_wire_recovers(auth: str, seed: int) -> None:
    ca, sa = AUTH[auth]
    w = Wire(client(**ca), server(**sa), loss=0.25, dup=0.15, reorder=0.2, seed=seed)
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w), max_time=200)
    assert both_up(w)(), (w.a.debug_state(), w.b.debug_state(), w.events)
    assert not w.of("a", ev.LinkDown) and not w.of("b", ev.LinkDown)
    w.loss = w.dup = w.reorder = 0
    w.run(lambda: False, max_time=1)  # let in-flight retransmissions settle
    exchange(w)


def test_one_side_opens_late() -> None:
    w = Wire(client(), server())
    w.a.open(w.now)
    for _ in range(3):  # the server is not listening yet: the client's requests fall on the floor
        w.a.data_to_send()
        w.now = w.a.get_timer()
        w.a.handle_timer(w.now)
    w.b.open(w.now)
    w.run(both_up(w), max_time=60)
    check_open(w)


def test_clean_close_from_either_side() -> None:
    w = Wire(client(), server())
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w))
    w.b.close("shutting down", w.now)
    w.run(lambda: bool(w.of("a", ev.LinkDown) and w.of("b", ev.LinkDown)), max_time=30)
    (down_a,) = w.of("a", ev.LinkDown)
    (down_b,) = w.of("b", ev.LinkDown)
    assert down_b.cause is ev.DownCause.LOCAL_CLOSE
    assert down_a.cause is ev.DownCause.PEER_TERMINATED and "shutting down" in down_a.message
    assert w.of("a", ev.Ipv4Down) and w.of("a", ev.Ipv6Down)
    assert w.a.phase is Phase.DEAD and w.b.phase is Phase.DEAD
    # after LinkDown the engine is finished: IP is refused, a late peer packet reopens nothing
    w.a.send_ip(ip4(b"x"), w.now)
    assert w.a.data_to_send() == b""
    w.a.open(w.now)
    assert w.a.data_to_send() == b""


@pytest.mark.parametrize("role", ["pap", "chap"])
def test_wrong_credentials_fail_both_sides_with_a_sentence(role: str) -> None:
    ca = dict(user="alice", password="wrong")
    sa = dict(require_pap=True) if role == "pap" else dict(require_chap=True)
    w = Wire(client(**ca), server(**sa, secrets={"alice": "right"}))
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(lambda: bool(w.of("a", ev.LinkDown) and w.of("b", ev.LinkDown)), max_time=60)
    (down_a,) = w.of("a", ev.LinkDown)
    (down_b,) = w.of("b", ev.LinkDown)
    assert down_a.cause is ev.DownCause.AUTH_FAILED
    assert "refused our credentials" in down_a.message
    assert down_b.cause is ev.DownCause.PEER_AUTH_FAILED
    assert "right" not in down_b.message and "wrong" not in down_a.message  # secrets never shown
    (fail_a,) = w.of("a", ev.AuthFailed)
    assert fail_a.by_peer
    assert not w.of("a", ev.Ipv4Up)


@pytest.mark.parametrize("role", ["pap", "chap"])
def test_accept_any_credentials_lets_any_name_and_secret_in(role: str) -> None:
    """A mobile network's modem takes whatever credentials it is given; with the flag off the
    same client is refused, so the flag (not the secrets table) is what lets it in."""
    sa = dict(require_pap=True) if role == "pap" else dict(require_chap=True)
    for accept, expect_up in ((True, True), (False, False)):
        w = Wire(client(user="anyone", password="anything"),
                 server(**sa, secrets={"alice": "right"}, accept_any_credentials=accept))
        w.a.open(w.now)
        w.b.open(w.now)
        w.run(lambda w=w: both_up(w)() or bool(w.of("b", ev.LinkDown)), max_time=60)
        assert both_up(w)() is expect_up
        assert bool(w.of("b", ev.AuthSucceeded)) is expect_up


def test_chap_rechallenge_keeps_the_link_up() -> None:
    w = Wire(client(user="u", password="p"), server(require_chap=True, secrets={"u": "p"}, chap_interval=30))
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w))
    start = w.now
    w.run(lambda: w.now >= start + 95, max_time=100)
    challenges = w.b.link.auth.server._id  # noqa: SLF001 - one new Identifier per challenge
    assert challenges >= 3
    assert both_up(w)() and not w.of("a", ev.LinkDown)


def test_noipv6_runs_ipcp_only_and_rejects_ipv6cp() -> None:
    w = Wire(client(noipv6=True), server())
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(lambda: w.a.link.ip4_open and w.b.link.ip4_open and w.b.link.ipv6cp.state is State.STOPPED,
          max_time=30)
    assert w.a.link.stats.protocol_rejects_sent >= 1  # the server's IPV6CP was Protocol-Rejected
    assert w.b.link.ipv6cp.state is State.STOPPED
    assert w.a.phase is Phase.NETWORK and w.b.phase is Phase.NETWORK
    assert not w.of("a", ev.Ipv6Up) and not w.of("b", ev.LinkDown)


@pytest.mark.parametrize("pcomp, accomp", [(False, False), (True, False), (False, True)])
def test_without_compression_options(pcomp: bool, accomp: bool) -> None:
    w = Wire(client(pcomp=pcomp, accomp=accomp), server(pcomp=pcomp, accomp=accomp))
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w))
    check_open(w)
    (up,) = w.of("a", ev.LinkUp)
    assert (up.pcomp, up.accomp) == (pcomp, accomp)
    w.a.send_ip(ip4(b"x"), w.now)
    raw = w.a.data_to_send()
    head = (b"" if accomp else b"\xff\x03") + (b"\x21" if pcomp else b"\x00\x21")  # ACCM 0: 03 goes raw
    assert raw.startswith(b"~" + head)
    w.b.receive_data(raw, w.now)
    assert w.b.take_packets() == [ip4(b"x")]


def test_xon_xoff_inserted_by_the_line_are_dropped_once_our_accm_asks_for_it() -> None:
    # we ask the peer to escape 0x11/0x13 (software flow control on the line)
    w = Wire(client(asyncmap=0x000A0000), server())
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w))
    assert w.a.stats.rx_accm == 0x000A0000 and w.b.stats.tx_accm == 0x000A0000
    payload = bytes(range(64)) * 4
    w.b.send_ip(ip4(payload, "10.64.64.64", "10.11.12.13"), w.now)
    raw = w.b.data_to_send()
    assert b"\x11" not in raw and b"\x13" not in raw  # the peer escapes them for us
    noisy = b"\x11".join(raw[i:i + 7] for i in range(0, len(raw), 7)) + b"\x13"
    w.a.receive_data(noisy, w.now)
    assert w.a.take_packets() == [ip4(payload, "10.64.64.64", "10.11.12.13")]
