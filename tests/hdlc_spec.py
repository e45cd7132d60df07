"""A third, deliberately naive RFC 1662 implementation: one byte at a time, bitwise FCS.

It shares no code with pppstack.hdlc and is written straight from RFC 1662 §4.2, §7.1 and
appendix C plus the run-classification rules in pppstack/hdlc/_python.py's docstring.  Both
backends are checked against it, so a rule the two fast paths got wrong in the same way still
shows up.
"""

from __future__ import annotations

import contextlib
import random

TEXT = set(range(0x20, 0x7D)) | {0x09, 0x0A, 0x0D}


def fcs16_bitwise(data: bytes, fcs: int = 0xFFFF) -> int:
    """RFC 1662 §C.2 register, bit by bit (no final complement)."""
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs


def fcs32_bitwise(data: bytes, fcs: int = 0xFFFFFFFF) -> int:
    """RFC 1662 §C.3 register, bit by bit (no final complement)."""
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0xEDB88320 if fcs & 1 else fcs >> 1
    return fcs


def encode_naive(frame: bytes, accm: int = 0xFFFFFFFF, fcs_bits: int = 16, leading_flag: bool = True) -> bytes:
    if fcs_bits == 16:
        body = frame + (fcs16_bitwise(frame) ^ 0xFFFF).to_bytes(2, "little")
    else:
        body = frame + (fcs32_bitwise(frame) ^ 0xFFFFFFFF).to_bytes(4, "little")
    out = bytearray(b"\x7e" if leading_flag else b"")
    for b in body:
        if b in (0x7D, 0x7E) or (b < 0x20 and accm >> b & 1):
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    out.append(0x7E)
    return bytes(out)


class SpecDecoder:
    """Byte-at-a-time deframer producing ("frame"|"garbage"|reason, bytes) tuples."""

    def __init__(self, accm: int = 0xFFFFFFFF, fcs_bits: int = 16, mru: int = 1500) -> None:
        self.accm = accm
        self.fcs_len = fcs_bits // 8
        self.mru = mru
        self.hunting = True
        self.counts = dict(frames=0, bad_fcs=0, aborts=0, runts=0, oversize=0, unescaped_ctrl=0, garbage_bytes=0)
        self.items: list[tuple[str, bytes]] = []
        self.lines = False  # a run began with CR/LF: modem text lines until the next flag
        self._reset()

    @property
    def max_len(self) -> int:
        return self.mru + 4 + self.fcs_len

    def _reset(self) -> None:
        self.raw_len = 0
        self.text = True
        self.raw = bytearray()
        self.out = bytearray()
        self.esc = False
        self.over = False
        self.dropped = 0

    def _garbage(self, data: bytes) -> None:
        if not data:
            return
        self.counts["garbage_bytes"] += len(data)
        if self.items and self.items[-1][0] == "garbage":
            self.items[-1] = ("garbage", self.items[-1][1] + bytes(data))
        else:
            self.items.append(("garbage", bytes(data)))

    def _good(self) -> bool:
        if self.fcs_len == 2:
            return fcs16_bitwise(bytes(self.out)) == 0xF0B8
        return fcs32_bitwise(bytes(self.out)) == 0xDEBB20E3

    def _close(self) -> None:
        c = self.counts
        if self.raw_len == 0:
            return
        if self.over:
            c["oversize"] += 1
            self.items.append(("oversize", bytes(self.out)))
        elif self.esc:
            c["aborts"] += 1
            self.items.append(("abort", bytes(self.out)))
        elif len(self.out) >= self.fcs_len + 2 and self._good():
            c["frames"] += 1
            self.items.append(("frame", bytes(self.out[: -self.fcs_len])))
        elif self.text:
            self._garbage(self.raw)
            return
        elif not self.out:
            pass
        elif len(self.out) < self.fcs_len + 2:
            c["runts"] += 1
            self.items.append(("runt", bytes(self.out)))
        else:
            c["bad_fcs"] += 1
            self.items.append(("bad_fcs", bytes(self.out)))
        c["unescaped_ctrl"] += self.dropped

    def feed(self, data: bytes) -> None:
        for b in data:
            if self.hunting:
                if b == 0x7E:
                    self.hunting = False
                else:
                    self._garbage(bytes([b]))
                continue
            if b == 0x7E:
                self._close()
                self._reset()
                self.lines = False
                continue
            self.raw_len += 1
            if self.text:
                if b in TEXT and self.raw_len <= self.max_len:
                    if self.raw_len == 1 and b in (0x0A, 0x0D):
                        self.lines = True
                    self.raw.append(b)
                    flagged = b < 0x20 and self.accm >> b & 1
                    if flagged:
                        self.dropped += 1
                    else:
                        self.out.append(b)
                    if self.lines and b in (0x0A, 0x0D):
                        self._garbage(self.raw)
                        self._reset()
                    continue
                self.text = False
            if b < 0x20 and self.accm >> b & 1:
                self.dropped += 1
            elif self.over:
                pass
            elif b == 0x7D:
                self.esc = True
            else:
                if self.esc:
                    b ^= 0x20
                    self.esc = False
                if len(self.out) >= self.max_len:
                    self.over = True
                else:
                    self.out.append(b)


