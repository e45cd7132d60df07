"""Pure-Python RFC 1662 framing: the executable specification and the no-compiler fallback.

Theory of operation (RFC 1662 §4, §7.1, appendix C):

The transmitter computes the FCS over address/control + protocol + information, appends it
least significant byte first, escapes 0x7E, 0x7D and every control byte whose bit is set in the
transmit ACCM as 0x7D, byte ^ 0x20, and closes the frame with a flag.

The receiver splits the byte stream at flags into *runs*.  Bytes before the very first flag are
garbage (line noise, modem chatter before CONNECT).  Within a run, control bytes flagged in the
receive ACCM are dropped (and counted) where they stand (§7.1: they were inserted by the link), 0x7D marks the
next kept byte as escaped, and the result is kept up to MRU + header + FCS bytes.  A flag closes
the run, which then is, in this order:

* empty                        -> nothing (back-to-back flags)
* longer than the limit        -> Discard("oversize")
* ended by 0x7D 0x7E           -> Discard("abort")
* >= FCS + 2 bytes, good FCS   -> Frame (FCS stripped)
* made of text bytes only      -> Garbage (modem text between flags)
* nothing left after dropping  -> ignored (only link-inserted control bytes)
* shorter than FCS + 2 bytes   -> Discard("runt")     (RFC 1662 §3: too short)
* otherwise                    -> Discard("bad_fcs")

A run that starts with CR or LF and so far holds only text bytes (printable ASCII, TAB, CR, LF;
at most the limit) is a modem line (verbose result codes come as "\\r\\nNO CARRIER\\r\\n"): when it
reaches a CR or LF it is reported as garbage at once, and so is every text line after it until
the next flag, so NO CARRIER after the last frame is seen without waiting for a flag that never
comes.  A run starting with any other byte is judged at its flag: the first bytes of a real frame
can look like text ("!E\\n" is IPv4 with PFC and TOS 0x0a), and only the FCS tells them apart.
Every rule above is decided byte by byte, so the result does not depend on how the stream is
chunked; the C backend
implements the very same rules and the tests hold the two bit-identical.
"""

from __future__ import annotations

import binascii
import re
import zlib
from collections.abc import Iterable

