"""The receive fast path (native/pppframe.c via hdlc.IpSplit) against the per-frame Python loop
it replaces: same IP packets in the same order, same Link inputs in the same order (with IPv4 /
IPv6 opening and closing between frames of one read), same counters; hostile frame ends never
make it read or write outside its buffers.  The Python loop is the oracle: pppos runs it when
hdlc.IpSplit is None (the pure-Python backend)."""

from __future__ import annotations

import os
import random
from array import array

import pytest

from pppstack import hdlc, pppos
from pppstack.config import LinkConfig

pytestmark = pytest.mark.skipif(hdlc.IpSplit is None, reason="needs the C framing core")


def _link(fast: bool, monkeypatch: pytest.MonkeyPatch, ip4: bool, ip6: bool) -> tuple[pppos.PPPoS, list]:
    """A PPPoS whose Link records what it is handed; LCP/IPCP frames whose first info octet
    is 0xA4 / 0xA6 toggle IPv4 / IPv6 (so a read changes the rules halfway through)."""
    link = pppos.PPPoS(LinkConfig(), rng=os.urandom)
    got: list = []

    def receive(proto: int, info: bytes, now: float) -> None:
        assert type(info) is bytes
        got.append((proto, info))
        if info[:1] == b"\xa4":
            link.link.ip4_open = not link.link.ip4_open
        elif info[:1] == b"\xa6":
            link.link.ip6_open = not link.link.ip6_open

    link.link.receive = receive  # type: ignore[method-assign]
    link.link.ip4_open, link.link.ip6_open = ip4, ip6
    return link, got


def _frame(rng: random.Random, acfc: bool, pfc: bool) -> bytes:
    kind = rng.choice(["ip4", "ip4", "ip6", "ip6", "lcp", "ipcp", "toggle", "empty_ip", "bad"])
    head = b"" if acfc and rng.random() < 0.8 else b"\xff\x03"
    payload = rng.randbytes(rng.choice([0, 1, 2, 20, 40, 600, 1500]))
    if kind in ("ip4", "ip6", "empty_ip"):
        p = 0x21 if kind != "ip6" and rng.random() < 0.5 or kind == "ip4" else 0x57
        proto = bytes((p,)) if pfc and rng.random() < 0.7 else bytes((0, p))
        return head + proto + (b"" if kind == "empty_ip" else payload or b"\x45")
    if kind == "lcp":
        return b"\xff\x03\xc0\x21" + payload
    if kind == "ipcp":
        return head + b"\x80\x21" + payload
    if kind == "toggle":
        return head + b"\x80\x57" + rng.choice([b"\xa4", b"\xa6"]) + payload
    return rng.choice([b"\xff", b"\xff\x03", b"\xff\x05\x00\x21" + payload, b"\xff\x03\x00",
                       b"\x00\x20" + payload, b"\x00", b"\xff\x03\x21\x21", b"\x02\x21" + payload])


def _run(fast: bool, stream: bytes, cuts: list[int], monkeypatch: pytest.MonkeyPatch,
         ip4: bool, ip6: bool, packed: bool, mixed: bool = False) -> tuple:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(pppos, "_IpSplit", None)
        else:  # every read in C, or (mixed) small reads in Python and large ones in C
            m.setattr(pppos, "_SPLIT_MIN", 0 if not mixed else 4)
        link, got = _link(fast, m, ip4, ip6)
        packets: list[bytes] = []
        prev = 0
        for cut in [*cuts, len(stream)]:
            link.receive_data(stream[prev:cut], 0.0)
            prev = cut
            if packed:
                for batch in link.take_packed():
                    assert batch.nbytes == sum(batch.lens.tolist())
                    packets.extend(bytes(v) for v in batch.views())
            else:
                packets.extend(bytes(p) for p in link.take_packets())
        s = link.link.stats
        return packets, got, s.bad_frames, s.ip_packets_in, link.link.rx_frames, link.data_to_send()


