"""Drive any sans-I/O modem machine (Chat, PppDialer, NcmDialer, AtProbe...) over a port.

An adapter on the one loop (pppstack.io.loop): write what the machine wants to send, wait for
input, room in the port or the machine's deadline, feed bytes and time in, repeat until done.  A
hang-up or a vanished port ends the machine through ``connection_lost`` with a sentence.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from pppstack.io.loop import Loop
from pppstack.io.serialport import PortVanished, SerialPort, SerialPortError

__all__ = ["run", "AtMachine", "StopSignal", "StopRequested"]


class StopSignal(Protocol):
    """What `run` needs to obey SIGINT/SIGTERM (pppstack.io.session.Signals): a self-pipe the
    handler writes to, and the flag it sets."""

    wake_fd: int
    stop_requested: bool
    signal_name: str | None

    def drain(self) -> None: ...
    def sleep(self, seconds: float) -> bool: ...


class StopRequested(Exception):
    """A stop signal ended the dialogue; the port is left as it is (the caller closes it)."""


class AtMachine(Protocol):
    done: bool
    result: Any
    breaks_requested: int

    def start(self, now: float) -> None: ...
    def receive_data(self, data: bytes, now: float) -> None: ...
    def data_to_send(self) -> bytes: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...
    def connection_lost(self, now: float, reason: str) -> None: ...


def run(port: SerialPort | int, machine: AtMachine, timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic, on_progress: Callable[[], None] | None = None,
        stop: StopSignal | None = None) -> Any:
    """Run ``machine`` to completion on ``port`` (a SerialPort or a bare fd); returns its result.

    ``timeout`` bounds the whole dialogue (the machine's own deadlines apply inside it);
    ``on_progress`` is called after every step, e.g. to print chat's log lines as they happen.
    With ``stop``, a stop signal raises `StopRequested` as soon as it arrives.
    """
    if isinstance(port, int):
        port = SerialPort(port, owns_fd=False)
        os.set_blocking(port.read_fd, False)
    with Loop(clock) as loop:
        dialogue = _Dialogue(loop, port, machine, on_progress, stop)
        loop.add_reader(port.read_fd, dialogue.readable)
        if stop is not None and stop.wake_fd >= 0:
            loop.add_reader(stop.wake_fd, lambda now: stop.drain())
        loop.add_machine(machine.get_timer, machine.handle_timer)
        loop.add_prepare(dialogue.step)
        machine.start(clock())
        if timeout is not None:
            loop.call_later(timeout, lambda now: dialogue.expire(now, timeout))
        loop.run()
        return machine.result


class _Dialogue:
    """`run`'s state: the bytes the port has not taken yet, and what each turn of the loop does."""

    def __init__(self, loop: Loop, port: SerialPort, machine: AtMachine,
                 on_progress: Callable[[], None] | None, stop: StopSignal | None) -> None:
        self.loop, self.port, self.machine = loop, port, machine
        self.on_progress, self.stop = on_progress, stop
        self.pending = b""
        self.breaks_sent = getattr(machine, "breaks_requested", 0)
        self.expired = False

    def step(self, now: float) -> None:
        """Before each wait: obey a stop signal, send what the machine wants, end when it is done."""
        stop, machine, port = self.stop, self.machine, self.port
        if stop is not None and stop.stop_requested:
            raise StopRequested(f"{stop.signal_name or 'a signal'} received")
        try:
            self.pending += machine.data_to_send()
            while getattr(machine, "breaks_requested", 0) > self.breaks_sent:
                self.breaks_sent += 1
                port.send_break()
            if self.pending:
                n = port.write(self.pending)
                self.pending = self.pending[n:]
        except SerialPortError as exc:
            self.pending = b""
            machine.connection_lost(now, str(exc))
        if self.on_progress is not None:
            self.on_progress()
        # the last send (chat's final ' ') must reach the modem, unless the time is up
        if machine.done and (not self.pending or self.expired):
            self.loop.stop()
        elif self.pending:   # the port is full: the kernel says when it has room
            self.loop.add_writer(port.write_fd, lambda now: None)
        else:
            self.loop.remove_writer(port.write_fd)

    def readable(self, now: float) -> None:
        try:
            data = self.port.read()
        except (PortVanished, SerialPortError) as exc:
            self.machine.connection_lost(now, str(exc))
            return
        if data:
            self.machine.receive_data(data, now)

    def expire(self, now: float, timeout: float) -> None:
        self.expired = True            # the port will not take the rest: stop trying
        if not self.machine.done:
            self.machine.connection_lost(now, f"gave up after {timeout:g} s")
