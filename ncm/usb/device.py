"""Finding and binding an NCM function with pyusb, like cdc_ncm_bind_common (see ncm/usb/__init__)."""

from __future__ import annotations

import array
import errno
import logging
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

import usb.core
import usb.util

from ncm.link import NcmDownCause
from ncm.params import (
    NCAP_CRC_MODE,
    NCAP_ETH_FILTER,
    NCAP_NTB_INPUT_SIZE,
    FunctionalDescriptors,
    NtbParameters,
    parse_functional_descriptors,
    parse_mac_string,
)

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