# --- helpers shared by the tests/test_hdlc*.py files ----------------------------------------
BACKENDS = ["python", "c"]


def load_backend(name: str):  # noqa: ANN201 - a module
    """Both backends run every vector, whatever PPPSTACK_HDLC says; with PPPSTACK_HDLC=c a
    missing C core is a failure, otherwise it skips with the reason."""
    import importlib
    import os

    import pytest

    if name == "python":
        return importlib.import_module("pppstack.hdlc._python")
    try:
        return importlib.import_module("pppstack.hdlc._native")
    except ImportError as exc:
        if os.environ.get("PPPSTACK_HDLC", "auto") == "c":
            pytest.fail(f"PPPSTACK_HDLC=c but the C core is missing: {exc}")
        # a machine without a compiler runs the Python backend only (a supported install); CI
        # sets PPPSTACK_HDLC=c, where the branch above turns a missing core into a failure
        pytest.skip(f"C framing core not built on this machine (no compiler?), PPPSTACK_HDLC is not 'c': {exc}")


def as_tuples(items) -> list[tuple[str, bytes]]:  # noqa: ANN001
    """Backend items -> spec tuples, adjacent garbage merged (chunking may split it)."""
    out: list[tuple[str, bytes]] = []
    for it in items:
        kind = type(it).__name__
        t = ("frame", it.data) if kind == "Frame" else ("garbage", it.data) if kind == "Garbage" \
            else (it.reason, it.data)
        if t[0] == "garbage" and out and out[-1][0] == "garbage":
            out[-1] = ("garbage", out[-1][1] + t[1])
        else:
            out.append(t)
    return out


def counters_dict(c) -> dict[str, int]:  # noqa: ANN001
    return {k: getattr(c, k) for k in
            ("frames", "bad_fcs", "aborts", "runts", "oversize", "unescaped_ctrl", "garbage_bytes")}


# The C core's SIMD levels, top down; each fuzz test runs at every one this CPU has, because
# each level takes a different path through the deframer (tests pass the name, not the mask,
# so the parameter list does not depend on the machine).
SIMD_LEVELS = ["all", "avx2", "ssse3+pclmul", "ssse3", "portable"]
BACKEND_LEVELS = ["python"] + [f"c/{level}" for level in SIMD_LEVELS]


@contextlib.contextmanager
def backend_at(name: str):  # noqa: ANN201 - yields a module
    """The backend `python` or `c/<level>`, with the C core restricted to that SIMD level for
    the duration (skips a level this CPU lacks, and a level that adds nothing to the one above)."""
    import pytest

    if name == "python":
        yield load_backend("python")
        return
    hx = load_backend("c")
    from pppstack._hdlc_c import lib

    level = name.split("/", 1)[1]
    masks = {"all": 0xFFFFFFFF, "avx2": lib.HDLC_SIMD_SSSE3 | lib.HDLC_SIMD_AVX2 | lib.HDLC_SIMD_PCLMUL,
             "ssse3+pclmul": lib.HDLC_SIMD_SSSE3 | lib.HDLC_SIMD_PCLMUL, "ssse3": lib.HDLC_SIMD_SSSE3, "portable": 0}
    before = lib.hdlc_features()      # PPPSTACK_HDLC_SIMD=0 may have masked them at start-up
    full = lib.hdlc_set_features(0xFFFFFFFF)
    want = masks[level] & full
    above = [masks[up] & full for up in SIMD_LEVELS[:SIMD_LEVELS.index(level)]]
    try:
        if level not in ("all", "portable") and (want != masks[level] or want in above):
            pytest.skip(f"this CPU has no separate SIMD level {level!r} (features {full:#x})")
        assert lib.hdlc_set_features(want) == want
        yield hx
    finally:
        lib.hdlc_set_features(before)


def random_parts(rng: random.Random, accm: int, burst: bool = False) -> list[bytes]:
    """1-5 random frames (sizes around the MRU, escapes, ACCM on or off, with or without a leading
    flag) with modem text between some; ``burst`` adds runs of 300 tiny frames (many ends)."""
    parts: list[bytes] = []
    for _ in range(rng.randrange(1, 6)):
        size = rng.choice([1, 2, 63, 64, 65, 127, 1490, 1500, 1504, 1530])
        body = bytes(rng.choice(b"\x7d\x7e\x00\x11A\xff") if rng.random() < 0.1 else rng.getrandbits(8)
                     for _ in range(size))
        parts.append(encode_naive(body, rng.choice([0, accm]), 16, leading_flag=rng.random() < 0.5))
        if rng.random() < 0.2:
            parts.append(b"\r\nOK\r\n")
        if burst and rng.random() < 0.2:
            parts += [encode_naive(b"\x21" + bytes([i & 0xFF]), accm, 16, False) for i in range(300)]
    return parts
