"""NCM Transfer Blocks (USB CDC NCM 1.0 §3): NTH16/NDP16 and NTH32/NDP32, parse and build.

An NTB is one USB bulk transfer: a header (NTH) that points at a datagram pointer table (NDP),
which lists (offset, length) pairs of Ethernet frames inside the block and ends with a zero
entry.  NDPs may chain (wNextNdpIndex).  Little-endian throughout (cdc.h):

    NTH16  "NCMH" wHeaderLength=12 wSequence wBlockLength wNdpIndex
    NDP16  "NCM0"|"NCM1" wLength wNextNdpIndex {wDatagramIndex wDatagramLength}... {0 0}
    NTH32  "ncmh" wHeaderLength=16 wSequence dwBlockLength dwNdpIndex
    NDP32  "ncm0"|"ncm1" wLength wReserved6 dwNextNdpIndex dwReserved12 {dwIndex dwLength}... {0 0}

Two ways to parse: `decode_ntb()` is strict and raises `NtbError` at the first fault (for tests
and tools); `NtbDecoder.decode()` is what the data path uses — it never raises, keeps every good
datagram the way the Linux host driver does (cdc_ncm_rx_fixup skips a bad entry and goes on),
and counts each fault by name.  Building lives here too (`encode_ntb`); batching with a flush
deadline is in `aggregate.py`.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ncm.params import NtbParameters

__all__ = [
    "NTH16_SIGNATURE", "NTH32_SIGNATURE", "NDP16_NOCRC_SIGNATURE", "NDP16_CRC_SIGNATURE",
    "NDP32_NOCRC_SIGNATURE", "NDP32_CRC_SIGNATURE", "NTH16_LEN", "NTH32_LEN", "ETH_HLEN",
    "NtbFault", "NtbError", "NtbInfo", "NtbDecoder", "decode_ntb", "ntb_missing", "parse_ntb", "encode_ntb",
    "ntb_layout_size",
]

NTH16_SIGNATURE = 0x484D434E      # b"NCMH"
NTH32_SIGNATURE = 0x686D636E      # b"ncmh"
NDP16_NOCRC_SIGNATURE = 0x304D434E  # b"NCM0"
NDP16_CRC_SIGNATURE = 0x314D434E    # b"NCM1": each datagram ends with its CRC-32
NDP32_NOCRC_SIGNATURE = 0x306D636E  # b"ncm0"
NDP32_CRC_SIGNATURE = 0x316D636E    # b"ncm1"
NTH16_LEN, NDP16_HDR, DPE16 = 12, 8, 4
NTH32_LEN, NDP32_HDR, DPE32 = 16, 16, 8
ETH_HLEN = 14
MAX_NDPS = 50                      # cdc_ncm's loopcount: bounds a chain that loops
# Bounds that keep one hostile block as cheap as a normal one: datagram pointers may yield at
# most twice the block's bytes (honest datagrams never overlap, so they yield at most once),
# and all NDPs of a block together may list no more entries than the block has room for.
MAX_OUTPUT_FACTOR = 2

_NTH16 = struct.Struct("<IHHHH")
_NTH32 = struct.Struct("<IHHII")
_NDP16 = struct.Struct("<IHH")
_NDP32 = struct.Struct("<IHHII")
_U32 = struct.Struct("<I")
_DPE16 = struct.Struct("<HH")
_DPE32 = struct.Struct("<II")


class NtbFault(Enum):
    """What was wrong with a block (the counter names of `NtbDecoder.counters`)."""
    SHORT = "shorter than an NTH"
    BAD_NTH_SIGNATURE = "does not start with NCMH or ncmh"
    BAD_HEADER_LENGTH = "wHeaderLength is not 12 (NTH16) or 16 (NTH32)"
    BAD_BLOCK_LENGTH = "block length is smaller than a header plus an NDP"
    TRUNCATED = "block length says more bytes than the transfer carried"
    BLOCK_TOO_LONG = "block longer than the NTB input size we set"
    BAD_NDP_INDEX = "NDP index outside the block, inside the header or not 4-aligned"
    BAD_NDP_SIGNATURE = "NDP signature is not NCM0/NCM1 (NTB16) or ncm0/ncm1 (NTB32)"
    BAD_NDP_LENGTH = "NDP wLength too small, misaligned or past the end of the block"
    NDP_LOOP = "NDP chain revisits an NDP or passes 50 NDPs (a loop)"
    TOO_MANY_DATAGRAMS = "datagram pointers list more entries or bytes than the block can hold"
    NO_TERMINATOR = "NDP has no terminating zero entry"
    BAD_DATAGRAM = "datagram pointer outside the block or inside the header"
    RUNT_DATAGRAM = "datagram shorter than an Ethernet header"
    BAD_CRC = "datagram CRC-32 mismatch (NCM1/ncm1)"
    EMPTY = "NTB without any datagram"


class NtbError(ValueError):
    """A malformed NTB (strict parsing only)."""

    def __init__(self, fault: NtbFault, detail: str = "") -> None:
        super().__init__(f"bad NTB: {fault.value}" + (f" ({detail})" if detail else ""))
        self.fault = fault


@dataclass(frozen=True, slots=True)
class NtbInfo:
    """Header facts of the last block parsed (for logs and sequence checks)."""
    ntb32: bool
    sequence: int
    block_length: int
    ndp_count: int


_FaultSink = Callable[[NtbFault, str], None]


@dataclass(frozen=True, slots=True)
class _Nth:
    """One NTH's facts, and the NDP format its signature implies."""
    ntb32: bool
    sequence: int
    start: int                 # where the NTB starts in the transfer
    length: int                # wBlockLength (NTB16's zero already resolved to the rest of the transfer)
    ndp_index: int
    header_len: int
    ndp_sigs: tuple[int, int]  # (no CRC, CRC)
    min_ndp: int               # an NDP header plus one entry and the terminator


