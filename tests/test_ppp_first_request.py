"""LCP's first exchange does not wait for the Restart timer when our first request was flushed.

pppd flushes its tty after CONNECT, so the Configure-Request we send at CONNECT is lost and LCP
would open only after our 3 s Restart timer.  Policy (fsm/cp.py `resend_first`): when the peer's
first Configure-Request arrives in Req-Sent with ours unanswered, ours goes again once, same
Identifier, before our answer.  These tests show it opens at once, happens once, and never makes
either side renegotiate an Opened layer.
"""

from __future__ import annotations

from ppp_support import Wire, both_up, client, feed, opts, out_packets, server

from pppstack import events as ev
from pppstack.fsm.automaton import State

LCP = 0xC021


def _ups(w: Wire, side: str) -> int:
    return len(w.of(side, ev.LinkUp))


def test_a_flushed_first_request_costs_no_restart_interval() -> None:
    a, b = client(), server()
    w = Wire(a, b)
    start = w.now
    a.open(w.now)
    a.data_to_send()       # our request at CONNECT: flushed by the peer's tty
    w.now += 0.05          # the peer starts LCP a little later
    b.open(w.now)
    w.run(lambda: a.link.lcp.is_open and b.link.lcp.is_open, max_time=10)
    assert a.link.lcp.is_open and b.link.lcp.is_open
    assert w.now - start < 0.1, f"LCP opened {w.now - start:.2f} s after CONNECT"
    assert a.link.lcp.counters.early_resends == 1


def test_the_copy_never_renegotiates_when_the_first_was_not_lost() -> None:
    for delay in (0.0, 0.01, 1.0):
        a, b = client(), server()
        w = Wire(a, b)
        a.open(w.now)
        w.now += delay
        b.open(w.now)
        w.run(both_up(w, v6=False), max_time=30)
        w.run(max_time=30)  # let every stale answer arrive and every timer that is left fire
        assert _ups(w, "a") == 1 and _ups(w, "b") == 1, delay
        assert not w.of("a", ev.LinkDown) and not w.of("b", ev.LinkDown)
        assert a.link.lcp.state is State.OPENED and b.link.lcp.state is State.OPENED
        assert a.link.ip4_open and b.link.ip4_open


def test_only_once_and_only_while_our_request_is_unanswered(clock) -> None:
    x = client()
    x.open(clock.now)
    ((_, req),) = out_packets(x)
    feed(x, LCP, 1, 0x40, opts((1, b"\x00\x10")), clock.now)   # MRU 16: Naked, we stay in Req-Sent
    assert [(p.code, p.identifier) for _, p in out_packets(x)] == [(1, req.identifier), (3, 0x40)]
    feed(x, LCP, 1, 0x41, opts((1, b"\x00\x10")), clock.now)
    assert [p.code for _, p in out_packets(x)] == [3]          # no second copy
    assert x.link.lcp.counters.early_resends == 1

    y = client()
    y.open(clock.now)
    ((_, req),) = out_packets(y)
    feed(y, LCP, 2, req.identifier, req.data, clock.now)        # answered: Ack-Rcvd
    feed(y, LCP, 1, 0x50, b"", clock.now)
    assert [p.code for proto, p in out_packets(y) if proto == LCP] == [2]  # no copy: ours was answered
    assert y.link.lcp.state is State.OPENED and y.link.lcp.counters.early_resends == 0


def test_the_policy_can_be_turned_off(clock) -> None:
    x = client(lcp_resend_first=False)
    x.open(clock.now)
    out_packets(x)
    feed(x, LCP, 1, 0x30, b"", clock.now)
    assert [p.code for _, p in out_packets(x)] == [2]
