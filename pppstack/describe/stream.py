"""A forensic HDLC scanner for `pppstack decode`: every byte of a capture accounted for.

The data path's decoder (pppstack.hdlc) keeps good frames and counts the rest.  A
diagnostic tool needs more: where each item starts in the capture, the octets of every
frame it threw away and why, and the modem's text (the AT dialogue before CONNECT, NO
CARRIER after) in order.  RFC 1662 §4 (flag 0x7e, escape 0x7d, abort 0x7d 0x7e), §7.1
(control characters in the receive ACCM arriving unescaped were inserted by the DCE and
are dropped); FCS-16/32 come from pppstack.hdlc.  Sans-I/O: feed bytes, get items.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from pppstack.hdlc import Decoder, Frame, fcs16, fcs32

__all__ = ["ItemKind", "DiscardReason", "StreamItem", "Scanner", "fcs16", "scan"]

FLAG, ESCAPE = 0x7E, 0x7D
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


class ItemKind(Enum):
    FRAME = "frame"  # a good frame: address/control (if sent) + protocol + information, FCS removed
    TEXT = "text"  # printable octets outside frames (modem responses, AT echo)
    NOISE = "noise"  # other octets outside frames
    DISCARD = "discard"  # a frame thrown away; `reason` says why


class DiscardReason(Enum):
    BAD_FCS = "bad FCS"
    ABORT = "aborted (0x7d 0x7e)"
    RUNT = "too short"
    OVERSIZE = "longer than the MRU"
    TRUNCATED = "cut off by the end of the input"


@dataclass(frozen=True, slots=True)
class StreamItem:
    kind: ItemKind
    offset: int  # of the item's first octet in the input (after the opening flag for frames)
    data: bytes  # FRAME/DISCARD: unescaped content (FCS removed from FRAME); TEXT/NOISE: raw octets
    raw_length: int  # octets of input the item spans, escapes included
    reason: DiscardReason | None = None
    detail: str = ""  # a sentence for discards, e.g. "FCS 0x1234, expected 0x5678"
    dropped_controls: int = 0  # unescaped ACCM characters removed per RFC 1662 §7.1
    repeat: int = 1  # the same octets and flag this many times in a row (a flood), from `offset`

    @property
    def stride(self) -> int:
        """Octets from one repeat to the next (the item and its closing flag)."""
        return self.raw_length + 1


class Scanner:
    """Split a byte stream into frames, discards and text, each with its offset.

    `accm` is the receive ACCM (default all 32 control characters escaped), `fcs_bits`
    16 or 32, `mru` the largest information field accepted (plus 4 octets of header).
    """

    def __init__(
        self, accm: int = 0xFFFFFFFF, fcs_bits: int = 16, mru: int = 1500, *, strict_accm: bool = False,
        collapse: bool = False,
    ) -> None:
        self.collapse = collapse  # give identical segments in a row as one item with `repeat`
        if fcs_bits not in (16, 32):
            raise ValueError("fcs_bits must be 16 or 32")
        self.accm, self.fcs_bits, self.mru = accm, fcs_bits, mru
        # A capture usually spans LCP negotiation, where the ACCM changes (typically from all
        # ones to 0): unless strict, a frame whose FCS fails under `accm` is retried under the
        # other reading of raw control characters (all data, or all DCE noise).
        self.strict_accm = strict_accm
        self._seg = bytearray()
        self._seg_start = 0
        self._pos = 0  # absolute offset of the next byte fed
        self._in_frame = False  # a flag has been seen: segments are frame candidates
        self._texting = False  # pending_text gave out text since the last flag
        self._skipping = False  # the frame in progress was already reported as too long
        # Octets kept while waiting for a flag: beyond any escaped frame, so memory stays bounded
        # whatever the input (a flagless capture is reported in pieces, not held whole).
        self.max_segment = max(1 << 16, 2 * (mru + 8) + 2)
        # The data path's deframer (C when built) unescapes and checks the FCS of each segment;
        # it sits just after a flag forever, since every segment is fed with its closing flag.
        self._fast: Decoder | None = None
        self._fast_for = (accm, fcs_bits, mru)  # the settings it was made for
        if mru >= 0:
            self._fast = Decoder(accm, fcs_bits, mru)
            self._fast.feed_items(b"~")

    def feed(self, data: bytes) -> list[StreamItem]:
        items: list[StreamItem] = []
        i, n = 0, len(data)
        while i < n:
            j = data.find(FLAG, i)
            if j < 0:
                self._add(data, i, n, items)
                break
            self._add(data, i, j, items)
            self._texting = False
            was_in_frame = self._in_frame
            raw = bytes(self._seg)
            closed = self._close_segment(flag=True)
            items.extend(closed)
            self._seg_start = self._pos + j + 1
            i = j + 1
            if self.collapse and was_in_frame and raw and len(closed) == 1:
                # The same octets and flag again and again (a flood, a stuck line): the same
                # item, so count the repeats with a few bytes comparisons instead of a loop
                # per segment.
                k = _repeats(data, i, raw + b"\x7e")
                if k:
                    items[-1] = replace(closed[0], repeat=closed[0].repeat + k)
                    i += k * (len(raw) + 1)
                    self._seg_start = self._pos + i
        self._pos += n
        return items

    def _add(self, data: bytes, i: int, j: int, items: list[StreamItem]) -> None:
        if self._skipping:
            return
        self._seg += data[i:j]
        if len(self._seg) <= self.max_segment:
            return
        raw, start = bytes(self._seg), self._seg_start
        self._seg.clear()
        self._seg_start += len(raw)
        if not self._in_frame or _is_text(raw):
            items.append(self._outside(raw, start))
            return
        self._skipping = True  # the rest of this frame, up to the next flag, is dropped with it
        items.append(self._discard(raw, start, raw[:64], DiscardReason.OVERSIZE,
                                   f"no flag in {len(raw)} octets: longer than any frame of MRU {self.mru}"))

    def pending_text(self) -> list[StreamItem]:
        """Complete lines of text waiting since the last flag, given out now instead of at the next flag.

        A live trace needs the modem's words when they arrive (the AT dialogue, NO CARRIER after
        PPP), and a modem prints them with no flag after.  After a flag, only text opening with CR
        or LF counts (no frame starts with those), so a frame split across reads stays whole.
        """
        seg = bytes(self._seg)
        end = max(seg.rfind(b"\n"), seg.rfind(b"\r")) + 1
        if end == 0 or not _is_text(seg[:end]):
            return []
        if self._in_frame and not self._texting and seg[:1] not in (b"\r", b"\n"):
            return []
        self._texting = True
        item = self._outside(seg[:end], self._seg_start)
        del self._seg[:end]
        self._seg_start += end
        return [item]

    def finish(self) -> list[StreamItem]:
        """Items still pending at the end of the input."""
        items = self._close_segment(flag=False)
        self._seg_start = self._pos
        return items

    def _close_segment(self, flag: bool) -> list[StreamItem]:
        raw, start = bytes(self._seg), self._seg_start
        self._seg.clear()
        if self._skipping:
            self._skipping = False
            return []
        was_in_frame, self._in_frame = self._in_frame, self._in_frame or flag
        if not raw:
            return []
        if not was_in_frame:  # before the first flag nothing is a frame
            return [self._outside(raw, start)]
        if not flag:
            if _is_text(raw):
                return [self._outside(raw, start)]
            return [self._discard(raw, start, raw, DiscardReason.TRUNCATED, "no closing flag before the end")]
        return [self._frame(raw, start)]

    def _outside(self, raw: bytes, start: int) -> StreamItem:
        kind = ItemKind.TEXT if _is_text(raw) else ItemKind.NOISE
        return StreamItem(kind, start, raw, len(raw))

    def _discard(self, raw: bytes, start: int, data: bytes, reason: DiscardReason, detail: str,
                 dropped: int = 0) -> StreamItem:  # fmt: skip
        return StreamItem(ItemKind.DISCARD, start, data, len(raw), reason, detail, dropped)

    def _frame(self, raw: bytes, start: int) -> StreamItem:
        # Fast path: a good frame as pppstack.hdlc sees it is a good frame here too (same ACCM,
        # FCS and MRU limit), except that it reads a run of 0x7D as one escape.  Anything else
        # (discards, text, retries under the other ACCM) takes the forensic path below.
        if (self._fast is not None and b"\x7d\x7d" not in raw
                and self._fast_for == (self.accm, self.fcs_bits, self.mru)):
            seen = self._fast.feed_items(raw + b"\x7e")
            if len(seen) == 1 and type(seen[0]) is Frame:
                drop = _dropset(self.accm)
                dropped = len(raw) - len(raw.translate(None, drop)) if drop else 0
                return StreamItem(ItemKind.FRAME, start, seen[0].data, len(raw), None, "", dropped)
        if (len(raw) - len(raw.rstrip(b"\x7d"))) % 2 == 1:  # an unpaired escape right before the flag
            return self._discard(raw, start, raw[:-1], DiscardReason.ABORT, "the sender aborted the frame")
        data, dropped = self._unescape(raw, self.accm)
        if not self.strict_accm and not self._fcs_ok(data) and _has_controls(raw):
            other = self._unescape(raw, 0 if self.accm else 0xFFFFFFFF)
            if self._fcs_ok(other[0]):
                data, dropped = other
        fcs_len = self.fcs_bits // 8
        if len(data) < fcs_len + 2:
            if _is_text(raw):
                return self._outside(raw, start)
            return self._discard(raw, start, data, DiscardReason.RUNT,
                                 f"{len(data)} octets, fewer than a protocol field and FCS", dropped)  # fmt: skip
        body, fcs = data[:-fcs_len], data[-fcs_len:]
        want = self._fcs(body)
        if fcs != want:
            if _is_text(raw):
                return self._outside(raw, start)
            got, expected = int.from_bytes(fcs, "little"), int.from_bytes(want, "little")
            width = fcs_len * 2
            return self._discard(raw, start, body, DiscardReason.BAD_FCS,
                                 f"FCS 0x{got:0{width}x}, expected 0x{expected:0{width}x}", dropped)  # fmt: skip
        if len(body) > self.mru + 4:
            return self._discard(raw, start, body, DiscardReason.OVERSIZE,
                                 f"{len(body)} octets, more than MRU {self.mru} + 4", dropped)  # fmt: skip
        return StreamItem(ItemKind.FRAME, start, body, len(raw), None, "", dropped)

    def _fcs(self, body: bytes) -> bytes:
        return fcs16(body).to_bytes(2, "little") if self.fcs_bits == 16 else fcs32(body).to_bytes(4, "little")

    def _fcs_ok(self, data: bytes) -> bool:
        n = self.fcs_bits // 8
        return len(data) > n and self._fcs(data[:-n]) == data[-n:]

    @staticmethod
    def _unescape(raw: bytes, accm: int) -> tuple[bytes, int]:
        # Control characters in the ACCM were inserted by the DCE (RFC 1662 §7.1) and go first;
        # an escape still applies to what follows them.  Then every 0x7D flips bit 5 of the next
        # octet: done by splitting, unless a 0x7D is itself escaped (rare: the slow loop).
        data = raw.translate(None, _dropset(accm)) if accm else raw
        dropped = len(raw) - len(data)
        if ESCAPE not in data:
            return data, dropped
        if b"\x7d\x7d" not in data and data[-1] != ESCAPE:
            parts = data.split(b"\x7d")
            return parts[0] + b"".join(_FLIP[p[0]] + p[1:] for p in parts[1:]), dropped
        out = bytearray()
        escaped = False
        for b in data:
            if escaped:
                out.append(b ^ 0x20)
                escaped = False
            elif b == ESCAPE:
                escaped = True
            else:
                out.append(b)
        return bytes(out), dropped


_FLIP = [bytes([b ^ 0x20]) for b in range(256)]
_DROPSETS: dict[int, bytes] = {}


def _dropset(accm: int) -> bytes:
    d = _DROPSETS.get(accm)
    if d is None:
        d = _DROPSETS[accm] = bytes(c for c in range(32) if accm >> c & 1)
    return d


def _repeats(data: bytes, i: int, unit: bytes) -> int:
    """How many times `unit` follows at data[i:], whole (doubling, then halving, the block)."""
    count, size, pos = 0, 1, i
    while True:
        block = unit * size
        if data.startswith(block, pos):
            pos += len(block)
            count += size
            size *= 2
        elif size > 1:
            size //= 2
        else:
            return count


_TEXT_OCTETS = bytes(sorted(_TEXT_BYTES))
_CONTROLS = bytes(range(0x20))


def _has_controls(raw: bytes) -> bool:
    return len(raw.translate(None, _CONTROLS)) != len(raw)


def _is_text(raw: bytes) -> bool:
    return bool(raw) and not raw.translate(None, _TEXT_OCTETS)


def scan(
    data: bytes, accm: int = 0xFFFFFFFF, fcs_bits: int = 16, mru: int = 1500, *, strict_accm: bool = False,
    collapse: bool = False,
) -> list[StreamItem]:
    """All items of a complete capture."""
    scanner = Scanner(accm, fcs_bits, mru, strict_accm=strict_accm, collapse=collapse)
    return scanner.feed(data) + scanner.finish()