@dataclass(slots=True)
class _Budget:
    """What one NTB may still yield (see `_walk`): table entries, datagram bytes, datagrams."""
    entries: int
    bytes: int
    max_frames: int
    found: int = 0


def _walk(block: bytes | bytearray | memoryview, strict: bool, faults: list[NtbFault] | None,
          max_block: int | None, frames: list[bytes], max_datagrams: int | None = None) -> NtbInfo | None:
    """Parse one transfer (possibly several NTBs back to back) appending datagrams to `frames`.

    Returns the info of the first NTB, or None when the first header is unusable.  In strict
    mode the first fault raises; otherwise it is appended to `faults` and parsing goes on where
    it safely can.  Work and output per NTB are linear in its length whatever the pointers say:
    each NDP is visited once, entries are read from a budget of what the block can hold, and
    datagrams stop at `MAX_OUTPUT_FACTOR` times the block's bytes or `max_datagrams` (default:
    as many as the block could hold, one per Ethernet header).
    """
    # Slicing bytes is one copy and the cheapest way to hand out each datagram; a bytearray or
    # memoryview block is copied once up front instead.
    mv = block if isinstance(block, bytes) else bytes(block)
    total = len(mv)
    start = 0
    first: NtbInfo | None = None

    def fault(f: NtbFault, detail: str) -> None:
        if strict:
            raise NtbError(f, detail)
        assert faults is not None
        faults.append(f)

    while True:
        nth = _read_nth(mv, start, max_block, fault)
        if nth is None:
            return first
        # Checked before anything is copied: an entry costs one unit of the table budget, a
        # datagram its length from the byte budget.
        budget = _Budget(nth.length // (DPE32 if nth.ntb32 else DPE16), MAX_OUTPUT_FACTOR * nth.length,
                         max_datagrams or nth.length // ETH_HLEN)
        ndps = _walk_ndps(mv, nth, budget, fault, frames)
        if ndps == 0:
            fault(NtbFault.BAD_NDP_INDEX, "0")
        elif budget.found == 0 and strict:
            fault(NtbFault.EMPTY, "")
        if first is None:
            first = NtbInfo(nth.ntb32, nth.sequence, nth.length, ndps)
        start += nth.length
        # Another NTB may follow in the same transfer; anything else (the one zero byte that
        # avoids a ZLP, zero padding up to the transfer size) is ignored, as Linux does.
        if total - start < NTH16_LEN or mv[start:start + 4] not in (b"NCMH", b"ncmh"):
            return first


def _read_nth(mv: bytes, start: int, max_block: int | None, fault: _FaultSink) -> _Nth | None:
    """The NTH at `start`, or None (after reporting the fault) when the block cannot be used."""
    avail = len(mv) - start
    if avail < NTH16_LEN:
        fault(NtbFault.SHORT, f"{avail} bytes")
        return None
    sig = _U32.unpack_from(mv, start)[0]
    if sig == NTH16_SIGNATURE:
        _, hlen, seq, blen, ndp = _NTH16.unpack_from(mv, start)
        nth = _Nth(False, seq, start, blen or avail,  # NCM 1.0 §3.2.1: zero means "ends with the short packet"
                   ndp, NTH16_LEN, (NDP16_NOCRC_SIGNATURE, NDP16_CRC_SIGNATURE), NDP16_HDR + 2 * DPE16)
    elif sig == NTH32_SIGNATURE:
        if avail < NTH32_LEN:
            fault(NtbFault.SHORT, f"{avail} bytes")
            return None
        _, hlen, seq, blen, ndp = _NTH32.unpack_from(mv, start)
        nth = _Nth(True, seq, start, blen, ndp, NTH32_LEN, (NDP32_NOCRC_SIGNATURE, NDP32_CRC_SIGNATURE),
                   NDP32_HDR + 2 * DPE32)
    else:
        fault(NtbFault.BAD_NTH_SIGNATURE, f"0x{sig:08x}")
        return None
    blen = nth.length
    if hlen != nth.header_len:
        fault(NtbFault.BAD_HEADER_LENGTH, str(hlen))
    elif blen < nth.header_len + nth.min_ndp:
        fault(NtbFault.BAD_BLOCK_LENGTH, str(blen))
    elif blen > avail:
        fault(NtbFault.TRUNCATED, f"block length {blen}, {avail} bytes received")
    elif max_block is not None and blen > max_block:
        fault(NtbFault.BLOCK_TOO_LONG, f"{blen} > {max_block}")
    else:
        return nth
    return None


def _walk_ndps(mv: bytes, nth: _Nth, budget: _Budget, fault: _FaultSink, frames: list[bytes]) -> int:
    """Follow the NDP chain of one NTB, each NDP once; returns how many NDPs were visited."""
    ndp = nth.ndp_index
    ndps = 0
    seen: set[int] = set()
    while ndp:
        if ndps >= MAX_NDPS or ndp in seen:
            fault(NtbFault.NDP_LOOP, f"NDP at {ndp} after {ndps}")
            break
        seen.add(ndp)
        ndps += 1
        if ndp % 4 or ndp < nth.header_len or ndp + nth.min_ndp > nth.length:
            fault(NtbFault.BAD_NDP_INDEX, str(ndp))
            break
        nxt = _read_ndp(mv, nth, ndp, budget, fault, frames)
        if nxt is None:
            break
        ndp = nxt
    return ndps


def _read_ndp(mv: bytes, nth: _Nth, ndp: int, budget: _Budget, fault: _FaultSink,
              frames: list[bytes]) -> int | None:
    """Append the good datagrams of the NDP at `ndp`; the next NDP's index, or None to stop."""
    start, blen = nth.start, nth.length
    at = start + ndp
    if nth.ntb32:
        nsig, nlen, _, nxt, _ = _NDP32.unpack_from(mv, at)
        hdr, dpe, align, dpe_struct = NDP32_HDR, DPE32, 8, _DPE32
    else:
        nsig, nlen, nxt = _NDP16.unpack_from(mv, at)
        hdr, dpe, align, dpe_struct = NDP16_HDR, DPE16, 4, _DPE16
    if nsig not in nth.ndp_sigs:
        fault(NtbFault.BAD_NDP_SIGNATURE, f"0x{nsig:08x}")
        return None
    if nlen < nth.min_ndp or nlen % align or ndp + nlen > blen:
        fault(NtbFault.BAD_NDP_LENGTH, str(nlen))
        return None
    crc = nsig == nth.ndp_sigs[1]
    count = (nlen - hdr) // dpe
    over = count > budget.entries
    if over:
        count = budget.entries
    budget.entries -= count
    table = memoryview(mv)[at + hdr:at + hdr + count * dpe]
    terminated = False
    min_dgram = ETH_HLEN + (4 if crc else 0)
    byte_budget, found, max_frames, hlen = budget.bytes, budget.found, budget.max_frames, nth.header_len
    for idx, dlen in dpe_struct.iter_unpack(table):    # lazily: a loop stops early
        if idx == 0 or dlen == 0:
            terminated = True
            break
        if idx < hlen or idx + dlen > blen:
            fault(NtbFault.BAD_DATAGRAM, f"offset {idx} length {dlen}")
            continue
        if dlen < min_dgram:
            fault(NtbFault.RUNT_DATAGRAM, str(dlen))
            continue
        byte_budget -= dlen
        if byte_budget < 0 or found >= max_frames:
            fault(NtbFault.TOO_MANY_DATAGRAMS, f"{found} datagrams, {blen}-byte block")
            terminated = over = True     # one fault for the block, not one per entry
            budget.entries = 0
            break
        a = start + idx
        if crc:
            body = mv[a:a + dlen - 4]
            if zlib.crc32(body) != _U32.unpack_from(mv, a + dlen - 4)[0]:
                fault(NtbFault.BAD_CRC, "")
                continue
            frames.append(body)
        else:
            frames.append(mv[a:a + dlen])
        found += 1
    budget.bytes, budget.found = byte_budget, found
    if over and not terminated:
        fault(NtbFault.TOO_MANY_DATAGRAMS, f"NDP entries past the {blen}-byte block's room")
        return None
    if not terminated:
        fault(NtbFault.NO_TERMINATOR, "")
    if budget.entries == 0:
        return None
    return int(nxt)


def ntb_missing(data: bytes | bytearray | memoryview) -> int:
    """How many more bytes the NTH at the start of `data` announces (0: complete, or no NTH to
    go by - NTB16's zero block length means "ends with the short packet")."""
    blen: int
    if len(data) >= NTH16_LEN and bytes(data[:4]) == b"NCMH":
        blen = _NTH16.unpack_from(data)[3]
    elif len(data) >= NTH32_LEN and bytes(data[:4]) == b"ncmh":
        blen = _NTH32.unpack_from(data)[3]
    else:
        return 0
    return max(0, blen - len(data))


def decode_ntb(block: bytes | bytearray | memoryview, *, max_block: int | None = None,
               max_datagrams: int | None = None) -> list[bytes]:
    """The Ethernet frames of one transfer (NTB16 or NTB32 by signature).  Raises NtbError."""
    frames: list[bytes] = []
    _walk(block, True, None, max_block, frames, max_datagrams)
    return frames


def parse_ntb(block: bytes | bytearray | memoryview, *,
              max_block: int | None = None, max_datagrams: int | None = None
              ) -> tuple[list[bytes], list[NtbFault], NtbInfo | None]:
    """Lenient parse: (good frames, faults seen, header info or None).  Never raises."""
    frames: list[bytes] = []
    faults: list[NtbFault] = []
    info = _walk(block, False, faults, max_block, frames, max_datagrams)
    return frames, faults, info


_ENTRIES16: dict[int, struct.Struct] = {}


def _fast16(mv: bytes, max_block: int | None, max_datagrams: int | None) -> tuple[list[int], int] | None:
    """The common block in one pass: a transfer holding exactly one NTB16 with one NDP16
    without CRC, every entry good (Linux's gadget and most modems send only these).  Returns
    ([offset, length, offset, length, ...] of its datagrams, sequence), or None for anything
    else or anything wrong, which then takes `_walk` and its fault accounting: so this never
    accepts a block `_walk` would fault, and finds the datagrams `_walk` finds
    (tests/test_ncm_ntb.py compares them)."""
    avail = len(mv)
    if avail < NTH16_LEN + NDP16_HDR + 2 * DPE16:
        return None
    sig, hlen, seq, blen, ndp = _NTH16.unpack_from(mv, 0)
    if sig != NTH16_SIGNATURE or hlen != NTH16_LEN:
        return None
    blen = blen or avail
    if blen < NTH16_LEN + NDP16_HDR + 2 * DPE16 or blen > avail or (max_block is not None and blen > max_block):
        return None
    # what follows the block may only be padding, never another NTH (then `_walk` goes on)
    if avail - blen >= NTH16_LEN and mv[blen:blen + 4] in (b"NCMH", b"ncmh"):
        return None
    if ndp % 4 or ndp < NTH16_LEN or ndp + NDP16_HDR + 2 * DPE16 > blen:
        return None
    nsig, nlen, nxt = _NDP16.unpack_from(mv, ndp)
    if nsig != NDP16_NOCRC_SIGNATURE or nxt or nlen < NDP16_HDR + 2 * DPE16 or nlen % 4 or ndp + nlen > blen:
        return None
    count = (nlen - NDP16_HDR) // DPE16
    if count > blen // DPE16:
        return None
    st = _ENTRIES16.get(count)
    if st is None:
        st = struct.Struct(f"<{2 * count}H")
        if len(_ENTRIES16) < 1024:
            _ENTRIES16[count] = st
    ent = st.unpack_from(mv, ndp + NDP16_HDR)
    room = MAX_OUTPUT_FACTOR * blen
    most = 2 * (max_datagrams or blen // ETH_HLEN)
    for k in range(0, 2 * count, 2):
        idx, dlen = ent[k], ent[k + 1]
        if idx == 0 or dlen == 0:
            return list(ent[:k]), seq
        room -= dlen
        if idx < NTH16_LEN or idx + dlen > blen or dlen < ETH_HLEN or room < 0 or k >= most:
            return None
    return None                     # no terminating entry


class NtbDecoder:
    """The receive side of the data path: blocks in, frames out, faults counted, never raises.

    ``counters`` holds ``blocks``, ``frames``, ``bad_blocks`` (blocks with at least one fault),
    ``sequence_glitches`` and one count per `NtbFault` name (lower case).
    """

    def __init__(self, max_block: int | None = None, max_datagrams: int | None = None) -> None:
        self.max_block = max_block
        self.max_datagrams = max_datagrams
        self.counters: Counter[str] = Counter()
        self.last_faults: list[NtbFault] = []
        self._seq: int | None = None

    def spans(self, block: bytes) -> list[int] | None:
        """[offset, length, ...] of the datagrams of a common, faultless block (see `_fast16`),
        counted as `decode` counts; None: call `decode`, which handles every other block.
        The receive path slices the IP packets straight out of the block with these (one copy
        per packet instead of two)."""
        fast = _fast16(block, self.max_block, self.max_datagrams)
        if fast is None:
            return None
        spans, seq = fast
        c = self.counters
        c["blocks"] += 1
        c["frames"] += len(spans) // 2
        self.last_faults = []
        if self._seq is not None and seq not in ((self._seq + 1) & 0xFFFF, 0):
            c["sequence_glitches"] += 1
        self._seq = seq
        return spans

    def decode(self, block: bytes | bytearray | memoryview) -> list[bytes]:
        if isinstance(block, bytes):
            spans = self.spans(block)
            if spans is not None:
                return [block[spans[k]:spans[k] + spans[k + 1]] for k in range(0, len(spans), 2)]
        frames: list[bytes] = []
        faults: list[NtbFault] = []
        try:
            info = _walk(block, False, faults, self.max_block, frames, self.max_datagrams)
        except Exception as exc:   # pragma: no cover - a bug here must not kill the link
            faults.append(NtbFault.SHORT)
            self.counters["internal_errors"] += 1
            self.counters[f"error:{type(exc).__name__}"] += 1
            info = None
        c = self.counters
        c["blocks"] += 1
        c["frames"] += len(frames)
        if faults:
            c["bad_blocks"] += 1
            for f in faults:
                c[f.name.lower()] += 1
        self.last_faults = faults
        if info is not None:
            # cdc_ncm logs a glitch and carries on; some devices (Linux's gadget) always send 0.
            if self._seq is not None and info.sequence not in ((self._seq + 1) & 0xFFFF, 0):
                c["sequence_glitches"] += 1
            self._seq = info.sequence
        return frames


# ------------------------------------------------------------------------------------ build

_ZEROS = bytes(4096)
_struct_cache: dict[tuple[bool, int, int, bool], struct.Struct] = {}


def _table_struct(ntb32: bool, n: int, pad: int, ndp_first: bool) -> struct.Struct:
    """NTH + alignment pad + NDP with n entries and a terminator, as one Struct (NDP first), or
    the NDP alone (NDP at end)."""
    key = (ntb32, n, pad, ndp_first)
    s = _struct_cache.get(key)
    if s is None:
        ent = "I" if ntb32 else "H"
        ndp = ("IHHII" if ntb32 else "IHH") + ent * (2 * n + 2)
        s = struct.Struct("<" + ((("IHHII" if ntb32 else "IHHHH") + f"{pad}x") if ndp_first else "") + ndp)
        if len(_struct_cache) < 4096:
            _struct_cache[key] = s
    return s


def _align(off: int, mod: int) -> int:
    return (off + mod - 1) // mod * mod


def ntb_layout_size(lengths: Sequence[int], params: NtbParameters, *, ntb32: bool = False,
                    ndp_at_end: bool = False) -> int:
    """Exact length of the NTB `encode_ntb` builds for datagrams of these lengths (before the
    one-byte short-packet pad)."""
    hdr = NTH32_LEN if ntb32 else NTH16_LEN
    ndp_len = (NDP32_HDR + DPE32 * (len(lengths) + 1)) if ntb32 else (NDP16_HDR + DPE16 * (len(lengths) + 1))
    div, rem, ndp_align = params.out_divisor, params.out_remainder, params.out_ndp_alignment
    off = hdr if ndp_at_end else _align(hdr, ndp_align) + ndp_len
    for n in lengths:
        off += (rem - off) % div + n
    if ndp_at_end:
        off = _align(off, ndp_align) + ndp_len
    return off


def encode_ntb(frames: Sequence[bytes | bytearray | memoryview], params: NtbParameters, *, ntb32: bool = False,
               ndp_at_end: bool = False, sequence: int = 0, max_packet_size: int = 512) -> bytes:
    """Build one NTB holding `frames` (Ethernet frames), honouring the device's OUT parameters.

    Datagrams start at offsets ≡ wNdpOutPayloadRemainder (mod wNdpOutDivisor); the NDP sits at a
    multiple of wNdpOutAlignment, right after the NTH or (``ndp_at_end``, the Huawei quirk) after
    the last datagram.  If the block length is a multiple of ``max_packet_size`` and shorter than
    dwNtbOutMaxSize, one zero byte is appended inside the block, as cdc_ncm does, so the transfer
    ends with a short packet instead of needing a zero-length packet.  Raises ValueError when the
    frames do not fit in one NTB (the aggregator never lets that happen).
    """
    n = len(frames)
    if n == 0:
        raise ValueError("an NTB needs at least one datagram")
    if n > params.out_max_datagrams:
        raise ValueError(f"{n} datagrams exceed wNtbOutMaxDatagrams ({params.out_max_datagrams})")
    hdr = NTH32_LEN if ntb32 else NTH16_LEN
    ndp_len = (NDP32_HDR + DPE32 * (n + 1)) if ntb32 else (NDP16_HDR + DPE16 * (n + 1))
    div, rem, ndp_align = params.out_divisor, params.out_remainder, params.out_ndp_alignment
    ndp_sig = NDP32_NOCRC_SIGNATURE if ntb32 else NDP16_NOCRC_SIGNATURE
    nth_sig = NTH32_SIGNATURE if ntb32 else NTH16_SIGNATURE

    parts: list[bytes | bytearray | memoryview] = [b""]          # [0] = NTH (+NDP) filled in below
    entries: list[int] = []
    if ndp_at_end:
        off = hdr
    else:
        ndp_index = _align(hdr, ndp_align)
        off = ndp_index + ndp_len
    for f in frames:
        pad = (rem - off) % div
        if pad:
            parts.append(_ZEROS[:pad])
            off += pad
        ln = len(f)
        entries.append(off)
        entries.append(ln)
        parts.append(f)
        off += ln
    if ndp_at_end:
        ndp_index = _align(off, ndp_align)
        if ndp_index > off:
            parts.append(_ZEROS[:ndp_index - off])
        off = ndp_index + ndp_len
    length = off
    out_max = params.dwNtbOutMaxSize
    if length > out_max:
        raise ValueError(f"NTB of {length} bytes exceeds dwNtbOutMaxSize ({out_max})")
    pad_byte = max_packet_size > 0 and length % max_packet_size == 0 and length < out_max
    if pad_byte:
        length += 1
    if length > 0xFFFF and not ntb32:
        raise ValueError("an NTB16 block cannot exceed 65535 bytes")
    if ndp_at_end:
        parts[0] = (_NTH32.pack(nth_sig, NTH32_LEN, sequence & 0xFFFF, length, ndp_index) if ntb32
                    else _NTH16.pack(nth_sig, NTH16_LEN, sequence & 0xFFFF, length, ndp_index))
        tbl = _table_struct(ntb32, n, 0, False)
        parts.append(tbl.pack(ndp_sig, ndp_len, 0, 0, 0, *entries, 0, 0) if ntb32
                     else tbl.pack(ndp_sig, ndp_len, 0, *entries, 0, 0))
    else:
        tbl = _table_struct(ntb32, n, ndp_index - hdr, True)
        if ntb32:
            parts[0] = tbl.pack(nth_sig, NTH32_LEN, sequence & 0xFFFF, length, ndp_index,
                                ndp_sig, ndp_len, 0, 0, 0, *entries, 0, 0)
        else:
            parts[0] = tbl.pack(nth_sig, NTH16_LEN, sequence & 0xFFFF, length, ndp_index,
                                ndp_sig, ndp_len, 0, *entries, 0, 0)
    if pad_byte:
        parts.append(b"\x00")
    return b"".join(parts)
