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

__all__ = ["InterfaceInfo", "ModemInfo", "find_modems", "read_device", "dump_device", "describe_descriptors"]

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


# ---------------------------------------------------------------- what a hardware report needs

_DESCRIPTOR_NAMES = {1: "device", 2: "configuration", 4: "interface", 5: "endpoint", 11: "interface association",
                     0x24: "class-specific interface", 0x25: "class-specific endpoint"}
_CDC_SUBTYPES = {0x00: "CDC header", 0x01: "CDC call management", 0x02: "CDC ACM", 0x06: "CDC union",
                 0x0F: "CDC ethernet networking", 0x1A: "CDC NCM", 0x1B: "MBIM", 0x1C: "MBIM extended"}
_EP_TYPES = ("control", "isochronous", "bulk", "interrupt")


def describe_descriptors(raw: bytes) -> list[tuple[str, bytes]]:
    """Split the raw descriptors (sysfs ``descriptors``: device, then the active configuration with
    its interfaces, endpoints and class-specific descriptors) into (words, bytes) per descriptor."""
    out: list[tuple[str, bytes]] = []
    i = 0
    while i + 2 <= len(raw):
        length, kind = raw[i], raw[i + 1]
        if length < 2 or i + length > len(raw):
            out.append((f"truncated ({len(raw) - i} bytes left, bLength {length})", raw[i:]))
            break
        d = raw[i:i + length]
        words = _DESCRIPTOR_NAMES.get(kind, f"type 0x{kind:02x}")
        if kind == 1 and length >= 18:
            words += f" {d[9]:02x}{d[8]:02x}:{d[11]:02x}{d[10]:02x} bcdUSB {d[3]:x}.{d[2]:02x} " \
                     f"bcdDevice {d[13]:x}.{d[12]:02x} class {d[4]:02x}/{d[5]:02x}/{d[6]:02x}"
        elif kind == 2 and length >= 9:
            words += f" {d[5]}: {d[4]} interfaces, attributes 0x{d[7]:02x}, MaxPower {d[8] * 2} mA"
        elif kind == 4 and length >= 9:
            words += f" {d[2]} alt {d[3]}: {d[5]:02x}/{d[6]:02x}/{d[7]:02x}, {d[4]} endpoints"
        elif kind == 5 and length >= 7:
            mps = d[4] | d[5] << 8
            words += f" 0x{d[2]:02x} {_EP_TYPES[d[3] & 3]} {'in' if d[2] & 0x80 else 'out'}, " \
                     f"wMaxPacketSize {mps}, bInterval {d[6]}"
        elif kind == 11 and length >= 8:
            words += f": interfaces {d[2]}..{d[2] + d[3] - 1}, function {d[4]:02x}/{d[5]:02x}/{d[6]:02x}"
        elif kind == 0x24 and length >= 3:
            words += f" ({_CDC_SUBTYPES.get(d[2], f'subtype 0x{d[2]:02x}')})"
        out.append((words, d))
        i += length
    return out


def _endpoints(path: str) -> list[dict[str, object]]:
    eps = []
    for name in _children(path, r"ep_[0-9a-f]{2}"):
        p = os.path.join(path, name)
        eps.append({"address": _read(os.path.join(p, "bEndpointAddress")), "type": _read(os.path.join(p, "type")),
                    "direction": _read(os.path.join(p, "direction")),
                    "wMaxPacketSize": _read(os.path.join(p, "wMaxPacketSize")),
                    "bInterval": _read(os.path.join(p, "bInterval")), "interval": _read(os.path.join(p, "interval"))})
    return eps


_DEVICE_FILES = ("idVendor", "idProduct", "bcdDevice", "version", "speed", "bDeviceClass", "bDeviceSubClass",
                 "bDeviceProtocol", "bMaxPacketSize0", "bNumConfigurations", "bConfigurationValue", "bmAttributes",
                 "bMaxPower", "manufacturer", "product", "serial", "busnum", "devnum", "devpath", "removable")
_INTERFACE_FILES = ("bInterfaceNumber", "bAlternateSetting", "bInterfaceClass", "bInterfaceSubClass",
                    "bInterfaceProtocol", "bNumEndpoints", "interface", "modalias")


def dump_device(sysroot: str, sysname: str) -> dict[str, object] | None:
    """Everything sysfs says about one USB device that a report from real hardware needs: the
    device's and each interface's descriptor fields, endpoints, bound drivers and the names the
    drivers made (ttyUSBn, wwan0), our role guess, and the raw descriptors (what ``lsusb -v``
    decodes, including the class-specific ones sysfs has no file for)."""
    info = read_device(sysroot, sysname)
    if info is None:
        return None
    dev = os.path.join(sysroot, "bus", "usb", "devices", sysname)
    try:
        with open(os.path.join(dev, "descriptors"), "rb") as f:
            raw = f.read()
    except OSError:
        raw = b""
    base = os.path.join(sysroot, "bus", "usb", "devices")
    interfaces = []
    for i in info.interfaces:
        path = os.path.join(base, i.sysname)
        fields = {name: _read(os.path.join(path, name)) for name in _INTERFACE_FILES}
        interfaces.append({"sysname": i.sysname, **fields, "driver": i.driver, "ttys": list(i.ttys),
                           "nets": list(i.nets), "wdms": list(i.wdms), "role": i.role.value, "why": i.guess.source,
                           "endpoints": _endpoints(path)})
    return {"device": sysname, **{name: _read(os.path.join(dev, name)) for name in _DEVICE_FILES},
            "mode": info.mode.value, "interfaces": interfaces,
            "descriptors": [{"what": words, "hex": d.hex(" ")} for words, d in describe_descriptors(raw)]}
