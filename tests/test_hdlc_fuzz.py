"""Hostile input: 10^5+ random streams per backend never raise and keep the books straight.

Streams are short and drawn from an alphabet weighted towards the bytes the deframer cares
about (flags, escapes, control bytes, CR/LF, text), so nearly every branch is hit thousands of
times.  Each stream goes through one long-lived decoder in random chunks, with the ACCM and MRU
changed now and then, and the counters must match what the items say.  C and Python see the
same streams and must produce the same items.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hdlc_spec import BACKEND_LEVELS, SIMD_LEVELS, as_tuples, backend_at, counters_dict, load_backend

ALPHABET = bytes([0x7E] * 6 + [0x7D] * 5 + [0x00, 0x03, 0x11, 0x13, 0x1F, 0x0D, 0x0A, 0x09, 0x20, 0x5D,
                                                0x5E, 0xFF, 0x41, 0x4F, 0x4B, 0x80, 0xC0, 0x21])
STREAMS = 100_000


def _tally(items, counts: dict[str, int]) -> None:  # noqa: ANN001
    names = {"frame": "frames", "abort": "aborts", "runt": "runts", "bad_fcs": "bad_fcs", "oversize": "oversize"}
    for kind, data in as_tuples(items):
        if kind == "garbage":
            counts["garbage_bytes"] += len(data)
        else:
            counts[names[kind]] += 1


def _streams(seed: int, n: int):  # noqa: ANN202
    r = random.Random(seed)
    valid = [load_backend("python").encode(bytes(r.getrandbits(8) for _ in range(r.randrange(2, 24))),
                                           accm=r.choice([0, 0xFFFFFFFF]))
             for _ in range(64)]
    for _ in range(n):
        parts = []
        for _ in range(r.randrange(1, 4)):
            k = r.random()
            if k < 0.55:
                parts.append(bytes(r.choice(ALPHABET) for _ in range(r.randrange(0, 24))))
            elif k < 0.8:
                parts.append(r.choice(valid))
            elif k < 0.9:
                parts.append(r.randbytes(r.randrange(0, 40)))
            else:
                parts.append(b"\r\nNO CARRIER\r\n")
        yield r, b"".join(parts)


@pytest.mark.parametrize("backend", BACKEND_LEVELS)
def test_random_streams_never_raise_and_counters_add_up(backend: str) -> None:
    with backend_at(backend) as hx:
        _random_streams(hx)


def _random_streams(hx) -> None:  # noqa: ANN001
    d = hx.Decoder(mru=1500)
    total = dict.fromkeys(counters_dict(d.counters), 0)
    for r, stream in _streams(1662, STREAMS):
        if r.random() < 0.01:
            d.accm = r.choice([0, 0xFFFFFFFF, r.getrandbits(32)])
        if r.random() < 0.01:
            d.mru = r.choice([0, 4, 16, 1500])
        before = counters_dict(d.counters)
        cut = r.randrange(len(stream) + 1)
        counts = dict.fromkeys(before, 0)
        if r.random() < 0.5:
            _tally(d.feed_items(stream[:cut]) + d.feed_items(stream[cut:]), counts)
        else:
            frames = d.feed(stream[:cut]) + d.feed(stream[cut:])
            assert all(type(f) is bytes and len(f) >= 2 for f in frames)
            counts["frames"] = len(frames)
            counts["garbage_bytes"] = len(d.take_garbage())
            for k in ("aborts", "runts", "bad_fcs", "oversize"):
                counts[k] = d.counters.__getattribute__(k) - before[k]
        after = counters_dict(d.counters)
        delta = {k: after[k] - before[k] for k in after}
        assert delta["unescaped_ctrl"] >= 0
        counts["unescaped_ctrl"] = delta["unescaped_ctrl"]
        assert delta == counts
        for k in total:
            total[k] += counts[k]
    assert counters_dict(d.counters) == total
    # the streams really exercised every outcome
    assert all(v > 500 for v in total.values()), total


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_backends_identical_on_random_streams(level: str) -> None:
    with backend_at(f"c/{level}") as c:
        _identical(load_backend("python"), c)


def _identical(py, c) -> None:  # noqa: ANN001
    dp, dc = py.Decoder(), c.Decoder()
    for r, stream in _streams(1661, 20_000):
        if r.random() < 0.02:
            dp.accm = dc.accm = r.getrandbits(32)
        cut = r.randrange(len(stream) + 1)
        a = dp.feed_items(stream[:cut]) + dp.feed_items(stream[cut:])
        b = dc.feed_items(stream)
        assert as_tuples(a) == as_tuples(b), stream
    assert counters_dict(dp.counters) == counters_dict(dc.counters)


@pytest.mark.parametrize("backend", BACKEND_LEVELS)
def test_arbitrary_bytes_never_raise(backend: str) -> None:
    with backend_at(backend) as hx:
        _arbitrary_bytes(hx)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), mru=st.integers(0, 3000), accm=st.integers(0, 0xFFFFFFFF),
       bits=st.sampled_from([16, 32]))
def _arbitrary_bytes(hx, data: bytes, mru: int, accm: int, bits: int) -> None:  # noqa: ANN001
    d = hx.Decoder(accm, bits, mru)
    items = d.feed_items(data)
    c = d.counters
    kinds = [k for k, _ in as_tuples(items)]
    assert c.frames == kinds.count("frame") and c.bad_fcs == kinds.count("bad_fcs")
    assert c.runts == kinds.count("runt") and c.aborts == kinds.count("abort")
    assert c.oversize == kinds.count("oversize")
    assert c.garbage_bytes == sum(len(x) for k, x in as_tuples(items) if k == "garbage")
    assert all(len(x) <= mru + 4 + bits // 8 for k, x in as_tuples(items) if k != "garbage")
