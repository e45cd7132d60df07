"""The shared sans-I/O shape of the modem dialogues (chat scripts, dialers, probes).

Theory of operation: each dialogue is written as a generator that reads `self.now`, consumes
bytes from `self._inbuf`, appends to `self._outbuf`, and yields the deadline it is waiting for
(or None to wait for data only).  The shell below resumes it whenever bytes arrive or the
deadline passes, so the dialogue reads like the sequential program it is (chat.c's main loop, a
dial sequence) while staying free of clocks and file descriptors.  Every machine exposes
start(now), receive_data(data, now), data_to_send(), get_timer(), handle_timer(now),
connection_lost(now, reason), done and result; `pppstack.io.atport.run` drives any of them.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from pppstack.errors import InvalidStateError

__all__ = ["SansIoMachine"]

Program = Generator[float | None, None, Any]


class SansIoMachine:
    """Base class: subclasses implement `_program()` and set `self.result` before it returns."""

    def __init__(self) -> None:
        self.now = 0.0
        self.result: Any = None
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._gen: Program | None = None
        self._deadline: float | None = None
        self._started = False
        self._finished = False
        self.lost: str | None = None           # set by connection_lost(): why the port went away
        self.breaks_requested = 0              # \K / BREAK: the driver sends a line break

    # -- the interface the drivers use -------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._finished

    def start(self, now: float) -> None:
        if self._started:
            raise InvalidStateError("start() called twice")
        self._started = True
        self.now = now
        self._gen = self._program()
        self._advance()

    def receive_data(self, data: bytes, now: float) -> None:
        self.now = max(self.now, now)
        if not data:
            return
        self._inbuf += data
        if self._started and not self._finished:
            self._advance()

    def data_to_send(self) -> bytes:
        out = bytes(self._outbuf)
        self._outbuf.clear()
        return out

    def get_timer(self) -> float | None:
        return None if self._finished else self._deadline

    def handle_timer(self, now: float) -> None:
        self.now = max(self.now, now)
        if self._started and not self._finished and self._deadline is not None and self.now >= self._deadline:
            self._advance()

    def connection_lost(self, now: float, reason: str) -> None:
        """The port hung up or vanished: the dialogue ends with the machine's I/O-error result."""
        self.now = max(self.now, now)
        if self._finished:
            return
        self.lost = reason
        if self._gen is not None:
            self._gen.close()
        self._finished = True
        self._deadline = None
        self.result = self._lost_result(reason)

    def take_unconsumed(self) -> bytes:
        """Bytes received but not read by the dialogue (e.g. PPP frames right after CONNECT)."""
        out = bytes(self._inbuf)
        self._inbuf.clear()
        return out

    # -- for subclasses -------------------------------------------------------------------------
    def _program(self) -> Program:  # pragma: no cover - abstract
        raise NotImplementedError
        yield None

    def _lost_result(self, reason: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _advance(self) -> None:
        assert self._gen is not None
        while True:
            try:
                self._deadline = self._gen.send(None)
            except StopIteration:
                self._finished = True
                self._deadline = None
                return
            # A deadline already in the past with nothing new to read: resume at once, so a
            # program that sleeps 0 s or times out immediately does not wait for another event.
            if self._deadline is not None and self.now >= self._deadline:
                continue
            return

    def _sleep_until(self, deadline: float) -> Program:
        while self.now < deadline:
            yield deadline
