"""PPP over serial: RFC 1662 HDLC-like framing around the Link.  The engine's public face.

    link = PPPoS(LinkConfig(...), rng=os.urandom)
    link.open(now); link.receive_data(tty_bytes, now); tty.write(link.data_to_send())
    link.send_ip(packet, now); link.take_packets(); link.next_event(); link.get_timer()

Theory of operation.  Receive: one `Decoder.feed_packed` per read (the read's frames in one
buffer); each good frame's header is parsed inline (FF 03 present or not, one- or two-octet
protocol), IPv4/IPv6 packets of an open network protocol go straight to `take_packets()` as
read-only memoryviews into that buffer (no copy, no event objects, no logging: this is the data
path; bench_datapath: 11 % less per received packet than a bytes copy each), everything else goes
to the Link as bytes.  Send: the Link's `outq` is drained in order — each `OutPacket`
is framed, each `FramingChange` changes the framing for the packets after it; IP packets are framed
at once with a header prepared when the last change arrived.

Batches, with the C core.  A read of RUN_MIN frames or more has its headers walked in C
(`hdlc.ip_spans`): its IP packets become one `PacketRun` (their spans in the read's buffer), which
`take_ip` hands the driver for one batched TUN write; a TUN read's packets come in as slots and
are framed in place (`send_ip_slots`).  Neither builds a Python object per packet.

Negotiated options take effect where Linux's ppp_async applies them (anchors §4.3); the Link puts
each FramingChange at that point of the queue:
  - LCP codes 1–7 always go out with FF 03 and the full ACCM (RFC 1661 §6.2, §6.6);
  - the moment we *send* a Configure-Ack, frames after it use the peer's ACCM;
  - the moment we *receive* a valid Configure-Ack, the receive ACCM (and MRU) become ours;
  - PFC/ACFC apply from LCP Opened and are dropped again when LCP goes down.
Before that receive edge the deframer drops no control characters (as lwIP does): the edge can
fall inside one read, and a frame the peer already sent with its new ACCM must not be lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pppstack import events as ev
from pppstack import hdlc
from pppstack.config import DEFAULT_MRU, LinkConfig
from pppstack.link import FULL_ACCM, FramingChange, Link, LinkStats, Phase
from pppstack.wire import Protocol

__all__ = ["PPPoS", "Phase", "PPPoSStats"]

_LCP_HEAD = b"\xff\x03\xc0\x21"
_LCP = int(Protocol.LCP)


RUN_MIN = 8     # below this many frames a read's Python header walk (~0.3 us a frame) is cheaper


class PacketRun:
    """IP packets of one read, lying in its FrameBatch's buffer: ``spans`` (a C size_t[] of
    start, stop pairs) for C, `views()` for Python; ``nbytes`` their bytes in all."""

    __slots__ = ("buffer", "spans", "count", "nbytes")

    def __init__(self, buffer: memoryview, spans: Any, count: int, nbytes: int) -> None:
        self.buffer, self.spans, self.count, self.nbytes = buffer, spans, count, nbytes

    def views(self) -> list[memoryview]:
        b, s = self.buffer, self.spans
        return [b[s[2 * i]:s[2 * i + 1]] for i in range(self.count)]


def flatten_ip(items: Sequence[memoryview | PacketRun]) -> list[bytes | memoryview]:
    """What `PPPoS.take_ip` gives, as one packet each: the PacketRuns opened into memoryviews."""
    out: list[bytes | memoryview] = []
    for p in items:
        if type(p) is PacketRun:
            out.extend(p.views())
        else:
            out.append(p)   # type: ignore[arg-type]  # (mypy does not narrow on type(p) is)
    return out


@dataclass
class PPPoSStats:
    """A snapshot of the link's and the deframer's counters."""

    link: LinkStats
    hdlc: dict[str, int] = field(default_factory=dict)
    protocols: dict[str, dict[str, int]] = field(default_factory=dict)
    tx_accm: int = FULL_ACCM
    rx_accm: int = 0


class PPPoS:
    """A PPP link over an async serial line (see the module docstring)."""

    def __init__(self, config: LinkConfig, rng: Callable[[int], bytes]) -> None:
        self.config = config
        self.link = Link(config, rng)
        self._decoder = hdlc.Decoder(accm=0, mru=max(config.mru, DEFAULT_MRU))
        self._out: list[bytes] = []
        self._packets: list[memoryview | PacketRun] = []     # see take_ip
        self._runs = 0          # PacketRuns in _packets ...
        self._run_packets = 0   # ... and the packets inside them
        self._tx_accm = FULL_ACCM
        self._ip4_head = b"\xff\x03\x00\x21"
        self._ip6_head = b"\xff\x03\x00\x57"
        self._acfc = False
        self._pfc = False

    # -- the driver's API --------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return self.link.phase

    @property
    def pending_down(self) -> tuple[ev.DownCause, str] | None:
        """Link.pending_down: the first cause of an end that LinkDown has not reported yet."""
        return self.link.pending_down

    @property
    def stats(self) -> PPPoSStats:
        c = self._decoder.counters
        names = ("frames", "bad_fcs", "aborts", "runts", "oversize", "unescaped_ctrl", "garbage_bytes")
        protos = {cp.name: vars(cp.counters).copy() for cp in (self.link.lcp, *self.link.ncps)}
        return PPPoSStats(self.link.stats, {n: getattr(c, n, 0) for n in names}, protos,
                          self._tx_accm, self._decoder.accm)

    def open(self, now: float) -> None:
        """Start LCP (actively, unless `passive`/`silent` say to wait for the peer).

        Raises: nothing; in any state this is RFC 1661's Open event."""
        self.link.open(now)
        self._flush()

    def close(self, reason: str, now: float) -> None:
        """Terminate the link; a LinkDown event follows once the peer acked (or after 2 x 3 s).

        Raises: nothing; closing a closed link does nothing (RFC 1661 Close in Initial/Closed)."""
        self.link.close(reason, now)
        self._flush()

    def receive_data(self, data: bytes, now: float) -> None:
        """Raw bytes from the serial line (any chunking).

        Raises: nothing for bad input: a bad FCS, a runt, an unknown protocol or a malformed
        option is counted in `stats` (and answered as RFC 1661 says), never raised; text
        between frames becomes a `ModemText` event.  TypeError if `data` is text (str), not bytes."""
        batch = self._decoder.feed_packed(data)
        garbage = self._decoder.take_garbage()
        if garbage:
            self._modem_text(garbage)
        if not batch:
            return
        self.link.rx_frames += len(batch)
        self.receive_frames(batch, now)

    def receive_frames(self, batch: hdlc.FrameBatch, now: float) -> None:
        """Frames already decoded (and counted in rx_frames): what receive_data does with a
        read's frames.  The fast path hands over the frames it stopped at this way."""
        link = self.link
        n = len(batch)
        spans = hdlc.ip_spans
        if spans is not None and n >= RUN_MIN:
            self._receive_runs(batch, spans, now)
            return
        packets = self._packets
        control = False
        buf = batch.buffer  # the frames back to back: packets are views into it, no copy
        start = 0
        for end in batch.ends:
            i = start
            start = end
            if buf[i] == 0xFF:
                if end - i < 3 or buf[i + 1] != 0x03:
                    link.stats.bad_frames += 1
                    continue
                i += 2
            p = buf[i]
            if p & 1:
                proto = p
                i += 1
            else:
                if end < i + 2 or not buf[i + 1] & 1:
                    link.stats.bad_frames += 1
                    continue
                proto = (p << 8) | buf[i + 1]
                i += 2
            if (proto == 0x21 and link.ip4_open or proto == 0x57 and link.ip6_open) and end > i:
                packets.append(buf[i:end])
                continue
            control = True
            link.receive(proto, buf[i:end].tobytes(), now)
        if control:
            self._flush()

    def _receive_runs(self, batch: hdlc.FrameBatch, spans: Callable[..., tuple[int, Any, int, int]],
                      now: float) -> None:
        """receive_data for a batch of RUN_MIN frames or more: the IP packets' spans from C,
        one PacketRun per stretch of them; any other frame goes the per-frame way."""
        link = self.link
        buf, ends = batch.buffer, batch.ends
        n = len(ends)
        i = 0
        control = False
        while i < n:
            stop, found, k, nbytes = spans(buf, ends, i, link.ip4_open, link.ip6_open)
            if k:
                self._packets.append(PacketRun(buf, found, k, nbytes))
                self._runs += 1
                self._run_packets += k
            if stop >= n:
                break
            control = self._receive_frame(buf[ends[stop - 1] if stop else 0:ends[stop]], now) or control
            i = stop + 1
        if control:
            self._flush()

    def _receive_frame(self, frame: memoryview, now: float) -> bool:
        """One frame the C walk stopped at: what the per-frame loop does with it; True if the
        Link got it (its answers are to be flushed)."""
        link = self.link
        i, end = 0, len(frame)
        if frame[0] == 0xFF:
            if end < 3 or frame[1] != 0x03:
                link.stats.bad_frames += 1
                return False
            i = 2
        p = frame[i]
        if p & 1:
            proto, i = p, i + 1
        else:
            if end < i + 2 or not frame[i + 1] & 1:
                link.stats.bad_frames += 1
                return False
            proto, i = (p << 8) | frame[i + 1], i + 2
        if (proto == 0x21 and link.ip4_open or proto == 0x57 and link.ip6_open) and end > i:
            self._packets.append(frame[i:end])    # (the walk stops only short of such a frame)
            return False
        link.receive(proto, frame[i:end].tobytes(), now)
        return True

    def take_packets(self) -> list[bytes | memoryview]:
        """IP packets received since the last call (IPv4 and IPv6, in order).

        Each is a read-only memoryview (a bytes-like object: len(), indexing, slicing, ==
        against bytes, os.write and b"".join take it; ``bytes(p)`` where an API wants bytes).
        It stays valid for as long as it is referenced; it keeps its read's buffer alive."""
        runs = self._runs
        items, _ = self.take_ip()
        # memoryviews only (reads below RUN_MIN frames): handed over as they are
        return flatten_ip(items) if runs else items     # type: ignore[return-value]

    def take_ip(self) -> tuple[list[memoryview | PacketRun], int]:
        """What take_packets gives, for a batched TUN write: single packets (memoryviews) and
        PacketRuns, in order, and the number of packets they hold."""
        items = self._packets
        if not items:
            return items, 0
        count = len(items) - self._runs + self._run_packets     # each run counts its packets, not 1
        self._runs = self._run_packets = 0
        self._packets = []
        self.link.stats.ip_packets_in += count
        return items, count

    def send_ip(self, packet: bytes, now: float) -> None:
        """Frame one IPv4/IPv6 packet; dropped (and counted) if its network protocol is not open.

        Raises: TypeError if `packet` is not bytes (str, int); nothing else."""
        version = packet[0] >> 4 if packet else 0
        link = self.link
        if version == 4 and link.ip4_open:
            self._out.append(hdlc.encode(self._ip4_head + packet, self._tx_accm))
        elif version == 6 and link.ip6_open:
            self._out.append(hdlc.encode(self._ip6_head + packet, self._tx_accm))
        else:
            link.stats.ip_dropped_out += 1
            return
        link.stats.ip_packets_out += 1

    def send_ip_many(self, packets: Iterable[bytes], now: float) -> None:
        """Frame many IP packets in one call: one encode_many per run of packets of one IP
        version, the header joined in by encode_many (no header + packet copy per packet)."""
        link = self.link
        run: list[bytes] = []
        run_version = 0
        sent = 0
        for packet in packets:
            version = packet[0] >> 4 if packet else 0
            if not (version == 4 and link.ip4_open or version == 6 and link.ip6_open):
                link.stats.ip_dropped_out += 1
                continue
            if version != run_version and run:
                self._encode_run(run, run_version)
                sent += len(run)
                run = []
            run_version = version
            run.append(packet)
        if run:
            self._encode_run(run, run_version)
            sent += len(run)
        link.stats.ip_packets_out += sent

    @property
    def slots_headroom(self) -> int:
        """The room a batched TUN read leaves before each packet for `send_ip_slots`: the length
        of the PPP header (address, control, protocol) the packets go out with."""
        return len(self._ip4_head)

    def send_ip_slots(self, slots: Any, now: float) -> None:
        """Frame the IP packets of a batched TUN read (pppstack.io.tun.Slots: ``count`` packets
        in slots of one buffer, slot i being lens[i] bytes, `slots_headroom` bytes of room and
        then the packet; ``ptr`` for C, ``view`` for Python).  The headers go into the room and
        the batch is framed in one C call, no Python per packet.  A batch with a packet that
        cannot go as it is (not IP, or its protocol closed) goes packet by packet through
        `send_ip_many`, which drops and counts that one."""
        link = self.link
        count = slots.count
        encode = hdlc.encode_slots
        if encode is not None:
            data, done = encode(slots.ptr, slots.lens, count, slots.total,
                                self._ip4_head if link.ip4_open else b"",
                                self._ip6_head if link.ip6_open else b"", self._tx_accm)
            if done == count:
                self._out.append(data)
                link.stats.ip_packets_out += count
                return
        room, lens, view = self.slots_headroom, slots.lens, slots.view
        packets, off = [], 0
        for i in range(count):
            packets.append(view[off + room:off + lens[i]])
            off += lens[i]
        self.send_ip_many(packets, now)

    def _encode_run(self, packets: list[bytes], version: int) -> None:
        head = self._ip4_head if version == 4 else self._ip6_head
        self._out.append(hdlc.encode_many(packets, accm=self._tx_accm, head=head))

    # -- the fast path (pppstack/io/fastpath.py, native/pump.c) ----------------------------------
    def fast_path(self) -> tuple[Any, bytes, bytes, int, int] | None:
        """What the C fast path needs to carry IP packets without this engine, or None while it
        must not: the decoder's C handle (a frame cut across the hand-over is carried either
        way) and the longest frame it keeps, the IPv4 and IPv6 headers (b"" for a protocol that
        is not open) and the send ACCM.
        Only with the C backend, a network protocol open, and nothing queued to say or send."""
        link = self.link
        if self._out or link.events or not (link.ip4_open or link.ip6_open):
            return None
        dec = self._decoder
        handle = dec.c_handle
        if handle is None:
            return None
        return (handle, self._ip4_head if link.ip4_open else b"", self._ip6_head if link.ip6_open else b"",
                self._tx_accm, dec.max_kept)

    def fast_path_done(self, frames_in: int, packets_in: int, packets_out: int, dropped_out: int) -> None:
        """Count what the fast path carried as if it had come through here."""
        link = self.link
        link.rx_frames += frames_in
        st = link.stats
        st.ip_packets_in += packets_in
        st.ip_packets_out += packets_out
        st.ip_dropped_out += dropped_out

    def modem_text(self, garbage: bytes) -> None:
        """Text the fast path found between frames: what receive_data makes of it."""
        self._modem_text(garbage)

    def data_to_send(self) -> bytes:
        """HDLC bytes for the serial line (b"" if none).  Raises: nothing."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out = []
        return data

    def next_event(self) -> ev.Event | None:
        """The next event (LinkUp, Ipv4Up, ModemText, LinkDown, ...), None when there is none."""
        events = self.link.events
        return events.popleft() if events else None

    def get_timer(self) -> float | None:
        """When `handle_timer` must next be called (the `now` scale), None if no timer runs."""
        return self.link.get_timer()

    def handle_timer(self, now: float) -> None:
        """Run the timers due at `now` (restart counters, echo, idle).  Raises: nothing."""
        self.link.handle_timer(now)
        self._flush()

    # -- framing -----------------------------------------------------------------------------------
    def _flush(self) -> None:
        link = self.link
        if not link.outq:
            return
        queue, link.outq = link.outq, []
        out = self._out
        for item in queue:
            if isinstance(item, FramingChange):
                self._apply(item)
                continue
            proto, info = item.protocol, item.info
            link.stats.frames_out += 1
            if proto == _LCP and info and 1 <= info[0] <= 7:
                out.append(hdlc.encode(_LCP_HEAD + info, FULL_ACCM))
                continue
            head = b"" if self._acfc else b"\xff\x03"
            if self._pfc and proto < 0x100:
                head += bytes((proto,))
            else:
                head += proto.to_bytes(2, "big")
            out.append(hdlc.encode(head + info, self._tx_accm))

    def _apply(self, change: FramingChange) -> None:
        """Frames after this point use the new settings (the receive side: from the next read)."""
        if change.tx_accm is not None:
            self._tx_accm = change.tx_accm
        if change.rx_accm is not None:
            self._decoder.accm = change.rx_accm
        if change.mru is not None:
            self._decoder.mru = change.mru
        if change.pfc is not None or change.acfc is not None:
            self._pfc = self._pfc if change.pfc is None else change.pfc
            self._acfc = self._acfc if change.acfc is None else change.acfc
            a = b"" if self._acfc else b"\xff\x03"
            self._ip4_head = a + (b"\x21" if self._pfc else b"\x00\x21")
            self._ip6_head = a + (b"\x57" if self._pfc else b"\x00\x57")

    def _modem_text(self, garbage: bytes) -> None:
        text = garbage.decode("latin-1")
        for line in text.replace("\r", "\n").split("\n"):
            line = line.strip()
            if line and line.isprintable():
                self.link.stats.modem_text_lines += 1
                self.link.events.append(ev.ModemText(line))

    def __repr__(self) -> str:
        return f"<PPPoS phase={self.phase.value} lcp={self.link.lcp.state.name}>"

    def debug_state(self) -> dict[str, Any]:
        """States of every automaton (for status output and tests)."""
        link = self.link
        return {"phase": link.phase.value, "lcp": link.lcp.state.name,
                **{cp.name.lower(): cp.state.name for cp in link.ncps}}
