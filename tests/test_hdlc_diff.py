"""Differential framing tests: C, Python and the byte-at-a-time spec agree bit for bit.

Hypothesis builds payloads, ACCMs and whole streams (frames, modem text, noise, aborts, stray
control bytes), cuts them into arbitrary chunks and compares items and counters.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hdlc_spec import (
    SIMD_LEVELS,
    SpecDecoder,
    as_tuples,
    backend_at,
    counters_dict,
    encode_naive,
    load_backend,
    random_parts,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

accms = st.one_of(st.sampled_from([0, 0xFFFFFFFF, 0x000A0000, 0x80000001]), st.integers(0, 0xFFFFFFFF))
fcs_bits = st.sampled_from([16, 32])
# payloads rich in the bytes that matter, and long enough to reach the 16/32-byte SIMD blocks
special = st.sampled_from([0x7E, 0x7D, 0x00, 0x03, 0x11, 0x13, 0x1F, 0x20, 0x5D, 0x5E, 0xFF, 0x0D, 0x0A])
payload_byte = st.one_of(st.integers(0, 255), special)
payloads = st.one_of(
    st.binary(max_size=300),
    st.lists(payload_byte, max_size=200).map(bytes),
    st.tuples(st.binary(min_size=0, max_size=3000), st.integers(0, 255), st.integers(1, 40)).map(
        lambda t: t[0] + bytes([t[1]]) * t[2]),
)


@pytest.fixture(scope="module", params=SIMD_LEVELS)
def both(request):  # noqa: ANN001, ANN201
    """Python and C; the C core at each SIMD level this CPU has: all its paths (AVX-512 VBMI2 +
    VPCLMULQDQ here), AVX2 + PCLMUL, SSSE3 with and without PCLMUL, and none (the code an ARM or
    MIPS router runs).  A level that adds nothing on this CPU is skipped."""
    with backend_at(f"c/{request.param}") as c:
        yield [load_backend("python"), c]


@SETTINGS
@given(payloads, accms, fcs_bits)
def test_encode_identical(both, frame: bytes, accm: int, bits: int) -> None:  # noqa: ANN001
    want = encode_naive(frame, accm, bits)
    for hx in both:
        assert hx.encode(frame, accm, bits) == want
        assert hx.encode(frame, accm, bits, leading_flag=False) == want[1:]


@SETTINGS
@given(st.lists(payloads, max_size=6), accms, fcs_bits)
def test_encode_many_identical(both, frames: list[bytes], accm: int, bits: int) -> None:  # noqa: ANN001
    want = b"\x7e" + b"".join(encode_naive(f, accm, bits, False) for f in frames) if frames else b""
    for hx in both:
        assert hx.encode_many(frames, accm, bits) == want


@SETTINGS
@given(st.binary(max_size=5000))
def test_fcs_identical(both, data: bytes) -> None:  # noqa: ANN001
    py, c = both
    assert py.fcs16(data) == c.fcs16(data)
    assert py.fcs32(data) == c.fcs32(data)


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_fcs_every_length_and_alignment(level: str) -> None:
    """Every length around the fold steps (16, 64, 256 bytes) and the tail shuffles, at every
    start alignment, against the byte-at-a-time spec: the folds take a different path for each
    remainder and the tail reads back over bytes already folded."""
    py = load_backend("python")
    data = bytes((k * 151 + 7) & 0xFF for k in range(1200)) + bytes(range(256)) * 2
    with backend_at(f"c/{level}") as c:
        for n in [*range(0, 600), 1023, 1024, 1025, 1500, 1502, 1504, 1600]:
            for off in (0, 1, 7, 13):
                chunk = data[off:off + n]
                assert c.fcs16(chunk) == py.fcs16(chunk), (n, off)
                assert c.fcs32(chunk) == py.fcs32(chunk), (n, off)


# Real frames start with FF 03 or a protocol field (C0 21, 80 21, 00 21, ...), never with modem
# text; with at least 2 bytes they are not runts (RFC 1662 §3).
headers = st.sampled_from([b"\xff\x03", b"\xc0\x21", b"\x80\x21", b"\x00\x21", b"\x00\x57", b"\xff\x03\x00\x21"])
frames_st = st.tuples(headers, payloads).map(lambda t: t[0] + t[1])


@SETTINGS
@given(st.lists(frames_st, min_size=1, max_size=5), accms, fcs_bits, st.data())
def test_round_trip_every_accm(both, frames: list[bytes], accm: int, bits: int, data) -> None:  # noqa: ANN001
    # A receiver whose ACCM is a subset of the sender's gets every frame back (RFC 1662 §7.1).
    rx_accm = accm & data.draw(st.integers(0, 0xFFFFFFFF))
    for hx in both:
        wire = hx.encode_many(frames, accm, bits)
        d = hx.Decoder(rx_accm, bits, mru=4000)
        assert [f for piece in _chunks(wire, data) for f in d.feed(piece)] == frames
        assert counters_dict(d.counters) == dict(frames=len(frames), bad_fcs=0, aborts=0, runts=0,
                                                 oversize=0, unescaped_ctrl=0, garbage_bytes=0)


def _chunks(wire: bytes, data) -> list[bytes]:  # noqa: ANN001
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    out, last = [], 0
    for c in cuts + [len(wire)]:
        out.append(wire[last:c])
        last = c
    return out


# --- whole streams -----------------------------------------------------------------------------
def _token(bits: int):  # noqa: ANN202
    return st.one_of(
        st.tuples(payloads, accms).map(lambda t: encode_naive(t[0], t[1], bits, leading_flag=False)),
        st.sampled_from([b"\r\nNO CARRIER\r\n", b"\r\nOK\r\n", b"CONNECT 150000000\r\n", b"ATH\r", b"OK"]),
        st.binary(max_size=40),
        st.lists(special, max_size=20).map(bytes),
        st.just(b"\x7d\x7e"),       # abort
        st.just(b"~"),
        st.just(b"~~~"),
        st.binary(min_size=1500, max_size=1700),  # around the MRU
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), fcs_bits, accms, st.sampled_from([0, 5, 40, 1500]))
def test_decoders_agree_with_spec(both, data, bits: int, accm: int, mru: int) -> None:  # noqa: ANN001
    stream = b"".join(data.draw(st.lists(_token(bits), max_size=12)))
    # change ACCM/MRU between two chunks at a random point: both apply from the next byte
    cut = data.draw(st.integers(0, len(stream)))
    accm2 = data.draw(accms)
    mru2 = data.draw(st.sampled_from([mru, 3, 1500, 2000]))
    spec = SpecDecoder(accm, bits, mru)
    spec.feed(stream[:cut])
    spec.accm, spec.mru = accm2, mru2
    spec.feed(stream[cut:])
    for hx in both:
        d = hx.Decoder(accm, bits, mru)
        items = []
        for piece in _chunks(stream[:cut], data):
            items += d.feed_items(piece)
        d.accm, d.mru = accm2, mru2
        for piece in _chunks(stream[cut:], data):
            items += d.feed_items(piece)
        assert as_tuples(items) == spec.items, hx.__name__
        assert counters_dict(d.counters) == spec.counts, hx.__name__


@settings(max_examples=100, deadline=None)
@given(st.data(), fcs_bits)
def test_feed_and_take_garbage_match_feed_items(both, data, bits: int) -> None:  # noqa: ANN001
    stream = b"".join(data.draw(st.lists(_token(bits), max_size=10)))
    for hx in both:
        a, b = hx.Decoder(fcs_bits=bits), hx.Decoder(fcs_bits=bits)
        frames, garbage = [], b""
        for piece in _chunks(stream, data):
            frames += a.feed(piece)
            garbage += a.take_garbage()
        items = as_tuples(b.feed_items(stream))
        assert frames == [x for k, x in items if k == "frame"]
        assert garbage == b"".join(x for k, x in items if k == "garbage")
        assert counters_dict(a.counters) == counters_dict(b.counters)


def _text_then_rest(frame: bytes, split: int) -> tuple[bytes, bytes]:
    """A frame whose first `split` bytes are text (sent unescaped, as under ACCM 0) and the rest
    fully escaped: the decoder holds that text prefix in text mode when the ACCM changes."""
    full = encode_naive(frame, 0xFFFFFFFF, 16)
    esc_len = sum(2 if b < 0x20 or b in (0x7D, 0x7E) else 1 for b in frame[:split])
    return b"\x7e" + frame[:split], full[1 + esc_len:]


@pytest.mark.parametrize("before,after,kept", [
    (0, 0xFFFFFFFF, True),            # TAB arrived when it was data: it stays in the frame
    (0xFFFFFFFF, 0, False),           # TAB arrived when it was link noise: it stays dropped
])
def test_accm_change_applies_from_the_next_byte(both, before: int, after: int, kept: bool) -> None:  # noqa: ANN001
    """hdlc.h: a new ACCM applies from the next byte.  A TAB held in a text-looking run when
    the ACCM changes keeps the verdict of the ACCM it arrived under, in all three decoders."""
    frame = b"AB\tCD\x01\x02"
    head, tail = _text_then_rest(frame, 3)
    if not kept:                      # the link inserted the TAB; the frame itself has none
        frame = b"ABCD\x01\x02"
        head, tail = _text_then_rest(frame, 2)
        head += b"\t"
    spec = SpecDecoder(before, 16, 1500)
    spec.feed(head)
    spec.accm = after
    spec.feed(tail)
    assert spec.items == [("frame", frame)]
    for hx in both:
        d = hx.Decoder(before, 16, 1500)
        items = d.feed_items(head)
        d.accm = after
        items += d.feed_items(tail)
        assert as_tuples(items) == spec.items, hx.__name__
        assert counters_dict(d.counters) == spec.counts, hx.__name__


def test_configure_refuses_a_run_length_that_would_wrap() -> None:
    """hdlc_decoder_configure is public C API: a huge max_len made max_len + 64 wrap to a tiny
    buffer that the next frame overflowed.  It is refused and the decoder keeps working."""
    load_backend("c")
    from pppstack._hdlc_c import ffi, lib

    d = lib.hdlc_decoder_new(16, 0, 1508)
    assert d != ffi.NULL
    try:
        size_max = 2 ** (8 * ffi.sizeof("size_t")) - 1
        for huge in (size_max, size_max - 63, 1 << 40, (1 << 24) + 1):
            assert lib.hdlc_decoder_configure(d, 0, huge) == -1, huge
        assert lib.hdlc_decoder_new(16, 0, size_max - 10) == ffi.NULL
        wire = encode_naive(bytes(range(256)) * 4, 0, 16)
        out = ffi.new("char[]", lib.hdlc_decode_bound(d, len(wire)))
        items = ffi.new("size_t[]", 3 * 64)
        n = ffi.new("size_t *")
        assert lib.hdlc_decode(d, wire, len(wire), out, items, 64, n) == len(wire)
        assert [items[3 * k] for k in range(n[0])] == [lib.HDLC_ITEM_FRAME]
        assert lib.hdlc_decoder_configure(d, 0, 1 << 24) == 0   # the largest allowed still works
    finally:
        lib.hdlc_decoder_free(d)


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_decode_writes_nothing_past_its_bound(level: str) -> None:
    """The SIMD loops store whole blocks past the bytes they make and count on the slack that
    hdlc_decode_bound leaves: with a buffer of exactly that size and guard bytes after it, no
    stream (frames near the MRU, escapes at block edges, text, chunks cut anywhere) touches the
    guard."""
    import random

    with backend_at(f"c/{level}"):
        from pppstack._hdlc_c import ffi, lib

        rng = random.Random(1662)
        guard = b"\xa5" * 256
        for accm in (0, 0xFFFFFFFF, 0x000A0000):
            d = ffi.gc(lib.hdlc_decoder_new(16, accm, 1500 + 4 + 2), lib.hdlc_decoder_free)
            items = ffi.new("size_t[]", 3 * 4096)
            n_items = ffi.new("size_t *")
            for _ in range(60):
                parts = random_parts(rng, accm)
                stream = b"".join(parts)
                pos = 0
                while pos < len(stream):
                    piece = stream[pos:pos + rng.choice([1, 7, 64, 100, 1600, 5000])]
                    bound = lib.hdlc_decode_bound(d, len(piece))
                    out = ffi.new("char[]", bound + len(guard))
                    ffi.memmove(out + bound, guard, len(guard))
                    used = lib.hdlc_decode(d, piece, len(piece), out, items, 4096, n_items)
                    assert ffi.buffer(out + bound, len(guard))[:] == guard, (level, accm)
                    pos += used


def test_encode_frames_refuses_lengths_that_do_not_add_up() -> None:
    """encode_many joins buffers and hands C the lengths: an array of 2-byte items joins to more
    bytes than its len, and C must refuse lengths that do not add up (or wrap) before writing."""
    from array import array

    c = load_backend("c")
    from pppstack._hdlc_c import ffi, lib

    with pytest.raises(TypeError, match="byte strings"):
        c.encode_many([b"ab", array("H", [1, 2])])
    out = ffi.new("char[]", 256)
    size_max = 2 ** (8 * ffi.sizeof("size_t")) - 1
    for lens in ([2, 2], [1, 1], [size_max, 4], [4, size_max]):
        assert lib.hdlc_encode_frames(out, b"abc", 3, ffi.new("size_t[]", lens), 2, 0, 16, 1) == size_max, lens
    m = lib.hdlc_encode_frames(out, b"abc", 3, ffi.new("size_t[]", [1, 2]), 2, 0, 16, 1)
    assert ffi.buffer(out, m)[:] == b"\x7e" + encode_naive(b"a", 0, 16, False) + encode_naive(b"bc", 0, 16, False)
