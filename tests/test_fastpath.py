"""The C fast path (native/pump.c, pppstack/io/fastpath.py): while the link only carries IP
packets, one C loop moves them between the TUN and the serial port.

A SOCK_SEQPACKET pair stands in for the TUN (one read is one packet) and a SOCK_STREAM pair for
the serial line.  What the fast path carries must be what the engine's own path makes of the
same bytes: the same packets in the same order, the same counters, events and answers, with a
stream cut anywhere across hand-overs between the two (they share the engine's C decoder), and
every frame that is not an IP packet of an open protocol left to the engine.
"""

from __future__ import annotations

import os
import random
import socket
import time

import pytest
from test_tun_slots import _frame_stream, _frames, _open_pair, _packet, _seeded

from pppstack import hdlc
from pppstack.config import LinkConfig
from pppstack.fsm.automaton import State
from pppstack.io import fastpath
from pppstack.io import pppdriver as driver_mod
from pppstack.io import tun as tunmod
from pppstack.io.pppdriver import PppDriver
from pppstack.io.tracetap import IDLE_GRACE, TraceTap
from pppstack.pppos import PPPoS

if not fastpath.enabled():
    pytest.fail("the C fast path is not built or is switched off (PPPSTACK_FASTPATH=0?): CI builds it",
                pytrace=False)


class Wire:
    """The fds a FastPath runs on: TUN and port stand-ins, each with its far end, and a wake pipe."""

    def __init__(self) -> None:
        self.tun, self.tun_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.port, self.port_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for s in (self.tun, self.port):
            s.setblocking(False)
        self.tun_peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.tun.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)   # a TUN takes every write
        self.tun_peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.tun_peer.settimeout(2)
        self.port_peer.settimeout(2)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK)
        self.fp = fastpath.FastPath(self.tun.fileno(), self.port.fileno(), self.port.fileno(), self.wake_r)

    def close(self) -> None:
        for s in (self.tun, self.tun_peer, self.port, self.port_peer):
            s.close()
        os.close(self.wake_r)
        os.close(self.wake_w)

    def tun_packets(self) -> list[bytes]:
        out = []
        self.tun_peer.setblocking(False)
        try:
            while True:
                out.append(self.tun_peer.recv(70000))
        except BlockingIOError:
            pass
        self.tun_peer.settimeout(2)
        return out

    def port_bytes(self) -> bytes:
        out = b""
        self.port_peer.setblocking(False)
        try:
            while chunk := self.port_peer.recv(1 << 20):
                out += chunk
        except BlockingIOError:
            pass
        self.port_peer.settimeout(2)
        return out


@pytest.fixture
def wire():  # noqa: ANN201
    w = Wire()
    yield w
    w.close()


def _hand_over(engine: PPPoS, fp: fastpath.FastPath, st) -> None:  # noqa: ANN001
    """What the driver does after a run (PppDriver._run_fast), minus its own counters."""
    engine.fast_path_done(st.rx_frames, st.packets_in, st.packets_out - st.dropped_out, st.dropped_out)
    if st.reason == fastpath.PUMP_FRAMES:
        if st.ngarbage:
            engine.modem_text(fp.garbage())
        if st.stop < st.nframes:
            engine.receive_frames(fp.frames(), 0.0)


def _drain(engine: PPPoS) -> tuple[list, bytes]:
    events = []
    while (e := engine.next_event()) is not None:
        events.append(e)
    return events, engine.data_to_send()


