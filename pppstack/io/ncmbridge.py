"""The NCM data path's loop: packets between a packet port (the TUN) and the USB pump.

`bridge()` is an adapter on the one loop (pppstack.io.loop): it watches the TUN fd and the USB
threads' wake pipe, feeds the sans-I/O `NcmLink`, writes what it returns and gives the loop its
deadline.  It takes any packet port with
fileno/read_batch/write_many, so tests run it over a socketpair instead of a TUN.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ncm.l2 import NeighbourResolved, NeighbourUnreachable
from ncm.link import CarrierChanged, NcmDownCause, NcmEvent, NcmLink, NcmLinkDown, SpeedChanged
from pppstack.io.loop import Loop

__all__ = ["bridge", "PacketPort", "BridgeResult", "Watcher"]

log = logging.getLogger("pppstack.ncm")


class PacketPort(Protocol):
    def fileno(self) -> int: ...
    def read_batch(self, limit: int = 256) -> list[bytes]: ...
    def write_many(self, packets: Iterable[bytes]) -> int: ...


@dataclass
class BridgeResult:
    down: NcmLinkDown
    stats: dict[str, int]
    carrier: bool | None
    seconds: float


def _log_event(ev: NcmEvent) -> None:
    if isinstance(ev, CarrierChanged):
        log.info("NCM carrier %s", "up (NETWORK_CONNECTION)" if ev.connected else "down")
    elif isinstance(ev, SpeedChanged):
        log.info("NCM link speed: %.1f Mbit/s down, %.1f Mbit/s up", ev.downlink_bps / 1e6, ev.uplink_bps / 1e6)
    elif isinstance(ev, NeighbourResolved):
        log.info("neighbour %s is at %s", ev.address, ev.mac.hex(":"))
    elif isinstance(ev, NeighbourUnreachable):
        log.warning("%s", ev.message)
    elif isinstance(ev, NcmLinkDown):
        log.info("NCM link down: %s", ev.message)


class Watcher(Protocol):
    def fileno(self) -> int: ...
    def poll(self) -> str | None: ...


def bridge(session: NcmLink, pump: object, port: PacketPort, *, stop: threading.Event,
           clock: Callable[[], float] = time.monotonic, on_event: Callable[[NcmEvent], None] | None = None,
           until: Callable[[NcmLink], bool] | None = None, watchers: Iterable[Watcher] = (),
           tick: Callable[[NcmLink], None] | None = None, tick_interval: float = 2.0,
           tap: Callable[[bool, bytes, float], None] | None = None) -> BridgeResult:
    """Move packets between `port` and the USB pump until the link goes down, `stop` is set or
    `until(session)` says so.  `pump` is an ncm.usb.UsbPump (duck-typed to keep this importable
    without pyusb).  Each watcher's ``poll()`` runs when its fd is readable; a sentence back
    means the modem ended the data call (e.g. ^NDISSTAT on the AT port): the link goes down.
    ``tick(session)`` runs every `tick_interval` seconds (the status file); ``tap(sent, ntb, now)``
    sees every NTB both ways (`up --pcap`).

    Nothing is polled: libusb's own fds (when the pump hands its events over, `take_events`) or
    the pump's threads wake the loop through the pump's wake fd, a signal
    (whose handler sets `stop`) through the loop's.  Only `until`, a condition on state other
    threads change (tests), is also looked at every `UNTIL_CHECK` seconds.
    """
    with Loop(clock) as loop:
        b = _Bridge(loop, session, pump, port, stop, on_event, until, tap)
        loop.add_reader(port.fileno(), b.read_port)
        loop.add_reader(pump.wake_fd, b.pump_woke)  # type: ignore[attr-defined]
        # libusb's events on this loop's thread when the pump allows it (no events thread)
        take = getattr(pump, "take_events", None)
        for fd, events in (take() if take is not None else None) or ():
            if events & POLLIN:
                loop.add_reader(fd, b.usb_ready)
            if events & POLLOUT:
                loop.add_writer(fd, b.usb_ready)
        for w in watchers:
            loop.add_reader(w.fileno(), functools.partial(b.watcher_readable, w))
        loop.add_machine(session.get_timer, session.handle_timer)
        if tick is not None:
            ticker = _Ticker(session, tick, tick_interval, clock())
            loop.add_machine(ticker.get_timer, ticker.handle_timer)
        if until is not None:
            loop.add_machine(b.until_timer, b.until_due)
        loop.add_prepare(b.step)
        loop.run(until=lambda: b.result is not None)
        assert b.result is not None
        return b.result


UNTIL_CHECK = 0.25
POLLIN, POLLOUT = 0x001, 0x004      # poll.h, as libusb_get_pollfds reports them


class _Ticker:
    """`tick(session)` now and then every `interval` seconds, as a deadline of the loop."""

    def __init__(self, session: NcmLink, tick: Callable[[NcmLink], None], interval: float,
                 start: float) -> None:
        self.session, self.tick, self.interval, self.next = session, tick, interval, start

    def get_timer(self) -> float:
        return self.next

    def handle_timer(self, now: float) -> None:
        self.tick(self.session)
        self.next = now + self.interval


class _Bridge:
    """`bridge`'s state and the callbacks it plugs into the loop."""

    def __init__(self, loop: Loop, session: NcmLink, pump: object, port: PacketPort,
                 stop: threading.Event, on_event: Callable[[NcmEvent], None] | None,
                 until: Callable[[NcmLink], bool] | None,
                 tap: Callable[[bool, bytes, float], None] | None) -> None:
        self.loop, self.session, self.pump, self.port = loop, session, pump, port
        self.stop, self.on_event, self.until, self.tap = stop, on_event, until, tap
        self.start = loop.clock()
        self.tun_fd = port.fileno()
        self.reading = True       # the port is read only while the USB side keeps up (backpressure)
        self.result: BridgeResult | None = None
        self.next_until = self.start + UNTIL_CHECK
        self.pump_stats: Callable[[], dict[str, int]] = getattr(pump, "stats", dict)

    # -- callbacks ----------------------------------------------------------------------------------
    def read_port(self, now: float) -> None:
        batch = self.port.read_batch(256)       # one batch per turn: the USB side gets its turn
        if batch:
            self.session.send_ip_many(batch, now)

    def pump_woke(self, now: float) -> None:
        self.pump.drain_wake()  # type: ignore[attr-defined]

    def usb_ready(self, now: float) -> None:
        self.pump.handle_events()  # type: ignore[attr-defined]

    def watcher_readable(self, w: Watcher, now: float) -> None:
        try:
            why = w.poll()
        except OSError as exc:      # the port went away: the USB side will say why
            log.debug("stopped watching the AT port: %s", exc)
            self.loop.forget(w.fileno())
            return
        if why:
            self.session.connection_lost(NcmDownCause.CARRIER_LOST, why)

    def until_timer(self) -> float:
        return self.next_until

    def until_due(self, now: float) -> None:
        self.next_until = now + UNTIL_CHECK     # `step` looks at `until` before the next wait

    # -- every turn -----------------------------------------------------------------------------------
    def step(self, now: float) -> None:
        """Before each wait: take what the USB threads brought, give the session's output to the
        port and the pump, and decide whether the link is over and whether to read the port."""
        session, pump, tap = self.session, self.pump, self.tap
        for note in pump.take_notifications():  # type: ignore[attr-defined]
            session.receive_notification(note, now)
        for block in pump.take_blocks():  # type: ignore[attr-defined]
            if tap is not None:
                tap(False, bytes(block), now)
            session.receive_ntb(block, now)
        packets = session.take_packets()
        if packets:
            self.port.write_many(packets)
        blocks = session.blocks_to_send()
        if blocks:
            if tap is not None:
                for blk in blocks:
                    tap(True, bytes(blk), now)
            pump.send(blocks)  # type: ignore[attr-defined]
        err = pump.error  # type: ignore[attr-defined]
        if err is not None:
            session.connection_lost(err[0], err[1])
        if self.stop.is_set() and session.down is None:
            pump.send(session.close())  # type: ignore[attr-defined]
        while (ev := session.next_event()) is not None:
            _log_event(ev)
            if self.on_event is not None:
                self.on_event(ev)
        if session.down is not None:
            self._end(session.down)
        elif self.until is not None and self.until(session):
            self._end(NcmLinkDown(NcmDownCause.LOCAL_CLOSE, NcmDownCause.LOCAL_CLOSE.value))
        else:
            self._backpressure()

    def _backpressure(self) -> None:
        # Behind on USB: leave the packets in the TUN's queue (the kernel holds or drops and
        # counts them); the pump's wake fd says when there is room again.
        if self.pump.writable() != self.reading:  # type: ignore[attr-defined]
            self.reading = not self.reading
            if self.reading:
                self.loop.add_reader(self.tun_fd, self.read_port)
            else:
                self.loop.remove_reader(self.tun_fd)

    def _end(self, down: NcmLinkDown) -> None:
        stats = {**self.session.stats(), **self.pump_stats()}
        self.result = BridgeResult(down, stats, self.session.carrier, self.loop.clock() - self.start)
        self.loop.stop()
