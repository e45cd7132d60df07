"""Hostile input: hypothesis streams into receive_data (raw garbage, well-framed nonsense, packets
that are nearly right) never raise and never leave an impossible state."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ppp_support import Wire, both_up, client, server

from pppstack import hdlc
from pppstack.fsm.automaton import State
from pppstack.fsm.cp import NEGOTIATING
from pppstack.link import Phase
from pppstack.pppos import PPPoS
from pppstack.wire import build_frame

PROTOCOLS = [0xC021, 0x8021, 0x8057, 0xC023, 0xC223, 0x0021, 0x0057, 0x80FD, 0x002D, 0x1234]
TIMED = NEGOTIATING | {State.CLOSING, State.STOPPING}

options = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=12)), max_size=5).map(
    lambda opts: b"".join(bytes((t, len(d) + 2)) + d for t, d in opts))
control = st.builds(
    lambda code, ident, data, fudge: bytes((code, ident)) + (len(data) + 4 + fudge).to_bytes(2, "big") + data,
    st.integers(0, 14), st.integers(0, 255), st.one_of(options, st.binary(max_size=40)),
    st.sampled_from([0, 0, 0, 0, -1, 1, 200]))
frame = st.builds(
    lambda proto, info, acfc, pfc: hdlc.encode(build_frame(proto, info, acfc=acfc, pfc=pfc)),
    st.sampled_from(PROTOCOLS), st.one_of(control, st.binary(max_size=60)), st.booleans(), st.booleans())
piece = st.one_of(frame, frame, frame, st.binary(max_size=40), st.just(b"\r\nNO CARRIER\r\n"), st.just(b"~~\x7d~"))
stream = st.lists(st.tuples(piece, st.sampled_from([0.0, 0.0, 0.5, 3.0, 30.0])), max_size=40)


def check(x: PPPoS) -> None:
    link = x.link
    assert isinstance(link.lcp.state, State)
    if link.phase in (Phase.AUTHENTICATE, Phase.NETWORK):
        assert link.lcp.state is State.OPENED
    if link.lcp.state is not State.OPENED:
        assert not any(cp.is_open for cp in link.ncps)
    assert link.ip4_open <= (link.ipcp.state is State.OPENED)  # Opened without an address stays closed
    assert link.ip6_open == (link.ipv6cp.state is State.OPENED)
    for cp in (link.lcp, *link.ncps):
        if cp.deadline is not None:
            assert cp.state in TIMED
        elif cp.state in TIMED:
            raise AssertionError(f"{cp.name} in {cp.state.name} without a restart deadline")
    if link.finished:
        assert link.phase is Phase.DEAD
    t = x.get_timer()
    assert t is None or isinstance(t, float | int)


def drive(x: PPPoS, chunks: list[tuple[bytes, float]], now: float) -> None:
    for data, dt in chunks:
        now += dt
        t = x.get_timer()
        if t is not None and t <= now:
            x.handle_timer(now)
            check(x)
        x.receive_data(data, now)
        x.data_to_send()
        x.take_packets()
        while x.next_event() is not None:
            pass
        check(x)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream, st.booleans())
def test_fresh_link_survives_any_stream(chunks: list[tuple[bytes, float]], as_server: bool) -> None:
    x = server(require_chap=True, secrets={"": ""}) if as_server else client()
    x.open(0.0)
    drive(x, chunks, 0.0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream, st.integers(0, 3))
def test_open_link_survives_any_stream(chunks: list[tuple[bytes, float]], split: int) -> None:
    w = Wire(client(lcp_echo_interval=5, lcp_echo_failure=3), server())
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w))
    check(w.a)
    data = b"".join(c for c, _ in chunks)
    if split:  # the same bytes, cut into pieces of 1..3 octets
        drive(w.a, [(data[i:i + split], 0.0) for i in range(0, len(data), split)], w.now)
    else:
        drive(w.a, chunks, w.now)
