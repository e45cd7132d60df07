"""Decoder.feed_packed: the batched decode that builds no object per frame, on both backends.

It must hand out exactly what feed() + take_garbage() do (frames, garbage, counters) under every
chunking, ACCM and MRU change and SIMD level; the C core's packed call must stay inside the
buffers it is given; and a FrameBatch's views must outlive later feeds.
"""

from __future__ import annotations

import gc
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hdlc_spec import (
    SIMD_LEVELS,
    SpecDecoder,
    backend_at,
    counters_dict,
    encode_naive,
    load_backend,
    random_parts,
)
from tests.test_hdlc_diff import _chunks, _token, accms, fcs_bits


@pytest.fixture(scope="module", params=SIMD_LEVELS)
def both(request):  # noqa: ANN001, ANN201
    """The Python backend and the C core at each SIMD level this CPU has."""
    with backend_at(f"c/{request.param}") as c:
        yield [load_backend("python"), c]


def _check_batch(batch, want: list[bytes]) -> None:  # noqa: ANN001
    """Every way of reading a batch gives the frames in want."""
    assert len(batch) == len(want) and bool(batch) == bool(want)
    assert batch.tobytes_list() == want
    assert [bytes(v) for v in batch] == want
    assert [bytes(batch[i]) for i in range(len(want))] == want
    assert [bytes(batch[i]) for i in range(-len(want), 0)] == want
    assert bytes(batch.buffer) == b"".join(want) and batch.nbytes == len(b"".join(want))
    assert list(batch.ends) == [sum(map(len, want[:k + 1])) for k in range(len(want))]
    with pytest.raises(IndexError):
        batch[len(want)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), fcs_bits, accms, st.sampled_from([0, 5, 40, 1500]))
def test_packed_agrees_with_spec(both, data, bits: int, accm: int, mru: int) -> None:  # noqa: ANN001
    """Random streams (frames under any ACCM, modem text, noise, aborts, runts, bad FCS, runs
    around the MRU) cut anywhere, with ACCM and MRU changed between two chunks."""
    stream = b"".join(data.draw(st.lists(_token(bits), max_size=12)))
    cut = data.draw(st.integers(0, len(stream)))
    accm2 = data.draw(accms)
    mru2 = data.draw(st.sampled_from([mru, 3, 1500, 2000]))
    spec = SpecDecoder(accm, bits, mru)
    spec.feed(stream[:cut])
    spec.accm, spec.mru = accm2, mru2
    spec.feed(stream[cut:])
    want = [x for k, x in spec.items if k == "frame"]
    want_garbage = b"".join(x for k, x in spec.items if k == "garbage")
    for hx in both:
        d = hx.Decoder(accm, bits, mru)
        batches = [d.feed_packed(p) for p in _chunks(stream[:cut], data)]
        d.accm, d.mru = accm2, mru2
        batches += [d.feed_packed(p) for p in _chunks(stream[cut:], data)]
        got = [f for b in batches for f in b.tobytes_list()]
        assert got == want, hx.__name__
        assert [bytes(v) for b in batches for v in b] == want, hx.__name__
        assert d.take_garbage() == want_garbage[-65536:], hx.__name__
        assert counters_dict(d.counters) == spec.counts, hx.__name__


def _mixed_stream(rng: random.Random, accm: int, mru: int) -> tuple[bytes, list[bytes]]:
    """Frames of every size up to MRU + 1 with escapes and control bytes, modem text, an abort,
    a bad FCS and a runt between them; returns the stream and the frames a decoder keeps."""
    parts, kept = [b"ATD*99#\r\nCONNECT\r\n~"], []
    for size in [1, 2, 3, 17, 63, 64, 65, 300, mru + 4 - 1, mru + 4, mru + 4 + 1, 1]:
        # a real frame starts with FF 03 (one starting with CR/LF and text-only is a modem line)
        body = (b"\xff\x03" + bytes(rng.choice(b"\x7d\x7e\x00\x11\x13\xffA") if rng.random() < 0.2
                                    else rng.getrandbits(8) for _ in range(size)))[:size]
        parts.append(encode_naive(body, accm, 16, leading_flag=False))
        if size + 2 >= 4 and size <= mru + 4:
            kept.append(body)
        kind = rng.randrange(4)
        if kind == 0:
            parts.append(b"\r\nNO CARRIER\r\n~")
        elif kind == 1:
            parts.append(b"\xff\x03\x00\x21ab\x7d\x7e")     # abort
        elif kind == 2:
            parts.append(b"\xff\x03bad\x80\x81~")                # bad FCS
        else:
            parts.append(b"\x01\x02~")                      # runt
    return b"".join(parts), kept


