"""decode's forensic scanner against the data path's deframer (pppstack.hdlc, both backends):
on the same streams they keep the same good frames and throw away the same runs.

The scanner exists beside hdlc.Decoder because `pppstack decode` needs what the data path
does not carry: each item's byte offset, FCS values for a bad frame, frames cut off by the
end of a capture, and retrying a frame under the other ACCM reading."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack import hdlc
from pppstack.describe.stream import DiscardReason, ItemKind, scan
from tests.test_decode import capture

REASON = {"bad_fcs": DiscardReason.BAD_FCS, "abort": DiscardReason.ABORT, "runt": DiscardReason.RUNT,
          "oversize": DiscardReason.OVERSIZE}  # fmt: skip


def _ours(data: bytes, accm: int) -> tuple[list[bytes], list[DiscardReason]]:
    items = scan(data, accm=accm, strict_accm=True)
    frames = [i.data for i in items if i.kind is ItemKind.FRAME]
    discards = [i.reason for i in items if i.kind is ItemKind.DISCARD and i.reason is not DiscardReason.TRUNCATED]
    return frames, [r for r in discards if r is not None]


def _theirs(data: bytes, accm: int) -> tuple[list[bytes], list[DiscardReason]]:
    dec = hdlc.Decoder(accm=accm)
    items = dec.feed_items(data)
    frames = [i.data for i in items if isinstance(i, hdlc.Frame)]
    return frames, [REASON[i.reason] for i in items if isinstance(i, hdlc.Discard)]


def test_thread_capture_agrees() -> None:
    assert _ours(capture(), 0xFFFFFFFF) == _theirs(capture(), 0xFFFFFFFF)


frame_st = st.binary(min_size=1, max_size=40).map(lambda b: b"\xff\x03\xc0\x21" + b)
text_st = st.sampled_from([b"\r\nNO CARRIER\r\n", b"\r\nRING\r\n", b"\r\nOK\r\n"])
piece_st = st.one_of(
    frame_st.map(lambda f: ("frame", f)),
    frame_st.map(lambda f: ("corrupt", f)),
    text_st.map(lambda t: ("text", t)),
)


@pytest.mark.parametrize("accm", [0xFFFFFFFF, 0])
@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(piece_st, max_size=8))
def test_random_streams_agree(accm: int, pieces: list[tuple[str, bytes]]) -> None:
    stream = bytearray(b"AT\r\r\nCONNECT\r\n")
    sent = []
    for kind, data in pieces:
        if kind == "text":
            stream += data
            continue
        wire = bytearray(hdlc.encode(data, accm=accm))
        if kind == "corrupt":
            wire[-2] ^= 0x01 if wire[-2] not in (0x7C, 0x7F, 0x7D, 0x7E) else 0x00
            wire[-3] ^= 0x01 if wire[-3] not in (0x7C, 0x7F, 0x7D, 0x7E) else 0x00
        else:
            sent.append(data)
        stream += wire
    ours, theirs = _ours(bytes(stream), accm), _theirs(bytes(stream), accm)
    assert ours == theirs
    assert set(sent) <= set(ours[0])
