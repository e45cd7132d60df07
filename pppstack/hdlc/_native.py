"""The C framing core behind the same API as _python: the one module holding cffi objects.

Hot-path habits from bench/research: bytes go to C as `const char *` without a copy, output is
written into buffers owned here and sliced out with ffi.buffer, and a decoder call turns a whole
read chunk into (kind, offset, length) records, so Python pays one crossing per chunk.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

from pppstack._hdlc_c import ffi, lib  # noqa: E402,I001  (ImportError here selects _python)

from ._common import (
    DEFAULT_ACCM,
    GARBAGE_KEEP,
    REASONS,
    Counters,
    Discard,
    Frame,
    FrameBatch,
    Garbage,
    Item,
    check_accm,
    fcs_len,
    max_run,
)

# PPPSTACK_HDLC_SIMD caps the C core's SIMD paths as if the CPU had no more (the portable code an
# ARM router runs, or AVX2 without AVX-512); the C side reads it once, below
SIMD_LEVELS = ("none", "portable", "0", "ssse3", "avx2", "avx512", "all", "")
_simd_env = os.environ.get("PPPSTACK_HDLC_SIMD")
if _simd_env is not None and _simd_env not in SIMD_LEVELS:
    raise ImportError(f"PPPSTACK_HDLC_SIMD must be one of none, portable, ssse3, avx2, avx512 or all, "
                      f"not {_simd_env!r}")
lib.hdlc_features()  # initialise tables and CPU detection now, under the import lock
assert array("Q").itemsize == ffi.sizeof("size_t") == 8

_ITEMS = 4096  # records per C call; a 64 KiB chunk of minimal runs needs a few calls
_decode = lib.hdlc_decode
_KIND_FRAME = lib.HDLC_ITEM_FRAME
_KIND_GARBAGE = lib.HDLC_ITEM_GARBAGE
_SIZE_MAX = 2 ** (8 * ffi.sizeof("size_t")) - 1
_decode_packed = lib.hdlc_decode_packed


def fcs16(data: bytes | bytearray | memoryview) -> int:
    """FCS-16 of data as transmitted (complemented; b"123456789" -> 0x906E)."""
    if type(data) is not bytes:
        data = bytes(data)
    return lib.hdlc_fcs16(0xFFFF, data, len(data)) ^ 0xFFFF


def fcs32(data: bytes | bytearray | memoryview) -> int:
    """FCS-32 of data as transmitted (complemented; b"123456789" -> 0xCBF43926)."""
    if type(data) is not bytes:
        data = bytes(data)
    return lib.hdlc_fcs32(0xFFFFFFFF, data, len(data)) ^ 0xFFFFFFFF


class _OutBuf:
    """A growable C output buffer, reused across calls."""

    __slots__ = ("cap", "ptr")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.ptr = _new_raw("char[]", cap)

    def get(self, need: int) -> Any:  # a cffi char[] pointer
        if need > self.cap:
            self.cap = max(need, 2 * self.cap)
            self.ptr = _new_raw("char[]", self.cap)
        return self.ptr


# cffi drops the GIL inside C calls, so two threads (a simulated modem next to the link, say)
# may encode at once: each call takes a buffer from this pool and puts it back.  list.pop and
# list.append are atomic under the GIL, so this needs no lock.
_new_raw = ffi.new_allocator(should_clear_after_alloc=False)
_pool: list[_OutBuf] = []


def _take() -> _OutBuf:
    try:
        return _pool.pop()
    except IndexError:
        return _OutBuf(1 << 16)


def encode(frame: bytes, accm: int = DEFAULT_ACCM, fcs_bits: int = 16, leading_flag: bool = True) -> bytes:
    """Frame address/control + protocol + information: [flag] escaped(frame + FCS) flag."""
    if type(frame) is not bytes:
        frame = bytes(frame)
    if fcs_bits != 16 and fcs_bits != 32:
        fcs_len(fcs_bits)
    n = len(frame)
    out = _take()
    try:
        buf = out.get(2 * n + 16)
        m = lib.hdlc_encode(buf, frame, n, check_accm(accm), fcs_bits, leading_flag)
        return ffi.buffer(buf, m)[:]
    finally:
        _pool.append(out)


def encode_many(frames: Iterable[bytes], accm: int = DEFAULT_ACCM, fcs_bits: int = 16,
                leading_flag: bool = True, head: bytes = b"") -> bytes:
    """Frames back to back, sharing flags: flag f1 flag f2 flag ... in one C call; ``head``
    (address, control, protocol) goes before every frame."""
    if type(frames) is not list:
        frames = list(frames)
    if not frames:
        return b""
    if len(frames) == 1:    # what a busy link's turn often brings: no lengths array (2.6 us, not 5.5)
        return encode(head + frames[0] if head else frames[0], accm, fcs_bits, leading_flag)
    fcs_len(fcs_bits)
    if head:  # one join puts the headers in: 40 ns a packet where head + packet took 190
        parts = [head] * (2 * len(frames))
        parts[1::2] = frames
        joined = b"".join(parts)
        k = len(head)
        lens = array("Q", [len(f) + k for f in frames])
    else:
        joined = b"".join(frames)  # takes any bytes-like object
        lens = array("Q", map(len, frames))
    out = _take()
    try:
        buf = out.get(2 * len(joined) + 16 * len(frames) + 16)
        # C checks that the lengths add up to the joined bytes (an array of 2-byte items joins
        # to more bytes than its len): no Python sum per call
        m = lib.hdlc_encode_frames(buf, joined, len(joined), ffi.from_buffer("size_t[]", lens), len(frames),
                                   check_accm(accm), fcs_bits, leading_flag)
        if m == _SIZE_MAX:
            raise TypeError("encode_many takes byte strings (or buffers of bytes)")
        return ffi.buffer(buf, m)[:]
    finally:
        _pool.append(out)


def encode_slots(slots: Any, lens: Any, count: int, total: int, head4: bytes, head6: bytes,
                 accm: int = DEFAULT_ACCM) -> tuple[bytes, int]:
    """Frame IP packets that sit in slots of one C buffer, as a batched TUN read leaves them:
    slot i is lens[i] bytes, a header's room and then the packet (``total`` bytes in all).

    head4 / head6 (address, control, protocol; equal lengths, the room left) go before IPv4 /
    IPv6 packets, b"" for a protocol that is not open.  Returns (HDLC bytes, count), or (b"", i)
    with i the first packet that has no header to go with it: nothing is framed then, and the
    caller sorts the batch out packet by packet."""
    hlen = max(len(head4), len(head6))
    bad = int(lib.tunio_put_heads(slots, lens, count, hlen, head4 or bytes(hlen), bool(head4),
                                  head6 or bytes(hlen), bool(head6)))
    if bad < count:
        return b"", bad
    out = _take()
    try:
        buf = out.get(2 * total + 16 * count + 16)
        m = lib.hdlc_encode_many(buf, slots, lens, count, check_accm(accm), 16, True)
        return ffi.buffer(buf, m)[:], count
    finally:
        _pool.append(out)


def ip_spans(buffer: memoryview, ends: Sequence[int], start: int, ok4: bool, ok6: bool) -> tuple[int, Any, int, int]:
    """The receive side's header walk over a FrameBatch (``buffer``, ``ends``) in one C call:
    from frame ``start`` on, while frames carry a non-empty IPv4 / IPv6 packet of an open
    protocol, their spans.  Returns (index of the first other frame, or len(ends); the spans as
    a C size_t[] of start, stop pairs; how many; their bytes)."""
    count = len(ends)
    spans = ffi.new("size_t[]", 2 * (count - start) or 2)
    out = ffi.new("size_t[2]")
    stop = int(lib.tunio_ip_spans(ffi.from_buffer(buffer), ffi.new("size_t[]", ends), count, start,
                                  ok4, ok6, spans, out, out + 1))
    return stop, spans, int(out[0]), int(out[1])


class Decoder:
    """Streaming RFC 1662 deframer; rules in pppstack.hdlc._python's docstring."""

    def __init__(self, accm: int = DEFAULT_ACCM, fcs_bits: int = 16, mru: int = 1500) -> None:
        fcs_len(fcs_bits)
        self.fcs_bits = fcs_bits
        self._accm = check_accm(accm)
        self._mru = mru
        self._max_ever = max_run(mru, fcs_bits)
        d = lib.hdlc_decoder_new(fcs_bits, accm, self._max_ever)
        if d == ffi.NULL:
            raise MemoryError("cannot allocate an HDLC decoder")
        self._d = ffi.gc(d, lib.hdlc_decoder_free)
        self._items = ffi.new("size_t[]", 3 * _ITEMS)
        # the records read in place (a memoryview of size_t): no list of ints per call
        self._itemv = memoryview(ffi.buffer(self._items)).cast("Q")
        self._nitems = ffi.new("size_t *")
        self._alloc(1 << 16)
        self._garbage = bytearray()
        self._counts = ffi.new("size_t[2]")  # feed_packed: frames, garbage bytes
        self._ngarbage = self._counts + 1  # (a cdata pointer made once, not per call)
        self._gcap = -1  # feed_packed's scratch is sized on first use

    def _alloc(self, cap: int) -> None:
        self._cap = cap
        self._outp = _new_raw("char[]", cap)
        self._outb = ffi.buffer(self._outp)

    def _configure(self, accm: int, mru: int) -> None:
        max_len = max_run(mru, self.fcs_bits)
        if lib.hdlc_decoder_configure(self._d, accm, max_len) != 0:
            raise MemoryError("cannot grow the HDLC decoder for this MRU")
        self._accm, self._mru = accm, mru
        self._max_ever = max(self._max_ever, max_len)

    @property
    def accm(self) -> int:
        return self._accm

    @accm.setter
    def accm(self, value: int) -> None:
        self._configure(check_accm(value), self._mru)

    @property
    def mru(self) -> int:
        return self._mru

    @mru.setter
    def mru(self, value: int) -> None:
        self._configure(self._accm, value)

    @property
    def counters(self) -> Counters:
        c = lib.hdlc_decoder_counters(self._d)
        return Counters(c.frames, c.bad_fcs, c.aborts, c.runts, c.oversize, c.unescaped_ctrl, c.garbage_bytes)

    def _call(self, data: bytes) -> tuple[int, list[int]]:
        """One C call over data; returns (bytes consumed, flat kind/offset/length records)."""
        n = len(data)
        need = n + 2 * self._max_ever + 64  # >= hdlc_decode_bound(): carried run + text + slack
        if need > self._cap:
            self._alloc(max(need, 2 * self._cap))
        used = lib.hdlc_decode(self._d, data, n, self._outp, self._items, _ITEMS, self._nitems)
        k = self._nitems[0]
        return used, (ffi.unpack(self._items, 3 * k) if k else [])

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Good frames completed by data (FCS stripped); garbage goes to take_garbage()."""
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        if n + 2 * self._max_ever + 64 > self._cap:
            self._alloc(max(n + 2 * self._max_ever + 64, 2 * self._cap))
        used = _decode(self._d, data, n, self._outp, self._items, _ITEMS, self._nitems)
        k = self._nitems[0]
        if not k:
            frames = []
        else:
            rec = self._itemv[:3 * k]
            buf = self._outb
            if k == 1 and rec[0] == _KIND_FRAME:  # one frame per read: the common small case
                frames = [buf[rec[1]:rec[1] + rec[2]]]
            elif not any(rec[0::3]):  # only frames
                frames = [buf[o:o + m] for o, m in zip(rec[1::3], rec[2::3], strict=True)]
            else:
                frames = []
                self._records(frames, rec)
        while used < n:  # the record array filled up: go on with the rest
            data, n = data[used:], n - used
            used = _decode(self._d, data, n, self._outp, self._items, _ITEMS, self._nitems)
            self._records(frames, self._itemv[:3 * self._nitems[0]])
        return frames

    @property
    def max_kept(self) -> int:
        """The longest run this decoder has ever been set to keep (its MRU with header and FCS)."""
        return self._max_ever

    @property
    def c_handle(self) -> Any:
        """The C decoder (hdlc_decoder *) for the fast path, native/pump.c: it decodes with this
        decoder's state, so a frame cut across a hand-over is carried either way."""
        return self._d

    def feed_packed(self, data: bytes | bytearray | memoryview) -> FrameBatch:
        """The good frames completed by data in one FrameBatch (one buffer, no object per
        frame); garbage goes to take_garbage(); counters, ACCM and MRU as for feed()."""
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        cap = n + 2 * self._max_ever + 64  # >= hdlc_decode_bound(), as in feed
        if cap > self._gcap:
            self._pack_grow(cap)
        out = _new_raw("char[]", cap)  # the batch's own: it outlives later calls
        counts = self._counts
        if _decode_packed(self._d, data, n, out, self._ends, self._ends_cap, counts, self._gbuf, self._ngarbage) != n:
            raise RuntimeError("the C decoder stopped short of the end of a read")  # hdlc.h: cannot happen
        if counts[1]:
            self._garbage += ffi.buffer(self._gbuf, counts[1])
            if len(self._garbage) > GARBAGE_KEEP:
                del self._garbage[:-GARBAGE_KEEP]
        k = counts[0]
        if not k:
            return FrameBatch(b"", [])
        ends = self._endv[:k].tolist()  # ints made here, once, where a copy of the array cost more
        return FrameBatch(ffi.buffer(out, ends[-1]), ends)

    def _pack_grow(self, cap: int) -> None:
        """Scratch for feed_packed: garbage (at most the read plus held text, so within the
        decode bound) and frame ends (hdlc.h: len / 4 + 8 of them make one call consume all)."""
        self._gcap = max(cap, 2 * self._gcap)
        self._gbuf = _new_raw("char[]", self._gcap)
        self._ends_cap = self._gcap // 4 + 8
        self._ends = ffi.new("size_t[]", self._ends_cap)
        self._endv = memoryview(ffi.buffer(self._ends)).cast("Q")

    def _records(self, frames: list[bytes], rec: memoryview) -> None:
        buf = self._outb
        kinds = rec[0::3]
        frames += [buf[o:o + m] for kind, o, m in zip(kinds, rec[1::3], rec[2::3], strict=True)
                   if kind == _KIND_FRAME]
        # garbage is rare: find its records in the kinds' bytes (memchr) instead of a loop over all;
        # a kind is below 256, so its one nonzero byte sits in the record it belongs to
        raw = kinds.tobytes()
        j = raw.find(_KIND_GARBAGE)
        if j < 0:
            return
        while j >= 0:
            o = rec[3 * (j >> 3) + 1]
            self._garbage += buf[o:o + rec[3 * (j >> 3) + 2]]
            j = raw.find(_KIND_GARBAGE, (j | 7) + 1)
        if len(self._garbage) > GARBAGE_KEEP:
            del self._garbage[:-GARBAGE_KEEP]

    def feed_items(self, data: bytes | bytearray | memoryview) -> list[Item]:
        """Everything data completed, in stream order (garbage is returned here, not kept)."""
        if type(data) is not bytes:
            data = bytes(data)
        items: list[Item] = []
        while True:
            used, rec = self._call(data)
            buf = self._outb
            for j in range(0, len(rec), 3):
                kind, off = rec[j], rec[j + 1]
                chunk = buf[off:off + rec[j + 2]]
                if kind == _KIND_FRAME:
                    items.append(Frame(chunk))
                elif kind == _KIND_GARBAGE:
                    if items and type(items[-1]) is Garbage:
                        items[-1] = Garbage(items[-1].data + chunk)
                    else:
                        items.append(Garbage(chunk))
                else:
                    items.append(Discard(REASONS[kind - 2], chunk))
            if used == len(data):
                break
            data = data[used:]
        return items

    def take_garbage(self) -> bytes:
        """Bytes seen outside frames since the last call (at most the newest 64 KiB)."""
        if not self._garbage:  # the data path asks after every read
            return b""
        g = bytes(self._garbage)
        self._garbage.clear()
        return g
