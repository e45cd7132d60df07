"""TUN offloads as pure functions: virtio-net headers in, IP packets out, and back.

A TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) lets the
kernel hand over TCP super-packets of up to 64 KiB (one read instead of ~44) and take them back
(one write instead of ~44): crossing the TUN boundary per packet was the whole gap to the C relay
(issue 14).  The link still carries MTU-sized IP packets, so `split` cuts what the kernel gives
into them (native/offload.c, TSO as the kernel's tcp_gso_segment does it) and `coalesce` merges
the in-order TCP segments the link delivered in one batch into super-packets (GRO).  Byte and
packet counters upstream keep counting IP packets.

No I/O here: pppstack.io.tun reads and writes, this only transforms buffers.  Needs the C core;
`available` is False without it and the TUN stays plain.
"""

from __future__ import annotations

from array import array
from typing import Any, NamedTuple

try:
    from pppstack._hdlc_c import ffi, lib
    available = hasattr(lib, "offload_split")
except ImportError:  # the pure-Python install: no offloads
    ffi = lib = None
    available = False

__all__ = ["VNET_HDR_LEN", "ZERO_HDR", "OffloadCounters", "TunOffload", "available"]

VNET_HDR_LEN = 10   # struct virtio_net_hdr without num_buffers
ZERO_HDR = bytes(VNET_HDR_LEN)   # no GSO, checksum complete: a plain packet
_SPLIT_CAP = 1 << 20  # > one 64 KiB super-packet cut at the smallest gso_size allowed (1024 segs)
_SPLIT_ITEMS = 4096


class OffloadCounters(NamedTuple):
    gso_packets: int        # TCP super-packets read and cut
    segments: int           # the segments they gave
    csum_completed: int     # partial checksums finished (NEEDS_CSUM without GSO)
    bad_header: int         # malformed or unsupported reads, dropped
    coalesced_packets: int  # packets merged into super-packets for writing
    coalesced_units: int    # super-packets written
    bad_csum: int           # segments with a wrong TCP checksum, left for the kernel to drop


class TunOffload:
    """The per-device state: reusable C buffers and counters.  One instance per TUN; `split` and
    `coalesce` use separate buffers, so a reader and a writer thread may share one."""

    def __init__(self) -> None:
        if not available:
            raise RuntimeError("TUN offloads need pppstack's C core (pppstack._hdlc_c), which is not built")
        self._c: Any = ffi.new("offload_counters *")
        self._s_out: Any = ffi.new("uint8_t[]", _SPLIT_CAP)
        self._s_ends: Any = ffi.new("size_t[]", _SPLIT_ITEMS)
        self._s_endv = memoryview(ffi.buffer(self._s_ends)).cast("Q")
        self._s_consumed: Any = ffi.new("size_t *")
        self._w_cap = 0
        self._w_out: Any = None
        self._w_items = 0
        self._w_ends: Any = None
        self._w_segs: Any = None

    @property
    def counters(self) -> OffloadCounters:
        c = self._c
        return OffloadCounters(int(c.gso_packets), int(c.segments), int(c.csum_completed), int(c.bad_header),
                               int(c.coalesced_packets), int(c.coalesced_units), int(c.bad_csum))

    def split(self, reads: list[bytes]) -> list[bytes]:
        """Reads from a vnet-header TUN -> the IP packets they hold (super-packets cut into
        segments with full checksums, partial checksums completed, malformed reads dropped)."""
        if not reads:
            return []
        joined = b"".join(reads)
        lens = array("Q", map(len, reads))
        lensp = ffi.from_buffer("size_t[]", lens)
        inp = ffi.from_buffer("uint8_t[]", joined)
        out, ends, endv, consumed = self._s_out, self._s_ends, self._s_endv, self._s_consumed
        buf = ffi.buffer(out)
        packets: list[bytes] = []
        done = 0
        offset = 0
        count = len(reads)
        while done < count:
            n = int(lib.offload_split(inp + offset, lensp + done,
                                      count - done, out, _SPLIT_CAP, ends, _SPLIT_ITEMS, consumed, self._c))
            took = int(consumed[0])
            if n:
                bounds = endv[:n].tolist()
                start = 0
                for end in bounds:
                    packets.append(buf[start:end])
                    start = end
            offset += sum(lens[done:done + took])
            done += took
        return packets

    def coalesce(self, packets: list[bytes]) -> tuple[list[memoryview], list[int]]:
        """IP packets for the TUN -> units to write (vnet header + packet) and how many IP
        packets each carries; in-order TCP segments of one flow become one GSO super-packet."""
        count = len(packets)
        if not count:
            return [], []
        joined = b"".join(packets)
        total = len(joined)
        need = total + count * VNET_HDR_LEN
        if need > self._w_cap:
            self._w_cap = max(need, 2 * self._w_cap, 1 << 16)
            self._w_out = ffi.new("uint8_t[]", self._w_cap)
        if count > self._w_items:
            self._w_items = max(count, 2 * self._w_items, 256)
            self._w_ends = ffi.new("size_t[]", self._w_items)
            self._w_segs = ffi.new("uint32_t[]", self._w_items)
        lens = array("Q", map(len, packets))
        n = int(lib.offload_coalesce(joined, total, ffi.from_buffer("size_t[]", lens), count, self._w_out,
                                     self._w_cap, self._w_ends, self._w_segs, self._c))
        if n > count:  # (size_t)-1: lengths did not add up (a bytes-like of wider items)
            raise TypeError("coalesce takes byte strings")
        view = memoryview(ffi.buffer(self._w_out))
        units: list[memoryview] = []
        start = 0
        for end in ffi.unpack(self._w_ends, n):
            units.append(view[start:end])
            start = end
        return units, [int(s) for s in ffi.unpack(self._w_segs, n)]


def inet_checksum(data: bytes) -> int:
    """RFC 1071 checksum of data, as stored in a header (for tests and tools)."""
    if not available:
        raise RuntimeError("needs pppstack's C core")
    return int(lib.offload_inet_csum(data, len(data)))
