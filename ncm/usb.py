"""The pyusb edge of the NCM path: find the function, bind it like cdc_ncm, move the transfers.

Finding: an NCM function is a communication interface whose class-specific descriptors hold a
Union (naming the data interface) and an NCM functional descriptor, plus a data interface with
an alternate setting carrying one bulk IN and one bulk OUT endpoint.  Class codes are only a
hint: the E3372 in 12d1:1506 mode presents vendor-specific classes (ff/02/16, huawei_cdc_ncm's
table, anchors §4.2), so descriptors decide.  Without a Union, an interface with the Huawei
vendor triple pairs with the next interface (cdc_ncm's IAD fallback).

Binding follows cdc_ncm_bind_common (anchors §4.1): detach kernel drivers, claim both
interfaces, toggle the data interface to its data setting and back to 0 (some devices reset
only so), GET_NTB_PARAMETERS (required), SET_CRC_MODE off when supported, SET_NTB_FORMAT only
to choose NTB32 (supported and wanted), SET_NTB_INPUT_SIZE, a 10–20 ms pause ("some firmwares need a
pause"), then alternate setting 1.  The MAC is the iMACAddress string.

Moving: `UsbPump` keeps several transfers of dwNtbInMaxSize posted on bulk IN and several NTBs
in flight on bulk OUT through libusb's asynchronous API (`LibusbAsync`, on pyusb's own handle),
one thread handling libusb's events and one reading the interrupt endpoint, and wakes the
owner's select loop through a pipe.  With a backend other than libusb1 (the tests' fake devices)
or PPPSTACK_NCM_TRANSFERS=1 it falls back to one synchronous reader and one writer thread.  A
vanished device (ENODEV) becomes NcmDownCause.USB_DISCONNECTED.
"""

from __future__ import annotations

import array
import ctypes
import errno
import logging
import os
import queue
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import usb.core
import usb.util

from ncm.link import NcmDownCause
from ncm.ntb import ntb_missing
from ncm.params import (
    NCAP_CRC_MODE,
    NCAP_ETH_FILTER,
    NCAP_NTB_INPUT_SIZE,
    FunctionalDescriptors,
    NtbParameters,
    parse_functional_descriptors,
    parse_mac_string,
)

__all__ = [
    "NcmFunction", "NcmUsbError", "NcmNotFound", "NcmDevice", "UsbPump", "find_functions", "find_devices",
    "HUAWEI_VENDOR_TRIPLES", "classify_usb_error", "LibusbAsync", "TransferFailed", "DEFAULT_TRANSFERS",
]

log = logging.getLogger("pppstack.ncm")

# class-specific requests (cdc.h)
SET_ETHERNET_PACKET_FILTER = 0x43
GET_NTB_PARAMETERS = 0x80
SET_NTB_FORMAT = 0x84
SET_NTB_INPUT_SIZE = 0x86
SET_CRC_MODE = 0x8A
REQ_IN = 0xA1    # device-to-host | class | interface
REQ_OUT = 0x21
PACKET_TYPE_ALL_MULTICAST, PACKET_TYPE_DIRECTED, PACKET_TYPE_BROADCAST = 0x02, 0x04, 0x08

USB_CLASS_COMM, USB_CLASS_CDC_DATA, USB_CLASS_VENDOR = 0x02, 0x0A, 0xFF
USB_CDC_SUBCLASS_NCM = 0x0D
HUAWEI_VENDOR = 0x12D1
# huawei_cdc_ncm.c's match table: (class, subclass, protocol) of the control interface
HUAWEI_VENDOR_TRIPLES = frozenset({(0xFF, 0x02, 0x16), (0xFF, 0x02, 0x46), (0xFF, 0x02, 0x76), (0xFF, 0x03, 0x16)})


