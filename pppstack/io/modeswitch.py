"""The USB mode-switch edge (pyusb): send a SwitchPlan to a stick in CD-ROM mode, wait for it to
come back as a modem, and check that it is the device the plan expected.

Steps (usbmode switch.c / usb_modeswitch, anchors §6.1): find the device, pick the mass-storage
interface (or the configured one) and its first bulk OUT / bulk IN endpoints, detach the kernel
driver, claim, send each message with a 3 s timeout, read the 13-byte CSW when ``response`` asks
for it, release.  Unlike usbmode we then wait for the re-enumeration and verify the VID:PID.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import usb.core
import usb.util

from pppstack.io.sysfs import find_modems as _find_modems
from pppstack.modem.ports import PortRole, classify_interface
from pppstack.modem.usbmode import SwitchPlan, UsbModeConfig, plan_switch

__all__ = ["SwitchError", "SwitchReport", "InterfaceReport", "find_switchable", "switch", "default_backend"]


class SwitchError(Exception):
    """The switch could not be done; the message says why in words."""


@dataclass(frozen=True)
class InterfaceReport:
    number: int
    cls: int
    subclass: int
    protocol: int
    role: PortRole
    why: str


@dataclass
class SwitchReport:
    plan: SwitchPlan
    sent: list[str] = field(default_factory=list)          # what went where, in words
    csw_status: list[int] = field(default_factory=list)
    new_vendor: int | None = None
    new_product: int | None = None
    interfaces: list[InterfaceReport] = field(default_factory=list)
    dry_run: bool = False

    @property
    def verified(self) -> bool:
        return self.new_product is not None and (not self.plan.expected_products
                                                 or self.new_product in self.plan.expected_products)

    def lines(self) -> list[str]:
        out = list(self.plan.describe())
        out.extend(self.sent)
        if self.dry_run:
            out.append("dry run: nothing was sent")
        elif self.new_product is not None:
            out.append(f"re-enumerated as {self.new_vendor:04x}:{self.new_product:04x}"
                       + ("" if self.verified else " (not the expected product)"))
            for i in self.interfaces:
                out.append(f"  interface {i.number}: {i.cls:02x}/{i.subclass:02x}/{i.protocol:02x} {i.role.value}"
                           f" ({i.why})")
        return out


def default_backend():  # noqa: ANN201 - a pyusb backend object
    """libusb1 (through libusb-package when installed: it ships the shared library) with a libusb
    context of its own. pyusb keeps one context per process, and a context's device list is kept
    current only by hotplug events (udevd's, or netlink's without udev); where they do not arrive
    (no udevd: containers, minimal systems, the virtual stick's guest) a stick that re-appeared in
    CD-ROM mode after a brown-out stayed invisible to `up --persist`. A new context scans the bus
    when it is made."""
    try:
        import libusb_package
        base = libusb_package.get_libusb1_backend()
    except Exception:
        base = None
    if base is None:
        try:
            import usb.backend.libusb1

            base = usb.backend.libusb1.get_backend()
        except Exception:
            return None
    if base is None:
        return None
    try:
        return type(base)(base.lib)      # pyusb's _LibUSB(lib): libusb_init, a fresh device list
    except Exception:
        return base


def find_switchable(config: UsbModeConfig, backend=None) -> list[tuple[usb.core.Device, object]]:  # noqa: ANN001
    """Attached devices that have a rule in ``config``: [(device, rule)]."""
    out = []
    for dev in usb.core.find(find_all=True, backend=backend) or []:
        rule = config.rule_for(dev.idVendor, dev.idProduct, _string(dev, dev.iManufacturer),
                               _string(dev, dev.iProduct), _string(dev, dev.iSerialNumber))
        if rule is not None:
            out.append((dev, rule))
    return out


def _string(dev: usb.core.Device, index: int) -> str | None:
    if not index:
        return None
    try:
        return usb.util.get_string(dev, index)
    except (usb.core.USBError, ValueError, NotImplementedError):
        return None


def _pick_interface(dev: usb.core.Device, plan: SwitchPlan, dry_run: bool = False):  # noqa: ANN202
    try:
        cfg = dev.get_active_configuration()
    except usb.core.USBError:
        if dry_run:            # look, do not touch: read the first configuration's descriptors
            cfg = dev[0]
        else:
            dev.set_configuration()
            cfg = dev.get_active_configuration()
    rule = plan.rule
    if rule.interface is not None:
        intf = usb.util.find_descriptor(cfg, bInterfaceNumber=rule.interface, bAlternateSetting=0)
    else:
        intf = usb.util.find_descriptor(cfg, bInterfaceClass=0x08) or usb.util.find_descriptor(cfg)
    if intf is None:
        raise SwitchError("the device has no mass-storage interface to send the switch message to")
    if rule.t_class is not None and intf.bInterfaceClass != rule.t_class:
        raise SwitchError(f"interface class {intf.bInterfaceClass:02x} is not t_class {rule.t_class:02x}: "
                          "the device seems switched already")

    def ep(direction: int, address: int | None):  # noqa: ANN202
        if address is not None:
            return usb.util.find_descriptor(intf, bEndpointAddress=address)
        return usb.util.find_descriptor(intf, custom_match=lambda e: usb.util.endpoint_direction(e.bEndpointAddress)
                                        == direction and usb.util.endpoint_type(e.bmAttributes)
                                        == usb.util.ENDPOINT_TYPE_BULK)

    out_ep = ep(usb.util.ENDPOINT_OUT, rule.msg_endpoint)
    in_ep = ep(usb.util.ENDPOINT_IN, rule.response_endpoint)
    if out_ep is None and plan.messages:
        raise SwitchError(f"interface {intf.bInterfaceNumber} has no bulk OUT endpoint")
    return cfg, intf, out_ep, in_ep


def switch(config: UsbModeConfig, *, vendor: int | None = None, product: int | None = None, dry_run: bool = False,
           backend=None, wait: float = 20.0, sleep: Callable[[float], None] = time.sleep,  # noqa: ANN001
           clock: Callable[[], float] = time.monotonic, sysroot: str | None = "/sys") -> SwitchReport:
    """Switch the first attached device that ``config`` has a rule for (or the given VID:PID).
    The re-enumerated device is looked for through pyusb and in ``sysroot``'s USB devices."""
    if backend is None:
        backend = default_backend()
    candidates = find_switchable(config, backend)
    if vendor is not None:
        candidates = [(d, r) for d, r in candidates if d.idVendor == vendor and (product is None or
                                                                                  d.idProduct == product)]
    if not candidates:
        ids = ", ".join(r.key for r in config.devices)
        raise SwitchError(f"no attached USB device matches the configuration ({ids})")
    dev, rule = candidates[0]
    plan = plan_switch(config, rule)
    report = SwitchReport(plan, dry_run=dry_run)
    cfg, intf, out_ep, in_ep = _pick_interface(dev, plan, dry_run)
    where = (f"bus {dev.bus} address {dev.address}, configuration {cfg.bConfigurationValue}, interface "
             f"{intf.bInterfaceNumber}")
    for i, msg in enumerate(plan.messages):
        report.sent.append(f"{'would send' if dry_run else 'send'} message {i} ({len(msg)} bytes) to {where}, "
                           f"endpoint 0x{out_ep.bEndpointAddress:02x}"
                           + (f", then read the status from 0x{in_ep.bEndpointAddress:02x}"
                              if rule.response and in_ep is not None else ""))
    if plan.control_feature:
        report.sent.append(f"{'would send' if dry_run else 'send'} SET_FEATURE(1) to {where}")
    if dry_run:
        return report
    _send(dev, intf, out_ep, in_ep, plan, report, sleep)
    _await(report, plan, rule.vendor, rule.product, backend, wait, sleep, clock, sysroot)
    return report


def _send(dev, intf, out_ep, in_ep, plan: SwitchPlan, report: SwitchReport,  # noqa: ANN001
          sleep: Callable[[float], None]) -> None:
    number = intf.bInterfaceNumber
    try:
        if dev.is_kernel_driver_active(number):
            dev.detach_kernel_driver(number)
    except (usb.core.USBError, NotImplementedError):
        pass
    try:
        usb.util.claim_interface(dev, number)
    except usb.core.USBError as exc:
        raise SwitchError(f"cannot claim interface {number}: {exc} (another program holds it, or not root)") from exc
    try:
        if plan.control_feature:
            dev.ctrl_transfer(0x00, 0x03, 1, 0, None, 1000)   # SET_FEATURE(1), standard request to the device
        for i, msg in enumerate(plan.messages):
            try:
                dev.clear_halt(out_ep)
            except usb.core.USBError:
                pass
            try:
                dev.write(out_ep, msg, 3000)
            except usb.core.USBError as exc:
                if i == len(plan.messages) - 1:
                    report.sent.append(f"message {i}: {exc} (the device may already be re-enumerating)")
                    break
                raise SwitchError(f"sending message {i} failed: {exc}") from exc
            if plan.rule.response and in_ep is not None and msg[:4] == b"USBC":
                try:
                    csw = bytes(dev.read(in_ep, 13, 3000))
                except usb.core.USBError as exc:
                    report.sent.append(f"message {i}: no status ({exc})")
                    continue
                if len(csw) == 13 and csw[:4] == b"USBS":
                    status = csw[12]
                    report.csw_status.append(status)
                    report.sent.append(f"message {i}: status {'passed' if status == 0 else f'failed ({status})'}"
                                       f", residue {struct.unpack('<I', csw[8:12])[0]}")
        sleep(0.2)
    finally:
        try:
            usb.util.release_interface(dev, number)
        except usb.core.USBError:
            pass
        usb.util.dispose_resources(dev)


def _interface_count(sysroot: str, sysname: str) -> int | None:
    try:
        with open(os.path.join(sysroot, "bus", "usb", "devices", sysname, "bNumInterfaces")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _from_sysfs(report: SwitchReport, sysroot: str, vendor: int, wanted: Callable[[int], bool],
                complete_only: bool = True) -> bool:
    """The re-enumerated device as sysfs shows it. libusb learns about new devices only from
    hotplug events (udevd's, or the kernel's netlink uevents when built without udev); with no
    udevd running (containers, minimal systems, the virtual stick's guest) a process's libusb never
    sees the switched stick arrive, while sysfs always shows it.  The kernel adds a device's
    interfaces one by one after the device itself: until all bNumInterfaces are there (or
    ``complete_only`` is off, at the deadline) the device does not count as found yet."""
    for m in _find_modems(sysroot, all_devices=True):
        if m.vendor == vendor and wanted(m.product):
            count = _interface_count(sysroot, m.sysname)
            if complete_only and count is not None and len(m.interfaces) < count:
                return False
            report.new_vendor, report.new_product = m.vendor, m.product
            report.interfaces.extend(InterfaceReport(i.number, i.cls, i.subclass, i.protocol, i.role, i.guess.source)
                                     for i in m.interfaces)
            return True
    return False


def _await(report: SwitchReport, plan: SwitchPlan, old_vendor: int, old_product: int, backend,  # noqa: ANN001
           wait: float, sleep: Callable[[float], None], clock: Callable[[], float], sysroot: str | None) -> None:
    deadline = clock() + wait
    target_vendor = plan.expected_vendor if plan.expected_vendor is not None else old_vendor

    def wanted(product: int) -> bool:
        return product in plan.expected_products if plan.expected_products else product != old_product

    while True:
        found = None
        for dev in usb.core.find(find_all=True, backend=backend) or []:
            if dev.idVendor == target_vendor and wanted(dev.idProduct):
                found = dev
                break
        if found is None and sysroot is not None and _from_sysfs(report, sysroot, target_vendor, wanted,
                                                                 complete_only=clock() < deadline):
            return
        if found is not None:
            report.new_vendor, report.new_product = found.idVendor, found.idProduct
            try:
                cfg = found.get_active_configuration()
            except usb.core.USBError:
                cfg = found[0]
            for intf in cfg:
                if intf.bAlternateSetting:
                    continue
                g = classify_interface(intf.bInterfaceClass, intf.bInterfaceSubClass, intf.bInterfaceProtocol,
                                       found.idVendor)
                report.interfaces.append(InterfaceReport(intf.bInterfaceNumber, intf.bInterfaceClass,
                                                         intf.bInterfaceSubClass, intf.bInterfaceProtocol,
                                                         g.role, g.source))
            return
        if clock() >= deadline:
            raise SwitchError(f"sent the switch, but no {target_vendor:04x}:"
                              + "/".join(f"{p:04x}" for p in plan.expected_products or ())
                              + f" appeared within {wait:g} s (is the message right for this firmware?)")
        sleep(0.5)