@pytest.mark.parametrize("seed", range(10))
def test_receiving_through_the_fast_path_equals_the_engine(wire: Wire, seed: int) -> None:
    """Random streams (IP under every header form, LCP, IPv6CP, unknown protocols, bad headers,
    text between frames) cut at random points; each piece goes through the fast path or, at
    random, straight into the engine, and must come out as the engine alone makes it."""
    rng = random.Random(seed)
    acfc, pfc = rng.random() < 0.5, rng.random() < 0.5
    ip4, ip6 = rng.choice([(True, True), (True, False), (False, True)])
    engines = []
    for _ in range(2):
        p = PPPoS(LinkConfig(user="", password=""), _seeded(str(seed)))
        p.link.ip4_open, p.link.ip6_open = ip4, ip6
        engines.append(p)
    fast, alone = engines
    stream = b""
    for _ in range(6):
        data, _ = _frame_stream(rng, acfc, pfc)
        stream += data
        if rng.random() < 0.3:
            stream += b"\r\nNO CARRIER\r\n"
    alone.receive_data(stream, 0.0)
    want = ([bytes(x) for x in alone.take_packets()], vars(alone.link.stats).copy(), alone.link.rx_frames,
            *_drain(alone))
    got_packets: list[bytes] = []
    pos, runs = 0, 0
    while pos < len(stream):
        cut = min(len(stream), pos + rng.choice([1, 7, 500, 3000, 20000]))
        piece = stream[pos:cut]
        pos = cut
        if rng.random() < 0.25:          # the engine's own path takes this piece
            fast.receive_data(piece, 0.0)
        else:
            # fast_path() says None while answers wait; the test hands over regardless, to cut anywhere
            params = (fast._decoder.c_handle, fast._ip4_head if ip4 else b"", fast._ip6_head if ip6 else b"", 0,
                      fast._decoder.max_kept)
            wire.port_peer.sendall(piece)
            st = wire.fp.run(params, 0.02)
            runs += 1
            assert st.serial_in == len(piece) and st.reason in (fastpath.PUMP_FRAMES, 0), st.reason
            _hand_over(fast, wire.fp, st)
        got_packets += wire.tun_packets() + [bytes(x) for x in fast.take_packets()]
    assert runs
    got = (got_packets, vars(fast.link.stats).copy(), fast.link.rx_frames, *_drain(fast))
    assert got == want


def test_a_read_behind_a_carried_frame_fits_the_decode_buffer(wire: Wire) -> None:
    """A frame cut by one read is carried by the decoder; the next read is cut to what the
    decoded-frames buffer holds behind it, and nothing is lost however much the port has."""
    fast, alone = _open_pair(False, False, True, True)
    packets = [bytes([0x45]) + os.urandom(1499) for _ in range(300)]
    stream = b"".join(hdlc.encode(b"\xff\x03\x00\x21" + p, 0) for p in packets)
    wire.port_peer.sendall(stream[:1000])                     # the first frame, cut
    st = wire.fp.run(fast.fast_path(), 0.02)
    assert st.serial_in == 1000 and st.rx_frames == 0
    got = []
    wire.port.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    rest = stream[1000:]
    errors = 0
    while rest:
        n = wire.port_peer.send(rest[:400000])
        rest = rest[n:]
        errors += wire.fp.run(fast.fast_path(), 0.02).tun_write_errors
        got += wire.tun_packets()
    for _ in range(5):
        errors += wire.fp.run(fast.fast_path(), 0.01).tun_write_errors
        got += wire.tun_packets()
    assert errors == 0 and got == packets


@pytest.mark.parametrize("pfc,acfc", [(False, False), (True, True)])
@pytest.mark.parametrize("ip4,ip6", [(True, True), (True, False), (False, True)])
def test_sending_through_the_fast_path_frames_as_the_engine(wire: Wire, pfc: bool, acfc: bool, ip4: bool,
                                                             ip6: bool) -> None:
    rng = random.Random(f"{pfc}{acfc}{ip4}{ip6}")
    fast, plain = _open_pair(pfc, acfc, ip4, ip6)
    packets = [_packet(rng) for _ in range(300)]
    for p in packets:
        wire.tun_peer.send(p)
    st = wire.fp.run(fast.fast_path(), 0.05)
    _hand_over(fast, wire.fp, st)
    sent = wire.port_bytes()
    assert st.reason == 0 and st.out_len == 0 and st.serial_out == len(sent)
    plain.send_ip_many(packets, 0.0)
    assert _frames(sent) == _frames(plain.data_to_send())
    assert vars(fast.link.stats) == vars(plain.link.stats)
    assert st.packets_out == len(packets) and st.bytes_out == sum(map(len, packets))