class NcmUsbError(Exception):
    """A failure of the USB side, with the NcmDownCause the link reports."""

    def __init__(self, cause: NcmDownCause, message: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message


class NcmNotFound(NcmUsbError):
    def __init__(self, message: str) -> None:
        super().__init__(NcmDownCause.USB_ERROR, message)


LIBUSB_ERROR_NO_DEVICE = -4
USB_REQ_GET_STATUS = 0x00


def classify_usb_error(exc: BaseException) -> NcmDownCause:
    """ENODEV (libusb's LIBUSB_ERROR_NO_DEVICE, -4) and the usbfs errnos of a dying device mean
    unplugged.  An unplug can first show as EIO (the host controller fails the transfers in
    flight with -EPROTO before the hub reports the disconnect): `NcmDevice.vanished()` asks."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENODEV, errno.ESHUTDOWN, errno.ENOENT) or \
            getattr(exc, "backend_error_code", None) == LIBUSB_ERROR_NO_DEVICE:
        return NcmDownCause.USB_DISCONNECTED
    return NcmDownCause.USB_ERROR


@dataclass(frozen=True)
class NcmFunction:
    """Where the NCM function lives on a device (all numbers as in the descriptors)."""
    control: int
    data: int
    data_alt: int
    ep_in: int
    ep_out: int
    ep_notify: int | None
    in_max_packet: int
    out_max_packet: int
    notify_max_packet: int
    mac_index: int
    descriptors: FunctionalDescriptors
    control_class: tuple[int, int, int]
    configuration: int

    @property
    def vendor_class(self) -> bool:
        return self.control_class[0] == USB_CLASS_VENDOR

    def describe(self) -> str:
        cls = "/".join(f"{x:02x}" for x in self.control_class)
        return (f"NCM control interface {self.control} ({cls}), data interface {self.data} alt {self.data_alt}, "
                f"bulk IN 0x{self.ep_in:02x} OUT 0x{self.ep_out:02x} (max packet {self.out_max_packet}), "
                "notify " + (f"0x{self.ep_notify:02x}" if self.ep_notify is not None else "none"))


def _bulk_pair(alt: usb.core.Interface) -> tuple[int, int, int, int] | None:
    ep_in = ep_out = None
    for ep in alt:
        if usb.util.endpoint_type(ep.bmAttributes) != usb.util.ENDPOINT_TYPE_BULK:
            continue
        if usb.util.endpoint_direction(ep.bEndpointAddress) == usb.util.ENDPOINT_IN:
            ep_in = ep_in or ep
        else:
            ep_out = ep_out or ep
    if ep_in is None or ep_out is None:
        return None
    return (ep_in.bEndpointAddress, ep_out.bEndpointAddress, ep_in.wMaxPacketSize & 0x7FF,
            ep_out.wMaxPacketSize & 0x7FF)


def find_functions(dev: usb.core.Device) -> list[NcmFunction]:
    """Every NCM function of the device's active configuration (the first one if unconfigured)."""
    try:
        cfg = dev.get_active_configuration()
    except usb.core.USBError:
        cfg = None
    if cfg is None:
        cfg = next(iter(dev), None)
        if cfg is None:
            return []
    alts: dict[int, list[usb.core.Interface]] = {}
    for intf in cfg:
        alts.setdefault(intf.bInterfaceNumber, []).append(intf)
    found: list[NcmFunction] = []
    for num, settings in sorted(alts.items()):
        ctrl = settings[0]
        triple = (ctrl.bInterfaceClass, ctrl.bInterfaceSubClass, ctrl.bInterfaceProtocol)
        fd = parse_functional_descriptors(bytes(ctrl.extra_descriptors or b""))
        is_ncm = fd.ncm is not None or triple[:2] == (USB_CLASS_COMM, USB_CDC_SUBCLASS_NCM)
        if dev.idVendor == HUAWEI_VENDOR and triple in HUAWEI_VENDOR_TRIPLES:
            is_ncm = True
        if not is_ncm or fd.mbim is not None:
            continue
        if fd.union is not None and fd.union.bMasterInterface0 == num and fd.union.bSlaveInterface:
            data_num = fd.union.bSlaveInterface[0]
        elif fd.union is None:
            data_num = num + 1           # cdc_ncm: no Union but an IAD of two interfaces
        else:
            continue
        if data_num not in alts:
            continue
        pair = None
        data_alt = 0
        for alt in alts[data_num]:
            pair = _bulk_pair(alt)
            if pair is not None:
                data_alt = alt.bAlternateSetting
                break
        if pair is None:
            continue
        notify = None
        notify_mps = 0
        for ep in ctrl:
            if (usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
                    and usb.util.endpoint_direction(ep.bEndpointAddress) == usb.util.ENDPOINT_IN):
                notify, notify_mps = ep.bEndpointAddress, ep.wMaxPacketSize & 0x7FF
                break
        found.append(NcmFunction(num, data_num, data_alt, pair[0], pair[1], notify, pair[2], pair[3], notify_mps,
                                 fd.ethernet.iMACAddress if fd.ethernet else 0, fd, triple,
                                 cfg.bConfigurationValue))
    return found


def find_devices(*, vid: int | None = None, pid: int | None = None, bus: int | None = None,
                 address: int | None = None, backend: object | None = None
                 ) -> Iterator[tuple[usb.core.Device, NcmFunction]]:
    """(device, function) for every NCM function on the bus matching the filters."""
    kw: dict[str, object] = {}
    if vid is not None:
        kw["idVendor"] = vid
    if pid is not None:
        kw["idProduct"] = pid
    if bus is not None:
        kw["bus"] = bus
    if address is not None:
        kw["address"] = address
    for dev in usb.core.find(find_all=True, backend=backend, **kw) or ():
        try:
            funcs = find_functions(dev)
        except (usb.core.USBError, ValueError) as exc:
            log.debug("skipping %04x:%04x: %s", dev.idVendor, dev.idProduct, exc)
            continue
        for f in funcs:
            yield dev, f


class NcmDevice:
    """One NCM function, bound and ready for transfers."""

    def __init__(self, dev: usb.core.Device, function: NcmFunction, *, timeout_ms: int = 1000) -> None:
        self.dev = dev
        self.function = function
        self.timeout_ms = timeout_ms
        self.params: NtbParameters | None = None
        self.ntb32 = False
        self.rx_max = 0
        self.mac: bytes | None = None
        self._detached: list[int] = []
        self.closed = False

    @classmethod
    def open(cls, *, vid: int | None = None, pid: int | None = None, bus: int | None = None,
             address: int | None = None, backend: object | None = None) -> NcmDevice:
        for dev, func in find_devices(vid=vid, pid=pid, bus=bus, address=address, backend=backend):
            log.info("found %04x:%04x on bus %s address %s: %s", dev.idVendor, dev.idProduct, dev.bus,
                     dev.address, func.describe())
            return cls(dev, func)
        what = f"{vid:04x}:{pid:04x}" if vid is not None and pid is not None else "any device"
        raise NcmNotFound(f"no USB NCM function found ({what}); is the modem in NCM mode (pppstack ports)?")

    @property
    def name(self) -> str:
        return f"{self.dev.idVendor:04x}:{self.dev.idProduct:04x}"

    def _ctrl(self, req_type: int, req: int, value: int = 0, data: bytes | int | None = None) -> bytes | int:
        try:
            return self.dev.ctrl_transfer(req_type, req, value, self.function.control, data, self.timeout_ms)
        except usb.core.USBError as exc:
            raise NcmUsbError(classify_usb_error(exc), f"control request 0x{req:02x} failed: {exc}") from exc

    def bind(self, *, ntb32: bool = False, rx_max: int = 16384, pause: float = 0.015) -> NtbParameters:
        """Run the cdc_ncm bind sequence.  ``ntb32``: use NTB32 if the device supports it."""
        f = self.function
        try:
            for num in (f.control, f.data):
                try:
                    if self.dev.is_kernel_driver_active(num):
                        self.dev.detach_kernel_driver(num)
                        self._detached.append(num)
                        log.info("detached the kernel driver from interface %d", num)
                except (NotImplementedError, usb.core.USBError) as exc:
                    if isinstance(exc, usb.core.USBError) and classify_usb_error(exc) is NcmDownCause.USB_DISCONNECTED:
                        raise
            try:
                active = self.dev.get_active_configuration().bConfigurationValue
            except usb.core.USBError:
                active = None
            if active != f.configuration:
                self.dev.set_configuration(f.configuration)
            usb.util.claim_interface(self.dev, f.control)
            usb.util.claim_interface(self.dev, f.data)
            # "Some devices will not reset properly unless they are configured first."
            self.dev.set_interface_altsetting(interface=f.data, alternate_setting=f.data_alt)
            self.dev.set_interface_altsetting(interface=f.data, alternate_setting=0)
        except usb.core.USBError as exc:
            cause = classify_usb_error(exc)
            hint = ("" if cause is NcmDownCause.USB_DISCONNECTED
                    else " (another driver, or no permission on /dev/bus/usb)")
            raise NcmUsbError(cause, f"could not claim the NCM interfaces of {self.name}: {exc}{hint}") from exc
        raw = self._ctrl(REQ_IN, GET_NTB_PARAMETERS, 0, 28)
        try:
            params = NtbParameters.from_bytes(bytes(raw))  # type: ignore[arg-type]
        except ValueError as exc:
            raise NcmUsbError(NcmDownCause.USB_ERROR, f"{self.name}: {exc}") from exc
        caps = f.descriptors.ncm.bmNetworkCapabilities if f.descriptors.ncm else 0
        if caps & NCAP_CRC_MODE:
            self._ctrl(REQ_OUT, SET_CRC_MODE, 0)
        self.ntb32 = bool(ntb32 and params.ntb32_supported)
        # NTB16 is every function's default after alt 0 (NCM 1.0 §6.2.5), so the request is sent
        # only to choose NTB32 (cdc_ncm also sends an explicit 16-bit choice; we skip it).
        if self.ntb32:
            try:
                self._ctrl(REQ_OUT, SET_NTB_FORMAT, 1)
            except NcmUsbError as exc:
                if exc.cause is NcmDownCause.USB_DISCONNECTED:
                    raise
                log.warning("%s refused SET_NTB_FORMAT; staying with NTB16", self.name)
                self.ntb32 = False
        self.rx_max = max(2048, min(rx_max, params.dwNtbInMaxSize))
        # Always sent, as cdc_ncm does on bind ("setting rx_max = 16384" in dmesg).
        data = struct.pack("<I", self.rx_max)
        if caps & NCAP_NTB_INPUT_SIZE:
            data += struct.pack("<HH", 0, 0)       # + wNtbInMaxDatagrams (0: no limit) and reserved
        try:
            self._ctrl(REQ_OUT, SET_NTB_INPUT_SIZE, 0, data)
        except NcmUsbError as exc:
            if exc.cause is NcmDownCause.USB_DISCONNECTED:
                raise
            log.warning("%s refused SET_NTB_INPUT_SIZE %d; reading with its maximum %d", self.name,
                        self.rx_max, params.dwNtbInMaxSize)
            self.rx_max = params.dwNtbInMaxSize
        if caps & NCAP_ETH_FILTER:
            try:
                self._ctrl(REQ_OUT, SET_ETHERNET_PACKET_FILTER,
                           PACKET_TYPE_DIRECTED | PACKET_TYPE_BROADCAST | PACKET_TYPE_ALL_MULTICAST)
            except NcmUsbError as exc:
                if exc.cause is NcmDownCause.USB_DISCONNECTED:
                    raise
        time.sleep(pause)               # "Some firmwares need a pause here" (cdc_ncm, Sierra MC7455)
        try:
            self.dev.set_interface_altsetting(interface=f.data, alternate_setting=f.data_alt)
        except usb.core.USBError as exc:
            raise NcmUsbError(classify_usb_error(exc), f"{self.name} refused data alternate setting "
                              f"{f.data_alt}: {exc}") from exc
        self.params = params
        self.mac = self._read_mac()
        log.info("%s bound: %s; %s, NTB input size %d", self.name, params.describe(),
                 "NTB32" if self.ntb32 else "NTB16", self.rx_max)
        return params

    def _read_mac(self) -> bytes | None:
        idx = self.function.mac_index
        if not idx:
            return None
        try:
            return parse_mac_string(usb.util.get_string(self.dev, idx))
        except (usb.core.USBError, ValueError) as exc:
            log.info("could not read iMACAddress: %s", exc)
            return None

    def vanished(self, within: float = 1.5) -> bool:
        """After a transfer failed with an unexplained error: is the device gone?  GET_STATUS
        (every device must answer it) until it answers (False), fails with no-device (True) or
        `within` seconds pass (False) - the kernel needs a moment to notice a disconnect."""
        deadline = time.monotonic() + within
        while True:
            try:
                self.dev.ctrl_transfer(0x80, USB_REQ_GET_STATUS, 0, 0, 2, 200)
                return False
            except usb.core.USBError as exc:
                if classify_usb_error(exc) is NcmDownCause.USB_DISCONNECTED:
                    return True
            except (ValueError, NotImplementedError):
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # -- transfers (called from UsbPump's threads) ------------------------------------------
    def read_ntb(self, buf: array.array, timeout_ms: int) -> int:
        return self.dev.read(self.function.ep_in, buf, timeout_ms)

    def write_ntb(self, block: bytes, timeout_ms: int | None = None) -> int:
        return self.dev.write(self.function.ep_out, block, self.timeout_ms if timeout_ms is None else timeout_ms)

    def read_notification(self, timeout_ms: int) -> bytes:
        assert self.function.ep_notify is not None
        size = max(64, self.function.notify_max_packet)
        return bytes(self.dev.read(self.function.ep_notify, size, timeout_ms))

    def close(self, reattach: bool = True) -> None:
        """Data interface back to alt 0 (the device stops the data path), release, give the
        interfaces back to the kernel drivers we detached."""
        if self.closed:
            return
        self.closed = True
        f = self.function
        try:
            self.dev.set_interface_altsetting(interface=f.data, alternate_setting=0)
        except (usb.core.USBError, ValueError):
            pass
        for num in (f.data, f.control):
            try:
                usb.util.release_interface(self.dev, num)
            except (usb.core.USBError, ValueError):
                pass
        if reattach:
            for num in self._detached:
                try:
                    self.dev.attach_kernel_driver(num)
                except (usb.core.USBError, NotImplementedError):
                    pass
        usb.util.dispose_resources(self.dev)


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


class _Pollfd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short)]


