"""Fake sysfs trees for the modem room's tests (built in tmp_path, nothing committed as data).

Layouts: the thread's E3372h-320 after its usb-mode.json (12d1:155f: 1-1:1.0..1.2 = ttyUSB0..2,
1-1:1.3 cdc_ncm wwan0, 1-1:1.4 its data interface), the -X alt mode 12d1:155e, the vendor-NCM
12d1:1506 layout, the CD-ROM mode 12d1:1f01 and HiLink 14dc.  Interface numbers, drivers, ttys and
the net device follow the thread's kernel log; the vendor protocol bytes of the serial interfaces
are a reconstruction that matches the thread's behaviour (ttyUSB0 answers AT but hangs up after
CONNECT, ttyUSB1 stays silent, ttyUSB2 carries PPP).
"""

from __future__ import annotations

import os
from pathlib import Path

# (number, class, subclass, protocol, driver, children)
Iface = tuple[int, int, int, int, str, tuple[str, ...]]

E3372H_320_155F: list[Iface] = [
    (0, 0xFF, 0x02, 0x12, "option", ("ttyUSB0",)),
    (1, 0xFF, 0x02, 0x13, "option", ("ttyUSB1",)),
    (2, 0xFF, 0x02, 0x01, "option", ("ttyUSB2",)),
    (3, 0x02, 0x0D, 0x00, "cdc_ncm", ("net/wwan0",)),
    (4, 0x0A, 0x00, 0x01, "cdc_ncm", ()),
]
E3372H_1506: list[Iface] = [
    (0, 0xFF, 0x02, 0x01, "option", ("ttyUSB0",)),
    (1, 0xFF, 0x02, 0x16, "huawei_cdc_ncm", ("net/wwan0", "usbmisc/cdc-wdm0")),
    (2, 0xFF, 0x02, 0x02, "option", ("ttyUSB1",)),
]
CDROM_1F01: list[Iface] = [(0, 0x08, 0x06, 0x50, "usb-storage", ())]
HILINK_14DC: list[Iface] = [
    (0, 0x02, 0x06, 0x00, "cdc_ether", ("net/eth1",)),
    (1, 0x0A, 0x00, 0x00, "cdc_ether", ()),
    (2, 0x08, 0x06, 0x50, "usb-storage", ()),
]


def add_device(sysroot: Path, sysname: str, vid: int, pid: int, ifaces: list[Iface],
               manufacturer: str = "HUAWEI_MOBILE", product: str = "HUAWEI_MOBILE") -> None:
    devices = sysroot / "bus" / "usb" / "devices"
    real = sysroot / "devices" / "platform" / "ehci" / "usb1" / sysname
    real.mkdir(parents=True, exist_ok=True)
    for name, value in (("idVendor", f"{vid:04x}"), ("idProduct", f"{pid:04x}"), ("manufacturer", manufacturer),
                        ("product", product), ("bNumInterfaces", f"{len(ifaces):2d}")):
        (real / name).write_text(value + "\n")
    devices.mkdir(parents=True, exist_ok=True)
    os.symlink(real, devices / sysname)
    drivers = sysroot / "bus" / "usb" / "drivers"
    for num, cls, sub, proto, driver, children in ifaces:
        iname = f"{sysname}:1.{num}"
        d = real / iname
        d.mkdir()
        for name, value in (("bInterfaceNumber", num), ("bInterfaceClass", cls), ("bInterfaceSubClass", sub),
                            ("bInterfaceProtocol", proto)):
            (d / name).write_text(f"{value:02x}\n")
        (drivers / driver).mkdir(parents=True, exist_ok=True)
        os.symlink(drivers / driver, d / "driver")
        for child in children:
            (d / child).mkdir(parents=True)
        os.symlink(d, devices / iname)
    # a root hub that must be ignored
    hub = devices / "usb1"
    if not hub.exists():
        hub.mkdir()
        (hub / "idVendor").write_text("1d6b\n")
        (hub / "idProduct").write_text("0002\n")
