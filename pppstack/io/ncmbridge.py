"""The NCM data path's loop: packets between a packet port (the TUN) and the USB pump.

`bridge()` selects on the TUN fd and the USB threads' wake pipe, feeds the sans-I/O
`NcmSession`, writes what it returns and re-arms its deadline.  It takes any packet port with
fileno/read_batch/write_many, so tests run it over a socketpair instead of a TUN.
"""

from __future__ import annotations

import logging
import selectors
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ncm.l2 import NeighbourResolved, NeighbourUnreachable
from ncm.link import CarrierChanged, DownCause, LinkDown, NcmEvent, NcmSession, SpeedChanged

__all__ = ["bridge", "PacketPort", "BridgeResult", "Watcher"]

log = logging.getLogger("pppstack.ncm")


class PacketPort(Protocol):
    def fileno(self) -> int: ...
    def read_batch(self, limit: int = 256) -> list[bytes]: ...
    def write_many(self, packets: Iterable[bytes]) -> int: ...


@dataclass
class BridgeResult:
    down: LinkDown
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
    elif isinstance(ev, LinkDown):
        log.info("NCM link down: %s", ev.message)


class Watcher(Protocol):
    def fileno(self) -> int: ...
    def poll(self) -> str | None: ...


def bridge(session: NcmSession, pump: object, port: PacketPort, *, stop: threading.Event,
           clock: Callable[[], float] = time.monotonic, on_event: Callable[[NcmEvent], None] | None = None,
           until: Callable[[NcmSession], bool] | None = None, watchers: Iterable[Watcher] = (),
           tick: Callable[[NcmSession], None] | None = None, tick_interval: float = 2.0,
           tap: Callable[[bool, bytes, float], None] | None = None) -> BridgeResult:
    """Move packets between `port` and the USB pump until the link goes down, `stop` is set or
    `until(session)` says so.  `pump` is an ncm.usb.UsbPump (duck-typed to keep this importable
    without pyusb).  Each watcher's ``poll()`` runs when its fd is readable; a sentence back
    means the modem ended the data call (e.g. ^NDISSTAT on the AT port): the link goes down.
    ``tick(session)`` runs every `tick_interval` seconds (the status file); ``tap(sent, ntb, now)``
    sees every NTB both ways (`up --pcap`)."""
    sel = selectors.DefaultSelector()
    tun_fd = port.fileno()
    sel.register(tun_fd, selectors.EVENT_READ)
    sel.register(pump.wake_fd, selectors.EVENT_READ)  # type: ignore[attr-defined]
    for w in watchers:
        sel.register(w.fileno(), selectors.EVENT_READ, w)
    start = clock()
    next_tick = start
    tun_ready = False
    reading = True           # the port is read only while the USB side keeps up (backpressure)
    pump_stats: Callable[[], dict[str, int]] = getattr(pump, "stats", dict)

    def stats() -> dict[str, int]:
        return {**session.stats(), **pump_stats()}

    try:
        while True:
            now = clock()
            if tick is not None and now >= next_tick:
                tick(session)
                next_tick = now + tick_interval
            for note in pump.take_notifications():  # type: ignore[attr-defined]
                session.receive_notification(note, now)
            for block in pump.take_blocks():  # type: ignore[attr-defined]
                if tap is not None:
                    tap(False, bytes(block), now)
                session.receive_ntb(block, now)
            packets = session.take_packets()
            if packets:
                port.write_many(packets)
            if tun_ready:
                batch = port.read_batch(256)
                if batch:
                    session.send_ip_many(batch, now)
            session.handle_timer(now)
            blocks = session.blocks_to_send()
            if blocks:
                if tap is not None:
                    for b in blocks:
                        tap(True, bytes(b), now)
                pump.send(blocks)  # type: ignore[attr-defined]
            err = pump.error  # type: ignore[attr-defined]
            if err is not None:
                session.connection_lost(err[0], err[1])
            if stop.is_set() and session.down is None:
                pump.send(session.close())  # type: ignore[attr-defined]
            while (ev := session.next_event()) is not None:
                _log_event(ev)
                if on_event is not None:
                    on_event(ev)
            if session.down is not None:
                return BridgeResult(session.down, stats(), session.carrier, clock() - start)
            if until is not None and until(session):
                down = LinkDown(DownCause.LOCAL_CLOSE, DownCause.LOCAL_CLOSE.value)
                return BridgeResult(down, stats(), session.carrier, clock() - start)
            # Behind on USB: leave the packets in the TUN's queue (the kernel holds or drops
            # and counts them); the pump's wake fd says when there is room again.
            if pump.writable() != reading:  # type: ignore[attr-defined]
                reading = not reading
                if reading:
                    sel.register(tun_fd, selectors.EVENT_READ)
                else:
                    sel.unregister(tun_fd)
            timer = session.get_timer()
            wait = 0.25 if timer is None else min(0.25, max(0.0, timer - clock()))
            if tick is not None:
                wait = min(wait, max(0.0, next_tick - clock()))
            tun_ready = False
            for key, _ in sel.select(wait):
                if key.fd == tun_fd:
                    tun_ready = True
                elif key.data is not None:
                    try:
                        why = key.data.poll()
                    except OSError as exc:      # the port went away: the USB side will say why
                        log.debug("stopped watching the AT port: %s", exc)
                        sel.unregister(key.fd)
                        continue
                    if why:
                        session.connection_lost(DownCause.CARRIER_LOST, why)
                else:
                    pump.drain_wake()  # type: ignore[attr-defined]
    finally:
        sel.close()