_TransferCallback = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Transfer))
_Transfer._fields_ = [          # struct libusb_transfer (libusb.h), without the iso descriptors
    ("dev_handle", ctypes.c_void_p), ("flags", ctypes.c_uint8), ("endpoint", ctypes.c_ubyte),
    ("type", ctypes.c_ubyte), ("timeout", ctypes.c_uint), ("status", ctypes.c_int), ("length", ctypes.c_int),
    ("actual_length", ctypes.c_int), ("callback", _TransferCallback), ("user_data", ctypes.c_void_p),
    ("buffer", ctypes.POINTER(ctypes.c_ubyte)), ("num_iso_packets", ctypes.c_int)]

TRANSFER_COMPLETED, TRANSFER_ERROR, TRANSFER_TIMED_OUT, TRANSFER_CANCELLED = 0, 1, 2, 3
TRANSFER_STALL, TRANSFER_NO_DEVICE, TRANSFER_OVERFLOW = 4, 5, 6
TRANSFER_TYPE_BULK, TRANSFER_TYPE_INTERRUPT = 2, 3
POLLIN, POLLOUT = 0x001, 0x004
_STATUS_ERRNO = {TRANSFER_ERROR: errno.EIO, TRANSFER_TIMED_OUT: errno.ETIMEDOUT, TRANSFER_STALL: errno.EPIPE,
                 TRANSFER_NO_DEVICE: errno.ENODEV, TRANSFER_OVERFLOW: errno.EOVERFLOW}