@pytest.mark.parametrize("seed", range(40))
def test_fast_path_matches_the_python_loop(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    acfc, pfc = rng.random() < 0.5, rng.random() < 0.5
    frames = [_frame(rng, acfc, pfc) for _ in range(rng.randrange(1, 300))]
    stream = b"".join(hdlc.encode(f, 0) for f in frames)
    cuts = sorted(rng.sample(range(len(stream)), min(len(stream), rng.randrange(0, 40))))
    ip4, ip6 = rng.random() < 0.7, rng.random() < 0.7
    packed = seed % 2 == 0
    want = _run(False, stream, cuts, monkeypatch, ip4, ip6, packed)
    got = _run(True, stream, cuts, monkeypatch, ip4, ip6, packed)
    assert got == want
    assert _run(True, stream, cuts, monkeypatch, ip4, ip6, packed, mixed=True) == want
    assert want[0] or want[1] or want[2]  # the mix gave the paths something to disagree on


def test_control_frames_change_the_rules_for_the_frames_after_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """In one read: an IPv4 packet, a frame closing IPv4, an IPv4 frame (now the Link's), a
    frame opening it again, an IPv4 packet: the first and last go to take_packets."""
    frames = [b"\xff\x03\x00\x21E1", b"\xff\x03\x80\x57\xa4", b"\xff\x03\x00\x21E2",
              b"\xff\x03\x80\x57\xa4", b"\x21E3", b"\xff\x05\x00\x21", b"\xff\x03\x00\x57E6"]
    monkeypatch.setattr(pppos, "_SPLIT_MIN", 0)  # these few frames in C too
    link, got = _link(True, monkeypatch, True, False)
    link.receive_data(b"".join(hdlc.encode(f, 0) for f in frames), 0.0)
    assert [bytes(p) for p in link.take_packets()] == [b"E1", b"E3"]
    assert got == [(0x8057, b"\xa4"), (0x21, b"E2"), (0x8057, b"\xa4"), (0x57, b"E6")]
    assert link.link.stats.bad_frames == 1 and link.link.stats.ip_packets_in == 2


def test_take_packed_and_take_packets_count_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pppos, "_SPLIT_MIN", 0)  # these few frames in C too
    link, _ = _link(True, monkeypatch, True, True)
    link.receive_data(hdlc.encode(b"\x21abc", 0) + hdlc.encode(b"\x57de", 0), 0.0)
    (batch,) = link.take_packed()
    assert bytes(batch.buffer) == b"abcde" and batch.lens.tolist() == [3, 2]
    assert link.take_packed() == [] and link.take_packets() == []
    assert link.link.stats.ip_packets_in == 2


@pytest.mark.parametrize("ends", [[5, 3], [100], [2, 2, 70000], [2**64 - 1]])
def test_hostile_frame_ends_are_refused(ends: list[int]) -> None:
    batch = hdlc.FrameBatch(b"\x21abcdefgh", ends)
    split = hdlc.IpSplit()
    split.start(batch)
    with pytest.raises(RuntimeError):
        split.run(0, True, True)


def test_short_frames_never_read_past_their_end() -> None:
    """Frames cut right after their header octets: the C parser must not take the next frame's
    first octet as their protocol (each is bad, or empty IP, never a packet)."""
    buf = b"\xff" + b"\xff\x03" + b"\x00" + b"\x21" + b"\x21abc"
    split = hdlc.IpSplit()
    split.start(hdlc.FrameBatch(buf, [1, 3, 4, 5, 9]))
    assert split.run(0, True, True) == 3  # the empty IPv4 frame goes to the Link, as in Python
    assert split.bad == 3
    assert split.control(3) == (0x21, b"")
    assert split.run(4, True, True) == 5
    packets = split.packets()
    assert packets is not None and bytes(packets.buffer) == b"abc" and packets.lens.tolist() == [3]


def test_coalesce_packed_equals_coalesce() -> None:
    from pppstack import offload
    if not offload.available:
        pytest.skip("needs the C core")
    rng = random.Random(7)
    packets = [bytes((0x45,)) + rng.randbytes(rng.randrange(19, 300)) for _ in range(50)]
    a, b = offload.TunOffload(), offload.TunOffload()
    units, segs = a.coalesce(packets)
    want = ([bytes(u) for u in units], segs)
    units, segs = b.coalesce_packed(b"".join(packets), memoryview(array("Q", map(len, packets))))
    assert ([bytes(u) for u in units], segs) == want
    with pytest.raises(TypeError):
        b.coalesce_packed(b"".join(packets), memoryview(array("Q", [1] * 50)))