from ._common import (
    DEFAULT_ACCM,
    GARBAGE_KEEP,
    GOOD_FCS16,
    GOOD_FCS32,
    TEXT_BYTES,
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

# --- FCS -------------------------------------------------------------------------------------
# binascii.crc_hqx is the non-reflected CCITT CRC; feeding it bit-reversed bytes and reversing the
# register gives the reflected X.25 CRC of RFC 1662 §C.2 (about 20x faster than a Python loop).
_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _rev16(x: int) -> int:
    return (_REV8[x & 0xFF] << 8) | _REV8[x >> 8]


def fcs16(data: bytes | bytearray | memoryview) -> int:
    """FCS-16 of data as transmitted (complemented; b"123456789" -> 0x906E)."""
    return _rev16(binascii.crc_hqx(bytes(data).translate(_REV8), 0xFFFF)) ^ 0xFFFF


def fcs32(data: bytes | bytearray | memoryview) -> int:
    """FCS-32 of data as transmitted (complemented; b"123456789" -> 0xCBF43926)."""
    return zlib.crc32(data)


def _fcs_bytes(data: bytes, fcs_bits: int) -> bytes:
    if fcs_bits == 16:
        return fcs16(data).to_bytes(2, "little")
    if fcs_bits == 32:
        return zlib.crc32(data).to_bytes(4, "little")
    fcs_len(fcs_bits)  # raises ValueError
    raise AssertionError


# --- Encoder ---------------------------------------------------------------------------------
class _EscapeSet:
    """For one ACCM: which bytes need escaping and what they become."""

    __slots__ = ("ordinary", "pairs")

    def __init__(self, accm: int) -> None:
        special = [0x7D, 0x7E] + [c for c in range(32) if accm >> c & 1]
        # bytes.translate(None, ordinary) leaves only the special bytes present in a buffer
        self.ordinary = bytes(c for c in range(256) if c not in special)
        # 0x7D must be escaped first, or the escapes added for the others would be doubled
        self.pairs = [(c, bytes([c]), bytes([0x7D, c ^ 0x20])) for c in special]


_escape_sets: dict[int, _EscapeSet] = {}


def _escape_set(accm: int) -> _EscapeSet:
    es = _escape_sets.get(accm)
    if es is None:
        es = _escape_sets[check_accm(accm)] = _EscapeSet(accm)
    return es


def _escape(body: bytes, accm: int) -> bytes:
    es = _escape_set(accm)
    present = body.translate(None, es.ordinary)
    if present:
        for c, one, two in es.pairs:
            if c in present:
                body = body.replace(one, two)
    return body


def encode(frame: bytes, accm: int = DEFAULT_ACCM, fcs_bits: int = 16, leading_flag: bool = True) -> bytes:
    """Frame address/control + protocol + information: [flag] escaped(frame + FCS) flag."""
    frame = bytes(frame)
    body = _escape(frame + _fcs_bytes(frame, fcs_bits), accm)
    return b"~" + body + b"~" if leading_flag else body + b"~"


def encode_many(frames: Iterable[bytes], accm: int = DEFAULT_ACCM, fcs_bits: int = 16,
                leading_flag: bool = True, head: bytes = b"") -> bytes:
    """Frames back to back, sharing flags: flag f1 flag f2 flag ... (one write for a burst);
    ``head`` (address, control, protocol) goes before every frame."""
    parts = [encode(head + f if head else f, accm, fcs_bits, False) for f in frames]
    if not parts:
        return b""
    return (b"~" if leading_flag else b"") + b"".join(parts)


# --- Decoder ---------------------------------------------------------------------------------
_NOT_TEXT = re.compile(b"[^" + re.escape(TEXT_BYTES) + b"]")
_dropsets: dict[int, bytes] = {}


def _dropset(accm: int) -> bytes:
    d = _dropsets.get(accm)
    if d is None:
        d = _dropsets[accm] = bytes(c for c in range(32) if accm >> c & 1)
    return d


_XOR20 = bytes(b ^ 0x20 for b in range(256))


def _unescape_split(s: bytes) -> bytes:
    """Few escapes: split at 0x7D and flip bit 5 of the first byte of every later part."""
    parts = s.split(b"}")
    if b"" in parts[1:]:  # a run of 0x7D is one escape (RFC 1662 leaves it open; as Linux does)
        parts = [parts[0]] + [p for p in parts[1:] if p]
    firsts = bytes([p[0] for p in parts[1:]]).translate(_XOR20)
    out = [parts[0]]
    for c, p in zip(firsts, parts[1:], strict=True):
        out.append(_BYTE[c])
        out.append(p[1:])
    return b"".join(out)


_BYTE = [bytes([b]) for b in range(256)]


def _unescape(s: bytes) -> bytes:
    """Undo 0x7D escapes in s, which neither starts in nor ends with an escape."""
    return _unescape_split(s) if b"}" in s else s


class Decoder:
    """Streaming RFC 1662 deframer (see the module docstring for the rules)."""

    _accm: int
    _drop: bytes
    _text: bool
    _raw: bytearray
    _settled: int
    _kept: bytearray

    def __init__(self, accm: int = DEFAULT_ACCM, fcs_bits: int = 16, mru: int = 1500) -> None:
        self._fcs_len = fcs_len(fcs_bits)
        self.fcs_bits = fcs_bits
        self._good = GOOD_FCS16 if fcs_bits == 16 else GOOD_FCS32
        self.accm = accm
        self.mru = mru
        self._c = Counters()
        self._garbage = bytearray()
        self._hunting = True  # no flag seen yet
        self._lines = False  # inside modem text lines since the last flag
        self._pack: bytearray | None = None  # feed_packed collects good frames here ...
        self._ends: list[int] = []  # ... and where each ends
        self._new_run()

    @property
    def accm(self) -> int:
        return self._accm

    @accm.setter
    def accm(self, value: int) -> None:
        check_accm(value)
        if getattr(self, "_text", False) and len(self._raw) > self._settled:
            # hdlc.h: a new ACCM applies from the next byte, so text bytes already held are
            # judged now, by the ACCM they arrived under
            tail = bytes(self._raw[self._settled:])
            self._kept += tail.translate(None, self._drop) if self._drop else tail
            self._settled = len(self._raw)
        self._accm = value
        self._drop = _dropset(value)

    @property
    def mru(self) -> int:
        return self._mru

    @mru.setter
    def mru(self, value: int) -> None:
        self._max = max_run(value, self.fcs_bits)
        self._mru = value

    @property
    def counters(self) -> Counters:
        """A snapshot of what was counted so far (a new object each time, as from the C core)."""
        c = self._c
        return Counters(c.frames, c.bad_fcs, c.aborts, c.runts, c.oversize, c.unescaped_ctrl, c.garbage_bytes)

    def _new_run(self) -> None:
        self._has_raw = False  # any byte since the flag
        self._text = True  # every byte so far is a text byte
        self._raw = bytearray()  # those bytes, while _text
        self._settled = 0  # _raw[:_settled] was judged by an earlier ACCM ...
        self._kept = bytearray()  # ... and this is what of it that ACCM kept
        self._out = bytearray()  # the unescaped run
        self._esc = False
        self._over = False
        self._dropped = 0

    # public API
    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Good frames completed by data (FCS stripped); garbage goes to take_garbage()."""
        items = self._run(bytes(data))
        frames = []
        for it in items:
            if type(it) is Frame:
                frames.append(it.data)
            elif type(it) is Garbage:
                self._garbage += it.data
        if len(self._garbage) > GARBAGE_KEEP:
            del self._garbage[:-GARBAGE_KEEP]
        return frames

    def feed_packed(self, data: bytes | bytearray | memoryview) -> FrameBatch:
        """The frames feed() would return, in one FrameBatch (see there for why): while this
        runs, good frames are appended to one buffer instead of becoming Frame items."""
        pack = self._pack = bytearray()
        ends: list[int] = []
        self._ends = ends
        try:
            items = self._run(bytes(data))
        finally:
            self._pack = None
        for it in items:  # only garbage and discards now
            if type(it) is Garbage:
                self._garbage += it.data
        if len(self._garbage) > GARBAGE_KEEP:
            del self._garbage[:-GARBAGE_KEEP]
        return FrameBatch(bytes(pack), ends)

    def feed_items(self, data: bytes | bytearray | memoryview) -> list[Item]:
        """Everything data completed, in stream order (garbage is returned here, not kept)."""
        return self._run(bytes(data))

    @property
    def max_kept(self) -> int:
        """The longest run kept (the MRU with header and FCS), as the C decoder says it."""
        return self._max

    c_handle = None     # no C decoder here: the C fast path does not run on this backend

    def take_garbage(self) -> bytes:
        """Bytes seen outside frames since the last call (at most the newest 64 KiB)."""
        if not self._garbage:  # the data path asks after every read
            return b""
        g = bytes(self._garbage)
        self._garbage.clear()
        return g

    # the machine
    def _run(self, data: bytes) -> list[Item]:
        items: list[Item] = []
        if self._hunting:
            i = data.find(b"~")
            if i < 0:
                self._emit_garbage(items, data)
                return items
            self._emit_garbage(items, data[:i])
            self._hunting = False
            data = data[i + 1:]
        pieces = data.split(b"~")
        last = len(pieces) - 1
        for k, piece in enumerate(pieces):
            if piece:
                self._has_raw = True
                start = self._text_prefix(piece, items) if self._text else 0
                if not self._text:
                    self._bytes(piece[start:] if start else piece)
            if k < last:
                self._close(items)
                self._lines = False
        return items

    def _emit_garbage(self, items: list[Item], data: bytes | bytearray) -> None:
        if not data:
            return
        self._c.garbage_bytes += len(data)
        if items and type(items[-1]) is Garbage:
            items[-1] = Garbage(items[-1].data + bytes(data))
        else:
            items.append(Garbage(bytes(data)))

    def _text_prefix(self, piece: bytes, items: list[Item]) -> int:
        """Take the text bytes at the start of piece; return where ordinary processing resumes."""
        m = _NOT_TEXT.search(piece)
        end = m.start() if m else len(piece)
        pos = 0
        while True:
            if not self._lines and not self._raw and pos < end and piece[pos] in (13, 10):
                self._lines = True
            if self._lines:
                cr = piece.find(b"\r", pos, end)
                lf = piece.find(b"\n", pos, end)
                eol = min(cr, lf) if cr >= 0 and lf >= 0 else max(cr, lf)
            else:
                eol = -1
            seg_end = eol + 1 if eol >= 0 else end
            room = max(0, self._max - len(self._raw))
            if seg_end - pos > room:  # too long for text: the byte past the limit ends text mode
                self._raw += piece[pos:pos + room]
                return self._leave_text(pos + room)
            self._raw += piece[pos:seg_end]
            if eol < 0:
                return self._leave_text(end) if end < len(piece) else end
            self._emit_garbage(items, self._raw)
            self._new_run()
            pos = seg_end
            if pos == len(piece):
                return pos
            self._has_raw = True

    def _leave_text(self, at: int) -> int:
        self._text = False
        raw = bytes(self._raw[self._settled:])
        kept = self._kept + (raw.translate(None, self._drop) if self._drop else raw)
        self._dropped += len(self._raw) - len(kept)
        self._raw, self._settled, self._kept = bytearray(), 0, bytearray()
        self._out += kept  # text holds no 0x7D and is within the limit: nothing to unescape
        return at

    def _bytes(self, s: bytes) -> None:
        """Drop flagged control bytes, unescape and keep s (a piece of a run, no flag)."""
        if self._drop:
            kept = s.translate(None, self._drop)
            self._dropped += len(s) - len(kept)
            s = kept
        if self._over:
            return
        out = self._out
        before = len(out)
        if self._esc:
            i = 0
            while i < len(s) and s[i] == 0x7D:
                i += 1
            if i == len(s):
                return
            out.append(s[i] ^ 0x20)
            self._esc = False
            s = s[i + 1:]
        if s.endswith(b"}"):
            s = s.rstrip(b"}")
            self._esc = True
        out += _unescape(s)
        if len(out) > self._max and len(out) > before:
            self._over = True
            del out[max(before, self._max):]

    def _close(self, items: list[Item]) -> None:
        if not self._has_raw:
            return
        c = self._c
        text = self._text
        if text:
            raw = bytes(self._raw)
            self._leave_text(0)
        out = self._out
        if self._over:
            c.oversize += 1
            items.append(Discard("oversize", bytes(out)))
        elif self._esc:
            c.aborts += 1
            items.append(Discard("abort", bytes(out)))
        elif len(out) >= self._fcs_len + 2 and self._check(out):
            c.frames += 1
            if self._pack is None:
                items.append(Frame(bytes(out[:-self._fcs_len])))
            else:
                self._pack += memoryview(out)[:-self._fcs_len]
                self._ends.append(len(self._pack))
        elif text:
            self._emit_garbage(items, raw)
            self._new_run()
            return
        elif not out:
            pass
        elif len(out) < self._fcs_len + 2:
            c.runts += 1
            items.append(Discard("runt", bytes(out)))
        else:
            c.bad_fcs += 1
            items.append(Discard("bad_fcs", bytes(out)))
        c.unescaped_ctrl += self._dropped
        self._new_run()

    def _check(self, run: bytearray) -> bool:
        if self._fcs_len == 2:
            return _rev16(binascii.crc_hqx(run.translate(_REV8), 0xFFFF)) == GOOD_FCS16 ^ 0xFFFF
        return zlib.crc32(run) == self._good
