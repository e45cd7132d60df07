"""The PPP driver: the thin loop between a serial port, the sans-I/O PPPoS engine and a TUN device.

Theory of operation.  One selector waits on three fds: the serial port (HDLC bytes), the TUN
(IP packets, watched only while a network protocol is open) and a self-pipe that signal handlers
and other threads write to.  The timeout is the engine's `get_timer()` deadline or the next
scheduled callback.  Each wakeup:

  port readable -> read 64 KiB, and again until EAGAIN or PORT_BYTES_PER_TURN (a pty hands
                   out ~4 KiB per read) -> `receive_data` once -> `take_ip` -> TUN writes (a
                   read's packets in one C call, tun.write_ip) -> drain events
  TUN readable  -> read the waiting packets (up to TUN_BATCH, or tun's byte budget; with the C
                   core in one call, into slots the engine frames in place: `send_ip_slots`)
  (both sides' budgets are equal in bytes, so neither direction of a busy link crowds out the other)
  then          -> `data_to_send` appended to one buffer -> one write per wakeup (coalesced);
                   while the port cannot take it all, TUN is not read (backpressure: the kernel's
                   TUN queue absorbs or drops, as a real link would), and the port is watched for
                   writability instead.

Nothing on the per-packet path logs or allocates beyond the packet itself (perf-baselines.md).

Why the link ended is decided by `pppstack.endreason.classify_end`, a pure function over what was
observed here (EOF/EIO, the port node vanishing, DCD falling, modem text where frames should be,
the engine's LinkDown cause); the exit code follows from its cause (pppstack.exitcodes).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pppstack import events as ev
from pppstack.endreason import Evidence, LinkEnd, Observation, classify_end, is_no_carrier_text
from pppstack.exitcodes import EdgeCause
from pppstack.io import fastpath
from pppstack.io.fastpath import MAX_WAIT, PUMP_FRAMES
from pppstack.io.loop import Loop
from pppstack.io.serialport import PortVanished, SerialPort, SerialPortError
from pppstack.pppos import PacketRun, flatten_ip

__all__ = [
    "PppDriver", "LinkEnd", "Observation", "Evidence", "classify_end", "is_no_carrier_text", "PppLink",
    "READ_SIZE",
]

log = logging.getLogger("pppstack.driver")

READ_SIZE = 65536
# What one turn takes from the port: the TUN's budget (tun.VNET_READ_BUDGET; 256 packets without
# offloads), so an end that sends hard does not shrink what it receives per turn.  With 16 reads
# (64 KiB from a pty) against 256 KiB from the TUN, the direction a busy end sent got 4x the
# service of the one it received, and both directions at once locked into one fast, one starved
# (bench_link --phases both, 24 rounds each: slower/faster median 0.59, worst 0.08; now 0.86,
# worst 0.50; the C relay's own 0.85-0.88).
PORT_BYTES_PER_TURN = 256 * 1024
TUN_BATCH = 256
WRITE_HIGH_WATER = 256 * 1024  # stop reading TUN while this much HDLC waits for the port


class PppLink(Protocol):
    """What the driver needs of pppstack.pppos.PPPoS (contracts §3)."""

    phase: Any

    def open(self, now: float) -> None: ...
    def receive_data(self, data: bytes, now: float) -> None: ...
    def data_to_send(self) -> bytes: ...
    def send_ip(self, packet: bytes, now: float) -> None: ...
    def take_packets(self) -> list[bytes]: ...
    def next_event(self) -> Any: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...
    def close(self, reason: str, now: float) -> None: ...


# -- why the link ended: pppstack.endreason (pure) ---------------------------------------

def not_a_serial_port(fd: int, path: str) -> str | None:
    """A sentence if the opened ``fd`` cannot carry PPP (a regular file, /dev/null, ...), else None."""
    import stat
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd)):
        return (f"{path} is not a serial port (it is a {'regular file' if stat.S_ISREG(mode) else 'non-tty device'});"
                " give the modem's PPP port, e.g. /dev/ttyUSB0 (see `pppstack ports`).")
    return None


# -- the loop -----------------------------------------------------------------------------------

@dataclass
class DriverCounters:
    """Driver-side counters for the status file and ip-down's BYTES_SENT / BYTES_RCVD."""

    serial_in: int = 0
    serial_out: int = 0
    packets_in: int = 0       # IP packets from the link to TUN
    packets_out: int = 0      # IP packets from TUN to the link
    bytes_in: int = 0
    bytes_out: int = 0
    tun_write_errors: int = 0
    modem_text: list[str] = field(default_factory=list)


