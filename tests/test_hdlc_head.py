"""encode_many(head=...), what PPPoS.send_ip_many frames a TUN batch with (the header joined in,
not copied in front of each packet), gives the bytes of encode_many over head + each packet, in
both backends; and a decoder with no garbage hands out b"" cheaply and still reports garbage."""

from __future__ import annotations

import random

import pytest

from tests.hdlc_spec import BACKENDS, load_backend


@pytest.fixture(params=BACKENDS)
def h(request):  # noqa: ANN001, ANN201
    return load_backend(request.param)


@pytest.mark.parametrize("accm", [0, 0xFFFFFFFF])
def test_encode_many_with_head_is_encode_many_of_head_plus_frame(h, accm: int) -> None:  # noqa: ANN001
    rng = random.Random(5)
    packets = [rng.randbytes(rng.randrange(1, 1600)) + b"\x7e\x7d\x03" for _ in range(40)]
    for head in (b"\xff\x03\x00\x21", b"\x21", b"\xff\x03\x00\x57"):
        want = h.encode_many([head + p for p in packets], accm)
        assert h.encode_many(packets, accm, head=head) == want
        assert h.encode_many(iter(packets), accm, head=head) == want
    assert h.encode_many([], accm, head=b"\x21") == b""


def test_take_garbage_after_frames_and_text(h) -> None:  # noqa: ANN001
    d = h.Decoder(0)
    assert d.feed(h.encode(b"\xff\x03\x00\x21abc")) == [b"\xff\x03\x00\x21abc"]
    assert d.take_garbage() == b""
    assert d.feed(b"NO CARRIER\r\n~") == []
    assert d.take_garbage() == b"NO CARRIER\r\n"
    assert d.take_garbage() == b""
