"""Find modems by walking sysfs: /sys/bus/usb/devices/<bus>-<port>[:<config>.<iface>].

A USB device directory holds idVendor/idProduct/manufacturer/product; each interface directory
(``1-1:1.2``) holds bInterfaceNumber/Class/SubClass/Protocol, a ``driver`` link, and children
naming what the kernel made of it: ``ttyUSB2`` (option/usb-serial), ``tty/ttyACM0`` (cdc_acm),
``net/wwan0`` (cdc_ncm, cdc_ether), ``usbmisc/cdc-wdm0``.  ``sysroot`` points at a fake tree in
tests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from pppstack.modem.ports import DeviceMode, PortRole, RoleGuess, classify_interface, device_mode

__all__ = ["InterfaceInfo", "ModemInfo", "find_modems", "read_device"]

_IFACE_RE = re.compile(r"^(\d+-[\d.]+):(\d+)\.(\d+)$")
_DEV_RE = re.compile(r"^\d+-[\d.]+$")
MODEM_VENDORS = {0x12D1, 0x19D2, 0x1199, 0x2C7C, 0x1E0E, 0x05C6, 0x1BBB, 0x0AF0}


@dataclass(frozen=True)
class InterfaceInfo:
    sysname: str                 # "1-1:1.2"
    number: int
    cls: int
    subclass: int
    protocol: int
    driver: str | None
    ttys: tuple[str, ...] = ()   # "ttyUSB2"
    nets: tuple[str, ...] = ()   # "wwan0"
    wdms: tuple[str, ...] = ()   # "cdc-wdm0"
    guess: RoleGuess = field(default_factory=lambda: RoleGuess(PortRole.UNKNOWN, ""))

    @property
    def role(self) -> PortRole:
        return self.guess.role

    @property
    def device_paths(self) -> tuple[str, ...]:
        return tuple(f"/dev/{n}" for n in self.ttys + self.wdms)


@dataclass(frozen=True)
class ModemInfo:
    sysname: str                 # "1-1"
    vendor: int
    product: int
    manufacturer: str
    product_name: str
    interfaces: tuple[InterfaceInfo, ...]
    mode: DeviceMode

    @property
    def id(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"

    def ports(self, role: PortRole) -> list[InterfaceInfo]:
        return [i for i in self.interfaces if i.role is role]

    @property
    def ppp_port(self) -> str | None:
        """The tty to dial on: the modem-role port, else an ACM port."""
        for role in (PortRole.MODEM, PortRole.ACM):
            for i in self.ports(role):
                if i.ttys:
                    return f"/dev/{i.ttys[0]}"
        return None

    @property
    def at_port(self) -> str | None:
        """The control tty: PCUI first (keeps the modem port free for PPP), else the modem port."""
        for role in (PortRole.PCUI, PortRole.MODEM, PortRole.ACM):
            for i in self.ports(role):
                if i.ttys:
                    return f"/dev/{i.ttys[0]}"
        return None

    @property
    def net_interface(self) -> str | None:
        for i in self.interfaces:
            if i.nets:
                return i.nets[0]
        return None

    def to_json(self) -> dict:
        return {
            "device": self.sysname, "id": self.id, "manufacturer": self.manufacturer, "product": self.product_name,
            "mode": self.mode.name.lower(), "mode_text": self.mode.value,
            "ppp_port": self.ppp_port, "at_port": self.at_port, "net_interface": self.net_interface,
            "interfaces": [{
                "interface": i.sysname, "number": i.number, "class": f"{i.cls:02x}/{i.subclass:02x}/{i.protocol:02x}",
                "driver": i.driver, "role": i.role.value, "certain": i.guess.certain, "why": i.guess.source,
                "ttys": list(i.ttys), "nets": list(i.nets), "wdms": list(i.wdms),
            } for i in self.interfaces],
        }


def _read(path: str, default: str = "") -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return default


def _hex(path: str) -> int | None:
    try:
        return int(_read(path), 16)
    except ValueError:
        return None


def _children(path: str, pattern: str) -> list[str]:
    out: list[str] = []
    try:
        entries = sorted(os.listdir(path))
    except OSError:
        return out
    rx = re.compile(pattern)
    for name in entries:
        if rx.fullmatch(name):
            out.append(name)
    return out


def _interface(path: str, sysname: str, vendor: int) -> InterfaceInfo | None:
    cls, sub, proto = (_hex(os.path.join(path, f)) for f in ("bInterfaceClass", "bInterfaceSubClass",
                                                                "bInterfaceProtocol"))
    if cls is None or sub is None or proto is None:
        return None
    number = _hex(os.path.join(path, "bInterfaceNumber"))
    drv = os.path.join(path, "driver")
    driver = os.path.basename(os.path.realpath(drv)) if os.path.lexists(drv) else None
    ttys = _children(path, r"tty(USB|ACM|HS)\d+") + _children(os.path.join(path, "tty"), r"tty\w+\d+")
    nets = _children(os.path.join(path, "net"), r"[\w.-]+")
    wdms = _children(os.path.join(path, "usbmisc"), r"cdc-wdm\d+") + _children(path, r"cdc-wdm\d+")
    return InterfaceInfo(sysname, number if number is not None else int(sysname.rsplit(".", 1)[1]), cls, sub, proto,
                         driver, tuple(dict.fromkeys(ttys)), tuple(nets), tuple(dict.fromkeys(wdms)),
                         classify_interface(cls, sub, proto, vendor, _read(os.path.join(path, "interface")) or None))


def read_device(sysroot: str, sysname: str) -> ModemInfo | None:
    base = os.path.join(sysroot, "bus", "usb", "devices")
    dev = os.path.join(base, sysname)
    vendor, product = _hex(os.path.join(dev, "idVendor")), _hex(os.path.join(dev, "idProduct"))
    if vendor is None or product is None:
        return None
    ifaces = []
    for name in sorted(os.listdir(base)):
        m = _IFACE_RE.match(name)
        if m and m[1] == sysname:
            info = _interface(os.path.join(base, name), name, vendor)
            if info:
                ifaces.append(info)
    ifaces.sort(key=lambda i: i.number)
    roles = [i.role for i in ifaces]
    return ModemInfo(sysname, vendor, product, _read(os.path.join(dev, "manufacturer")),
                     _read(os.path.join(dev, "product")), tuple(ifaces), device_mode(vendor, product, roles))


def find_modems(sysroot: str = "/sys", all_devices: bool = False) -> list[ModemInfo]:
    """USB devices that look like cellular modems (known vendor with AT/NCM/storage functions)."""
    base = os.path.join(sysroot, "bus", "usb", "devices")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    out = []
    for name in names:
        if not _DEV_RE.match(name):
            continue
        info = read_device(sysroot, name)
        if info is None:
            continue
        interesting = info.vendor in MODEM_VENDORS or any(i.role.speaks_at for i in info.interfaces)
        if all_devices or interesting:
            out.append(info)
    return out