@pytest.mark.parametrize("accm", [0, 0xFFFFFFFF])
def test_split_at_every_offset_matches_feed(both, accm: int) -> None:  # noqa: ANN001
    """One read cut in two at every byte offset: the frames (incl. ones exactly at the MRU,
    none past it), garbage and counters equal feed()'s on the uncut stream."""
    stream, kept = _mixed_stream(random.Random(accm & 7), accm, mru=400)
    for hx in both:
        ref = hx.Decoder(accm, 16, 400)
        want = ref.feed(stream)
        assert want == kept
        want_garbage, want_counters = ref.take_garbage(), counters_dict(ref.counters)
        for cut in range(len(stream) + 1):
            d = hx.Decoder(accm, 16, 400)
            a, b = d.feed_packed(stream[:cut]), d.feed_packed(stream[cut:])
            assert a.tobytes_list() + b.tobytes_list() == want, (hx.__name__, cut)
            assert d.take_garbage() == want_garbage, (hx.__name__, cut)
            assert counters_dict(d.counters) == want_counters, (hx.__name__, cut)


def test_many_records_in_one_read(both) -> None:  # noqa: ANN001
    """A 64 KiB read of thousands of minimal frames, runts, aborts and text lines: the C call
    decodes it in many internal steps (256 records each) and still matches feed()."""
    rng = random.Random(5)
    parts = []
    for k in range(9000):
        r = rng.randrange(5)
        parts.append(encode_naive(bytes([0x21, k & 0xFF]), 0, 16, False) if r < 2 else
                     [b"\x7d~", b"ab~", b"\r\nOK\r\n~", b"~"][r - 2])
    stream = b"~" + b"".join(parts)
    for hx in both:
        a, b = hx.Decoder(0), hx.Decoder(0)
        for pos in range(0, len(stream), 65536):
            chunk = stream[pos:pos + 65536]
            _check_batch(a.feed_packed(chunk), b.feed(chunk))
        assert a.take_garbage() == b.take_garbage()
        assert counters_dict(a.counters) == counters_dict(b.counters)


def test_views_outlive_later_feeds_and_are_read_only(both) -> None:  # noqa: ANN001
    rng = random.Random(7)
    frames = [rng.randbytes(rng.randrange(4, 1500)) for _ in range(40)]
    stream = encode_naive(b"", 0, 16)[:1] + b"".join(encode_naive(f, 0, 16, False) for f in frames)
    for hx in both:
        d = hx.Decoder(0)
        batch = d.feed_packed(stream[:30000])
        views = list(batch)
        first = [bytes(v) for v in views]
        buf = batch.buffer
        del batch
        gc.collect()
        for _ in range(20):           # later calls reuse whatever memory was freed
            d.feed_packed(stream[30000:])
            d.feed_packed(stream)
        assert [bytes(v) for v in views] == first == frames[:len(first)]
        assert bytes(buf) == b"".join(first)
        with pytest.raises(TypeError):
            views[0][0] = 0           # read-only: nothing writes into a batch
        assert d.feed_packed(b"").tobytes_list() == [] and len(d.feed_packed(b"")) == 0


def test_bytearray_and_memoryview_input(both) -> None:  # noqa: ANN001
    wire = encode_naive(b"\xff\x03\x00\x21hello", 0xFFFFFFFF, 16)
    for hx in both:
        for data in (bytearray(wire), memoryview(wire)):
            assert hx.Decoder().feed_packed(data).tobytes_list() == [b"\xff\x03\x00\x21hello"]


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_packed_writes_nothing_past_its_buffers(level: str) -> None:
    """hdlc_decode_packed with out and garbage buffers of exactly hdlc_decode_bound() and an
    ends array of exactly len/4 + 8 entries, guard bytes after each: no stream (frames near the
    MRU, escapes at block edges, text, thousands of tiny runs, chunks cut anywhere) touches a
    guard, every byte is consumed, and the frames match feed()."""
    with backend_at(f"c/{level}") as c:
        from pppstack._hdlc_c import ffi, lib

        rng = random.Random(1662)
        guard = b"\xa5" * 256
        for accm in (0, 0xFFFFFFFF, 0x000A0000):
            d = ffi.gc(lib.hdlc_decoder_new(16, accm, 1500 + 4 + 2), lib.hdlc_decoder_free)
            ref = c.Decoder(accm, 16, 1500)
            counts = ffi.new("size_t[2]")
            for _ in range(40):
                parts = random_parts(rng, accm, burst=True)
                stream = b"".join(parts)
                pos = 0
                while pos < len(stream):
                    piece = stream[pos:pos + rng.choice([1, 7, 64, 100, 1600, 5000])]
                    bound = lib.hdlc_decode_bound(d, len(piece))
                    nends = len(piece) // 4 + 8
                    out = ffi.new("char[]", bound + len(guard))
                    gar = ffi.new("char[]", bound + len(guard))
                    ends = ffi.new("size_t[]", nends + 32)
                    for buf in (out + bound, gar + bound):
                        ffi.memmove(buf, guard, len(guard))
                    ffi.memmove(ends + nends, guard, len(guard))
                    counts[0] = counts[1] = 99  # outputs: set by the call
                    used = lib.hdlc_decode_packed(d, piece, len(piece), out, ends, nends, counts, gar, counts + 1)
                    assert used == len(piece)
                    for buf in (out + bound, gar + bound):
                        assert ffi.buffer(buf, len(guard))[:] == guard, (level, accm)
                    assert ffi.buffer(ends + nends, len(guard))[:] == guard, (level, accm)
                    got = [ffi.buffer(out + (ends[k - 1] if k else 0), ends[k] - (ends[k - 1] if k else 0))[:]
                           for k in range(counts[0])]
                    assert got == ref.feed(piece), (level, accm)
                    assert ffi.buffer(gar, counts[1])[:] == ref.take_garbage()
                    pos += used


