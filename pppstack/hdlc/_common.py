"""Types and constants shared by both framing backends (RFC 1662 §4 async HDLC-like framing)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

FLAG = 0x7E  # RFC 1662 §4.2 Flag Sequence
ESCAPE = 0x7D  # Control Escape
DEFAULT_ACCM = 0xFFFFFFFF

# Address/Control (2) + Protocol (2): what RFC 1661's MRU does not count.
HEADER_OVERHEAD = 4

# Residues over data || FCS of a good frame, as returned by fcs16()/fcs32() (RFC 1662 §C.2, §C.3:
# the register holds 0xF0B8 / 0xDEBB20E3; fcs*() complement it like the transmitter does).
GOOD_FCS16 = 0xF0B8 ^ 0xFFFF
GOOD_FCS32 = 0xDEBB20E3 ^ 0xFFFFFFFF

# Modem text (result codes such as "NO CARRIER") consists of these bytes; 0x7D is left out so
# that a text run can never hold an escape.
TEXT_BYTES = bytes([0x09, 0x0A, 0x0D]) + bytes(range(0x20, 0x7D))

REASONS = ("abort", "runt", "bad_fcs", "oversize")


def fcs_len(fcs_bits: int) -> int:
    if fcs_bits == 16:
        return 2
    if fcs_bits == 32:
        return 4
    raise ValueError(f"fcs_bits must be 16 or 32, not {fcs_bits!r}")


def check_accm(accm: int) -> int:
    if not 0 <= accm <= 0xFFFFFFFF:
        raise ValueError(f"ACCM must be a 32-bit value, not {accm!r}")
    return accm


def max_run(mru: int, fcs_bits: int) -> int:
    """Longest unescaped run between flags that is not oversize: MRU + header + FCS."""
    if mru < 0:
        raise ValueError(f"MRU must not be negative, not {mru!r}")
    return mru + HEADER_OVERHEAD + fcs_len(fcs_bits)


@dataclass(frozen=True, slots=True)
class Frame:
    """A good frame: address/control + protocol + information as received, FCS stripped."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes outside frames: before the first flag, or modem text between flags."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Discard:
    """A run between flags thrown away; reason is one of abort, runt, bad_fcs, oversize.

    data holds the unescaped bytes of the run (for oversize: only the first MRU+overhead bytes).
    """

    reason: str
    data: bytes


Item = Frame | Garbage | Discard


@dataclass(slots=True)
class Counters:
    """What a Decoder saw; every discarded run is counted once, under one reason.

    Decoder.counters returns a fresh snapshot on every read (both backends).
    """

    frames: int = 0
    bad_fcs: int = 0
    aborts: int = 0
    runts: int = 0
    oversize: int = 0
    unescaped_ctrl: int = 0
    garbage_bytes: int = 0


# How much garbage take_garbage() keeps between calls (the newest bytes win: the last words a
# modem said, such as NO CARRIER, are the ones worth reporting).
GARBAGE_KEEP = 65536


class FrameBatch:
    """The good frames of one Decoder.feed_packed call, packed back to back in one buffer.

    Why this shape: feed() builds one bytes object per frame, a malloc and a copy each, and for
    1.5 KB frames that costs more than decoding them.  Here the C core writes the frames into
    a buffer allocated once per call and hands it over whole with the frame ends, so a batch
    costs one allocation however many frames it holds.  A buffer owned by the batch (rather
    than one reused by the decoder, as a feed_into(out) API would) keeps the lifetime simple:
    a batch and every view taken from it stay valid after later feeds, for as long as they are
    referenced, and nothing can write into them.

    len(batch) frames; batch[i] and iteration give read-only memoryviews (no copy; they keep
    the buffer alive), tobytes_list() gives what feed() would have returned, ``buffer`` is all
    the frames back to back and ``ends`` where each one ends in it (frame i is
    buffer[ends[i-1]:ends[i]], the first starting at 0).
    """

    __slots__ = ("_ends", "_raw", "_view")

    def __init__(self, raw: Any, ends: list[int]) -> None:
        # raw: the frames back to back, exactly: bytes, or a cffi buffer over the C core's
        # output (slicing either gives bytes); ends: the batch's own list
        self._raw = raw
        self._view = memoryview(raw).toreadonly()
        self._ends = ends

    def __len__(self) -> int:
        return len(self._ends)

    def __bool__(self) -> bool:
        return len(self._ends) > 0

    def __getitem__(self, i: int) -> memoryview:
        ends = self._ends
        end = ends[i]  # IndexError / TypeError as for a list
        if i < 0:
            i += len(ends)
        return self._view[ends[i - 1] if i else 0:end]

    def __iter__(self) -> Iterator[memoryview]:
        return iter(self.views())

    def __repr__(self) -> str:
        return f"<FrameBatch {len(self._ends)} frames, {self.nbytes} bytes>"

    def views(self) -> list[memoryview]:
        """Every frame as a read-only memoryview into the batch's buffer."""
        v, ends = self._view, self._ends  # starts: 0 then every end but the last (zip stops there)
        return [v[a:b] for a, b in zip(chain((0,), ends), ends, strict=False)]

    def tobytes_list(self) -> list[bytes]:
        """Every frame as bytes: what Decoder.feed returns for the same input."""
        raw, ends = self._raw, self._ends
        return [raw[a:b] for a, b in zip(chain((0,), ends), ends, strict=False)]

    @property
    def buffer(self) -> memoryview:
        """The frames back to back (read-only)."""
        return self._view

    @property
    def ends(self) -> Sequence[int]:
        """Where each frame ends in buffer (the batch's own list: read it, do not change it)."""
        return self._ends

    @property
    def nbytes(self) -> int:
        return len(self._view)
