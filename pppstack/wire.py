"""PPP wire formats shared by every protocol: frame header, control packets, options.

Sans-I/O and allocation-light.  Names follow RFC 1661 (§2 encapsulation, §5 packet
format, §6 option format) and the IANA PPP protocol registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pppstack.errors import MalformedPacket

__all__ = [
    "Protocol",
    "PROTOCOL_NAMES",
    "protocol_name",
    "Code",
    "ControlPacket",
    "Option",
    "parse_options",
    "build_options",
    "split_frame",
    "build_frame",
    "ALLSTATIONS",
    "UI",
]

ALLSTATIONS = 0xFF  # RFC 1662 §3.1 Address field
UI = 0x03  # RFC 1662 §3.1 Control field (Unnumbered Information)


class Protocol(IntEnum):
    """PPP protocol numbers (RFC 1661 §2, IANA registry): the one table the whole tree uses."""

    IPV4 = 0x0021
    VJ_COMP = 0x002D
    VJ_UNCOMP = 0x002F
    ENCRYPTED_DATAGRAM = 0x0053
    IPV6 = 0x0057
    COMP_DATAGRAM = 0x00FD
    IPCP = 0x8021
    ECP = 0x8053
    IPV6CP = 0x8057
    CCP = 0x80FD
    LCP = 0xC021
    PAP = 0xC023
    LQR = 0xC025
    CBCP = 0xC029
    CHAP = 0xC223
    EAP = 0xC227


# Long names as the IANA registry writes them (Protocol-Reject log lines; pppd's short names, with
# their printers, are describe.packet.PROTOCOLS, keyed by these same numbers).
PROTOCOL_NAMES: dict[Protocol, str] = {
    Protocol.IPV4: "Internet Protocol",
    Protocol.VJ_COMP: "VJ compressed TCP/IP",
    Protocol.VJ_UNCOMP: "VJ uncompressed TCP/IP",
    Protocol.ENCRYPTED_DATAGRAM: "Encrypted Datagram",
    Protocol.IPV6: "Internet Protocol Version 6",
    Protocol.COMP_DATAGRAM: "Compressed Datagram",
    Protocol.IPCP: "Internet Protocol Control Protocol",
    Protocol.ECP: "Encryption Control Protocol",
    Protocol.IPV6CP: "IPv6 Control Protocol",
    Protocol.CCP: "Compression Control Protocol",
    Protocol.LCP: "Link Control Protocol",
    Protocol.PAP: "Password Authentication Protocol",
    Protocol.LQR: "Link Quality Report",
    Protocol.CBCP: "Callback Control Protocol",
    Protocol.CHAP: "Challenge Handshake Authentication Protocol",
    Protocol.EAP: "Extensible Authentication Protocol",
}


def protocol_name(number: int, default: str = "unknown protocol") -> str:
    """The registry's name of a protocol number, or `default`."""
    try:
        return PROTOCOL_NAMES[Protocol(number)]
    except ValueError:
        return default


class Code(IntEnum):
    """Control-protocol packet codes (RFC 1661 §5, RFC 1570 for 12/13)."""

    CONF_REQ = 1
    CONF_ACK = 2
    CONF_NAK = 3
    CONF_REJ = 4
    TERM_REQ = 5
    TERM_ACK = 6
    CODE_REJ = 7
    PROT_REJ = 8
    ECHO_REQ = 9
    ECHO_REP = 10
    DISC_REQ = 11
    IDENTIFICATION = 12
    TIME_REMAINING = 13


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """One LCP/NCP/auth packet: Code, Identifier and the data after the Length field."""

    code: int
    identifier: int
    data: bytes = b""

    @classmethod
    def parse(cls, payload: bytes) -> ControlPacket:
        """Parse the information field of a control-protocol frame.

        Octets beyond the Length field are padding and are ignored (RFC 1661 §5).

        Raises:
            MalformedPacket: shorter than 4 octets, or Length outside 4..len(payload).
        """
        if len(payload) < 4:
            raise MalformedPacket(f"control packet of {len(payload)} octets is shorter than its header")
        length = (payload[2] << 8) | payload[3]
        if length < 4 or length > len(payload):
            raise MalformedPacket(f"control packet Length {length} does not fit the {len(payload)} octets received")
        return cls(payload[0], payload[1], bytes(payload[4:length]))

    def build(self) -> bytes:
        """Return Code, Identifier, Length and data as sent on the wire."""
        length = 4 + len(self.data)
        if length > 0xFFFF:
            raise ValueError("control packet longer than 65535 octets")
        return bytes((self.code & 0xFF, self.identifier & 0xFF, length >> 8, length & 0xFF)) + self.data


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration option (RFC 1661 §6): Type and the data after the Length octet."""

    type: int
    data: bytes = b""

    def build(self) -> bytes:
        if len(self.data) > 253:
            raise ValueError("option data longer than 253 octets")
        return bytes((self.type, len(self.data) + 2)) + self.data


def parse_options(data: bytes) -> list[Option]:
    """Split the data of a Configure-* packet into options, raw bytes kept.

    Raises:
        MalformedPacket: an option Length below 2 or running past the packet.
    """
    options: list[Option] = []
    i, n = 0, len(data)
    while i < n:
        if n - i < 2:
            raise MalformedPacket(f"option at offset {i} is cut short after its Type")
        length = data[i + 1]
        if length < 2:
            raise MalformedPacket(f"option type {data[i]} has Length {length} (must be at least 2)")
        if i + length > n:
            raise MalformedPacket(f"option type {data[i]} Length {length} runs past the end of the packet")
        options.append(Option(data[i], bytes(data[i + 2 : i + length])))
        i += length
    return options


def build_options(options: list[Option]) -> bytes:
    """Concatenate options in order."""
    return b"".join(o.build() for o in options)


def split_frame(frame: bytes) -> tuple[int, bytes]:
    """Split a deframed PPP frame (no FCS) into (protocol, information).

    Accepts the Address/Control field present or elided (ACFC, RFC 1661 §6.6) and a
    one- or two-octet protocol field (PFC, §6.5: the low bit of the last octet is 1).

    Raises:
        MalformedPacket: empty frame, a bad Address/Control pair, or no protocol field.
    """
    i = 0
    if len(frame) >= 2 and frame[0] == ALLSTATIONS:
        if frame[1] != UI:
            raise MalformedPacket(f"address 0xff followed by control 0x{frame[1]:02x}, not 0x03")
        i = 2
    if i >= len(frame):
        raise MalformedPacket("frame has no protocol field")
    first = frame[i]
    if first & 1:
        return first, bytes(frame[i + 1 :])
    if i + 1 >= len(frame):
        raise MalformedPacket("frame ends inside its protocol field")
    second = frame[i + 1]
    if not second & 1:
        raise MalformedPacket(f"protocol field 0x{first:02x}{second:02x} has an even last octet")
    return (first << 8) | second, bytes(frame[i + 2 :])


def build_frame(protocol: int, info: bytes, *, acfc: bool = False, pfc: bool = False) -> bytes:
    """Build a PPP frame (Address/Control, Protocol, Information) ready for HDLC encoding.

    `acfc` elides FF 03, `pfc` sends a protocol below 0x100 as one octet; the caller
    decides when they apply (never for LCP, RFC 1661 §6.5/§6.6).
    """
    if pfc and protocol < 0x100:
        head = bytes((protocol,))
    else:
        head = bytes((protocol >> 8, protocol & 0xFF))
    if not acfc:
        head = b"\xff\x03" + head
    return head + info
