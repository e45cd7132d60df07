"""The control protocol against a scripted peer on the fake clock: retransmission, the counters,
Identifier matching, stale and crossed replies, keepalive, loopback, and field-broken peers."""

from __future__ import annotations

import pytest
from ppp_support import Wire, both_up, client, feed, opts, out_packets, server

from pppstack import events as ev
from pppstack.fsm.automaton import State
from pppstack.link import Phase

LCP, IPCP, IPV6CP = 0xC021, 0x8021, 0x8057


def events(x) -> list:
    out = []
    while (e := x.next_event()) is not None:
        out.append(e)
    return out


def test_configure_request_is_retransmitted_every_3_s_with_the_same_id(clock) -> None:
    x = client()
    x.open(clock.now)
    (first,) = out_packets(x)
    assert x.get_timer() == clock.now + 3.0
    x.handle_timer(clock.now + 2.9)
    assert out_packets(x) == []
    clock.advance(3.0)
    x.handle_timer(clock.now)
    (again,) = out_packets(x)
    assert again[1].identifier == first[1].identifier and again[1].data == first[1].data
    assert x.get_timer() == clock.now + 3.0


def test_max_configure_gives_lcp_timeout_with_a_sentence(clock) -> None:
    x = client()
    x.open(clock.now)
    sent = len(out_packets(x))
    while (t := x.get_timer()) is not None:
        clock.now = t
        x.handle_timer(t)
        sent += len(out_packets(x))
    assert sent == 10  # pppd's DEFMAXCONFREQS
    (down,) = [e for e in events(x) if isinstance(e, ev.LinkDown)]
    assert down.cause is ev.DownCause.LCP_TIMEOUT
    assert down.message == ("LCP: no answer to 10 Configure-Requests — wrong port, or the modem is not in "
                            "data mode")
    assert clock.now == 1000.0 + 30.0 and x.phase is Phase.DEAD


def test_passive_keeps_waiting_and_then_answers(clock) -> None:
    x = client(passive=True)
    x.open(clock.now)
    for _ in range(12):
        clock.now = x.get_timer() or clock.now
        x.handle_timer(clock.now)
    assert x.get_timer() is None and x.link.lcp.state is State.STOPPED
    assert not [e for e in events(x) if isinstance(e, ev.LinkDown)]
    out_packets(x)
    feed(x, LCP, 1, 9, b"", clock.now)
    codes = [p.code for _, p in out_packets(x)]
    assert codes == [1, 2]  # irc, scr, sca


def test_stale_and_mismatched_acks_are_discarded(clock) -> None:
    x = client()
    x.open(clock.now)
    (req1,) = out_packets(x)
    feed(x, LCP, 3, 1, opts((2, b"\0\0\0\x01")), clock.now)  # Nak -> new request id 2
    (req2,) = out_packets(x)
    assert req2[1].identifier == 2
    feed(x, LCP, 2, 1, req1[1].data, clock.now)  # a late Ack of the first request (pppd#434)
    feed(x, LCP, 2, 9, req2[1].data, clock.now)  # wrong id
    assert x.link.lcp.state is State.REQ_SENT and x.link.lcp.counters.stale == 2
    feed(x, LCP, 2, 2, req2[1].data, clock.now)
    assert x.link.lcp.state is State.ACK_RCVD
    feed(x, LCP, 2, 2, req2[1].data, clock.now)  # a duplicate of the Ack we already took
    assert x.link.lcp.state is State.ACK_RCVD and x.link.lcp.counters.stale == 3


def test_crossed_requests_open_both_ways(clock) -> None:
    x = client()
    x.open(clock.now)
    (req,) = out_packets(x)
    feed(x, LCP, 1, 0x30, b"", clock.now)  # the peer's request crosses ours
    # ours goes again (same Identifier) before the Ack: it may have been flushed (fsm/cp.py)
    again, ack = [p for _, p in out_packets(x)]
    assert (again.code, again.identifier, again.data) == (1, req[1].identifier, req[1].data) and ack.code == 2
    assert x.link.lcp.state is State.ACK_SENT
    feed(x, LCP, 2, 1, req[1].data, clock.now)
    assert x.link.lcp.state is State.OPENED
    assert isinstance(events(x)[0], ev.LinkUp)
    assert all(proto != LCP for proto, _ in out_packets(x))  # the NCPs start
    feed(x, LCP, 2, 1, req[1].data, clock.now)  # the peer's answer to the copy: stale, no renegotiation
    assert out_packets(x) == [] and x.link.lcp.state is State.OPENED and x.link.lcp.counters.stale == 1