def test_packed_c_call_stops_short_and_resumes() -> None:
    """With fewer free ends than the read may need, the C call consumes less and says so; a
    second call for the rest, writing past the first one's output, makes the frames of feed()."""
    c = load_backend("c")
    from pppstack._hdlc_c import ffi, lib

    frames = [bytes([0x21, k]) * 3 for k in range(100)]
    wire = c.encode_many(frames, 0)
    d = ffi.gc(lib.hdlc_decoder_new(16, 0, 1506), lib.hdlc_decoder_free)
    bound = lib.hdlc_decode_bound(d, len(wire))
    out, gar = ffi.new("char[]", bound), ffi.new("char[]", bound)
    ends = ffi.new("size_t[]", 200)
    counts = ffi.new("size_t[2]")
    used = lib.hdlc_decode_packed(d, wire, len(wire), out, ends, 30, counts, gar, counts + 1)
    assert 0 < used < len(wire) and counts[0] <= 30
    n1, end1 = counts[0], ends[counts[0] - 1]
    used += lib.hdlc_decode_packed(d, wire[used:], len(wire) - used, out + end1, ends + n1, 200 - n1, counts,
                                   gar, counts + 1)
    assert used == len(wire) and n1 + counts[0] == 100
    ends_all = [ends[k] for k in range(n1)] + [end1 + ends[n1 + k] for k in range(counts[0])]
    starts = [0] + ends_all[:-1]
    assert [ffi.buffer(out + s, e - s)[:] for s, e in zip(starts, ends_all, strict=True)] == frames


def test_mru_raised_after_the_first_read(both) -> None:  # noqa: ANN001
    """The C side sizes its garbage and ends scratch on first use; a larger MRU set later lets a
    held text run grow past that size, and the scratch must grow with it (a 50 KB text run
    closed by a one-byte read, then a frame of the new size)."""
    big = b"\xff\x03" + bytes(range(256)) * 200
    for hx in both:
        d = hx.Decoder(0, 16, mru=0)
        assert len(d.feed_packed(b"ATZ\r\n" + b"x" * 200)) == 0
        d.mru = 60000
        text = b"~" + b"A" * 50000
        assert [len(d.feed_packed(text[i:i + 1000])) for i in range(0, len(text), 1000)] == [0] * 51
        assert len(d.feed_packed(b"~")) == 0
        assert d.take_garbage() == (b"ATZ\r\n" + b"x" * 200 + b"A" * 50000)[-65536:]
        assert d.feed_packed(encode_naive(big, 0, 16, leading_flag=False)[:30000]).tobytes_list() == []
        got = d.feed_packed(encode_naive(big, 0, 16, leading_flag=False)[30000:])
        assert got.tobytes_list() == [big] and bytes(got[0]) == big


def test_feed_and_feed_packed_mixed_on_one_decoder(both) -> None:  # noqa: ANN001
    """The decoder's state (a run cut by a read, held text, the escape) is the same whichever
    call consumed the last read: alternating the two gives what feed alone gives."""
    stream, _ = _mixed_stream(random.Random(3), 0, mru=400)
    for hx in both:
        ref = hx.Decoder(0, 16, 400)
        d = hx.Decoder(0, 16, 400)
        want, got = [], []
        for k, pos in enumerate(range(0, len(stream), 37)):
            piece = stream[pos:pos + 37]
            want += ref.feed(piece)
            got += d.feed(piece) if k % 2 else d.feed_packed(piece).tobytes_list()
        assert got == want, hx.__name__
        assert d.take_garbage() == ref.take_garbage()
        assert counters_dict(d.counters) == counters_dict(ref.counters)
