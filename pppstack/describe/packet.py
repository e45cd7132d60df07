"""pppd's format_packet (pppd/utils.c) and protocol table (pppd/main.c protocols[]).

pppd logs `sent %P` / `rcvd %P`: for a frame starting FF 03 it looks the protocol up,
prints `[NAME` + the protocol's printer + `]`, and then the octets the printer did not
consume in hex (at most 32, then ` ...`).  Data protocols print `[IP data]` and their
first 8 octets; anything else prints `[proto=0x...]`.  pppd formats into a 1024-octet
buffer, so a log line never exceeds 1023 characters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pppstack.describe._printf import Out, hexbytes
from pppstack.describe.auth import chap_printpkt, eap_printpkt, pap_printpkt
from pppstack.describe.lcp import cbcp_printpkt, lcp_printpkt
from pppstack.describe.ncp import ccp_printpkt, ecp_printpkt, ipcp_printpkt, ipv6cp_printpkt
from pppstack.wire import Protocol

__all__ = ["ProtocolEntry", "PROTOCOLS", "find_protocol", "format_packet", "describe_packet", "describe_frame",
           "normalize_frame", "LINE_LIMIT"]  # fmt: skip

Printer = Callable[[bytes, Out], int]


@dataclass(frozen=True, slots=True)
class ProtocolEntry:
    """One row of pppd's protocols[]: number, name, printer, and the name of its data protocol."""

    number: int
    name: str
    printer: Printer
    data_name: str | None = None


# pppd's order, as Debian's pppd 2.4.9 is built (CBCP, IPv6, multilink and MPPE compiled in).
PROTOCOLS: tuple[ProtocolEntry, ...] = (
    ProtocolEntry(Protocol.LCP, "LCP", lcp_printpkt),
    ProtocolEntry(Protocol.PAP, "PAP", pap_printpkt),
    ProtocolEntry(Protocol.CHAP, "CHAP", chap_printpkt),
    ProtocolEntry(Protocol.CBCP, "CBCP", cbcp_printpkt),
    ProtocolEntry(Protocol.IPCP, "IPCP", ipcp_printpkt, "IP"),
    ProtocolEntry(Protocol.IPV6CP, "IPV6CP", ipv6cp_printpkt, "IPV6"),
    ProtocolEntry(Protocol.CCP, "CCP", ccp_printpkt, "Compressed"),
    ProtocolEntry(Protocol.ECP, "ECP", ecp_printpkt, "Encrypted"),
    ProtocolEntry(Protocol.EAP, "EAP", eap_printpkt),
)
_BY_NUMBER = {e.number: e for e in PROTOCOLS}
_BY_DATA = {e.number & ~0x8000: e for e in reversed(PROTOCOLS) if e.data_name}

# The text after "sent " or "rcvd " in pppd's 1024-octet log buffer (NUL included).
LINE_LIMIT = 1023 - len("sent ")


def find_protocol(number: int) -> ProtocolEntry | None:
    """The control protocol pppd prints by name, if any."""
    return _BY_NUMBER.get(number)


def format_packet(packet: bytes) -> str:
    """pppd's %P of a packet as pppd holds it (FF 03, two-octet protocol, information)."""
    out = Out()
    rest = packet
    if len(packet) >= 4 and packet[0] == 0xFF and packet[1] == 0x03:
        proto = (packet[2] << 8) | packet[3]
        info = packet[4:]
        entry = _BY_NUMBER.get(proto)
        if entry is not None:
            out("[" + entry.name)
            used = entry.printer(info, out)
            out("]")
            rest = info[used:] if used >= 0 else info  # printers never step backwards in practice
            if rest and proto == Protocol.PAP and info[0] == 1:
                # octets of an Authenticate-Request that pppd would dump in hex may be the password
                out(f" <{len(rest)} octets hidden>")
                rest = b""
        else:
            data = _BY_DATA.get(proto)
            if data is not None:
                out(f"[{data.data_name} data]")
                out(hexbytes(info[:8]) + (" ..." if len(info) > 8 else ""))
                rest = b""
            else:
                out(f"[proto=0x{proto:x}]")
                rest = info
    out(hexbytes(rest[:32]) + (" ..." if len(rest) > 32 else ""))
    return out.text()[:LINE_LIMIT]


def describe_packet(protocol: int, info: bytes) -> str:
    """pppd's debug text for one packet, e.g. "[LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0xa1e27395>]".

    `protocol` is the PPP protocol number, `info` the information field (no padding is
    stripped: pppd prints padding as trailing hex).  Never raises, never prints a secret.
    """
    protocol &= 0xFFFF
    return format_packet(bytes((0xFF, 0x03, protocol >> 8, protocol & 0xFF)) + bytes(info))


def normalize_frame(frame: bytes) -> bytes | None:
    """Restore FF 03 and a two-octet protocol (ACFC/PFC undone), as Linux hands frames to pppd.

    None when the kernel would have dropped the frame (bad address/control, no protocol).
    """
    frame = bytes(frame)
    i = 0
    if frame[:1] == b"\xff":
        if frame[1:2] != b"\x03":
            return None
        i = 2
    if i >= len(frame):
        return None
    if frame[i] & 1:
        return b"\xff\x03\x00" + frame[i:]
    if i + 2 > len(frame):
        return None
    return b"\xff\x03" + frame[i:]


def describe_frame(frame: bytes) -> str:
    """pppd's debug text for a de-framed PPP frame (no FCS), with or without FF 03, PFC or not.

    A frame Linux would drop before pppd sees it (address 0xff with a control other than
    0x03, no protocol field) is shown as pppd shows an unrecognised buffer: its octets in hex.
    """
    packet = normalize_frame(frame)
    return format_packet(packet if packet is not None else bytes(frame))
