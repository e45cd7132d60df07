"""Hostile NTBs: the cost of decoding one block is bounded by its size, whatever its pointers say.

The modem is on the other side of a USB cable and its firmware is not ours: an NTB whose NDP
chain loops, whose NDPs overlap, or whose datagram pointers all name the same big range must
cost no more than an honest block of the same size — no quadratic walk, no output larger than
twice the block, no exception but NtbError from the strict decoder, no internal error in the
counting one.  The blocks are built structurally (NTH, NDPs at chosen offsets with chosen
next-pointers and entries) so the fuzzer reaches the NDP walk instead of failing at the header.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncm import NtbDecoder, NtbError, NtbFault, NtbParameters, decode_ntb, encode_ntb
from ncm.ntb import (
    NDP16_NOCRC_SIGNATURE,
    NDP32_NOCRC_SIGNATURE,
    NTH16_SIGNATURE,
    NTH32_SIGNATURE,
    _walk,
)


def self_looping_ntb16(size: int) -> bytes:
    """NTH16 + one NDP16 filling the block, pointing to itself, every entry naming the whole
    rest of the block: the old walk copied it 50 times over (8 KiB -> 102 150 frames, 840 MB)."""
    n = (size - 12 - 8) // 4
    ndp = struct.pack("<IHH", NDP16_NOCRC_SIGNATURE, size - 12, 12) + struct.pack("<HH", 12, size - 12) * n
    return struct.pack("<IHHHH", NTH16_SIGNATURE, 12, 0, size, 12) + ndp


def self_looping_ntb32(size: int) -> bytes:
    n = (size - 16 - 16) // 8
    ndp = (struct.pack("<IHHII", NDP32_NOCRC_SIGNATURE, size - 16, 0, 16, 0)
           + struct.pack("<II", 16, size - 16) * n)
    return struct.pack("<IHHII", NTH32_SIGNATURE, 16, 0, size, 16) + ndp


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _peak_of(fn: object, *args: object) -> tuple[object, int]:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = fn(*args)  # type: ignore[operator]
    return out, tracemalloc.get_traced_memory()[1] - base


@pytest.mark.parametrize("build", [self_looping_ntb16, self_looping_ntb32], ids=["ntb16", "ntb32"])
def test_self_looping_ndp_decodes_in_under_10_ms_and_1_mb(build: object, traced: None) -> None:
    block = build(8192)  # type: ignore[operator]
    d = NtbDecoder()
    frames, peak = _peak_of(d.decode, block)
    assert peak < 1_000_000, f"decoding one 8 KiB NTB allocated {peak} bytes"
    assert isinstance(frames, list) and sum(map(len, frames)) <= 2 * len(block)
    assert d.counters["internal_errors"] == 0 and d.counters["bad_blocks"] == 1
    assert d.counters["too_many_datagrams"] + d.counters["ndp_loop"] >= 1
    tracemalloc.stop()               # time it untraced; best of a few runs on a shared machine
    best = min(_timed(d.decode, block) for _ in range(5))
    assert best < 0.010, f"{best * 1000:.1f} ms for one hostile 8 KiB NTB"


def _timed(fn: object, *args: object) -> float:
    t = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - t


def test_strict_decoder_raises_before_allocating(traced: None) -> None:
    block = self_looping_ntb16(4096)
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    with pytest.raises(NtbError) as exc:
        decode_ntb(block)
    peak = tracemalloc.get_traced_memory()[1] - base
    assert exc.value.fault in (NtbFault.TOO_MANY_DATAGRAMS, NtbFault.NDP_LOOP)
    assert peak < 100_000, f"strict decode of a 4 KiB NTB allocated {peak} bytes before raising"


def test_an_ndp_visited_twice_is_a_loop_even_through_another_ndp() -> None:
    # NDP A at 12 -> NDP B at 28 -> A again; each lists one honest datagram.
    frame = bytes(range(60))
    a = struct.pack("<IHHHHHH", NDP16_NOCRC_SIGNATURE, 16, 28, 44, 60, 0, 0)
    b = struct.pack("<IHHHHHH", NDP16_NOCRC_SIGNATURE, 16, 12, 44, 60, 0, 0)
    block = struct.pack("<IHHHH", NTH16_SIGNATURE, 12, 0, 104, 12) + a + b + frame
    d = NtbDecoder()
    assert d.decode(block) == [frame, frame]
    assert d.counters["ndp_loop"] == 1
    with pytest.raises(NtbError) as exc:
        decode_ntb(block)
    assert exc.value.fault is NtbFault.NDP_LOOP


def test_device_datagram_limit_is_enforced() -> None:
    frame = bytes(range(60))
    n = 5
    ndp = struct.pack("<IHH", NDP16_NOCRC_SIGNATURE, 8 + 4 * (n + 1), 0)
    start = 12 + len(ndp) + 4 * (n + 1)
    ndp += b"".join(struct.pack("<HH", start + 60 * i, 60) for i in range(n)) + b"\0\0\0\0"
    block = struct.pack("<IHHHH", NTH16_SIGNATURE, 12, 0, start + 60 * n, 12) + ndp + frame * n
    assert len(NtbDecoder().decode(block)) == n
    d = NtbDecoder(max_datagrams=3)
    assert len(d.decode(block)) == 3 and d.counters["too_many_datagrams"] == 1


# ------------------------------------------------------------------------------ the fuzzer

@st.composite
def hostile_ntbs(draw: st.DrawFn) -> bytes:
    ntb32 = draw(st.booleans())
    size = draw(st.integers(64, 4096)) // 4 * 4
    hlen, ndp_hdr, dpe = (16, 16, 8) if ntb32 else (12, 8, 4)
    block = bytearray(draw(st.binary(min_size=size, max_size=size)))
    n_ndps = draw(st.integers(1, 6))
    offsets = [draw(st.integers(hlen // 4, (size - ndp_hdr - 2 * dpe) // 4)) * 4 for _ in range(n_ndps)]
    # interesting pointers: the block's edges, the other NDPs, anything
    ptr = st.one_of(st.sampled_from([0, hlen, size - 14, size // 2, *offsets]), st.integers(0, size))
    for i, off in enumerate(offsets):
        nlen = draw(st.integers(ndp_hdr + 2 * dpe, size - off)) // 8 * 8
        nxt = draw(st.sampled_from([0, off, *offsets])) if i == n_ndps - 1 else offsets[i + 1]
        count = (nlen - ndp_hdr) // dpe
        span = draw(st.integers(1, size))
        entries = [(draw(ptr), draw(st.one_of(st.just(span), st.integers(0, size)))) for _ in range(min(count, 8))]
        entries += [entries[-1]] * (count - len(entries))   # long runs of the same pointer
        if draw(st.booleans()):
            entries[-1] = (0, 0)
        if ntb32:
            hdr = struct.pack("<IHHII", NDP32_NOCRC_SIGNATURE, nlen, 0, nxt, 0)
            table = b"".join(struct.pack("<II", i_ % 2**32, n_ % 2**32) for i_, n_ in entries)
        else:
            hdr = struct.pack("<IHH", NDP16_NOCRC_SIGNATURE, nlen, nxt % 65536)
            table = b"".join(struct.pack("<HH", i_ % 65536, n_ % 65536) for i_, n_ in entries)
        end = min(size, off + len(hdr) + len(table))
        block[off:end] = (hdr + table)[:end - off]
    if ntb32:
        block[:16] = struct.pack("<IHHII", NTH32_SIGNATURE, 16, 0, size, offsets[0])
    else:
        block[:12] = struct.pack("<IHHHH", NTH16_SIGNATURE, 12, 0, size, offsets[0])
    return bytes(block)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(block=hostile_ntbs())
def test_hostile_ntbs_cost_what_their_size_allows(block: bytes) -> None:
    tracemalloc.start()
    try:
        d = NtbDecoder()
        t = time.process_time()
        frames, peak = _peak_of(d.decode, block)
        cpu = time.process_time() - t
        try:
            strict, strict_peak = _peak_of(decode_ntb, block)
        except NtbError:
            strict, strict_peak = None, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert d.counters["internal_errors"] == 0, d.counters
    assert isinstance(frames, list)
    assert sum(map(len, frames)) <= 2 * len(block)
    assert len(frames) <= len(block) // 14
    # output (at most 2x the block), one bytes object and list slot per datagram, slack
    bound = 8 * len(block) + 64_000
    assert peak < bound and (strict is None or strict_peak < bound), (peak, strict_peak, len(block))
    assert cpu < 0.25, f"{cpu:.3f} s of CPU for a {len(block)}-byte NTB"
    if strict is not None:
        assert strict == frames


# ----------------------------------------------- the receive path's one-pass reader (_fast16)

def _slow(block: bytes, **kw: int | None) -> tuple[list[bytes], list[NtbFault]]:
    frames: list[bytes] = []
    faults: list[NtbFault] = []
    _walk(block, False, faults, kw.get("max_block"), frames, kw.get("max_datagrams"))
    return frames, faults


def _agree(block: bytes, **kw: int | None) -> list[int] | None:
    """The one-pass reader takes a block only when the full walk finds no fault in it, and then
    finds the same datagrams."""
    d = NtbDecoder(**kw)  # type: ignore[arg-type]
    spans = d.spans(block)
    frames, faults = _slow(block, **kw)
    if spans is not None:
        assert not faults, faults
        assert [block[spans[k]:spans[k] + spans[k + 1]] for k in range(0, len(spans), 2)] == frames
        assert d.counters["frames"] == len(frames) and d.counters["blocks"] == 1
    assert NtbDecoder(**kw).decode(block) == frames      # type: ignore[arg-type]
    return spans


@st.composite
def nearly_good_ntbs(draw: st.DrawFn) -> bytes:
    """A good NTB16 (ours or f_ncm's layout) with one field bent: entries, NDP, header, tail."""
    params = NtbParameters()
    frames = [bytes([i]) * draw(st.integers(14, 1514)) for i in range(draw(st.integers(1, 10)))]
    block = bytearray(encode_ntb(frames, params, ndp_at_end=draw(st.booleans()), max_packet_size=0))
    ndp = struct.unpack_from("<H", block, 10)[0]
    count = (struct.unpack_from("<H", block, ndp + 4)[0] - 8) // 4
    where = draw(st.sampled_from(["none", "entry", "nlen", "ndp", "blen", "next", "sig", "tail", "hlen"]))
    value = draw(st.one_of(st.sampled_from([0, 1, 4, 12, 13, 14, len(block) - 1, len(block), 0xFFFF]),
                           st.integers(0, 0xFFFF)))
    if where == "entry":
        struct.pack_into("<H", block, ndp + 8 + 2 * draw(st.integers(0, 2 * count - 1)), value)
    elif where == "nlen":
        struct.pack_into("<H", block, ndp + 4, value)
    elif where == "ndp":
        struct.pack_into("<H", block, 10, value)
    elif where == "blen":
        struct.pack_into("<H", block, 8, value)
    elif where == "next":
        struct.pack_into("<H", block, ndp + 6, value)
    elif where == "sig":
        struct.pack_into("<I", block, ndp, NDP32_NOCRC_SIGNATURE if value % 2 else 0x314D434E)
    elif where == "hlen":
        struct.pack_into("<H", block, 4, value)
    elif where == "tail":
        block += draw(st.sampled_from([b"\x00", bytes(64), b"NCMH" + bytes(60), bytes(block)]))
    return bytes(block)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=nearly_good_ntbs(), max_datagrams=st.sampled_from([None, 1, 3]))
def test_the_one_pass_reader_agrees_with_the_walk_on_bent_blocks(block: bytes, max_datagrams: int | None) -> None:
    _agree(block, max_datagrams=max_datagrams)
    _agree(block, max_block=len(block) - 1)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(block=hostile_ntbs())
def test_the_one_pass_reader_agrees_with_the_walk_on_hostile_blocks(block: bytes) -> None:
    _agree(block)


def test_the_one_pass_reader_takes_our_blocks_and_the_gadgets() -> None:
    params = NtbParameters()
    frames = [bytes([i]) * (60 + 97 * i) for i in range(10)]
    for at_end in (False, True):
        block = encode_ntb(frames, params, ndp_at_end=at_end)
        spans = _agree(block)
        assert spans is not None and len(spans) == 20
    assert _agree(encode_ntb(frames, params, ntb32=True)) is None          # NTB32: the walk
    assert _agree(encode_ntb(frames[:1], params) + encode_ntb(frames[1:], params)) is None   # two NTBs
