"""The plain-NCM carrier wait runs on the loop: the pump's wake brings NETWORK_CONNECTION at once,
a stop (what a signal handler sets) ends it at once, and the timeout is a deadline, not a poll."""

from __future__ import annotations

import os
import threading
import time

from ncm.notify import NETWORK_CONNECTION, build_notification
from pppstack.io.ncmlink import _wait_carrier


class _Link:   # what the wait reads of NcmLink: receive_notification and carrier
    def __init__(self) -> None:
        self.carrier = False
        self.notes: list[bytes] = []

    def receive_notification(self, data: bytes, now: float) -> None:
        self.notes.append(bytes(data))
        self.carrier = data[1] == NETWORK_CONNECTION and data[2] == 1


class _Pump:   # UsbPump's wake pipe and notification queue, fed from another thread
    def __init__(self) -> None:
        self._r, self._w = os.pipe2(os.O_NONBLOCK)
        self.wake_fd = self._r
        self.error = None
        self.notes: list[bytes] = []
        self.drains = 0
        self.takes = 0

    def deliver(self, note: bytes) -> None:
        self.notes.append(note)
        os.write(self._w, b"!")

    def drain_wake(self) -> None:
        self.drains += 1
        try:
            while os.read(self._r, 4096):
                pass
        except BlockingIOError:
            pass

    def take_notifications(self) -> list[bytes]:
        self.takes += 1
        out, self.notes = self.notes, []
        return out


def test_the_notification_ends_the_wait_when_it_arrives() -> None:
    link, pump = _Link(), _Pump()
    t = threading.Timer(0.3, pump.deliver, [build_notification(NETWORK_CONNECTION, 1)])
    t0 = time.monotonic()
    t.start()
    assert _wait_carrier(link, pump, 20.0, threading.Event())
    took = time.monotonic() - t0
    assert 0.25 < took < 5, took
    assert pump.takes <= 3       # woken by the pipe, not by a timer (the old wait looked every 50 ms)


def test_a_stop_ends_the_wait_and_the_timeout_is_kept() -> None:
    link, pump = _Link(), _Pump()
    stop = threading.Event()

    def signal_like() -> None:   # a handler sets the event; the pump's pipe (or the signal fd) wakes
        stop.set()
        os.write(pump._w, b"!")

    threading.Timer(0.2, signal_like).start()
    t0 = time.monotonic()
    assert not _wait_carrier(link, pump, 20.0, stop)
    assert time.monotonic() - t0 < 5
    t0 = time.monotonic()
    assert not _wait_carrier(_Link(), _Pump(), 0.3, threading.Event())
    assert 0.25 < time.monotonic() - t0 < 5
