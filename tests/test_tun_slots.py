"""Batched TUN reads framed in place (native/tunio.c, TunDevice.read_slots, PPPoS.send_ip_slots).

A SOCK_SEQPACKET socket pair stands in for the TUN: like a TUN, one read is one packet and an
empty socket answers EAGAIN.  The slotted send path must frame exactly what the per-packet path
(send_ip_many) frames, under every header length (ACFC/PFC), either IP protocol closed, and
packets that cannot go (not IP), and count the same.
"""

from __future__ import annotations

import os
import random
import socket

import pytest

from pppstack import hdlc
from pppstack import pppos as pppos_mod
from pppstack.config import LinkConfig
from pppstack.io import tun as tunmod
from pppstack.link import FramingChange
from pppstack.pppos import PPPoS

if not tunmod._TUNIO:
    pytest.fail("the C core with native/tunio.c is not built (CI builds it; PPPSTACK_TUN_BATCH_C=0 unset?)",
                pytrace=False)


@pytest.fixture
def dev():  # noqa: ANN201
    """(TunDevice over one end, the other end to send packets with)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setblocking(False)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    d = tunmod.TunDevice(a.fileno(), "seqpacket")
    assert d.slots_available
    yield d, b
    a.close()
    b.close()


def _slot_packets(slots: tunmod.Slots, room: int) -> list[bytes]:
    out, off = [], 0
    for i in range(slots.count):
        out.append(bytes(slots.view[off + room:off + slots.lens[i]]))
        off += slots.lens[i]
    assert off == slots.total
    return out


@pytest.mark.parametrize("room", [0, 1, 2, 4])
def test_read_slots_lays_packets_out_behind_their_room(dev, room: int) -> None:  # noqa: ANN001
    d, peer = dev
    sent = [os.urandom(random.Random(i).randrange(1, 1600)) for i in range(40)]
    for p in sent:
        peer.send(p)
    slots = d.read_slots(256, room)
    assert _slot_packets(slots, room) == sent
    assert d.read_slots(256, room).count == 0          # EAGAIN: an empty batch, no exception


def test_read_slots_stops_at_the_limit_and_the_budget(dev) -> None:  # noqa: ANN001
    d, peer = dev
    for i in range(300):
        peer.send(bytes([i % 256]) * 1500)
    first = d.read_slots(8, 4)
    assert first.count == 8                              # the limit
    got = _slot_packets(first, 4)
    rounds = 0
    while True:
        s = d.read_slots(256, 4)
        if not s.count:
            break
        assert s.total <= tunmod.SLOTS_BUDGET + 4 + 1500   # the byte budget holds a batch down
        got += _slot_packets(s, 4)
        rounds += 1
    assert rounds >= 2 and got == [bytes([i % 256]) * 1500 for i in range(300)]   # nothing lost, in order


def test_a_packet_as_long_as_an_ip_packet_can_be_is_read_whole(dev) -> None:  # noqa: ANN001
    d, peer = dev
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    big = os.urandom(65000)
    peer.send(big)
    assert _slot_packets(d.read_slots(256, 4), 4) == [big]


def test_read_errors_are_raised_as_os_read_raises_them() -> None:
    r, w = os.pipe()
    os.close(r)
    d = tunmod.TunDevice(w, "closed")      # reading a pipe's write end: EBADF
    try:
        with pytest.raises(OSError):
            d.read_slots(16, 4)
    finally:
        os.close(w)


def _open_pair(pfc: bool, acfc: bool, ip4: bool, ip6: bool) -> tuple[PPPoS, PPPoS]:
    """Two engines in the state the data path sees: each protocol open or not, ACFC/PFC applied."""
    out = []
    for _ in range(2):
        p = PPPoS(LinkConfig(user="", password=""), os.urandom)
        p._apply(FramingChange(tx_accm=0, pfc=pfc, acfc=acfc))
        p.link.ip4_open, p.link.ip6_open = ip4, ip6
        out.append(p)
    return out[0], out[1]


def _frames(data: bytes) -> list[bytes]:
    dec = hdlc.Decoder(accm=0)
    frames = [bytes(f) for f in dec.feed(data)]
    assert not dec.take_garbage() and dec.counters.bad_fcs == 0
    return frames


def _packet(rng: random.Random) -> bytes:
    kind = rng.random()
    size = rng.choice([1, 20, 40, 64, 576, 1280, 1500])
    body = bytes(rng.randrange(256) for _ in range(size))
    if kind < 0.45:
        return bytes([0x45]) + body
    if kind < 0.9:
        return bytes([0x60]) + body
    if kind < 0.95:
        return bytes([0x50]) + body     # neither IPv4 nor IPv6
    return bytes([0x40])                # one byte: a version nibble and nothing else


@pytest.mark.parametrize("pfc,acfc", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("ip4,ip6", [(True, True), (True, False), (False, True)])
def test_slotted_framing_equals_the_per_packet_path(dev, pfc: bool, acfc: bool, ip4: bool, ip6: bool) -> None:  # noqa: ANN001
    """The same frames and counters as send_ip_many, batch by batch, whatever the batch holds."""
    d, peer = dev
    slotted, plain = _open_pair(pfc, acfc, ip4, ip6)
    rng = random.Random(f"{pfc}{acfc}{ip4}{ip6}")
    clean_batches = 0
    for _ in range(60):
        batch = [_packet(rng) for _ in range(rng.choice([1, 2, 5, 40]))]
        if rng.random() < 0.5:   # most batches of a link carry only what may go
            batch = [p for p in batch if p and (p[0] >> 4 == 4 and ip4 or p[0] >> 4 == 6 and ip6)] or [b"\x45" * 20]
        for p in batch:
            peer.send(p)
        slots = d.read_slots(256, slotted.slots_headroom)
        assert slots.count == len(batch)
        clean_batches += all(p and (p[0] >> 4 == 4 and ip4 or p[0] >> 4 == 6 and ip6) for p in batch)
        slotted.send_ip_slots(slots, 0.0)
        plain.send_ip_many(batch, 0.0)
        mine, theirs = slotted.data_to_send(), plain.data_to_send()
        # the same frames; a batch of mixed IPv4/IPv6 shares flags between runs, so never longer
        assert _frames(mine) == _frames(theirs) and len(mine) <= len(theirs)
        assert (slotted.link.stats.ip_packets_out, slotted.link.stats.ip_dropped_out) == \
            (plain.link.stats.ip_packets_out, plain.link.stats.ip_dropped_out)
    assert clean_batches >= 20 and plain.link.stats.ip_dropped_out > 0   # both ways were taken


def test_the_heads_go_where_the_deframer_finds_them(dev) -> None:  # noqa: ANN001
    """Framed slots decode (C or Python deframer) to header + packet, every head length."""
    d, peer = dev
    for pfc, acfc in ((False, False), (True, True)):
        sender, _ = _open_pair(pfc, acfc, True, True)
        sent = [bytes([0x45]) + os.urandom(99), bytes([0x60]) + os.urandom(1279)]
        for p in sent:
            peer.send(p)
        sender.send_ip_slots(d.read_slots(256, sender.slots_headroom), 0.0)
        want = [sender._ip4_head + sent[0], sender._ip6_head + sent[1]]
        assert _frames(sender.data_to_send()) == want


# -- the receive side: C header walk (hdlc.ip_spans) and batched TUN writes (write_ip) ----------

def _seeded(seed: str):  # noqa: ANN202
    rng = random.Random(seed)
    return lambda n: bytes(rng.randrange(256) for _ in range(n))


def _frame_stream(rng: random.Random, acfc: bool, pfc: bool) -> tuple[bytes, int]:
    """HDLC bytes of a mix a link may see: IP packets of either version under any header form
    the peer may use, LCP, protocols nobody speaks, and malformed headers.  Returns the bytes and
    how many frames they hold."""
    frames = []
    for _ in range(rng.randrange(1, 40)):
        r = rng.random()
        body = bytes(rng.randrange(256) for _ in range(rng.choice([1, 20, 60, 1400])))
        addr = b"" if acfc and rng.random() < 0.8 else b"\xff\x03"
        if r < 0.7:
            proto = rng.choice([0x21, 0x57])
            field = bytes([proto]) if pfc and rng.random() < 0.8 else proto.to_bytes(2, "big")
            frames.append(addr + field + (bytes([0x45 if proto == 0x21 else 0x60]) + body))
        elif r < 0.75:
            frames.append(addr + (b"\x21" if pfc else b"\x00\x21"))          # IP with no packet
        elif r < 0.82:
            frames.append(b"\xff\x03\xc0\x21\x09\x01\x00\x08" + bytes(4))   # LCP Echo-Request
        elif r < 0.88:
            frames.append(addr + b"\x80\x57" + body)                        # IPv6CP
        elif r < 0.93:
            frames.append(addr + b"\x00\x3d" + body)                        # an unknown protocol
        elif r < 0.97:
            frames.append(b"\xff\x05\x00\x21" + body)                       # a bad control field
        else:
            frames.append(addr + b"\x02\x02" + body)                        # protocol field not ending odd
    return b"".join(hdlc.encode(f, 0) for f in frames), len(frames)


@pytest.mark.parametrize("seed", range(12))
def test_the_c_header_walk_equals_the_per_frame_loop(monkeypatch, seed: int) -> None:  # noqa: ANN001
    """Reads of any size through the C walk and through the Python loop: the same packets in the
    same order, the same counters, events and answers (Protocol-Rejects, Echo-Replies)."""
    rng = random.Random(seed)
    acfc, pfc = rng.random() < 0.5, rng.random() < 0.5
    ip4, ip6 = rng.choice([(True, True), (True, False), (False, True)])
    engines = []
    for _ in range(2):
        p = PPPoS(LinkConfig(user="", password=""), _seeded(str(seed)))
        p.link.ip4_open, p.link.ip6_open = ip4, ip6
        engines.append(p)
    walked = 0
    for _ in range(10):
        data, nframes = _frame_stream(rng, acfc, pfc)
        walked += nframes >= pppos_mod.RUN_MIN
        got = []
        for p, c_walk in zip(engines, (True, False), strict=True):
            if not c_walk:
                monkeypatch.setattr(pppos_mod.hdlc, "ip_spans", None)
            p.receive_data(data, 0.0)
            monkeypatch.undo()
            events = []
            while (e := p.next_event()) is not None:
                events.append(e)
            got.append(([bytes(x) for x in p.take_packets()], vars(p.link.stats).copy(), events, p.data_to_send()))
        assert got[0] == got[1]
    assert walked >= 3     # the C walk was taken


def test_write_ip_writes_runs_and_single_packets_in_order(dev) -> None:  # noqa: ANN001
    d, peer = dev
    peer.setblocking(False)
    p = PPPoS(LinkConfig(user="", password=""), os.urandom)
    p.link.ip4_open = p.link.ip6_open = True
    sent = []
    for size in (30, 1, 12, 3):       # runs (12 and 30 frames) and reads below RUN_MIN
        pk = [bytes([0x45]) + os.urandom(random.randrange(20, 1400)) for _ in range(size)]
        p.receive_data(b"".join(hdlc.encode(b"\xff\x03\x00\x21" + x, 0) for x in pk), 0.0)
        sent += pk
    items, n = p.take_ip()
    assert n == len(sent) and any(type(x) is pppos_mod.PacketRun for x in items)
    assert d.write_ip(items) == n and d.write_errors == 0
    assert [peer.recv(2000) for _ in range(n)] == sent
    assert p.link.stats.ip_packets_in == n


def test_write_ip_counts_what_the_kernel_refuses() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setblocking(False)
    b.close()                           # every write now fails (EPIPE)
    try:
        d = tunmod.TunDevice(a.fileno(), "refusing")
        p = PPPoS(LinkConfig(user="", password=""), os.urandom)
        p.link.ip4_open = True
        p.receive_data(b"".join(hdlc.encode(b"\xff\x03\x00\x21\x45" + bytes(40), 0) for _ in range(10)), 0.0)
        items, n = p.take_ip()
        assert n == 10 and d.write_ip(items) == 0 and d.write_errors == 10
    finally:
        a.close()
