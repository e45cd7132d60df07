"""decode's scanner hands the unescaping and FCS check of each segment to pppstack.hdlc (the C
core when built): the items it gives must be exactly those of its own forensic path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack import hdlc
from pppstack.describe.stream import Scanner, StreamItem

ACCMS = st.sampled_from([0xFFFFFFFF, 0, 0x000A0000, 0x12345678])


@st.composite
def segments(draw: st.DrawFn) -> bytes:
    """One piece of a capture: a frame (maybe damaged), modem text, noise or a flood."""
    kind = draw(st.sampled_from(["frame", "frame", "bad", "controls", "escapes", "abort", "text", "raw"]))
    accm = draw(ACCMS)
    fcs = draw(st.sampled_from([16, 32]))
    body = draw(st.binary(min_size=0, max_size=60))
    frame = draw(st.sampled_from([b"\xff\x03\xc0\x21", b"\x21", b"\xff\x03\x00\x21", b""])) + body
    wire = bytearray(hdlc.encode(frame, accm, fcs, leading_flag=False))
    if kind == "bad" and len(wire) > 1:
        wire[draw(st.integers(0, len(wire) - 2))] ^= draw(st.integers(1, 255))
    elif kind == "controls":  # DCE-inserted control characters (RFC 1662 §7.1)
        for _ in range(draw(st.integers(1, 3))):
            wire.insert(draw(st.integers(0, len(wire) - 1)), draw(st.integers(0, 0x1F)))
    elif kind == "escapes":  # a run of 0x7D, read differently by the two paths
        wire.insert(draw(st.integers(0, len(wire) - 1)), 0x7D)
    elif kind == "abort":
        wire[-1:] = b"\x7d\x7e"
    elif kind == "text":
        return draw(st.sampled_from([b"\r\nNO CARRIER\r\n", b"OK\r\n", b"AT+CGDCONT?\r"])) + b"~"
    elif kind == "raw":
        return draw(st.binary(max_size=30))
    return bytes(wire)


def _scan(data: bytes, chunk: int, accm: int, fcs: int, mru: int, strict: bool, fast: bool) -> list[StreamItem]:
    scanner = Scanner(accm, fcs, mru, strict_accm=strict, collapse=True)
    if not fast:
        scanner._fast = None
    items: list[StreamItem] = []
    for i in range(0, len(data), chunk):
        items += scanner.feed(data[i:i + chunk])
    return items + scanner.finish()


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(segments(), max_size=12), lead=st.booleans(), chunk=st.integers(1, 200), accm=ACCMS,
       fcs=st.sampled_from([16, 32]), mru=st.sampled_from([1500, 20, 0]), strict=st.booleans())
def test_fast_path_gives_the_same_items(parts: list[bytes], lead: bool, chunk: int, accm: int, fcs: int,
                                        mru: int, strict: bool) -> None:
    data = (b"~" if lead else b"") + b"".join(parts)
    fast = _scan(data, chunk, accm, fcs, mru, strict, fast=True)
    assert fast == _scan(data, chunk, accm, fcs, mru, strict, fast=False)


def test_fast_path_is_used_for_good_frames() -> None:
    """The point of the fast path: good frames never reach the Python unescaper."""
    scanner = Scanner(0xFFFFFFFF, 16, 1500)
    called = []
    scanner._unescape = lambda raw, accm: called.append(raw) or (b"", 0)  # type: ignore[method-assign]
    frames = [b"\xff\x03\xc0\x21\x09\x01\x00\x08" + bytes(range(32)) * k for k in range(1, 5)]
    items = scanner.feed(hdlc.encode_many(frames)) + scanner.finish()
    assert [i.data for i in items] == frames and not called
