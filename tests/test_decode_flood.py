"""`pppstack decode` on hostile captures (issue 12 §7): bounded memory whatever the input, and a
run of identical discards is one line with a count, not one line per discard."""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack.describe.stream import DiscardReason, ItemKind, Scanner, StreamItem, scan
from tests.hdlc_spec import encode_naive


def _expand(items: list[StreamItem]) -> list[StreamItem]:
    out = []
    for it in items:
        for k in range(it.repeat):
            out.append(dataclasses.replace(it, offset=it.offset + k * it.stride, repeat=1))
    return out


def _one_byte_at_a_time(data: bytes) -> list[StreamItem]:
    s = Scanner()
    items = [i for b in data for i in s.feed(bytes([b]))]
    return items + s.finish()


def test_a_flood_of_aborts_is_one_line(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "flood.bin"
    n = 1_000_000
    path.write_bytes(b"\x7e\x7d" * n)
    proc = subprocess.run([sys.executable, "-m", "pppstack", "decode", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) <= 3, lines[:5]          # was one line per pair: 1 000 000 lines, 79 MB
    assert lines[0].split()[:3] == ["1", "discarded,", "aborted"]
    assert f"[{n - 1} times in a row, the last at {2 * n - 3}]" in lines[0]
    assert lines[-1].startswith(f"summary: 0 frames, {n - 1} discarded (aborted (0x7d 0x7e) {n - 1})")


def test_flagless_input_is_read_in_bounded_memory() -> None:
    """20 MB with no flag after the first: reported in pieces; the scanner never holds more than
    a bounded segment (it held the input whole, about ten times its size in objects)."""
    rng = random.Random(7)
    chunk = bytes(b for b in rng.randbytes(1 << 17) if b != 0x7E)[: 1 << 16]
    s = Scanner()
    tracemalloc.start()
    try:
        kinds: dict[str, int] = {}
        for item in s.feed(b"\x7e"):
            kinds[item.kind.value] = kinds.get(item.kind.value, 0) + 1
        for _ in range(320):
            for item in s.feed(chunk):
                assert len(item.data) <= s.max_segment
                kinds[item.reason.name if item.reason else item.kind.value] = 1 + kinds.get(
                    item.reason.name if item.reason else item.kind.value, 0)
            assert len(s._seg) <= s.max_segment + len(chunk)
        s.finish()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * (s.max_segment + len(chunk)), peak     # ~0.5 MB, for 20 MB of input
    assert kinds == {"OVERSIZE": 1}       # one frame too long, its tail dropped with it


def test_flagless_text_before_any_flag_is_given_out_in_pieces() -> None:
    s = Scanner()
    line = b"AT+CSQ\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n"
    items = [i for _ in range(20_000) for i in s.feed(line)] + s.finish()
    assert {i.kind for i in items} == {ItemKind.TEXT}
    assert b"".join(i.data for i in items) == line * 20_000
    assert max(len(i.data) for i in items) <= s.max_segment + len(line)


units = st.sampled_from([b"\x7e\x7d", b"\x7e", b"\x7e\x41\x42", b"\x7e\x7d\x7d", b"\x7eAT\r\n",
                         encode_naive(b"\xc0\x21\x09\x01\x00\x08\x00\x00\x00\x00", 0xFFFFFFFF),
                         b"\x7e\x01\x02\x03\x04\x05"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(units, st.integers(1, 40)), max_size=8), st.binary(max_size=8))
def test_collapsed_repeats_expand_to_what_a_byte_at_a_time_scan_sees(parts, tail: bytes) -> None:  # noqa: ANN001
    data = b"".join(u * k for u, k in parts) + tail
    fast = scan(data, collapse=True)
    assert scan(data) == _expand(fast)     # without collapse: one item each, as before
    assert _expand(fast) == _one_byte_at_a_time(data)


def test_bad_fcs_flood_is_one_line_per_run() -> None:
    frame = encode_naive(b"\xc0\x21\x09\x01\x00\x08\x00\x00\x00\x00", 0xFFFFFFFF, leading_flag=False)
    bad = frame[:-3] + bytes([frame[-3] ^ 1]) + frame[-2:]
    items = scan(b"\x7e" + bad * 5000 + frame * 3, collapse=True)
    assert [(i.kind, i.reason, i.repeat) for i in items] == [
        (ItemKind.DISCARD, DiscardReason.BAD_FCS, 5000), (ItemKind.FRAME, None, 3)]


def _unescape_reference(raw: bytes, accm: int) -> tuple[bytes, int]:
    """RFC 1662 §4.2/§7.1 one octet at a time (the scanner's former loop)."""
    out, dropped, escaped = bytearray(), 0, False
    for b in raw:
        if b < 0x20 and accm >> b & 1:
            dropped += 1
        elif escaped:
            out.append(b ^ 0x20)
            escaped = False
        elif b == 0x7D:
            escaped = True
        else:
            out.append(b)
    return bytes(out), dropped


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([0x7D, 0x7D, 0x00, 0x11, 0x13, 0x1F, 0x20, 0x5D, 0x5E, 0x41, 0xFF])
                | st.integers(0, 255), max_size=64).map(bytes),
       st.sampled_from([0, 0xFFFFFFFF, 0x000A0000]) | st.integers(0, 0xFFFFFFFF))
def test_fast_unescape_matches_the_octet_loop(raw: bytes, accm: int) -> None:
    assert Scanner._unescape(raw, accm) == _unescape_reference(raw, accm)


def test_a_reader_that_goes_away_is_no_error(tmp_path) -> None:  # noqa: ANN001
    """`pppstack decode big.bin | head`: it said "reading the input failed: [Errno 32] Broken pipe"."""
    frame = encode_naive(b"\xc0\x21\x09\x01\x00\x08\x00\x00\x00\x00", 0xFFFFFFFF, leading_flag=False)
    path = tmp_path / "many.bin"
    path.write_bytes(b"\x7e" + b"".join(frame[:-3] + bytes([i % 256]) + frame[-2:] for i in range(200_000)))
    proc = subprocess.Popen([sys.executable, "-m", "pppstack", "decode", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0 and err == ""
