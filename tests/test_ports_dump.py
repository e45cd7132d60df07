"""`pppstack ports --dump`: what a hardware report needs, read from a sysfs tree."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from modem_sysfs import E3372H_320_155F, add_device

from pppstack.cli import main
from pppstack.io.sysfs import describe_descriptors

DEVICE = bytes([18, 1, 0x00, 0x02, 0, 0, 0, 64, 0xD1, 0x12, 0x5E, 0x15, 0x02, 0x01, 1, 2, 3, 1])
CONFIG = bytes([9, 2, 0, 0, 5, 1, 0, 0x80, 1])
PCUI = bytes([9, 4, 0, 0, 3, 0xFF, 0x02, 0x02, 0])
EP_IN = bytes([7, 5, 0x81, 2]) + struct.pack("<H", 512) + bytes([0])
NCM_FUNC = bytes([6, 0x24, 0x1A, 0x00, 0x01, 0x00])


def stick(tmp_path: Path) -> Path:
    add_device(tmp_path, "1-1", 0x12D1, 0x155E, E3372H_320_155F)
    dev = tmp_path / "bus/usb/devices/1-1"
    for name, value in (("bcdDevice", "0102"), ("version", " 2.00"), ("speed", "480"), ("busnum", "1"),
                        ("devnum", "3"), ("bMaxPower", "2mA"), ("serial", "0123456789ABCDEF")):
        (dev / name).write_text(value + "\n")
    (dev / "descriptors").write_bytes(DEVICE + CONFIG + PCUI + EP_IN + NCM_FUNC)
    ep = tmp_path / "bus/usb/devices/1-1:1.2/ep_81"
    ep.mkdir()
    for name, value in (("bEndpointAddress", "81"), ("type", "Bulk"), ("direction", "in"),
                        ("wMaxPacketSize", "0200"), ("bInterval", "00"), ("interval", "0ms")):
        (ep / name).write_text(value + "\n")
    return tmp_path


def test_dump_text_has_ids_interfaces_endpoints_and_decoded_raw_descriptors(tmp_path, capsys) -> None:
    assert main(["ports", "--sysfs", str(stick(tmp_path)), "--dump"]) == 0
    out = capsys.readouterr().out
    assert "device 1-1  12d1:155e  bcdDevice 0102  USB 2.00  speed 480 Mbit/s" in out
    assert "interface 1-1:1.2  #02 alt " in out and "ff/02/01" in out
    assert "driver option  device ttyUSB2  role modem" in out
    assert "endpoint 81 bulk in  wMaxPacketSize 0200" in out
    assert "= device 12d1:155e bcdUSB 2.00 bcdDevice 1.02 class 00/00/00" in out
    assert "= interface 0 alt 0: ff/02/02, 3 endpoints" in out
    assert "= endpoint 0x81 bulk in, wMaxPacketSize 512, bInterval 0" in out
    assert "= class-specific interface (CDC NCM)" in out
    assert "06 24 1a 00 01 00" in out


def test_dump_json_and_a_truncated_descriptor(tmp_path, capsys) -> None:
    root = stick(tmp_path)
    (root / "bus/usb/devices/1-1/descriptors").write_bytes(DEVICE + bytes([9, 2, 0]))
    assert main(["ports", "--sysfs", str(root), "--dump", "--json"]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    assert doc["idProduct"] == "155e" and doc["interfaces"][3]["nets"] == ["wwan0"]
    assert doc["descriptors"][-1]["what"].startswith("truncated (3 bytes left")


def test_describe_descriptors_stops_at_a_zero_length() -> None:
    assert describe_descriptors(bytes([0, 4, 1, 2]))[0][0].startswith("truncated")
    assert describe_descriptors(b"") == []
