"""libusb's asynchronous API as `ncm.usb.LibusbAsync` offers it, over a FakeNcmModem.

Submitted transfers complete inside ``handle_events()``, per endpoint in the order they were
submitted (as libusb reaps usbfs URBs): OUT transfers hand their bytes to the modem's
``bulk_out`` (a write the modem times out is tried again, as a transfer without a timeout is; one
it cuts off completes with the count taken), IN transfers take the modem's next block.  Cancelled
transfers complete with LIBUSB_TRANSFER_CANCELLED, and after an unplug everything completes with
LIBUSB_TRANSFER_NO_DEVICE and submissions fail with LIBUSB_ERROR_NO_DEVICE.  ``hold_out`` keeps
OUT transfers in flight (a device that stopped taking data).  The counters say how many transfers
were in flight at most, per direction: the point of the asynchronous API.  An interrupt
transfer (the notification endpoint) completes with the modem's next notification.

``pollfds()`` answers only when the test sets ``fds``: then the pump hands its events to the
test's own thread, which calls ``handle_events()`` as a loop would on those fds.  Each
completion records the thread it ran on (``done_threads``, ``done_on``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter, deque

import usb.core

from ncm.usb import (
    TRANSFER_CANCELLED,
    TRANSFER_COMPLETED,
    TRANSFER_NO_DEVICE,
    TRANSFER_STALL,
    Completion,
)
from tests.fake_ncm_device import FakeNcmModem

LIBUSB_ERROR_NO_DEVICE = -4


class FakeAsyncIo:
    def __init__(self, modem: FakeNcmModem) -> None:
        self.modem = modem
        self.on_done: Completion = lambda tid, status, payload: None
        self.kind: dict[int, str] = {}
        self.size: dict[int, int] = {}
        self.posted_in: deque[int] = deque()
        self.posted_out: deque[tuple[int, bytes]] = deque()
        self.cancelled: set[int] = set()
        self.lock = threading.Lock()
        self.max_in_flight = {"in": 0, "out": 0}
        self.hold_out = False
        self.stall_next_in = 0
        self.freed = False
        self.in_flight_when_freed = -1
        self.posted_note: deque[int] = deque()
        self.fds: list[tuple[int, int]] | None = None
        self.done_threads: set[str] = set()
        self.done_on: Counter[tuple[str, str]] = Counter()     # (thread, kind) of each completion

    def pollfds(self) -> list[tuple[int, int]] | None:
        return self.fds

    def new_transfer(self, endpoint: int, size: int, *, interrupt: bool = False) -> int:
        tid = len(self.kind)
        self.kind[tid] = "note" if interrupt else "in" if endpoint & 0x80 else "out"
        self.size[tid] = size
        return tid

    def _count(self) -> None:
        self.max_in_flight["in"] = max(self.max_in_flight["in"], len(self.posted_in))
        self.max_in_flight["out"] = max(self.max_in_flight["out"], len(self.posted_out))

    def submit_in(self, tid: int) -> int:
        if self.modem.unplugged.is_set():
            return LIBUSB_ERROR_NO_DEVICE
        with self.lock:
            (self.posted_note if self.kind[tid] == "note" else self.posted_in).append(tid)
            self._count()
        return 0

    def submit_out(self, tid: int, data: bytes) -> int:
        if self.modem.unplugged.is_set():
            return LIBUSB_ERROR_NO_DEVICE
        with self.lock:
            self.posted_out.append((tid, data))
            self._count()
        return 0

    def cancel(self, tid: int) -> None:
        with self.lock:
            self.cancelled.add(tid)

    def free_all(self) -> None:
        self.in_flight_when_freed = len(self.posted_in) + len(self.posted_out) + len(self.posted_note)
        self.freed = True

    def handle_events(self, seconds: float) -> int:
        done: list[tuple[int, int, bytes | int]] = []
        gone = self.modem.unplugged.is_set()
        with self.lock:
            for q, empty in ((self.posted_in, b""), (self.posted_out, 0), (self.posted_note, b"")):
                keep = deque()
                for item in q:
                    tid = item if isinstance(item, int) else item[0]
                    if tid in self.cancelled or gone:
                        done.append((tid, TRANSFER_NO_DEVICE if gone else TRANSFER_CANCELLED, empty))
                    else:
                        keep.append(item)
                q.clear()
                q.extend(keep)
            self.cancelled.clear()
            if self.posted_note and not gone:
                try:
                    note = self.modem.notify_in.get_nowait()
                except queue.Empty:
                    note = None
                if note:
                    done.append((self.posted_note.popleft(), TRANSFER_COMPLETED, note))
            if self.posted_out and not self.hold_out:
                tid, data = self.posted_out[0]
                try:
                    n = self.modem.bulk_out(data)
                except usb.core.USBTimeoutError:
                    n = -1                           # no timeout on our transfers: try again
                if n >= 0:
                    self.posted_out.popleft()
                    done.append((tid, TRANSFER_COMPLETED, n))
        if not done and self.posted_in:
            try:
                block = self.modem.bulk_in.get(timeout=min(seconds, 0.01))
            except queue.Empty:
                block = b""
            if block is None:                        # unplugged
                return 0
            if block:
                with self.lock:
                    tid = self.posted_in.popleft()
                if self.stall_next_in:
                    self.stall_next_in -= 1
                    self.modem.bulk_in.put(block)     # the block is not lost: read again after clear_halt
                    done.append((tid, TRANSFER_STALL, b""))
                else:
                    done.append((tid, TRANSFER_COMPLETED, block[:self.size[tid]]))
        elif not done:
            time.sleep(min(seconds, 0.005))
        if done:
            self.done_threads.add(threading.current_thread().name)
        for d in done:
            self.done_on[threading.current_thread().name, self.kind[d[0]]] += 1
            self.on_done(*d)
        return 0
