"""UsbPump: keeps bulk and interrupt transfers flowing for one select loop (see ncm/usb/__init__)."""

from __future__ import annotations

import array
import errno
import logging
import os
import queue
import threading
import time
from collections import deque

import usb.core
import usb.util

from ncm.link import NcmDownCause
from ncm.ntb import ntb_missing
from ncm.usb.device import NcmDevice, classify_usb_error
from ncm.usb.transfers import (
    DEFAULT_TRANSFERS,
    LIBUSB_ERROR_INTERRUPTED,
    TRANSFER_CANCELLED,
    TRANSFER_COMPLETED,
    TRANSFER_OVERFLOW,
    TRANSFER_STALL,
    LibusbAsync,
    TransferFailed,
    _libusb_error,
)

log = logging.getLogger("pppstack.ncm")
class UsbPump:
    """Keeps the bulk and interrupt transfers flowing for a select() loop.

    ``wake_fd`` becomes readable when blocks, notifications or an error arrived, or when the
    send queue has room again; the owner drains it with ``drain_wake()`` and takes what came
    with ``take_blocks()`` / ``take_notifications()``.  ``send()`` queues NTBs for the writer
    thread and never drops one: the owner keeps the queue short by reading its packet source
    only while ``writable()`` (backpressure - a slow device stalls the TUN, whose kernel queue
    then holds or drops and counts, as for any interface).  A write that times out is retried
    (the device is behind, not gone) and one cut off after part of a block goes on with the
    rest, which the device sees as the same transfer.  ``error`` holds (NcmDownCause, message)
    once a thread hit a fatal USB error; `stats()` has every count, drops included.

    ``transfers`` per direction are kept in flight through libusb's asynchronous API when the
    device came through pyusb's libusb1 backend (``io``: that API, or the tests' stand-in); one
    synchronous transfer at a time left the bus idle between a completion and Python's next call
    (a third of a bare loop's throughput through f_ncm).  1 (or PPPSTACK_NCM_TRANSFERS=1), or
    any other backend: the reader and writer threads.
    """

    def __init__(self, device: NcmDevice, *, poll_ms: int = 200, max_queued_tx: int = 64,
                 transfers: int | None = None, io: LibusbAsync | None = None) -> None:
        self.device = device
        self.poll_ms = poll_ms
        self.high_water = max_queued_tx
        if transfers is None:
            try:
                transfers = int(os.environ.get("PPPSTACK_NCM_TRANSFERS", DEFAULT_TRANSFERS))
            except ValueError:
                transfers = DEFAULT_TRANSFERS
        self.transfers = max(1, transfers)
        if io is None and self.transfers > 1:
            io = LibusbAsync.attach(device.dev)
        self._io = io if self.transfers > 1 else None
        # asynchronous mode: what is queued, in flight, and what the events thread must handle
        self._lock = threading.Lock()
        self._txq: deque[bytes] = deque()
        self._out_free: list[int] = []
        self._out_busy: dict[int, bytes] = {}
        self._in_busy: set[int] = set()
        self._later: deque[tuple[str, int, BaseException | None]] = deque()
        self._tx_idle = threading.Event()
        self._tx_idle.set()
        self._cancelled = False
        self._held = b""
        self._stall_run = 0
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        self._blocks: deque[bytes] = deque()
        self._notes: deque[bytes] = deque()
        self._tx: queue.Queue[bytes | None] = queue.Queue()
        self._want_room = False
        self._woken = False
        self._stopped = False
        self._stop = threading.Event()
        self._fail_lock = threading.Lock()
        self.error: tuple[NcmDownCause, str] | None = None
        self.tx_dropped = 0          # NTBs never (fully) sent: only when stopping or on a fatal error
        self.tx_partial = 0          # writes cut off by a timeout after part of a block (then resumed)
        self.tx_timeouts = 0         # writes the device did not take within the timeout (retried)
        self.rx_partial = 0          # reads that ended mid-NTB (joined with the rest)
        self.tx_paused = 0           # times the owner had to stop reading because we were behind
        self.rx_transfers = 0
        self.tx_transfers = 0
        self.stalls = 0
        self._threads: list[threading.Thread] = []

    @property
    def wake_fd(self) -> int:
        return self._rfd

    @property
    def asynchronous(self) -> bool:
        return self._io is not None

    def start(self) -> None:
        if self._io is not None:
            self._start_async(self._io)
            targets = [("ncm-usb-events", self._events)]
        else:
            targets = [("ncm-bulk-in", self._reader), ("ncm-bulk-out", self._writer)]
        if self.device.function.ep_notify is not None:
            targets.append(("ncm-notify", self._notifier))
        for name, fn in targets:
            t = threading.Thread(target=fn, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _wake(self) -> None:
        # One byte until the owner drains: a burst of NTBs costs one write and one wakeup, and
        # the owner takes every block after draining, so none waits for a later wake.
        if self._woken:
            return
        self._woken = True
        try:
            os.write(self._wfd, b"!")
        except (BlockingIOError, OSError):
            pass            # the pipe is full: the owner is awake already

    def drain_wake(self) -> None:
        try:
            while os.read(self._rfd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        # Only now: cleared before the read, a wake between the two would leave the flag set
        # and the pipe empty, and no later block would ever wake the owner again.
        self._woken = False

    def _fail(self, exc: BaseException, what: str) -> None:
        with self._fail_lock:            # the first failure names the cause; the others wait
            if self.error is None and not self._stop.is_set():
                cause = classify_usb_error(exc)
                if cause is NcmDownCause.USB_ERROR and isinstance(exc, usb.core.USBError) and self.device.vanished():
                    cause = NcmDownCause.USB_DISCONNECTED
                self.error = (cause, f"{what}: {exc}")
            self._stop.set()
        self._tx_idle.set()
        self._wake()

    # -- asynchronous mode -----------------------------------------------------------------------
    # Completions (`_done`) run wherever libusb's events are handled; they move data and counters
    # under `_lock` and never call libusb synchronously: errors and stalls wait in `_later` for the
    # events thread, which recovers (clear_halt, GET_STATUS) between rounds of event handling.

    def _start_async(self, io: LibusbAsync) -> None:
        f = self.device.function
        io.on_done = self._done
        size = self.device.rx_max or 16384
        self._in_ids = {io.new_transfer(f.ep_in, size) for _ in range(self.transfers)}
        self._out_free = [io.new_transfer(f.ep_out, 0) for _ in range(self.transfers)]
        self._out_ids = set(self._out_free)
        for tid in sorted(self._in_ids):
            self._submit_in(tid)

    def _submit_in(self, tid: int) -> None:
        assert self._io is not None
        with self._lock:
            if self._stop.is_set():
                return
            self._in_busy.add(tid)
            rc = self._io.submit_in(tid)
            if rc < 0:
                self._in_busy.discard(tid)
        if rc < 0:
            self._later.append(("fail", tid, _libusb_error(rc, "bulk IN")))

    def _kick(self) -> None:
        """Put queued NTBs in flight, in order, while a transfer is free (`_lock` held)."""
        assert self._io is not None
        while self._txq and self._out_free and not self._stop.is_set():
            tid = self._out_free.pop()
            block = self._txq.popleft()
            self._out_busy[tid] = block
            rc = self._io.submit_out(tid, block)
            if rc < 0:
                del self._out_busy[tid]
                self._out_free.append(tid)
                self.tx_dropped += 1
                self._later.append(("fail", tid, _libusb_error(rc, "bulk OUT")))
                return

    def _done(self, tid: int, status: int, payload: bytes | int) -> None:
        if tid in self._out_ids:
            self._out_done(tid, status, int(payload))
            return
        with self._lock:
            self._in_busy.discard(tid)
        if status == TRANSFER_COMPLETED:
            self._stall_run = 0
            assert isinstance(payload, bytes)
            if payload:
                self._take_block(payload)
            self._submit_in(tid)
        elif status in (TRANSFER_STALL, TRANSFER_OVERFLOW):
            self._later.append(("stall", tid, TransferFailed(status, "bulk IN")))
        elif status != TRANSFER_CANCELLED:
            self._later.append(("fail", tid, TransferFailed(status, "bulk IN")))

    def _take_block(self, chunk: bytes) -> None:
        """One read's bytes: an NTB, or the start of one whose read ended on a packet boundary
        before the length its NTH announces (joined with the next read, as the reader does)."""
        data = self._held + chunk if self._held else chunk
        size = self.device.rx_max or 16384
        need = ntb_missing(data)
        if len(chunk) % self.device.function.in_max_packet == 0 and need and len(data) + need <= size:
            self.rx_partial += 1
            self._held = data
            return
        self._held = b""
        self.rx_transfers += 1
        self._blocks.append(data)
        self._wake()

    def _out_done(self, tid: int, status: int, written: int) -> None:
        wake = False
        with self._lock:
            block = self._out_busy.pop(tid, b"")
            self._out_free.append(tid)
            if status == TRANSFER_COMPLETED and written < len(block):
                # Without a timeout usbfs ends a bulk OUT short only on a fault, and the NTBs
                # behind it are already on their way, so the rest cannot follow: the device
                # drops the cut block.  Counted, never seen on f_ncm.
                self.tx_partial += 1
                self.tx_dropped += 1
            elif status == TRANSFER_COMPLETED:
                self.tx_transfers += 1
            else:
                self.tx_dropped += 1
                if status != TRANSFER_CANCELLED:
                    self._later.append(("fail", tid, TransferFailed(status, "bulk OUT")))
            self._kick()
            if self._want_room and len(self._txq) + len(self._out_busy) <= self.high_water // 2:
                self._want_room = False
                wake = True
            if not self._txq and not self._out_busy:
                self._tx_idle.set()
        if wake:
            self._wake()

    def _events(self) -> None:
        """Handle libusb's events until the pump stops and every transfer has come back."""
        io = self._io
        assert io is not None
        while True:
            if self._stop.is_set() and not self._cancelled:
                self._cancel_all()
            if self._cancelled:
                with self._lock:
                    if not self._in_busy and not self._out_busy:
                        return
            rc = io.handle_events(0.1)
            if rc < 0 and rc != LIBUSB_ERROR_INTERRUPTED:
                self._fail(_libusb_error(rc, "libusb event handling"), "USB")
                self._stop.wait(0.05)
            while self._later:
                kind, tid, exc = self._later.popleft()
                if kind == "stall" and self._stall_run < 5 and not self._stop.is_set():
                    self._stall_run += 1
                    self.stalls += 1
                    self._held = b""
                    try:
                        self.device.dev.clear_halt(self.device.function.ep_in)
                    except usb.core.USBError:
                        pass
                    self._submit_in(tid)
                elif exc is not None:
                    what = "bulk OUT" if tid in self._out_ids else "bulk IN"
                    self._fail(exc, what)

    def _cancel_all(self) -> None:
        assert self._io is not None
        with self._lock:
            self._cancelled = True
            self.tx_dropped += len(self._txq)       # never sent: the pump is stopping
            self._txq.clear()
            flying = list(self._in_busy) + list(self._out_busy)
        for tid in flying:
            self._io.cancel(tid)

    def _reader(self) -> None:
        size = self.device.rx_max or 16384
        mps = self.device.function.in_max_packet
        buf = array.array("B", bytes(size))
        consecutive = 0
        held = b""                    # the start of an NTB whose read timed out part way
        while not self._stop.is_set():
            try:
                n = self.device.read_ntb(buf, self.poll_ms)
            except usb.core.USBTimeoutError:
                continue
            except usb.core.USBError as exc:
                if classify_usb_error(exc) is NcmDownCause.USB_ERROR and exc.errno in (errno.EPIPE, errno.EOVERFLOW) \
                        and consecutive < 5:
                    consecutive += 1
                    self.stalls += 1
                    held = b""
                    try:
                        self.device.dev.clear_halt(self.device.function.ep_in)
                    except usb.core.USBError:
                        pass
                    continue
                self._fail(exc, "bulk IN")
                return
            except Exception as exc:  # noqa: BLE001 - a thread must report, not vanish
                self._fail(exc, "bulk IN")
                return
            consecutive = 0
            if not n:
                continue
            data = held + buf[:n].tobytes() if held else buf[:n].tobytes()
            # pyusb returns what came before a timeout; a read that stopped on a packet boundary
            # inside the block its NTH announces waits for the rest (a short packet ends a
            # transfer, so then nothing is missing).
            need = ntb_missing(data)
            if n % mps == 0 and need and len(data) + need <= size:
                self.rx_partial += 1
                held = data
                continue
            held = b""
            self.rx_transfers += 1
            self._blocks.append(data)
            self._wake()

    def _notifier(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.device.read_notification(max(self.poll_ms, 500))
            except usb.core.USBTimeoutError:
                continue
            except usb.core.USBError as exc:
                if classify_usb_error(exc) is NcmDownCause.USB_DISCONNECTED:
                    self._fail(exc, "interrupt IN")
                    return
                log.debug("notification read failed: %s", exc)
                self._stop.wait(0.1)
                continue
            except Exception as exc:  # noqa: BLE001
                self._fail(exc, "interrupt IN")
                return
            if data:
                self._notes.append(data)
                self._wake()

    def _write_block(self, block: bytes) -> bool:
        """Send one NTB whole; False when stopping or failing made us give up on it."""
        sent = 0
        while sent < len(block):
            if self._stop.is_set():
                return False
            try:
                n = self.device.write_ntb(block[sent:] if sent else block)
            except usb.core.USBTimeoutError:
                self.tx_timeouts += 1      # nothing went out: the device is behind, try again
                continue
            except usb.core.USBError as exc:
                self._fail(exc, "bulk OUT")
                return False
            if sent + n < len(block):
                self.tx_partial += 1       # timed out part way: the rest continues the transfer
            sent += n
        return True

    def _writer(self) -> None:
        while True:
            block = self._tx.get()
            if block is None or self.error is not None:
                break
            if not self._write_block(block):
                self.tx_dropped += 1
                break
            self.tx_transfers += 1
            if self._want_room and self._tx.qsize() <= self.high_water // 2:
                self._want_room = False
                self._wake()
        # what is still queued will never go out: count it
        while True:
            try:
                if self._tx.get_nowait() is not None:
                    self.tx_dropped += 1
            except queue.Empty:
                return

    def _queued(self) -> int:
        if self._io is not None:
            return len(self._txq) + len(self._out_busy)
        return self._tx.qsize()

    def writable(self) -> bool:
        """True while the send queue is below its high-water mark.  When False, the wake fd
        fires once the writer has brought the queue down to half."""
        self._want_room = True
        if self._queued() < self.high_water:
            self._want_room = False
            return True
        self.tx_paused += 1
        return False

    def send(self, blocks: list[bytes]) -> None:
        """Queue NTBs for the writer.  Never drops: the owner respects `writable()`."""
        if self._stop.is_set():
            self.tx_dropped += len(blocks)
            return
        if self._io is not None:
            with self._lock:
                self._txq.extend(b if isinstance(b, bytes) else bytes(b) for b in blocks)
                if self._txq:
                    self._tx_idle.clear()
                self._kick()
            return
        for b in blocks:
            self._tx.put(b)

    def stats(self) -> dict[str, int]:
        return {"usb_rx_transfers": self.rx_transfers, "usb_tx_transfers": self.tx_transfers,
                "usb_tx_dropped": self.tx_dropped, "usb_tx_partial": self.tx_partial,
                "usb_tx_timeouts": self.tx_timeouts, "usb_rx_partial": self.rx_partial,
                "usb_tx_paused": self.tx_paused, "usb_stalls": self.stalls,
                "usb_transfers_in_flight": self.transfers if self._io is not None else 1}

    def running(self) -> bool:
        """Whether any of the pump's threads is still alive (then the device must stay open)."""
        return any(t.is_alive() for t in self._threads)

    def take_blocks(self) -> list[bytes]:
        out = []
        pop = self._blocks.popleft
        while self._blocks:
            out.append(pop())
        return out

    def take_notifications(self) -> list[bytes]:
        out = []
        while self._notes:
            out.append(self._notes.popleft())
        return out

    def stop(self, timeout: float = 2.0, grace: float = 10.0) -> None:
        """Let the writer send what is queued (the last flush, up to `timeout`), then stop every
        thread, waiting up to `grace` more for them to leave libusb.  Once.

        The wait matters: a thread still inside a transfer when the device handle is closed (or
        libusb exits) makes libusb abort the process on a busy mutex - seen after an unplug on
        a loaded machine, where the threads' last GET_STATUS checks outlasted a 2 s join."""
        if self._stopped:
            return
        self._stopped = True
        if self._io is not None:
            if self._threads:
                self._tx_idle.wait(timeout)     # the last NTBs go out (or a failure ends the wait)
            self._stop.set()                    # the events thread cancels what is in flight
        else:
            try:
                self._tx.put(None, timeout=timeout)
            except queue.Full:
                pass
            for t in self._threads:
                if t.name == "ncm-bulk-out":
                    t.join(timeout)
            self._stop.set()
        deadline = time.monotonic() + grace
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._io is not None and not self.running():
            self._io.free_all()                 # nothing is in flight any more
        for fd in (self._rfd, self._wfd):
            try:
                os.close(fd)
            except OSError:
                pass