class TransferFailed(usb.core.USBError):
    """A bulk transfer ended with a libusb status other than completed (errno as pyusb's)."""

    def __init__(self, status: int, what: str) -> None:
        code = _STATUS_ERRNO.get(status, errno.EIO)
        super().__init__(f"{what}: {os.strerror(code)} (libusb transfer status {status})", None, code)
        if status == TRANSFER_NO_DEVICE:
            self.backend_error_code = LIBUSB_ERROR_NO_DEVICE


# bulk IN reads posted.  With the events on the owner's loop, one turn that writes a few blocks'
# packets to the TUN takes milliseconds in a slow guest: 8 x 16 KiB keep the device sending meanwhile.
DEFAULT_TRANSFERS = 8
# NTBs in flight on bulk OUT.  More than IN: with libusb's events handled in the owner's loop, the
# bus is fed only between the loop's callbacks, and one TUN batch (256 packets, ~25 NTBs) takes
# milliseconds of Python; 16 x 16 KiB queued in the kernel outlast it.
DEFAULT_OUT_TRANSFERS = 16
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
    same methods instead.

    `pollfds()` gives the file descriptors libusb waits on, so an owner's select loop can call
    `handle_events(0)` when one is ready instead of a thread blocking in libusb: completions then
    run on the loop's thread, with no GIL handoff and no wake pipe per transfer."""

    def __init__(self, lib: ctypes.CDLL, ctx: ctypes.c_void_p, handle: int) -> None:
        self.lib, self.ctx, self.handle = lib, ctx, handle
        p = ctypes.POINTER(_Transfer)
        for name, args, res in (("libusb_alloc_transfer", [ctypes.c_int], p), ("libusb_free_transfer", [p], None),
                                ("libusb_submit_transfer", [p], ctypes.c_int),
                                ("libusb_cancel_transfer", [p], ctypes.c_int),
                                ("libusb_handle_events_timeout_completed",
                                 [ctypes.c_void_p, ctypes.POINTER(_Timeval), ctypes.c_void_p], ctypes.c_int),
                                ("libusb_get_pollfds", [ctypes.c_void_p], ctypes.POINTER(ctypes.POINTER(_Pollfd))),
                                ("libusb_pollfds_handle_timeouts", [ctypes.c_void_p], ctypes.c_int)):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes, fn.restype = args, res
        free = getattr(lib, "libusb_free_pollfds", None)
        if free is not None:
            free.argtypes, free.restype = [ctypes.POINTER(ctypes.POINTER(_Pollfd))], None
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

    def new_transfer(self, endpoint: int, size: int, *, interrupt: bool = False) -> int:
        t = self.lib.libusb_alloc_transfer(0)
        if not t:
            raise MemoryError("libusb_alloc_transfer failed")
        tr = t.contents
        tr.dev_handle = self.handle
        tr.endpoint = endpoint
        tr.type = TRANSFER_TYPE_INTERRUPT if interrupt else TRANSFER_TYPE_BULK
        tr.timeout = 0              # none: a transfer ends when the device ends it, or on cancel
        tr.callback = self._callback
        tid = len(self._transfers)
        self._transfers.append(t)
        if endpoint & 0x80:         # a read's buffer is its own for good: set once, not per submit
            buf = (ctypes.c_ubyte * size)()
            tr.buffer = ctypes.cast(buf, ctypes.POINTER(ctypes.c_ubyte))
            tr.length = size
            self._buffers.append(buf)
        else:
            self._buffers.append(None)
        self._ids[ctypes.addressof(tr)] = tid
        return tid

    def submit_in(self, tid: int) -> int:
        return int(self.lib.libusb_submit_transfer(self._transfers[tid]))

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

    def pollfds(self) -> list[tuple[int, int]] | None:
        """(fd, POLLIN/POLLOUT mask) libusb waits on, or None when an outside loop cannot drive
        it: no libusb_get_pollfds (Windows), or timeouts not signalled through an fd (no timerfd),
        which our loop would then have to poll for.  usbfs signals a completed URB as POLLOUT on
        the device's fd; libusb's internal events and timers come as POLLIN."""
        lib = self.lib
        if not all(hasattr(lib, n) for n in ("libusb_get_pollfds", "libusb_free_pollfds",
                                             "libusb_pollfds_handle_timeouts")):
            return None
        if not lib.libusb_pollfds_handle_timeouts(self.ctx):
            return None
        arr = lib.libusb_get_pollfds(self.ctx)
        if not arr:
            return None
        out: list[tuple[int, int]] = []
        i = 0
        while arr[i]:
            out.append((int(arr[i].contents.fd), int(arr[i].contents.events)))
            i += 1
        lib.libusb_free_pollfds(arr)
        return out

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
    any other backend: the reader and writer threads.  ``out_transfers`` NTBs may be in flight on
    bulk OUT (default: ``transfers`` when given, else DEFAULT_OUT_TRANSFERS); their order on the
    wire is the order of ``send()``, as usbfs queues the URBs of one endpoint in submission order.

    In asynchronous mode the interrupt endpoint is read with an asynchronous transfer too, and
    one thread handles libusb's events until the owner takes them over with ``take_events()``:
    from then on the owner's loop calls ``handle_events()`` whenever one of the returned fds is
    ready, completions run on its thread, and no thread of ours is left (`stop()` handles the
    last events itself).  That removes a GIL handoff and a pipe wake per transfer, which cost a
    third of the NCM process's CPU.
    """

    def __init__(self, device: NcmDevice, *, poll_ms: int = 200, max_queued_tx: int = 64,
                 transfers: int | None = None, io: LibusbAsync | None = None,
                 out_transfers: int | None = None) -> None:
        self.device = device
        self.poll_ms = poll_ms
        self.high_water = max_queued_tx
        if transfers is None:
            try:
                transfers = int(os.environ["PPPSTACK_NCM_TRANSFERS"])
                out_transfers = out_transfers or transfers
            except (KeyError, ValueError):
                transfers = DEFAULT_TRANSFERS
                out_transfers = out_transfers or DEFAULT_OUT_TRANSFERS
        self.transfers = max(1, transfers)
        self.out_transfers = max(1, out_transfers or self.transfers)
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
        self._note_id: int | None = None       # the asynchronous interrupt IN transfer
        self._note_errors = 0
        self._owner: int | None = None         # the thread handling libusb's events inline
        self._handover = False                 # tells the events thread to leave them to the owner
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
        # the owner takes every block after draining, so none waits for a later wake.  Nothing
        # when the completion runs on the owner's own thread (inline events): it looks next turn.
        if self._woken or self._owner == threading.get_ident():
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
        self._out_free = [io.new_transfer(f.ep_out, 0) for _ in range(self.out_transfers)]
        self._out_free.reverse()        # popped from the end: the lowest id goes first
        self._out_ids = set(self._out_free)
        for tid in sorted(self._in_ids):
            self._submit_in(tid)
        if f.ep_notify is not None:
            self._note_id = io.new_transfer(f.ep_notify, max(64, f.notify_max_packet), interrupt=True)
            self._submit_in(self._note_id)

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
        if tid == self._note_id:
            self._note_done(tid, status, payload)
            return
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

    def _note_done(self, tid: int, status: int, payload: bytes | int) -> None:
        if status == TRANSFER_COMPLETED:
            self._note_errors = 0
            if payload:
                assert isinstance(payload, bytes)
                self._notes.append(payload)
                self._wake()
            self._submit_in(tid)
        elif status != TRANSFER_CANCELLED:
            self._later.append(("note", tid, TransferFailed(status, "interrupt IN")))

    def _take_block(self, chunk: bytes) -> None:
        """One read's bytes: an NTB, or the start of one whose read ended on a packet boundary
        before the length its NTH announces (joined with the next read, as the reader does)."""
        data = self._held + chunk if self._held else chunk
        if len(chunk) % self.device.function.in_max_packet == 0:   # only then can more be due
            need = ntb_missing(data)
            if need and len(data) + need <= (self.device.rx_max or 16384):
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
        """Handle libusb's events until the pump stops and every transfer has come back, or
        until the owner takes them over (`take_events`)."""
        while not self._handover:
            if self._stop.is_set() and not self._cancelled:
                self._cancel_all()
            if self._cancelled and self._all_back():
                return
            self._handle(0.1)

    def _all_back(self) -> bool:
        with self._lock:
            return not self._in_busy and not self._out_busy

    def _handle(self, seconds: float) -> None:
        """One round of libusb's events, then the recoveries completions left for later."""
        io = self._io
        assert io is not None
        rc = io.handle_events(seconds)
        if rc < 0 and rc != LIBUSB_ERROR_INTERRUPTED:
            self._fail(_libusb_error(rc, "libusb event handling"), "USB")
            if seconds:
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
            elif kind == "note" and exc is not None:
                # a failed notification read: a vanished device ends the link; anything else is
                # retried a few times and then the notifications are given up (the link keeps
                # working; the carrier is then only watched on the AT port)
                if classify_usb_error(exc) is NcmDownCause.USB_DISCONNECTED:
                    self._fail(exc, "interrupt IN")
                elif self._note_errors < 10:
                    self._note_errors += 1
                    log.debug("notification read failed: %s", exc)
                    self._submit_in(tid)
                elif self._note_errors == 10:
                    self._note_errors += 1
                    log.warning("reading the modem's notifications keeps failing (%s); giving up on them", exc)
            elif exc is not None:
                what = "bulk OUT" if tid in self._out_ids else "bulk IN"
                self._fail(exc, what)

    def take_events(self) -> list[tuple[int, int]] | None:
        """Hand libusb's event handling to the calling thread's loop: returns the (fd, POLLIN |
        POLLOUT mask) to watch, after which the caller must call `handle_events()` whenever one
        is ready.  None (and nothing changes) when the pump runs threads or libusb cannot be
        driven from outside."""
        io = self._io
        if io is None or self._owner is not None or self._stop.is_set():
            return None
        get = getattr(io, "pollfds", None)
        fds = get() if get is not None else None
        if not fds:
            return None
        self._handover = True
        for t in self._threads:
            if t.name == "ncm-usb-events":
                t.join(5.0)
                if t.is_alive():            # stuck in libusb: leave it the events
                    self._handover = False
                    return None
        self._threads = [t for t in self._threads if t.is_alive()]
        self._owner = threading.get_ident()
        return fds

    def handle_events(self) -> None:
        """The owner's loop saw one of `take_events()`'s fds ready: run the completions now."""
        self._handle(0)

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
                "usb_transfers_in_flight": self.transfers if self._io is not None else 1,
                "usb_out_transfers_in_flight": self.out_transfers if self._io is not None else 1,
                "usb_events_inline": int(self._owner is not None)}

    def running(self) -> bool:
        """Whether any of the pump's threads is still alive or, with the events handled inline,
        any transfer is still in flight (then the device must stay open)."""
        if self._owner is not None and self._io is not None and not self._all_back():
            return True
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
        if self._io is not None and self._owner is not None:
            # the events are ours to handle (the owner's loop has ended): the last NTBs go out,
            # then what is still in flight is cancelled and waited for
            end = time.monotonic() + timeout
            while not self._tx_idle.is_set() and self.error is None and time.monotonic() < end:
                self._handle(0.05)
            self._stop.set()
            self._cancel_all()
            end = time.monotonic() + grace
            while not self._all_back() and time.monotonic() < end:
                self._handle(0.05)
        elif self._io is not None:
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