def _tx_run(fast: bool, packets: list[bytes], ip4: bool, ip6: bool, acfc: bool, pfc: bool,
            monkeypatch: pytest.MonkeyPatch) -> tuple:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(pppos, "_encode_ip_packed", None)
        link, _ = _link(fast, m, ip4, ip6)
        link._tx_accm = 0x000A0000
        link._ip4_head = (b"" if acfc else b"\xff\x03") + (b"\x21" if pfc else b"\x00\x21")
        link._ip6_head = (b"" if acfc else b"\xff\x03") + (b"\x57" if pfc else b"\x00\x57")
        ends = memoryview(array("Q", [sum(map(len, packets[:i + 1])) for i in range(len(packets))]))
        link.send_ip_packed(b"".join(packets), ends, 0.0)
        s = link.link.stats
        return link.data_to_send(), s.ip_packets_out, s.ip_dropped_out


@pytest.mark.parametrize("seed", range(30))
def test_send_packed_matches_send_ip_many(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """send_ip_packed in C gives the bytes and counters of send_ip_many over the same packets
    (the Python fallback is send_ip_many over slices), and both decode back to the packets."""
    rng = random.Random(seed)
    packets = [rng.choice([b"\x45", b"\x60", b"\x50", b"\x00", b""]) + rng.randbytes(rng.choice([0, 1, 30, 1400]))
               for _ in range(rng.randrange(1, 120))]
    packets = [p for p in packets if p or rng.random() < 0.5]
    args = (rng.random() < 0.7, rng.random() < 0.7, rng.random() < 0.5, rng.random() < 0.5)
    want = _tx_run(False, packets, *args, monkeypatch)
    got = _tx_run(True, packets, *args, monkeypatch)
    # send_ip_many encodes each run of one IP version on its own (flag ... flag, flag ... flag):
    # the same frames, one flag more where the version changes; a raw 7E is only ever a flag
    assert (want[0].replace(b"~~", b"~"), *want[1:]) == got
    assert got[1] + got[2] == len(packets)
    dec = hdlc.Decoder(accm=0, mru=2000)
    heads = {4: _tx_head(args, 0x21), 6: _tx_head(args, 0x57)}
    framed = [heads[p[0] >> 4] + p for p in packets if p and (p[0] >> 4 == 4 and args[0] or p[0] >> 4 == 6 and args[1])]
    assert dec.feed(got[0]) == framed


def _tx_head(args: tuple, proto: int) -> bytes:
    return (b"" if args[2] else b"\xff\x03") + (bytes((proto,)) if args[3] else bytes((0, proto)))


def test_send_packed_refuses_ends_outside_the_buffer() -> None:
    for ends in ([5, 3], [100], [2**64 - 1]):
        with pytest.raises(ValueError):
            hdlc.encode_ip_packed(b"\x45abcdefgh", memoryview(array("Q", ends)), 0, b"\x21", b"\x57", True, True)


def test_split_packed_equals_split() -> None:
    from pppstack import offload
    if not offload.available:
        pytest.skip("needs the C core")
    rng = random.Random(3)
    reads = [offload.ZERO_HDR + b"\x45" + rng.randbytes(rng.randrange(19, 1400)) for _ in range(40)]
    want = [bytes(p) for p in offload.TunOffload().split(reads)]
    got = []
    for data, ends in offload.TunOffload().split_packed(reads):
        starts = [0, *ends.tolist()]
        got += [bytes(data[a:b]) for a, b in zip(starts, starts[1:], strict=False)]
    assert got == want and len(got) > 0


def test_small_and_large_reads_keep_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads in Python (few frames) and in C (many) between two take_packets: in read order."""
    link, _ = _link(True, monkeypatch, True, True)
    small = [b"\x21s%d" % i for i in range(2)]
    large = [b"\x21L%d" % i for i in range(pppos._SPLIT_MIN)]
    for group in (small, large, small, large):
        link.receive_data(b"".join(hdlc.encode(f, 0) for f in group), 0.0)
    want = [f[1:] for f in small + large + small + large]
    assert [bytes(p) for p in link.take_packets()] == want
    for group in (large, small):
        link.receive_data(b"".join(hdlc.encode(f, 0) for f in group), 0.0)
    assert [bytes(v) for p in link.take_packed() for v in p.views()] == [f[1:] for f in large + small]
    assert link.link.stats.ip_packets_in == len(want) + len(large) + len(small)
