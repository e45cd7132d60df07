"""Drive any sans-I/O modem machine (Chat, PppDialer, NcmDialer, AtProbe...) over a port.

The loop is the ~20 lines design.md asks for: write what the machine wants to send, wait with
selectors for input or the machine's deadline, feed bytes and time in, repeat until done.  A
hang-up or a vanished port ends the machine through ``connection_lost`` with a sentence.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable
from typing import Any, Protocol

from pppstack.io.serialport import PortVanished, SerialPort, SerialPortError

__all__ = ["run", "Machine", "StopSignal", "Interrupted"]


class StopSignal(Protocol):
    """What `run` needs to obey SIGINT/SIGTERM (pppstack.io.session.Signals): a self-pipe the
    handler writes to, and the flag it sets."""

    wake_fd: int
    stop_requested: bool
    signal_name: str | None

    def drain(self) -> None: ...
    def sleep(self, seconds: float) -> bool: ...


class Interrupted(Exception):
    """A stop signal ended the dialogue; the port is left as it is (the caller closes it)."""


class Machine(Protocol):
    done: bool
    result: Any
    breaks_requested: int

    def start(self, now: float) -> None: ...
    def receive_data(self, data: bytes, now: float) -> None: ...
    def data_to_send(self) -> bytes: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...
    def connection_lost(self, now: float, reason: str) -> None: ...


def run(port: SerialPort | int, machine: Machine, timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic, on_progress: Callable[[], None] | None = None,
        stop: StopSignal | None = None) -> Any:
    """Run ``machine`` to completion on ``port`` (a SerialPort or a bare fd); returns its result.

    ``timeout`` bounds the whole dialogue (the machine's own deadlines apply inside it);
    ``on_progress`` is called after every step, e.g. to print chat's log lines as they happen.
    With ``stop``, a stop signal raises `Interrupted` as soon as it arrives.
    """
    if isinstance(port, int):
        port = SerialPort(port, owns_fd=False)
        os.set_blocking(port.read_fd, False)
    sel: selectors.BaseSelector = selectors.DefaultSelector()
    try:
        sel.register(port.read_fd, selectors.EVENT_READ)
    except PermissionError:
        # epoll refuses regular files and /dev/null (chat run with such a stdin); select() does not
        sel.close()
        sel = selectors.SelectSelector()
        sel.register(port.read_fd, selectors.EVENT_READ)
    if stop is not None and stop.wake_fd >= 0:
        sel.register(stop.wake_fd, selectors.EVENT_READ, "wake")
    pending = b""
    breaks_sent = getattr(machine, "breaks_requested", 0)
    start = clock()
    machine.start(start)
    try:
        while True:
            if stop is not None and stop.stop_requested:
                raise Interrupted(f"{stop.signal_name or 'a signal'} received")
            now = clock()
            try:
                pending += machine.data_to_send()
                while getattr(machine, "breaks_requested", 0) > breaks_sent:
                    breaks_sent += 1
                    port.send_break()
                if pending:
                    n = port.write(pending)
                    pending = pending[n:]
            except SerialPortError as exc:
                pending = b""
                machine.connection_lost(now, str(exc))
            if on_progress is not None:
                on_progress()
            if machine.done and not pending:    # the last send (chat's final ' ') must reach the modem
                return machine.result
            timer = machine.get_timer()
            waits = [t - now for t in (timer, None if timeout is None else start + timeout) if t is not None]
            wait = max(0.0, min(waits)) if waits else None
            if pending:
                wait = 0.005 if wait is None else min(wait, 0.005)   # the port is full: retry soon
            ready = sel.select(wait)
            now = clock()
            if stop is not None and any(key.data == "wake" for key, _ in ready):
                stop.drain()
                if stop.stop_requested:
                    raise Interrupted(f"{stop.signal_name or 'a signal'} received")
                ready = [r for r in ready if r[0].data != "wake"]
            if ready:
                try:
                    data = port.read()
                except (PortVanished, SerialPortError) as exc:
                    machine.connection_lost(now, str(exc))
                    continue
                if data:
                    machine.receive_data(data, now)
            timer = machine.get_timer()
            if timer is not None and now >= timer:
                machine.handle_timer(now)
            if timeout is not None and now >= start + timeout:
                if not machine.done:
                    machine.connection_lost(now, f"gave up after {timeout:g} s")
                elif pending:
                    return machine.result          # the port will not take the rest: stop trying
    finally:
        sel.close()
