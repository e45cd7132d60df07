"""One PPP session end to end, shared by `pppstack up` and `pppstack serve`.

build_link() makes the engine from pppd-style settings; Signals routes SIGINT/SIGTERM (close
cleanly: LCP Terminate, then the interface is unconfigured) and SIGHUP (redial) to whichever
driver runs now; run_session() wires port, engine, TUN and InterfaceSetup together and returns
why the session ended.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from pppstack.io.loop import Loop, SelfPipe
from pppstack.io.netconf import InterfaceSetup
from pppstack.io.pppdriver import LinkEnd, PppDriver
from pppstack.io.serialport import SerialPort

__all__ = ["build_link", "Signals", "run_session", "link_config_fields"]

log = logging.getLogger("pppstack")


def link_config_fields() -> set[str]:
    from pppstack.config import LinkConfig

    return {f.name for f in dataclasses.fields(LinkConfig)}


def build_link(settings: dict[str, Any], rng: Callable[[int], bytes] = os.urandom) -> Any:
    """A PPPoS engine from LinkConfig field values (unknown names are dropped with a debug note)."""
    from pppstack.config import LinkConfig
    from pppstack.pppos import PPPoS

    known = link_config_fields()
    dropped = sorted(k for k in settings if k not in known)
    if dropped:
        log.debug("the engine has no setting for: %s", ", ".join(dropped))
    return PPPoS(LinkConfig(**{k: v for k, v in settings.items() if k in known}), rng=rng)


class Signals:
    """Install handlers for the life of a command; route them to the running driver.

    Every blocking wait outside the PPP driver (finding the port, the AT dialogue, the connect
    program, holdoff) selects on `wake_fd` as well as on what it waits for: the handler writes a
    byte to this self-pipe, so a signal ends the wait at once.  (Python runs the handler in the
    main thread when select() returns EINTR and would then resume select() with the rest of its
    timeout; the byte in the pipe is what makes the resumed select() return.)  Readers drain the
    pipe and look at `stop_requested`.
    """

    def __init__(self, hup_redials: bool = True) -> None:
        # pppd: SIGHUP hangs up; only with `persist` is the link dialled again, else it ends as on SIGTERM
        self.hup_redials = hup_redials
        self.driver: PppDriver | None = None
        self.stop_requested = False
        self.redial_requested = False
        self.signal_name: str | None = None
        self._saved: dict[int, Any] = {}
        self._pipe: SelfPipe | None = None

    @property
    def wake_fd(self) -> int:
        """The self-pipe's read end (-1 outside ``with``): readable once a signal arrived."""
        return self._pipe.read_fd if self._pipe is not None else -1

    def __enter__(self) -> Signals:
        self._pipe = SelfPipe()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._saved.items():
            signal.signal(sig, old)
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    def drain(self) -> None:
        """Empty the self-pipe (the flags say what happened)."""
        if self._pipe is not None:
            self._pipe.drain()

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP and self.hup_redials:
            self.redial_requested = True
            log.info("SIGHUP: hanging up to redial")
            if self.driver is not None:
                self.driver.request_redial()
            return
        if self.stop_requested and self.driver is not None:
            log.info("%s again: stopping now", name)
        self.stop_requested = True
        self.signal_name = name
        if self._pipe is not None:
            self._pipe.wake()
        if self.driver is not None:
            self.driver.request_stop(f"{name} received")

    def sleep(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """Sleep unless a stop signal arrives; True if we slept the whole time."""
        if self.stop_requested:
            return False
        with Loop(clock) as loop:
            if self.wake_fd >= 0:
                loop.add_reader(self.wake_fd, lambda now: self.drain())
            loop.call_later(seconds, lambda now: loop.stop())
            loop.run(until=lambda: self.stop_requested)
        return not self.stop_requested


def run_session(port: SerialPort, link: Any, setup: InterfaceSetup, signals: Signals | None = None, *,
                initial: bytes = b"", carrier_watch: bool = False,
                before_run: Callable[[PppDriver], None] | None = None,
                packet_sink: Callable[[list[bytes]], None] | None = None,
                status_interval: float = 2.0,
                tap: Callable[[bool, bytes, float], None] | None = None) -> tuple[LinkEnd, PppDriver]:
    """Drive ``link`` over ``port`` until it ends; the interface is unconfigured on return."""
    driver = PppDriver(link, port, setup.tun, on_event=setup.on_event, carrier_watch=carrier_watch,
                       packet_sink=packet_sink, tap=tap)
    setup.driver = driver
    setup.phase = "negotiating"
    if signals is not None:
        signals.driver = driver
        if signals.stop_requested:
            driver.request_stop(f"{signals.signal_name or 'signal'} received")

    def stopping() -> bool:  # a signal asked us to close: we only wait for the peer's Terminate-Ack
        return signals is not None and (signals.stop_requested or signals.redial_requested)

    def refresh(now: float) -> None:
        if stopping() and setup.phase in ("negotiating", "lcp-up"):
            setup.phase = "closing"
        setup.write_status()
        driver.call_later(status_interval, refresh)

    driver.call_later(0.0, refresh)

    def progress(now: float) -> None:  # a word while negotiation takes long (e.g. a silent peer)
        if setup.phase in ("negotiating", "lcp-up", "closing"):
            state = getattr(link, "debug_state", dict)()
            shown = ", ".join(f"{k.upper()} {v}" for k, v in state.items() if k != "phase")
            if stopping():
                log.info("closing: waiting for the peer to acknowledge our Terminate-Request (%s)",
                         shown or setup.phase)
            else:
                log.info("still negotiating (%s)", shown or setup.phase)
            driver.call_later(3.0, progress)

    driver.call_later(3.0, progress)
    if initial:  # bytes that followed CONNECT in the same read belong to PPP
        driver.call_later(0.0, lambda now: (link.receive_data(initial, now), None)[1])
    if before_run is not None:
        before_run(driver)
    try:
        end = driver.run()
    finally:
        if signals is not None:
            signals.driver = None
    setup.session_ended(end, time.monotonic())
    driver.close()
    return end, driver
