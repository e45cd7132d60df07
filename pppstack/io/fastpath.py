"""The C fast path: IP packets between the TUN and the serial port without Python per wakeup.

Why: once the link is up, almost every wakeup only moves IP packets, and the Python of one loop
turn (prepare, poll, dispatch, framing calls) costs more than the packets' own framing.  The
kernel's PPP splits the work the same way: ppp_async and ppp_generic move packets, pppd speaks
the protocol.  Here native/pump.c runs one C loop over the port, the TUN and the loop's wake
pipe, and hands control back to the PPP driver on

* the engine's next deadline (LCP echo, carrier poll, status write: at most MAX_WAIT later),
* a wake of the loop (a signal, a call from another thread),
* a frame that is not an IP packet of an open protocol (LCP, a renegotiation, anything odd) or
  text between frames (NO CARRIER): the rest of that read's frames go through the engine,
* any error or end of file: nothing of the failing read or write was consumed, so the driver's
  own path meets it again and ends the link with its usual words.

The engine (PPPoS.fast_path) says when the fast path may run and hands in its headers, ACCM and
C decoder; everything counted is added to the same counters the Python path keeps, so status,
ip-down's byte counts and `pppstack status` do not change.  PPPSTACK_FASTPATH=0 switches it
off (the Python path, batched in C per call, as before).
"""

from __future__ import annotations

import math
import os
from typing import Any

from pppstack.hdlc._common import FrameBatch

try:
    from pppstack._hdlc_c import ffi as _ffi
    from pppstack._hdlc_c import lib as _lib
    _PUMP = hasattr(_lib, "pump_run")
except ImportError:     # no C core: the Python path only
    _ffi = _lib = None
    _PUMP = False

__all__ = ["FastPath", "MAX_WAIT", "PUMP_FRAMES", "enabled"]

MAX_WAIT = 0.25         # back to Python at least this often (a trace watcher that attached is seen)
READ_SIZE = 65536       # one port read, as the driver's
PKT_ROOM = 65535        # one TUN packet
OUT_HIGH = 64 * 1024    # stop reading the TUN while this much waits for the port
WAITING_MAX = 512 * 1024    # the driver's out buffer it takes over (the driver stops reading the TUN at 256 KiB)
REASONS = ("deadline", "wake", "frames", "port", "tun", "poll")     # pump.h's PUMP_ values, in order
PUMP_FRAMES = REASONS.index("frames")


def enabled() -> bool:
    return _PUMP and os.environ.get("PPPSTACK_FASTPATH", "1") != "0"


class FastPath:
    """One driver's fast path: the C loop's buffers, and the hand-over of what it counted."""

    def __init__(self, tun_fd: int, port_rfd: int, port_wfd: int, wake_fd: int) -> None:
        assert _ffi is not None and _lib is not None
        self.cfg = cfg = _ffi.new("pump_cfg *")
        self.st = _ffi.new("pump_state *")
        cfg.tun_fd, cfg.port_rfd, cfg.port_wfd, cfg.wake_fd = tun_fd, port_rfd, port_wfd, wake_fd
        self.fds = (tun_fd, port_rfd, port_wfd, wake_fd)
        self._keep: list[Any] = []
        self._rbuf = self._buf("rbuf", READ_SIZE)
        cfg.rcap = READ_SIZE
        cfg.ends_cap = READ_SIZE // 4 + 8
        self._ends = self._new("size_t[]", cfg.ends_cap)
        cfg.ends = self._ends
        cfg.spans = self._new("size_t[]", 2 * cfg.ends_cap)
        self._dcap = 0
        cfg.pkt_room = PKT_ROOM
        cfg.pkt = self._new("uint8_t[]", PKT_ROOM + 8)
        cfg.high = OUT_HIGH
        cfg.ocap = WAITING_MAX + int(_lib.hdlc_encode_bound(PKT_ROOM + 8)) + 64
        cfg.obuf = self._new("uint8_t[]", cfg.ocap)
        self.runs = 0
        self.wakeups = 0        # the C loop's own, summed over runs
        self.packets = 0        # IP packets it carried, both ways
        self.reasons = dict.fromkeys(REASONS, 0)

    def _new(self, kind: str, n: int) -> Any:
        p = _ffi.new(kind, n)
        self._keep.append(p)     # the cfg struct holds raw pointers: keep their owners alive
        return p

    def _buf(self, name: str, n: int) -> Any:
        p = self._new("uint8_t[]", n)
        setattr(self.cfg, name, p)
        return p

    def run(self, params: tuple[Any, bytes, bytes, int, int], timeout: float, waiting: bytes | bytearray = b"") -> Any:
        """Carry packets for at most ``timeout`` seconds, writing ``waiting`` (bytes for the
        port, at most WAITING_MAX) first; returns the pump_state (its counters are this call's
        alone) for the driver to hand over."""
        cfg, st = self.cfg, self.st
        dec, head4, head6, accm, carried_max = params
        # a read's frames, and the frame the decoder carries over from the last read (pump.c
        # cuts a read to what fits): room for a whole read behind the longest frame kept, twice
        need = READ_SIZE + 2 * carried_max + 64
        if need > self._dcap:    # the MRU grew (renegotiation): the bound with it
            self._dcap = cfg.dcap = need
            self._buf("dbuf", need)
            self._buf("gbuf", need)
        cfg.dec = dec
        hlen = len(head4 or head6)
        cfg.hlen = hlen
        cfg.ok4, cfg.ok6 = bool(head4), bool(head6)
        if head4:
            _ffi.memmove(cfg.head4, head4, hlen)
        if head6:
            _ffi.memmove(cfg.head6, head6, hlen)
        cfg.accm = accm
        cfg.timeout_ms = max(0, min(math.ceil(timeout * 1000), 1_000_000))
        _ffi.memmove(st, bytes(_ffi.sizeof("pump_state")), _ffi.sizeof("pump_state"))   # fresh counters
        if waiting:
            _ffi.memmove(cfg.obuf, waiting, len(waiting))
            st.out_len = len(waiting)
        _lib.pump_run(cfg, st)
        self.runs += 1
        self.reasons[REASONS[st.reason]] += 1
        self.wakeups += st.wakeups
        self.packets += st.packets_in + st.packets_out - st.dropped_out
        return st

    def frames(self) -> FrameBatch:
        """After a "frames" return: the frames the engine is to take, copied out of the buffer
        the next run reuses."""
        st = self.st
        ends = _ffi.unpack(self._ends, st.nframes)
        base = ends[st.stop - 1] if st.stop else 0
        data = _ffi.buffer(self.cfg.dbuf, ends[-1] if ends else 0)[base:]
        return FrameBatch(data, [e - base for e in ends[st.stop:]])

    def garbage(self) -> bytes:
        return _ffi.buffer(self.cfg.gbuf, self.st.ngarbage)[:]

    def pending_out(self) -> bytes:
        """Encoded bytes the port has not taken yet (the driver's out buffer gets them)."""
        return _ffi.buffer(self.cfg.obuf, self.st.out_len)[:]
