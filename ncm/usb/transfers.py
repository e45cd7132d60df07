"""libusb's asynchronous bulk transfers on pyusb's own device handle (see ncm/usb/__init__)."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from collections.abc import Callable

import usb.core
import usb.util

from ncm.usb.device import LIBUSB_ERROR_NO_DEVICE

log = logging.getLogger("pppstack.ncm")
# -- libusb's asynchronous API on pyusb's own handle -------------------------------------------
#
# Why: one synchronous transfer at a time leaves the bus idle from a transfer's completion until
# Python gets the GIL back and asks again; through dummy_hcd (and a modem) that gap costs two
# thirds of the throughput.  Several transfers queued in the kernel keep the bus busy while
# Python is elsewhere.  pyusb has no public asynchronous API, but its libusb1 backend holds the
# libusb context and the device handle we already bound; python-libusb1 would open a second
# context and a second handle, whose interface claims collide with ours (usbfs claims belong to
# one open file), so it would mean porting the whole edge and its fake-backend tests.

class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Transfer(ctypes.Structure):
    pass


_TransferCallback = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Transfer))
_Transfer._fields_ = [          # struct libusb_transfer (libusb.h), without the iso descriptors
    ("dev_handle", ctypes.c_void_p), ("flags", ctypes.c_uint8), ("endpoint", ctypes.c_ubyte),
    ("type", ctypes.c_ubyte), ("timeout", ctypes.c_uint), ("status", ctypes.c_int), ("length", ctypes.c_int),
    ("actual_length", ctypes.c_int), ("callback", _TransferCallback), ("user_data", ctypes.c_void_p),
    ("buffer", ctypes.POINTER(ctypes.c_ubyte)), ("num_iso_packets", ctypes.c_int)]

TRANSFER_COMPLETED, TRANSFER_ERROR, TRANSFER_TIMED_OUT, TRANSFER_CANCELLED = 0, 1, 2, 3
TRANSFER_STALL, TRANSFER_NO_DEVICE, TRANSFER_OVERFLOW = 4, 5, 6
TRANSFER_TYPE_BULK = 2
_STATUS_ERRNO = {TRANSFER_ERROR: errno.EIO, TRANSFER_TIMED_OUT: errno.ETIMEDOUT, TRANSFER_STALL: errno.EPIPE,
                 TRANSFER_NO_DEVICE: errno.ENODEV, TRANSFER_OVERFLOW: errno.EOVERFLOW}


class TransferFailed(usb.core.USBError):
    """A bulk transfer ended with a libusb status other than completed (errno as pyusb's)."""

    def __init__(self, status: int, what: str) -> None:
        code = _STATUS_ERRNO.get(status, errno.EIO)
        super().__init__(f"{what}: {os.strerror(code)} (libusb transfer status {status})", None, code)
        if status == TRANSFER_NO_DEVICE:
            self.backend_error_code = LIBUSB_ERROR_NO_DEVICE


DEFAULT_TRANSFERS = 4     # per direction: enough to keep dummy_hcd's frames and a modem's bus busy
LIBUSB_ERROR_INTERRUPTED = -10

# (transfer id, libusb transfer status, the bytes read (IN) or the count written (OUT))
Completion = Callable[[int, int, "bytes | int"], None]


def _libusb_error(rc: int, what: str) -> usb.core.USBError:
    """A libusb return code as pyusb would raise it (errno, backend code)."""
    codes = {-1: errno.EIO, -4: errno.ENODEV, -5: errno.ENOENT, -6: errno.EBUSY, -7: errno.ETIMEDOUT,
             -9: errno.EPIPE, -11: errno.ENOMEM}
    exc = usb.core.USBError(f"{what}: libusb error {rc}", rc, codes.get(rc, errno.EIO))
    return exc


class LibusbAsync:
    """libusb's asynchronous transfers for one device pyusb opened through its libusb1 backend.

    Transfers are numbered; `on_done(tid, status, payload)` runs for each completion inside
    `handle_events()` (ours, or a synchronous pyusb call's on another thread): payload is a copy
    of what was read for IN, the count written for OUT.  `attach()` gives None for any other
    backend (the fake devices of the tests, libusb0).  The tests give UsbPump an object with the
    same five methods instead."""

    def __init__(self, lib: ctypes.CDLL, ctx: ctypes.c_void_p, handle: int) -> None:
        self.lib, self.ctx, self.handle = lib, ctx, handle
        p = ctypes.POINTER(_Transfer)
        for name, args, res in (("libusb_alloc_transfer", [ctypes.c_int], p), ("libusb_free_transfer", [p], None),
                                ("libusb_submit_transfer", [p], ctypes.c_int),
                                ("libusb_cancel_transfer", [p], ctypes.c_int),
                                ("libusb_handle_events_timeout_completed",
                                 [ctypes.c_void_p, ctypes.POINTER(_Timeval), ctypes.c_void_p], ctypes.c_int)):
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
        self.on_done: Completion = lambda tid, status, payload: None
        self._callback = _TransferCallback(self._done)     # kept: libusb holds a pointer to it
        self._transfers: list[ctypes._Pointer[_Transfer]] = []
        self._buffers: list[ctypes.Array[ctypes.c_ubyte] | bytes | None] = []
        self._ids: dict[int, int] = {}

    @classmethod
    def attach(cls, dev: usb.core.Device) -> LibusbAsync | None:
        ctx = getattr(dev, "_ctx", None)
        backend = getattr(ctx, "backend", None)
        pylib = getattr(backend, "lib", None)
        if ctx is None or not isinstance(pylib, ctypes.CDLL) or not hasattr(pylib, "libusb_submit_transfer"):
            return None
        try:
            handle = ctx.managed_open().handle.value
        except (AttributeError, usb.core.USBError):
            return None
        # our own prototypes on the same loaded library (same context), so pyusb's stay its own
        return cls(ctypes.CDLL(pylib._name, handle=pylib._handle), backend.ctx, handle)

    def new_transfer(self, endpoint: int, size: int) -> int:
        t = self.lib.libusb_alloc_transfer(0)
        if not t:
            raise MemoryError("libusb_alloc_transfer failed")
        tr = t.contents
        tr.dev_handle = self.handle
        tr.endpoint = endpoint
        tr.type = TRANSFER_TYPE_BULK
        tr.timeout = 0              # none: a transfer ends when the device ends it, or on cancel
        tr.callback = self._callback
        tid = len(self._transfers)
        self._transfers.append(t)
        self._buffers.append((ctypes.c_ubyte * size)() if endpoint & 0x80 else None)
        self._ids[ctypes.addressof(tr)] = tid
        return tid

    def submit_in(self, tid: int) -> int:
        t, buf = self._transfers[tid], self._buffers[tid]
        assert isinstance(buf, ctypes.Array)
        t.contents.buffer = ctypes.cast(buf, ctypes.POINTER(ctypes.c_ubyte))
        t.contents.length = len(buf)
        return int(self.lib.libusb_submit_transfer(t))

    def submit_out(self, tid: int, data: bytes) -> int:
        t = self._transfers[tid]
        self._buffers[tid] = data       # libusb reads the bytes object's own buffer: keep it alive
        t.contents.buffer = ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_ubyte))
        t.contents.length = len(data)
        return int(self.lib.libusb_submit_transfer(t))

    def cancel(self, tid: int) -> None:
        self.lib.libusb_cancel_transfer(self._transfers[tid])   # NOT_FOUND once it completed: fine

    def free_all(self) -> None:
        """Only once no transfer is in flight (libusb would write into freed memory)."""
        for t in self._transfers:
            self.lib.libusb_free_transfer(t)
        self._transfers.clear()
        self._buffers.clear()
        self._ids.clear()

    def handle_events(self, seconds: float) -> int:
        tv = _Timeval(int(seconds), int(seconds % 1 * 1e6))
        return int(self.lib.libusb_handle_events_timeout_completed(self.ctx, ctypes.byref(tv), None))

    def _done(self, p: ctypes._Pointer[_Transfer]) -> None:
        tr = p.contents
        tid = self._ids[ctypes.addressof(tr)]
        status, n = tr.status, tr.actual_length
        if tr.endpoint & 0x80:
            payload: bytes | int = ctypes.string_at(tr.buffer, n) if n > 0 else b""
        else:
            payload = n
            self._buffers[tid] = None
        try:
            self.on_done(tid, status, payload)
        except Exception:  # noqa: BLE001 - an exception may not unwind into libusb
            log.exception("internal error in a USB completion")