def lcp_opened(clock, **kw):
    x = client(**kw)
    x.open(clock.now)
    (req,) = out_packets(x)
    peer = opts((2, b"\0\0\0\0"), (5, b"\x45\x29\x17\x90"), (7, b""), (8, b""))
    feed(x, LCP, 1, 0, peer, clock.now)
    feed(x, LCP, 2, 1, req[1].data, clock.now)
    out = out_packets(x)
    return x, peer, out


def test_repeated_confreq_after_opened_is_reacked_without_teardown(clock) -> None:
    x, peer, _ = lcp_opened(clock)
    assert x.phase is Phase.NETWORK
    ncp_states = [cp.state for cp in x.link.ncps]
    for ident in (0x6A, 0x6B, 0x6C):  # ppp-project/ppp#347: ids back to back
        feed(x, LCP, 1, ident, peer, clock.now)
        assert [(p.code, p.identifier) for _, p in out_packets(x)] == [(2, ident)]
    assert x.link.lcp.state is State.OPENED and [cp.state for cp in x.link.ncps] == ncp_states
    assert not [e for e in events(x) if isinstance(e, ev.LinkDown | ev.Ipv4Down)]


def test_changed_confreq_after_opened_renegotiates_per_rfc(clock) -> None:
    x, peer, _ = lcp_opened(clock)
    feed(x, LCP, 1, 0x70, opts((2, b"\0\0\0\0")), clock.now)
    codes = [p.code for _, p in out_packets(x)]
    assert codes == [1, 2]  # tld, scr, sca
    assert x.link.lcp.state is State.ACK_SENT and x.phase is Phase.ESTABLISH


def test_echo_request_is_answered_and_unknown_protocol_rejected(clock) -> None:
    x, _, _ = lcp_opened(clock)
    feed(x, LCP, 9, 0x44, b"\x45\x29\x17\x90hello", clock.now)
    ((proto, rep),) = out_packets(x)
    assert (rep.code, rep.identifier) == (10, 0x44)
    assert rep.data[4:] == b"hello" and rep.data[:4] == x.link.lcp_options.magic.got.to_bytes(4, "big")
    feed(x, 0x80FD, 1, 1, b"\x1a\x04\x78\x00", clock.now)  # CCP: not run here
    ((proto, rej),) = out_packets(x)
    assert rej.code == 8 and rej.data[:2] == b"\x80\xfd" and rej.data[2:] == b"\x01\x01\x00\x08\x1a\x04\x78\x00"


def test_unknown_code_gets_code_reject(clock) -> None:
    x, _, _ = lcp_opened(clock)
    feed(x, IPCP, 0x55, 1, b"zz", clock.now)
    ((_, rej),) = [p for p in out_packets(x) if p[1].code == 7]
    assert rej.data == b"\x55\x01\x00\x06zz"


def test_keepalive_declares_the_peer_dead(clock) -> None:
    x, _, _ = lcp_opened(clock, lcp_echo_interval=5, lcp_echo_failure=4)
    echoes = 0
    while clock.now < 1100:
        t = x.get_timer()
        clock.now = t
        x.handle_timer(t)
        echoes += sum(p.code == 9 for _, p in out_packets(x))
        downs = [e for e in events(x) if isinstance(e, ev.LinkDown)]
        if downs:
            break
    assert echoes == 4
    assert downs[0].cause is ev.DownCause.PEER_DEAD
    assert downs[0].message == "No response to 4 echo-requests: serial link appears to be disconnected"


def test_keepalive_answered_stays_up_and_adaptive_is_quiet_under_traffic(clock) -> None:
    x, _, _ = lcp_opened(clock, lcp_echo_interval=5, lcp_echo_failure=2, lcp_echo_adaptive=True,
                         ipcp_restart=1000, ipv6cp_restart=1000)  # NCPs quiet: only echoes matter
    for _ in range(10):
        clock.advance(5)
        feed(x, 0x0021, 0, 0, b"", clock.now)  # some frame arrives in every interval
        x.handle_timer(clock.now)
    assert not [p for _, p in out_packets(x) if p.code == 9]
    for _ in range(10):  # silence, but every echo is answered
        clock.advance(5)
        x.handle_timer(clock.now)
        for _, p in out_packets(x):
            if p.code == 9:
                feed(x, LCP, 10, p.identifier, b"\x45\x29\x17\x90", clock.now)
    assert not [e for e in events(x) if isinstance(e, ev.LinkDown)]


