"""TX aggregation: many Ethernet frames per NTB, with a flush deadline (sans-I/O).

Theory of operation (after cdc_ncm_fill_tx_frame / cdc_ncm_tx_timer_cb, anchors §4.1): frames
are collected into the pending NTB until one more would not fit — the block would pass
dwNtbOutMaxSize, or the NDP would pass wNtbOutMaxDatagrams (0 → 40) — and then the pending
block goes out as one bulk transfer.  The first frame of a block arms a deadline (400 µs by
default, cdc_ncm's CDC_NCM_TIMER_INTERVAL_USEC); when the caller's clock passes it, the partial
block goes out too.  So a busy link costs one USB transfer per ~10 full-size frames and an idle
one adds at most the interval to a packet's latency.  `flush_interval=0` sends at once (the
caller then flushes after draining its input).  Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

from collections import Counter

from ncm.ntb import (
    DPE16,
    DPE32,
    NDP16_HDR,
    NDP32_HDR,
    NTH16_LEN,
    NTH32_LEN,
    encode_ntb,
)
from ncm.params import NtbParameters

__all__ = ["Aggregator", "DEFAULT_FLUSH_INTERVAL"]

DEFAULT_FLUSH_INTERVAL = 400e-6


class Aggregator:
    """Collects frames into NTBs.  ``add()``/``handle_timer()``/``flush()`` return finished blocks.

    ``counters``: ntbs, datagrams, bytes (NTB bytes), and why each block went out —
    ``reason_ntb_full``, ``reason_ndp_full``, ``reason_timeout``, ``reason_flush`` — plus
    ``oversize_dropped`` for a frame that can never fit an NTB.
    """

    def __init__(self, params: NtbParameters, *, ntb32: bool = False, ndp_at_end: bool = False,
                 max_packet_size: int = 512, flush_interval: float = DEFAULT_FLUSH_INTERVAL,
                 max_block: int | None = None) -> None:
        self.params = params
        self.ntb32 = ntb32
        self.ndp_at_end = ndp_at_end
        self.max_packet_size = max_packet_size
        self.flush_interval = flush_interval
        self.max_block = min(params.dwNtbOutMaxSize, max_block or params.dwNtbOutMaxSize)
        if not ntb32:
            self.max_block = min(self.max_block, 0xFFFF)
        self.max_datagrams = params.out_max_datagrams
        self.counters: Counter[str] = Counter()
        self._frames: list[bytes | bytearray | memoryview] = []
        self._deadline: float | None = None
        self._sequence = 0
        hdr = NTH32_LEN if ntb32 else NTH16_LEN
        self._dpe = DPE32 if ntb32 else DPE16
        ndp_hdr = NDP32_HDR if ntb32 else NDP16_HDR
        # Upper bound of the block size kept as we go: header, NDP with its terminator, the
        # worst-case NDP alignment pad, and for each datagram its length plus the worst-case
        # divisor pad.  Exact sizes are never larger, so a block that passes this check fits.
        self._base = hdr + params.out_ndp_alignment - 1 + ndp_hdr + self._dpe
        self._per_dgram_pad = params.out_divisor - 1
        self._bound = self._base
        # One byte spare for the short-packet pad encode_ntb may add.
        self._limit = self.max_block - 1

    @property
    def pending(self) -> int:
        return len(self._frames)

    def get_timer(self) -> float | None:
        return self._deadline

    def _cost(self, frame_len: int) -> int:
        return frame_len + self._per_dgram_pad + self._dpe

    def fits_alone(self, frame_len: int) -> bool:
        return self._base + self._cost(frame_len) <= self._limit

    def add(self, frame: bytes | bytearray | memoryview, now: float) -> list[bytes]:
        """Queue one Ethernet frame; returns the blocks that had to go out to make room."""
        out: list[bytes] = []
        cost = self._cost(len(frame))
        if self._base + cost > self._limit:
            self.counters["oversize_dropped"] += 1
            return out
        if self._frames and self._bound + cost > self._limit:
            out.append(self._emit("reason_ntb_full"))
        self._frames.append(frame)
        self._bound += cost
        if len(self._frames) >= self.max_datagrams:
            out.append(self._emit("reason_ndp_full"))
        elif self.flush_interval <= 0:
            out.append(self._emit("reason_flush"))
        elif self._deadline is None:
            self._deadline = now + self.flush_interval
        return out

    def handle_timer(self, now: float) -> list[bytes]:
        if self._deadline is not None and now >= self._deadline and self._frames:
            return [self._emit("reason_timeout")]
        return []

    def flush(self) -> list[bytes]:
        """Send whatever is pending now (link going down, or the caller's input is drained)."""
        return [self._emit("reason_flush")] if self._frames else []

    def _emit(self, reason: str) -> bytes:
        frames = self._frames
        block = encode_ntb(frames, self.params, ntb32=self.ntb32, ndp_at_end=self.ndp_at_end,
                           sequence=self._sequence, max_packet_size=self.max_packet_size)
        self._sequence = (self._sequence + 1) & 0xFFFF
        c = self.counters
        c[reason] += 1
        c["ntbs"] += 1
        c["datagrams"] += len(frames)
        c["bytes"] += len(block)
        self._frames = []
        self._bound = self._base
        self._deadline = None
        return block