def _frames_in(link: Any) -> int | None:
    """Good PPP frames the deframer took from the peer (None: this link does not count them)."""
    hdlc = getattr(getattr(link, "stats", None), "hdlc", None)
    return hdlc.get("frames") if isinstance(hdlc, dict) else None


class PppDriver:
    """Run one PPP session over ``port`` until it ends; returns a LinkEnd.

    ``on_event(event, now)`` sees every engine event (the caller configures the TUN on Ipv4Up,
    writes status, runs hooks).  ``tun`` may be None (no privileges): then ``packet_sink`` gets the
    IP packets and the caller injects packets with `send_ip`.  The driver is an adapter on
    `pppstack.io.loop.Loop` (its own unless ``loop`` is given).
    """

    def __init__(self, link: PppLink, port: SerialPort, tun: Any | None = None, *,
                 on_event: Callable[[Any, float], None] | None = None,
                 packet_sink: Callable[[list[bytes]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 carrier_watch: bool = False, carrier_poll: float = 1.0,
                 stop_timeout: float = 7.0,
                 tap: Callable[[bool, bytes, float], None] | None = None,
                 loop: Loop | None = None) -> None:
        self.link = link
        self.port = port
        self.tun = tun
        self.on_event = on_event
        self.packet_sink = packet_sink
        self.clock = clock
        self.carrier_watch = carrier_watch
        self.carrier_poll = carrier_poll
        self.stop_timeout = stop_timeout
        self.tap = tap  # sees every chunk read (sent=False) and written (True): `up --trace`, `--pcap`
        self.counters = DriverCounters()
        self.connected_at: float | None = None
        self.last_frame_at: float | None = None
        self.network_up = False
        self._tun_wanted = False
        self._tun_registered = False
        self._slotted = False
        self._fast: fastpath.FastPath | None = None     # the C fast path, once the TUN is enabled
        self._running = False
        self._out = bytearray()
        self._writing = False       # the port's writer is registered (output waits for room)
        self._stop_reason: str | None = None
        self._stop_deadline: float | None = None
        self._stop_requested = False
        self._redial_requested = False
        self._end: LinkEnd | None = None
        self._carrier_seen = False
        self._next_carrier_check: float | None = None
        self._own_loop = loop is None
        self._take_ip = getattr(link, "take_ip", None)    # PPPoS: packets and PacketRuns, see _deliver_ip
        self.loop = loop if loop is not None else Loop(clock)

    # -- control from outside (signal handlers, other threads) -----------------------------------
    def request_stop(self, reason: str = "User request") -> None:
        """Close the link cleanly (LCP Terminate); a second call ends at once.  Signal-safe."""
        if self._stop_requested:
            self._stop_deadline = 0.0
        self._stop_requested = True
        self._stop_reason = reason
        self.loop.wake()

    def request_redial(self) -> None:
        """SIGHUP: close this session so the caller dials again."""
        self._redial_requested = True
        self.request_stop("Redial requested (SIGHUP)")

    @property
    def redial_requested(self) -> bool:
        return self._redial_requested

    def call_later(self, delay: float, fn: Callable[[float], None]) -> None:
        """Run ``fn(now)`` from the loop after ``delay`` seconds (status writes, demo pings).
        Thread-safe: a sleeping loop is woken."""
        self.loop.call_later(delay, fn)

    def send_ip(self, packet: bytes) -> None:
        """Inject an IP packet into the link (used when there is no TUN)."""
        self.link.send_ip(packet, self.clock())
        self.counters.packets_out += 1
        self.counters.bytes_out += len(packet)

    def enable_tun(self, tun: Any | None = None) -> None:
        """Start reading the TUN (after the caller configured it on Ipv4Up/Ipv6Up)."""
        if tun is not None:
            self.tun = tun
        self._tun_wanted = self.tun is not None
        # a wakeup's packets read and framed in C, no Python per packet (tun.read_slots)
        self._slotted = bool(getattr(self.tun, "slots_available", False)) and hasattr(self.link, "send_ip_slots")
        self._update_tun()
        if self._slotted and fastpath.enabled() and hasattr(self.link, "fast_path") and self.port.write_fd >= 0:
            fds = (self.tun.fileno(), self.port.fileno(), self.port.write_fd, self.loop.wake_fd)
            if self._fast is None or self._fast.fds != fds:     # (IPv4 and IPv6 up each enable the TUN)
                self._fast = fastpath.FastPath(*fds)
        else:
            self._fast = None

    def disable_tun(self) -> None:
        self._tun_wanted = False
        self._update_tun()

    def _update_tun(self) -> None:
        """Watch the TUN fd while wanted and the port keeps up (hysteresis on the out buffer)."""
        queued = len(self._out)
        if self._tun_registered:
            want = self._tun_wanted and queued <= WRITE_HIGH_WATER
        else:
            want = self._tun_wanted and queued <= WRITE_HIGH_WATER // 4
        if want == self._tun_registered or not self._running or self.tun is None:
            return
        if want:
            self.loop.add_reader(self.tun.fileno(), self._read_tun)
        else:
            self.loop.remove_reader(self.tun.fileno())
        self._tun_registered = want

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, connected_at: float | None = None) -> LinkEnd:
        now = self.clock()
        self.connected_at = now if connected_at is None else connected_at
        loop = self.loop
        port_fd = self.port.fileno()
        if self.carrier_watch and self.port.carrier() is not None:
            self._carrier_seen = bool(self.port.carrier())
            self._next_carrier_check = now + self.carrier_poll
        self._running = True
        loop.add_reader(port_fd, self._read_port)
        own = loop.add_machine(self._own_timer, self._own_due)      # stop and carrier deadlines
        engine = loop.add_machine(self.link.get_timer, self._engine_due)
        loop.add_prepare(self._prepare)
        self.link.open(now)
        try:
            loop.run(until=lambda: self._end is not None)
            assert self._end is not None
            return self._end
        finally:
            loop.remove_prepare(self._prepare)
            loop.remove_machine(own)
            loop.remove_machine(engine)
            for fd in {port_fd, self.port.write_fd} | ({self.tun.fileno()} if self._tun_registered else set()):
                loop.forget(fd)
            self._running = False
            self._tun_registered = False
            self._writing = False

    def _prepare(self, now: float) -> None:
        """Before each wait: write what the engine queued; watch the port for room only while
        output waits, and stop reading TUN while it is behind (backpressure).  While the link
        only carries IP packets, the C fast path carries them first (pppstack/io/fastpath.py)."""
        self._drain_events(now)     # what a call (e.g. bytes that followed CONNECT) made the engine say
        self._flush()
        if self._end is not None:
            self.loop.stop()
            return
        if self._fast is not None and len(self._out) <= fastpath.WAITING_MAX and self._tun_wanted \
                and not self._stop_requested:
            self._run_fast(now)
            if self._end is not None:
                self.loop.stop()
                return
        if bool(self._out) is not self._writing:    # watch for room only while output waits
            self._writing = not self._writing
            if self._writing:
                self.loop.add_writer(self.port.write_fd, self._on_writable)
            else:
                self.loop.remove_writer(self.port.write_fd)
        if self._tun_wanted or self._tun_registered:
            self._update_tun()

    def _run_fast(self, now: float) -> None:
        """One run of the fast path, if the engine and the tap allow it, until the next deadline
        (or MAX_WAIT); then what it counted goes to the usual counters, and whatever made it
        stop is left for the Python path: frames to the engine, unwritten bytes to the out
        buffer, a wake, an error or a due deadline to this turn's wait and dispatch."""
        params = self.link.fast_path()
        if params is None or (self.tap is not None and not self._tap_quiet(now)):
            return
        deadline = self.loop.next_deadline()
        wait = MAX_WAIT if deadline is None else min(MAX_WAIT, deadline - now)
        if wait <= 0.001:
            return
        out = self._out
        st = self._fast.run(params, wait, out)     # takes what waits in the out buffer
        out.clear()
        c = self.counters
        c.serial_in += st.serial_in
        c.serial_out += st.serial_out
        c.packets_in += st.packets_in
        c.bytes_in += st.bytes_in
        c.packets_out += st.packets_out
        c.bytes_out += st.bytes_out
        c.tun_write_errors += st.tun_write_errors
        self.link.fast_path_done(st.rx_frames, st.packets_in, st.packets_out - st.dropped_out, st.dropped_out)
        now = self.clock()
        if st.serial_in:
            self.last_frame_at = now
        if st.out_len:
            self._out += self._fast.pending_out()
        if st.reason == PUMP_FRAMES:
            if st.ngarbage:
                self.link.modem_text(self._fast.garbage())
            if st.stop < st.nframes:
                self.link.receive_frames(self._fast.frames(), now)
                items, n = self.link.take_ip()
                if n:
                    self._deliver_ip(items, n)
            self._drain_events(now)

    @property
    def fast_path(self) -> fastpath.FastPath | None:
        """The C fast path, once the TUN is enabled and the C core allows it (for the status)."""
        return self._fast

    def _tap_quiet(self, now: float) -> bool:
        quiet = getattr(self.tap, "quiet", None)
        return quiet is not None and bool(quiet(now))

    def _on_writable(self, now: float) -> None:
        self._flush()

    def _own_timer(self) -> float | None:
        if not self._stop_requested:
            return self._next_carrier_check     # the common case, asked twice a turn
        if self._stop_deadline is None:
            return 0.0  # start closing at once
        times = [t for t in (self._stop_deadline, self._next_carrier_check) if t is not None]
        return min(times) if times else None

    def _own_due(self, now: float) -> None:
        if self._stop_requested and self._stop_deadline is None:
            self._stop_deadline = now + self.stop_timeout
            log.info("closing the link: %s", self._stop_reason)
            self.link.close(self._stop_reason or "User request", now)
            self._drain_events(now)
        elif self._stop_deadline is not None and now >= self._stop_deadline and self._end is None:
            self._finish(Evidence(Observation.STOPPED, was_up=self.network_up), now)
            return
        if self._next_carrier_check is not None and now >= self._next_carrier_check:
            self._next_carrier_check = now + self.carrier_poll
            self._check_carrier(now)
            self._drain_events(now)

    def _engine_due(self, now: float) -> None:
        self.link.handle_timer(now)
        self._drain_events(now)

    def _check_carrier(self, now: float) -> None:
        try:
            dcd = self.port.carrier()
        except PortVanished as exc:
            self._finish(Evidence(Observation.PORT_VANISHED, detail=str(exc), **self._ctx(now)), now)
            return
        except SerialPortError:
            return
        if dcd is None:
            self._next_carrier_check = None
        elif dcd:
            self._carrier_seen = True
        elif self._carrier_seen:
            self._finish(Evidence(Observation.CARRIER_DROP, **self._ctx(now)), now)

    def _ctx(self, now: float) -> dict[str, Any]:
        pending = getattr(self.link, "pending_down", None)
        return {
            "modem_text": tuple(self.counters.modem_text[-5:]),
            "seconds_since_connect": None if self.connected_at is None else now - self.connected_at,
            "seconds_since_last_frame": None if self.last_frame_at is None else now - self.last_frame_at,
            "was_up": self.network_up,
            "terminating": (not self._stop_requested
                            and getattr(getattr(self.link, "phase", None), "name", "") == "TERMINATE"),
            "first_cause": pending[0] if pending else None,
            "first_message": pending[1] if pending else "",
            "usb": bool(getattr(self.port, "usb", False)),
            "ppp_frames_in": _frames_in(self.link),
        }

    def _read_port(self, now: float) -> None:
        fd = self.port.fileno()
        chunks: list[bytes] = []
        end: Evidence | None = None
        read = os.read
        got = 0
        while got < PORT_BYTES_PER_TURN:
            try:
                data = read(fd, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                end = self._port_error(exc, now)
                break
            if not data:
                end = self._port_error(None, now)
                break
            chunks.append(data)
            got += len(data)
            if len(data) < 1024:  # the tty is drained; skip the EAGAIN syscall
                break
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self.counters.serial_in += len(data)
            if self.tap is not None:
                self.tap(False, data, now)
            self.last_frame_at = now
            link = self.link
            link.receive_data(data, now)
            if self._take_ip is not None:
                items, n = self._take_ip()
                if n:
                    self._deliver_ip(items, n)
            else:
                packets = link.take_packets()
                if packets:
                    self._deliver(packets)
            self._drain_events(now)
        if end is not None and self._end is None:
            # give the engine's view (a Terminate just received) a chance to explain first
            self._finish(end, now)

    def _port_error(self, exc: OSError | None, now: float) -> Evidence:
        err = self.port._classify(exc, "read")  # the serial edge knows ptys, symlinks and USB nodes
        if isinstance(err, PortVanished):
            return Evidence(Observation.PORT_VANISHED, detail=str(err), **self._ctx(now))
        if self.carrier_watch and self._carrier_seen:
            try:
                if self.port.carrier() is False:
                    return Evidence(Observation.CARRIER_DROP, **self._ctx(now))
            except OSError:
                # With CLOCAL off the driver reports DCD falling by hanging the tty up (option:
                # tty_port_tty_hangup(port, check_clocal)), and a hung-up tty answers TIOCMGET with
                # EIO: that is the carrier loss itself (tests/test_guest_vstick.py, option's DCD).
                return Evidence(Observation.CARRIER_DROP, **self._ctx(now))
        detail = "EIO" if exc is not None and exc.errno == errno.EIO else ("end of file" if exc is None else
                                                                          os.strerror(exc.errno or errno.EIO))
        return Evidence(Observation.EOF, detail=detail, **self._ctx(now))

    def _deliver(self, packets: list[bytes]) -> None:
        c = self.counters
        c.packets_in += len(packets)
        c.bytes_in += sum(map(len, packets))
        if self.tun is not None and self.network_up:
            written = self.tun.write_many(packets)
            c.tun_write_errors += len(packets) - written
        elif self.packet_sink is not None:
            self.packet_sink(packets)

    def _deliver_ip(self, items: list[Any], n: int) -> None:
        """What take_ip gave (packets and PacketRuns): one batched TUN write per run."""
        if self.tun is None or not self.network_up or not hasattr(self.tun, "write_ip"):
            self._deliver(flatten_ip(items))
            return
        c = self.counters
        c.packets_in += n
        c.bytes_in += sum(p.nbytes if type(p) is PacketRun else len(p) for p in items)
        c.tun_write_errors += n - self.tun.write_ip(items)

    def _read_tun(self, now: float) -> None:
        if self._slotted:
            link = self.link
            room = link.slots_headroom
            slots = self.tun.read_slots(TUN_BATCH, room)
            n = slots.count
            if n:
                link.send_ip_slots(slots, now)
                c = self.counters
                c.packets_out += n
                c.bytes_out += slots.total - n * room
            return
        packets = self.tun.read_batch(TUN_BATCH)
        if not packets:
            return
        many = getattr(self.link, "send_ip_many", None)
        if many is not None:
            many(packets, now)  # one framing call for the batch
        else:
            send = self.link.send_ip
            for p in packets:
                send(p, now)
        c = self.counters
        c.packets_out += len(packets)
        c.bytes_out += sum(map(len, packets))

    def _flush(self) -> None:
        """Write what waits and what the engine wants to send, as much as the port takes, in one write.

        With nothing waiting (the common case) the engine's bytes are written as they are: only
        what the port did not take is copied into the out buffer, and the tap gets the written
        bytes themselves, not a copy."""
        data = self.link.data_to_send()
        out = self._out
        if out:
            if data:
                out += data
            buf: bytes | bytearray = out
        elif data:
            buf = data
        else:
            return
        try:
            n = os.write(self.port.write_fd, buf)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            if buf is data:
                out += data     # _finish tries it once more
            if self._end is None:
                self._finish(self._port_error(exc, self.clock()), self.clock())
            return
        if n:
            self.counters.serial_out += n
            if self.tap is not None:
                self.tap(True, buf if n == len(buf) and buf is data else bytes(memoryview(buf)[:n]), self.clock())
        if buf is data:
            if n < len(data):
                out += memoryview(data)[n:]
        elif n:
            del out[:n]

    def _drain_events(self, now: float) -> None:
        link = self.link
        while True:
            event = link.next_event()
            if event is None:
                return
            self._handle_event(event, now)

    def _handle_event(self, event: ev.Event, now: float) -> None:
        # matched by class, never by name: a renamed or look-alike class must not pass for these
        match event:
            case ev.ModemText(text=text):
                self.counters.modem_text.append(text)
                del self.counters.modem_text[:-20]
                log.warning("the modem printed %r where PPP frames should be", text.strip()[:80])
            case ev.Ipv4Up() | ev.Ipv6Up():
                self.network_up = True
        if self.on_event is not None:
            self.on_event(event, now)
        if self._end is not None:
            return
        match event:
            case ev.ModemText(text=text) if is_no_carrier_text(text):
                # The modem is in command mode: a Terminate-Request would only be AT text to it.
                self._finish(Evidence(Observation.EOF, **self._ctx(now)), now)
            case ev.LinkDown(cause=cause, message=message):
                local = self._stop_requested and cause is ev.DownCause.LOCAL_CLOSE
                obs = Observation.STOPPED if local else Observation.LINK_DOWN
                self._finish(Evidence(obs, down_cause=cause, down_message=message, **self._ctx(now)), now)

    def _finish(self, evidence: Evidence, now: float) -> None:
        if self._end is not None:
            return
        self._end = classify_end(evidence)
        self.loop.stop()
        if self._stop_requested and evidence.observation is Observation.STOPPED:
            self._end = LinkEnd(EdgeCause.STOPPED, f"The link was closed on request ({self._stop_reason}).",
                                evidence.was_up)
        try:  # what is still queued (a Terminate-Ack) goes out if the port takes it
            data = self.link.data_to_send()
            if data:
                self._out += data
            if self._out:
                n = os.write(self.port.write_fd, self._out)
                if self.tap is not None and n:
                    self.tap(True, bytes(self._out[:n]), now)
        except OSError:
            pass
        self._out.clear()

    def close(self) -> None:
        if self._own_loop:
            self.loop.close()