def test_line_looped_back_is_detected(clock) -> None:
    x = client()
    x.open(clock.now)
    for _ in range(40):
        x.receive_data(x.data_to_send(), clock.now)  # everything we send comes back
        if x.link.finished:
            break
        clock.advance(0.1)
        x.handle_timer(clock.now)
    downs = [e for e in events(x) if isinstance(e, ev.LinkDown)]
    assert downs and downs[0].cause is ev.DownCause.LOOPBACK
    assert "looped back" in downs[0].message


def test_protocol_reject_of_ipv6cp_closes_only_ipv6cp(clock) -> None:
    w = Wire(client(), server())
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w))
    feed(w.a, LCP, 8, 0x21, b"\x80\x57\x01\x01\x00\x0e\x01\x0a" + bytes(8), w.now)
    assert w.a.link.ipv6cp.state in (State.STOPPING, State.STOPPED)
    assert w.a.link.ipcp.is_open and w.a.phase is Phase.NETWORK
    w.drain_events()
    assert w.of("a", ev.Ipv6Down) and not w.of("a", ev.LinkDown)


def test_both_ncps_rejected_ends_the_link_with_network_failed(clock) -> None:
    x, _, _ = lcp_opened(clock)
    feed(x, LCP, 8, 0x21, b"\x80\x21\x01\x01\x00\x04", clock.now)
    feed(x, LCP, 8, 0x22, b"\x80\x57\x01\x01\x00\x04", clock.now)
    while (t := x.get_timer()) is not None and not x.link.finished:
        clock.now = t
        x.handle_timer(t)
    sent = [p for _, p in out_packets(x)]
    assert any(p.code == 5 and p.data == b"No network protocols running" for p in sent)
    (down,) = [e for e in events(x) if isinstance(e, ev.LinkDown)]
    assert down.cause is ev.DownCause.NETWORK_FAILED
    assert "IPCP (Protocol-Reject)" in down.message and "IPV6CP (Protocol-Reject)" in down.message


def test_ipcp_nak_stall_is_tolerated_well_beyond_five_loops(clock) -> None:
    x, _, out = lcp_opened(clock)
    z = bytes(4)
    for i in range(60):  # the network stalls with Naks of 0.0.0.0 (anchors §1.2)
        reqs = [p for pr, p in (out_packets(x) if i else out) if pr == IPCP and p.code == 1]
        assert reqs, i
        feed(x, IPCP, 3, reqs[-1].identifier, opts((3, z), (129, z), (131, z)), clock.now)
    (req,) = [p for pr, p in out_packets(x) if pr == IPCP and p.code == 1]
    assert req.data == opts((3, z), (129, z), (131, z))  # still asking, never gave up
    feed(x, IPCP, 3, req.identifier, opts((3, bytes([10, 1, 2, 3])), (129, bytes([8, 8, 8, 8])),
                                          (131, bytes([8, 8, 4, 4]))), clock.now)
    (req,) = [p for pr, p in out_packets(x) if pr == IPCP and p.code == 1]
    feed(x, IPCP, 2, req.identifier, req.data, clock.now)
    feed(x, IPCP, 1, 1, opts((3, bytes([10, 64, 64, 64]))), clock.now)
    (up,) = [e for e in events(x) if isinstance(e, ev.Ipv4Up)]
    assert str(up.local) == "10.1.2.3" and [str(d) for d in up.dns] == ["8.8.8.8", "8.8.4.4"]


@pytest.mark.parametrize("silent", [False, True])
def test_close_before_anything_happened_still_reports(clock, silent: bool) -> None:
    x = client(silent=silent)
    x.open(clock.now)
    x.close("user request", clock.now)
    while (t := x.get_timer()) is not None:
        x.handle_timer(t)
    (down,) = [e for e in events(x) if isinstance(e, ev.LinkDown)]
    assert down.cause is ev.DownCause.LOCAL_CLOSE


def test_rejected_ip_address_falls_back_to_ip_addresses(clock) -> None:
    x, _, out = lcp_opened(clock, noipv6=True)
    (req,) = [p for pr, p in out if pr == IPCP]
    feed(x, IPCP, 4, req.identifier, opts((3, bytes(4))), clock.now)  # an old peer: no option 3
    ((_, req),) = out_packets(x)
    assert req.data == opts((1, bytes(8)), (129, bytes(4)), (131, bytes(4)))
    feed(x, IPCP, 3, req.identifier, opts((1, bytes([10, 1, 1, 1, 10, 0, 0, 1]))), clock.now)
    ((_, req),) = out_packets(x)
    assert req.data[:10] == opts((1, bytes([10, 1, 1, 1, 0, 0, 0, 0])))
    feed(x, IPCP, 2, req.identifier, req.data, clock.now)
    feed(x, IPCP, 1, 7, opts((1, bytes([10, 0, 0, 1, 10, 1, 1, 1]))), clock.now)
    (up,) = [e for e in events(x) if isinstance(e, ev.Ipv4Up)]
    assert (str(up.local), str(up.peer)) == ("10.1.1.1", "10.0.0.1")


