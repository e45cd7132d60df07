"""Named fields of a PPP packet, for machine-readable output (`pppstack decode --json`).

The text form is pppd's (packet.py); this is the same packet as a JSON-ready dict:
protocol, code, identifier, options with names and typed values, and the raw octets
wherever a value does not parse.  Secrets never appear (a PAP password is reduced to
its length).  Total: a malformed packet gives an "error" sentence, not an exception.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pppstack.describe.auth import CHAP_CODE_NAMES, EAP_CODE_NAMES, PAP_CODE_NAMES
from pppstack.describe.lcp import LCP_CODE_NAMES, LCP_OPTION_NAMES
from pppstack.describe.ncp import (
    CCP_CODE_NAMES,
    CCP_OPTION_NAMES,
    IPCP_OPTION_NAMES,
    IPV6CP_OPTION_NAMES,
    NCP_CODE_NAMES,
    link_local,
)
from pppstack.describe.packet import _BY_DATA, describe_frame, describe_packet, find_protocol, normalize_frame
from pppstack.errors import MalformedPacket
from pppstack.wire import ControlPacket, Option, Protocol, parse_options

__all__ = ["decode_packet", "decode_frame"]

_CODE_NAMES: dict[int, tuple[str | None, ...]] = {
    Protocol.LCP: LCP_CODE_NAMES, Protocol.IPCP: NCP_CODE_NAMES, Protocol.IPV6CP: NCP_CODE_NAMES,
    Protocol.CCP: CCP_CODE_NAMES, Protocol.ECP: NCP_CODE_NAMES, Protocol.PAP: PAP_CODE_NAMES,
    Protocol.CHAP: CHAP_CODE_NAMES, Protocol.EAP: EAP_CODE_NAMES,
    Protocol.CBCP: ("Request", "Response", "Ack"),
}  # fmt: skip
_OPTION_NAMES: dict[int, dict[int, str]] = {
    Protocol.LCP: LCP_OPTION_NAMES, Protocol.IPCP: IPCP_OPTION_NAMES, Protocol.IPV6CP: IPV6CP_OPTION_NAMES,
    Protocol.CCP: CCP_OPTION_NAMES}  # fmt: skip
_AUTH_NAMES: dict[int, str] = {Protocol.PAP: "pap", Protocol.CHAP: "chap", Protocol.EAP: "eap"}
_CHAP_DIGESTS = {5: "MD5", 0x80: "MS", 0x81: "MS-v2"}


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def _ip(data: bytes) -> str:
    return str(ipaddress.IPv4Address(data))


def _option_value(protocol: int, opt: Option) -> Any:
    """A typed value for the options pppd knows, or None (the raw hex is always given)."""
    t, d = opt.type, opt.data
    if protocol == Protocol.LCP:
        if t in (1, 17) and len(d) == 2:
            return int.from_bytes(d, "big")
        if t in (2, 5) and len(d) == 4:
            return int.from_bytes(d, "big")
        if t == 3 and len(d) >= 2:
            proto = int.from_bytes(d[:2], "big")
            value: dict[str, Any] = {"protocol": proto, "name": _AUTH_NAMES.get(proto, f"0x{proto:x}")}
            if proto == Protocol.CHAP and len(d) >= 3:
                value["algorithm"] = _CHAP_DIGESTS.get(d[2], d[2])
            return value
        if t in (7, 8, 18) and not d:
            return True
    elif protocol == Protocol.IPCP:
        if t == 1 and len(d) == 8:
            return [_ip(d[:4]), _ip(d[4:])]
        if t == 2 and len(d) >= 2:
            proto = int.from_bytes(d[:2], "big")
            value = {"protocol": proto, "name": {0x2D: "VJ", 0x37: "old-VJ"}.get(proto, f"0x{proto:x}")}
            if proto == 0x2D and len(d) == 4:
                value.update(max_slot_id=d[2], comp_slot_id=d[3])
            return value
        if t in (3, 129, 130, 131, 132) and len(d) == 4:
            return _ip(d)
    elif protocol == Protocol.IPV6CP:
        if t == 1 and len(d) == 8:
            return {"interface_id": d.hex(), "link_local": link_local(d)}
    elif protocol == Protocol.CCP:
        if t in (24, 26) and len(d) >= 2:
            return {"window": (d[0] >> 4) + 8, "method": d[0] & 0x0F, "check": d[1]}
        if t == 21 and len(d) >= 1:
            return {"version": d[0] >> 5, "bits": d[0] & 0x1F}
    return None


def _options(protocol: int, data: bytes, result: dict[str, Any]) -> None:
    try:
        options = parse_options(data)
    except MalformedPacket as exc:
        result["error"] = str(exc)
        return
    names = _OPTION_NAMES.get(protocol, {})
    listed = []
    for opt in options:
        item: dict[str, Any] = {"type": opt.type, "name": names.get(opt.type), "hex": opt.data.hex()}
        value = _option_value(protocol, opt)
        if value is not None:
            item["value"] = value
        listed.append(item)
    result["options"] = listed


def _body(protocol: int, pkt: ControlPacket, result: dict[str, Any]) -> None:
    code, data = pkt.code, pkt.data
    fsm = protocol in (Protocol.LCP, Protocol.IPCP, Protocol.IPV6CP, Protocol.CCP, Protocol.ECP)
    if fsm and 1 <= code <= 4:
        _options(protocol, data, result)
    elif fsm and code in (5, 6):
        result["reason"] = _text(data)
    elif protocol == Protocol.LCP and code in (9, 10, 11, 12, 13) and len(data) >= 4:
        result["magic"] = int.from_bytes(data[:4], "big")
        if code == 12:
            result["message"] = _text(data[4:])
        elif code == 13 and len(data) >= 8:
            result["seconds"] = int.from_bytes(data[4:8], "big")
    elif fsm and code == 8 and len(data) >= 2:
        rejected = int.from_bytes(data[:2], "big")
        entry = find_protocol(rejected) or _BY_DATA.get(rejected)
        result["rejected_protocol"] = rejected
        result["rejected_protocol_name"] = (
            None if entry is None else (entry.name if entry.number == rejected else entry.data_name)
        )
        result["rejected_info"] = data[2:].hex()
    elif fsm and code == 7:
        result["rejected_packet"] = data.hex()
    elif protocol == Protocol.PAP:
        _pap(code, data, result)
    elif protocol == Protocol.CHAP:
        _chap(code, data, result)
    elif data:
        result["hex"] = data.hex()


def _pap(code: int, data: bytes, result: dict[str, Any]) -> None:
    if code == 1 and data and len(data) >= data[0] + 2 and len(data) >= data[0] + 2 + data[data[0] + 1]:
        result["user"] = _text(data[1 : 1 + data[0]])
        result["password_length"] = data[data[0] + 1]  # the password itself is never output
    elif code in (2, 3) and data and len(data) >= data[0] + 1:
        result["message"] = _text(data[1 : 1 + data[0]])
    elif data:
        result["error"] = "PAP fields run past the end of the packet"


def _chap(code: int, data: bytes, result: dict[str, Any]) -> None:
    if code in (1, 2):
        if data and len(data) >= data[0] + 1:
            result["value"] = data[1 : 1 + data[0]].hex()
            result["name"] = _text(data[1 + data[0] :])
        else:
            result["error"] = "CHAP Value-Size runs past the end of the packet"
    elif code in (3, 4):
        result["message"] = _text(data)


def _ip_data(protocol: int, info: bytes, result: dict[str, Any]) -> None:
    if protocol == Protocol.IPV4 and len(info) >= 20 and info[0] >> 4 == 4:
        result.update(src=_ip(info[12:16]), dst=_ip(info[16:20]), ip_protocol=info[9],
                      ip_length=int.from_bytes(info[2:4], "big"))  # fmt: skip
    elif protocol == Protocol.IPV6 and len(info) >= 40 and info[0] >> 4 == 6:
        result.update(src=str(ipaddress.IPv6Address(info[8:24])), dst=str(ipaddress.IPv6Address(info[24:40])),
                      next_header=info[6], payload_length=int.from_bytes(info[4:6], "big"))  # fmt: skip


def decode_packet(protocol: int, info: bytes) -> dict[str, Any]:
    """The packet's fields as a JSON-ready dict; "text" holds pppd's description."""
    protocol &= 0xFFFF
    info = bytes(info)
    entry = find_protocol(protocol)
    data_entry = _BY_DATA.get(protocol) if entry is None else None
    result: dict[str, Any] = {
        "protocol": protocol,
        "protocol_name": entry.name if entry else (data_entry.data_name if data_entry else None),
        "length": len(info),
        "text": describe_packet(protocol, info),
    }
    if entry is None:
        _ip_data(protocol, info, result)
        return result
    try:
        pkt = ControlPacket.parse(info)
    except MalformedPacket as exc:
        result["error"] = str(exc)
        return result
    names = _CODE_NAMES.get(protocol, ())
    result["code"] = pkt.code
    result["code_name"] = names[pkt.code - 1] if 1 <= pkt.code <= len(names) else None
    result["id"] = pkt.identifier
    if len(info) > len(pkt.data) + 4:
        result["padding"] = len(info) - len(pkt.data) - 4
    _body(protocol, pkt, result)
    return result


def decode_frame(frame: bytes) -> dict[str, Any]:
    """Like decode_packet, for a de-framed PPP frame (FF 03 and PFC handled)."""
    packet = normalize_frame(frame)
    if packet is None:
        return {"protocol": None, "length": len(frame), "error": "frame has no valid address, control and protocol",
                "text": describe_frame(frame)}  # fmt: skip
    return decode_packet((packet[2] << 8) | packet[3], packet[4:])