def test_it_returns_on_a_wake_and_on_its_deadline(wire: Wire) -> None:
    engine, _ = _open_pair(False, False, True, True)
    t0 = time.monotonic()
    st = wire.fp.run(engine.fast_path(), 0.1)
    assert st.reason == 0 and 0.09 <= time.monotonic() - t0 < 1.0        # the deadline
    os.write(wire.wake_w, b"!")
    t0 = time.monotonic()
    st = wire.fp.run(engine.fast_path(), 5.0)
    assert st.reason == fastpath.REASONS.index("wake") and time.monotonic() - t0 < 1.0
    assert os.read(wire.wake_r, 10) == b"!"                             # left for the loop to drain


def test_an_ended_port_is_left_to_the_driver(wire: Wire) -> None:
    engine, _ = _open_pair(False, False, True, True)
    wire.port_peer.close()
    st = wire.fp.run(engine.fast_path(), 1.0)
    assert st.reason == fastpath.REASONS.index("port") and st.serial_in == 0
    assert wire.port.recv(10) == b""                                     # the driver's read meets it too


def test_bytes_the_port_does_not_take_are_handed_back_in_order(wire: Wire) -> None:
    engine, _ = _open_pair(False, False, True, True)
    wire.port.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    before = [bytes([0x45]) + os.urandom(999) for _ in range(10)]
    waiting = b"".join(hdlc.encode(b"\xff\x03\x00\x21" + p, 0) for p in before)   # what the driver had
    packets = [bytes([0x45]) + os.urandom(1399) for _ in range(200)]
    for p in packets:
        wire.tun_peer.send(p)
    st = wire.fp.run(engine.fast_path(), 0.05, waiting)                  # nobody reads the port
    assert st.reason == 0 and st.out_len > 0
    assert st.out_len <= fastpath.OUT_HIGH + 2 * 1500 + 64 + len(waiting)   # it stopped reading the TUN
    rest = wire.fp.pending_out()
    got = wire.port_bytes()
    assert (got + rest).startswith(waiting)
    left = st.packets_out
    assert _frames(got + rest) == [b"\xff\x03\x00\x21" + p for p in before + packets[:left]]
    rest = b""   # (taken as a whole above; the next runs start clean)
    # the driver hands what waits back in on the next run, and the reader now keeps up
    stream, carried = b"", left
    pending = rest
    for _ in range(200):
        st = wire.fp.run(engine.fast_path(), 0.01, pending)
        pending = wire.fp.pending_out()
        carried += st.packets_out
        stream += wire.port_bytes()
        if carried == len(packets) and not pending:
            break
    assert _frames(stream) == [b"\xff\x03\x00\x21" + p for p in packets[left:]]