def test_no_local_address_closes_ipcp_with_a_reason(clock) -> None:
    x, _, out = lcp_opened(clock, noipv6=True)
    (req,) = [p for pr, p in out if pr == IPCP]
    feed(x, IPCP, 4, req.identifier, opts((3, bytes(4)), (129, bytes(4)), (131, bytes(4))), clock.now)
    ((_, req),) = out_packets(x)
    feed(x, IPCP, 4, req.identifier, req.data, clock.now)  # IP-Addresses rejected too
    ((_, req),) = out_packets(x)
    assert req.data == b""
    feed(x, IPCP, 2, req.identifier, b"", clock.now)
    feed(x, IPCP, 1, 9, b"", clock.now)
    sent = [p for _, p in out_packets(x)]
    assert sent[-1].code == 5 and sent[-1].data == b"Could not determine local IP address"
    assert not x.link.ip4_open
    while (t := x.get_timer()) is not None and not x.link.finished:
        clock.now = t
        x.handle_timer(t)
    got = events(x)
    (down,) = [e for e in got if isinstance(e, ev.LinkDown)]
    assert down.cause is ev.DownCause.NETWORK_FAILED and "never gave us an IP address" in down.message
    assert not [e for e in got if isinstance(e, ev.Ipv4Up | ev.Ipv4Down)]


def test_peer_refusing_to_authenticate_ends_the_link(clock) -> None:
    x = server(require_chap=True, secrets={"a": "b"})
    x.open(clock.now)
    ((_, req),) = out_packets(x)
    feed(x, LCP, 4, 1, opts((3, b"\xc2\x23\x05")), clock.now)  # the client rejects <auth chap MD5>
    ((_, req),) = out_packets(x)
    from pppstack.wire import parse_options

    assert [o.type for o in parse_options(req.data)] == [2, 5, 7, 8]  # no Authentication-Protocol now
    feed(x, LCP, 1, 3, b"", clock.now)
    feed(x, LCP, 2, req.identifier, req.data, clock.now)
    while (t := x.get_timer()) is not None and not x.link.finished:
        clock.now = t
        x.handle_timer(t)
    got = events(x)
    (fail,) = [e for e in got if isinstance(e, ev.AuthFailed)]
    assert fail.protocol == "CHAP" and not fail.by_peer
    (down,) = [e for e in got if isinstance(e, ev.LinkDown)]
    assert down.cause is ev.DownCause.PEER_AUTH_FAILED and "refused to authenticate" in down.message


def test_a_peer_that_keeps_repeating_gets_a_real_renegotiation(clock) -> None:
    x, peer, _ = lcp_opened(clock)
    for ident in range(3):
        feed(x, LCP, 1, 0x10 + ident, peer, clock.now)
        assert [p.code for _, p in out_packets(x)] == [2]
    feed(x, LCP, 1, 0x20, peer, clock.now)  # the peer restarted for real: it needs our request
    assert [p.code for _, p in out_packets(x)] == [1, 2]
    assert x.link.lcp.state is State.ACK_SENT


def test_a_peer_that_naks_for_ever_cannot_loop_us(clock) -> None:
    # we insist on 10.0.0.1; the peer keeps Naking another address: Max-Failure ends the argument
    x, _, out = lcp_opened(clock, noipv6=True, local_ip="10.0.0.1", ipcp_accept_local=False, usepeerdns=False)
    (req,) = [p for pr, p in out if pr == IPCP]
    for _ in range(400):
        feed(x, IPCP, 3, req.identifier, opts((3, bytes([10, 9, 9, 9]))), clock.now)
        reqs = [p for pr, p in out_packets(x) if pr == IPCP and p.code == 1]
        if not reqs:
            break
        (req,) = reqs
    assert x.link.ipcp.counters.naks_received <= 110  # ~ipcp_max_failure, then its Naks are discarded
    assert x.link.ipcp.counters.bad_replies == 1
    while (t := x.get_timer()) is not None and not x.link.finished:
        clock.now = t
        x.handle_timer(t)
        for _, p in out_packets(x):  # the peer goes on Naking every retransmission
            if p.code == 1:
                feed(x, IPCP, 3, p.identifier, opts((3, bytes([10, 9, 9, 9]))), clock.now)
    (down,) = [e for e in events(x) if isinstance(e, ev.LinkDown)]
    assert down.cause is ev.DownCause.NETWORK_FAILED and "kept refusing" in down.message
