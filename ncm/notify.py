"""CDC notifications from the NCM function's interrupt endpoint (CDC 1.2 §6.3, ECM 1.2 §6.3).

Each notification is an 8-byte header ``bmRequestType=0xA1 bNotificationCode wValue wIndex
wLength`` and wLength bytes of data.  Several may arrive in one interrupt transfer (Huawei
firmwares pack them), so `parse_notifications` walks the whole buffer.  Never raises: anything
unparsable comes back as a `Garbled` item.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["NETWORK_CONNECTION", "RESPONSE_AVAILABLE", "CONNECTION_SPEED_CHANGE", "NetworkConnection",
           "SpeedChange", "ResponseAvailable", "OtherNotification", "Garbled", "Notification",
           "parse_notifications", "build_notification"]

NETWORK_CONNECTION = 0x00
RESPONSE_AVAILABLE = 0x01
CONNECTION_SPEED_CHANGE = 0x2A
_HDR = struct.Struct("<BBHHH")


@dataclass(frozen=True, slots=True)
class NetworkConnection:
    connected: bool
    interface: int


@dataclass(frozen=True, slots=True)
class SpeedChange:
    downlink_bps: int      # DLBitRRate in cdc.h
    uplink_bps: int
    interface: int


@dataclass(frozen=True, slots=True)
class ResponseAvailable:
    interface: int


@dataclass(frozen=True, slots=True)
class OtherNotification:
    code: int
    value: int
    interface: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Garbled:
    data: bytes
    reason: str


Notification = NetworkConnection | SpeedChange | ResponseAvailable | OtherNotification | Garbled


def parse_notifications(data: bytes | bytearray | memoryview) -> list[Notification]:
    out: list[Notification] = []
    buf = bytes(data)
    i = 0
    while i < len(buf):
        if len(buf) - i < 8:
            out.append(Garbled(buf[i:], f"{len(buf) - i} trailing bytes, shorter than a notification header"))
            break
        req_type, code, value, index, length = _HDR.unpack_from(buf, i)
        body = buf[i + 8:i + 8 + length]
        if req_type != 0xA1:
            out.append(Garbled(buf[i:], f"bmRequestType 0x{req_type:02x}, expected 0xa1"))
            break
        if len(body) < length:
            out.append(Garbled(buf[i:], f"notification 0x{code:02x} says {length} data bytes, {len(body)} came"))
            break
        i += 8 + length
        if code == NETWORK_CONNECTION:
            out.append(NetworkConnection(bool(value), index))
        elif code == CONNECTION_SPEED_CHANGE:
            if length < 8:
                out.append(Garbled(buf[i - 8 - length:i], "speed change without its 8 data bytes"))
            else:
                dl, ul = struct.unpack_from("<II", body)
                out.append(SpeedChange(dl, ul, index))
        elif code == RESPONSE_AVAILABLE:
            out.append(ResponseAvailable(index))
        else:
            out.append(OtherNotification(code, value, index, body))
    return out


def build_notification(code: int, value: int = 0, interface: int = 0, data: bytes = b"") -> bytes:
    """The device side (for the fake device and tests)."""
    return _HDR.pack(0xA1, code, value, interface, len(data)) + data