class _Port:
    """A stream socket as the serial port the driver reads and writes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.write_fd = sock, sock.fileno()

    def fileno(self) -> int:
        return self.sock.fileno()

    def carrier(self) -> None:
        return None


def test_the_driver_hands_control_frames_to_the_engine_and_keeps_order(wire: Wire, monkeypatch) -> None:  # noqa: ANN001
    """Through PppDriver: IP frames, an LCP Echo-Request and more IP frames in one read; every
    packet reaches the TUN in order, the engine answers the echo, and the counters add up."""
    monkeypatch.setattr(driver_mod, "MAX_WAIT", 0.05)
    engine, _ = _open_pair(False, False, True, True)
    engine.link.lcp.state = State.OPENED                 # Echo-Requests are answered only when open
    d = PppDriver(engine, _Port(wire.port), tunmod.TunDevice(wire.tun.fileno(), "seqpacket"))
    d.network_up = True
    d.enable_tun()
    fp = d.fast_path
    assert fp is not None
    d.enable_tun()                                       # IPv6 up enables the TUN again: the same buffers
    assert d.fast_path is fp
    first = [bytes([0x45]) + os.urandom(500) for _ in range(5)]
    then = [bytes([0x45]) + os.urandom(500) for _ in range(5)]
    echo = b"\xff\x03\xc0\x21\x09\x07\x00\x08" + bytes(4)      # LCP Echo-Request, id 7, magic 0
    data = b"".join(hdlc.encode(b"\xff\x03\x00\x21" + p, 0) for p in first) + hdlc.encode(echo, 0) + \
        b"".join(hdlc.encode(b"\xff\x03\x00\x21" + p, 0) for p in then)
    wire.port_peer.sendall(data)
    d._run_fast(time.monotonic())
    assert d.fast_path.reasons["frames"] == 1
    assert wire.tun_packets() == first + then
    assert d.counters.packets_in == 10 and d.counters.serial_in == len(data)
    assert engine.link.stats.ip_packets_in == 10 and engine.link.rx_frames == 11
    reply = _frames(engine.data_to_send())
    assert len(reply) == 1 and reply[0][2:5] == b"\xc0\x21\x0a"            # an Echo-Reply
    # and the other way: packets from the TUN leave framed, counted by the driver
    for p in first:
        wire.tun_peer.send(p)
    d._run_fast(time.monotonic())
    assert _frames(wire.port_bytes()) == [b"\xff\x03\x00\x21" + p for p in first]
    assert d.counters.packets_out == 5 and engine.link.stats.ip_packets_out == 5


def test_a_modem_that_hangs_up_under_the_fast_path_ends_the_link_in_the_usual_words(wire: Wire, monkeypatch) -> None:  # noqa: ANN001,E501
    """The fast path leaves an ended port unread; the driver's own read meets it and says why."""
    monkeypatch.setattr(driver_mod, "MAX_WAIT", 0.5)
    engine, _ = _open_pair(False, False, True, True)
    port = _Port(wire.port)
    port._classify = lambda exc, what: None              # (a SerialPort names USB and pty ends; a socket has none)
    d = PppDriver(engine, port, tunmod.TunDevice(wire.tun.fileno(), "seqpacket"))
    d.network_up = True
    d.enable_tun()
    packet = bytes([0x45]) + os.urandom(200)
    wire.port_peer.sendall(hdlc.encode(b"\xff\x03\x00\x21" + packet, 0))
    wire.port_peer.close()                               # the modem's end goes away
    t0 = time.monotonic()
    d._run_fast(t0)
    assert d.fast_path.reasons["port"] == 1 and time.monotonic() - t0 < 0.4
    assert wire.tun_packets() == [packet]                # what came before the end got through
    d._read_port(time.monotonic())
    assert d._end is not None and d._end.reason.name == "HANGUP" and "end of file" in d._end.message, d._end


def test_the_tap_lets_the_fast_path_run_only_when_nothing_would_be_recorded() -> None:
    tap = TraceTap()
    tap.network_up = lambda: True
    assert not tap.quiet(0.0)                           # the network has just come up: still scanning
    tap(False, b"\x7e" * 10, 0.0)
    assert not tap.quiet(1.0)
    assert tap.quiet(IDLE_GRACE + 1)                    # the grace is over, nobody watches
    tap.out = open(os.devnull, "w")                     # noqa: SIM115  `up --trace`
    try:
        assert not tap.quiet(IDLE_GRACE + 2)
    finally:
        tap.out.close()
    tap.out = None
    tap.network_up = lambda: False
    assert not tap.quiet(IDLE_GRACE + 3)


def test_it_can_be_switched_off(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PPPSTACK_FASTPATH", "0")
    assert not fastpath.enabled()
