"""NCM function parameters: the GET_NTB_PARAMETERS answer and the CDC functional descriptors.

Field names are the spec's (USB CDC NCM 1.0 §6.2.1 Table 6-3, CDC 1.2 §5.2.3, ECM 1.2 §5.4,
NCM §5.2.1), so they can be checked against cdc.h and the spec line by line.  Device values
that make no sense are not trusted: the ``out_*`` properties apply cdc_ncm's fallbacks (a
divisor or alignment that is not a power of two ≥ 4 becomes 4, a remainder ≥ divisor becomes 0,
wNtbOutMaxDatagrams 0 means "no limit" and becomes cdc_ncm's 40).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "NtbParameters", "NTB16_SUPPORTED", "NTB32_SUPPORTED", "DEFAULT_MAX_DATAGRAMS",
    "CdcHeader", "CdcUnion", "CdcEthernet", "CdcNcm", "CdcMbim", "FunctionalDescriptors",
    "parse_functional_descriptors", "parse_mac_string",
    "NCAP_ETH_FILTER", "NCAP_NET_ADDRESS", "NCAP_ENCAP_COMMAND", "NCAP_MAX_DATAGRAM_SIZE",
    "NCAP_CRC_MODE", "NCAP_NTB_INPUT_SIZE",
]

NTB16_SUPPORTED = 0x0001
NTB32_SUPPORTED = 0x0002
DEFAULT_MAX_DATAGRAMS = 40          # CDC_NCM_DPT_DATAGRAMS_MAX
NTB_PARAMETERS_LEN = 28

# bmNetworkCapabilities of the NCM functional descriptor (NCM 1.0 Table 5-2)
NCAP_ETH_FILTER = 0x01
NCAP_NET_ADDRESS = 0x02
NCAP_ENCAP_COMMAND = 0x04
NCAP_MAX_DATAGRAM_SIZE = 0x08
NCAP_CRC_MODE = 0x10
NCAP_NTB_INPUT_SIZE = 0x20          # SET_NTB_INPUT_SIZE takes 8 bytes (size + max datagrams)

_PARAMS = struct.Struct("<HHIHHHHIHHHH")


def _sane_modulus(v: int) -> int:
    return v if v >= 4 and v & (v - 1) == 0 else 4


@dataclass(frozen=True, slots=True)
class NtbParameters:
    """The 28-byte NTB Parameter Structure (NCM 1.0 Table 6-3)."""
    wLength: int = NTB_PARAMETERS_LEN
    bmNtbFormatsSupported: int = NTB16_SUPPORTED
    dwNtbInMaxSize: int = 16384
    wNdpInDivisor: int = 4
    wNdpInPayloadRemainder: int = 0
    wNdpInAlignment: int = 4
    dwNtbOutMaxSize: int = 16384
    wNdpOutDivisor: int = 4
    wNdpOutPayloadRemainder: int = 0
    wNdpOutAlignment: int = 4
    wNtbOutMaxDatagrams: int = 0

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> NtbParameters:
        """Parse a GET_NTB_PARAMETERS answer.  Raises ValueError (with the reason) when it is
        shorter than 28 bytes, says a wLength below 28, or supports no NTB format."""
        if len(data) < NTB_PARAMETERS_LEN:
            raise ValueError(f"GET_NTB_PARAMETERS answered {len(data)} bytes, expected 28")
        (wlen, fmts, in_max, in_div, in_rem, in_align, _reserved, out_max, out_div, out_rem, out_align,
         out_dgrams) = _PARAMS.unpack_from(data, 0)
        if wlen < NTB_PARAMETERS_LEN:
            raise ValueError(f"NTB parameters wLength is {wlen}, expected 28")
        if not fmts & NTB16_SUPPORTED:
            # NCM 1.0 §6.2.1: every function must support NTB16.
            raise ValueError(f"bmNtbFormatsSupported 0x{fmts:04x} lacks the mandatory NTB16")
        if out_max < 12 + 16 + 14:
            raise ValueError(f"dwNtbOutMaxSize {out_max} cannot hold a single datagram")
        return cls(wlen, fmts, in_max, in_div, in_rem, in_align, out_max, out_div, out_rem, out_align, out_dgrams)

    def to_bytes(self) -> bytes:
        return _PARAMS.pack(self.wLength, self.bmNtbFormatsSupported, self.dwNtbInMaxSize, self.wNdpInDivisor,
                            self.wNdpInPayloadRemainder, self.wNdpInAlignment, 0, self.dwNtbOutMaxSize,
                            self.wNdpOutDivisor, self.wNdpOutPayloadRemainder, self.wNdpOutAlignment,
                            self.wNtbOutMaxDatagrams)

    @property
    def ntb32_supported(self) -> bool:
        return bool(self.bmNtbFormatsSupported & NTB32_SUPPORTED)

    @property
    def out_divisor(self) -> int:
        return _sane_modulus(self.wNdpOutDivisor)

    @property
    def out_remainder(self) -> int:
        r = self.wNdpOutPayloadRemainder
        return r if r < self.out_divisor else 0

    @property
    def out_ndp_alignment(self) -> int:
        return _sane_modulus(self.wNdpOutAlignment)

    @property
    def out_max_datagrams(self) -> int:
        return self.wNtbOutMaxDatagrams or DEFAULT_MAX_DATAGRAMS

    def describe(self) -> str:
        return (f"formats {'NTB16+NTB32' if self.ntb32_supported else 'NTB16'}, in max {self.dwNtbInMaxSize}, "
                f"out max {self.dwNtbOutMaxSize}, out divisor {self.wNdpOutDivisor} remainder "
                f"{self.wNdpOutPayloadRemainder} alignment {self.wNdpOutAlignment}, out max datagrams "
                f"{self.wNtbOutMaxDatagrams or 'unlimited'}")


# ------------------------------------------------------------------ functional descriptors

CS_INTERFACE = 0x24
CDC_HEADER_TYPE = 0x00
CDC_UNION_TYPE = 0x06
CDC_ETHERNET_TYPE = 0x0F
CDC_NCM_TYPE = 0x1A
CDC_MBIM_TYPE = 0x1B


@dataclass(frozen=True, slots=True)
class CdcHeader:
    bcdCDC: int


@dataclass(frozen=True, slots=True)
class CdcUnion:
    bMasterInterface0: int
    bSlaveInterface: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CdcEthernet:
    iMACAddress: int
    bmEthernetStatistics: int
    wMaxSegmentSize: int
    wNumberMCFilters: int
    bNumberPowerFilters: int


@dataclass(frozen=True, slots=True)
class CdcNcm:
    bcdNcmVersion: int
    bmNetworkCapabilities: int


@dataclass(frozen=True, slots=True)
class CdcMbim:
    bcdMBIMVersion: int
    wMaxControlMessage: int
    bNumberFilters: int
    bMaxFilterSize: int
    wMaxSegmentSize: int
    bmNetworkCapabilities: int


@dataclass(frozen=True, slots=True)
class FunctionalDescriptors:
    header: CdcHeader | None = None
    union: CdcUnion | None = None
    ethernet: CdcEthernet | None = None
    ncm: CdcNcm | None = None
    mbim: CdcMbim | None = None
    other_subtypes: tuple[int, ...] = ()
    problems: tuple[str, ...] = field(default=())


def parse_functional_descriptors(extra: bytes | bytearray | memoryview | list[int]) -> FunctionalDescriptors:
    """Parse the class-specific descriptors that follow an interface descriptor (pyusb's
    ``extra_descriptors``).  Never raises: a malformed run is reported in ``problems`` and the
    descriptors parsed before it are kept (cdc_parse_cdc_header does the same)."""
    data = bytes(extra)
    found: dict[str, object] = {}
    others: list[int] = []
    problems: list[str] = []
    i = 0
    while i + 2 <= len(data):
        blen, btype = data[i], data[i + 1]
        if blen < 2 or i + blen > len(data):
            problems.append(f"descriptor at offset {i} has bLength {blen} past the end ({len(data)} bytes)")
            break
        d = data[i:i + blen]
        i += blen
        if btype != CS_INTERFACE or blen < 3:
            continue
        sub = d[2]
        try:
            if sub == CDC_HEADER_TYPE:
                found.setdefault("header", CdcHeader(struct.unpack_from("<H", d, 3)[0]))
            elif sub == CDC_UNION_TYPE:
                if blen < 5:
                    raise struct.error("union shorter than 5 bytes")
                found.setdefault("union", CdcUnion(d[3], tuple(d[4:])))
            elif sub == CDC_ETHERNET_TYPE:
                found.setdefault("ethernet", CdcEthernet(d[3], *struct.unpack_from("<IHHB", d, 4)))
            elif sub == CDC_NCM_TYPE:
                found.setdefault("ncm", CdcNcm(struct.unpack_from("<H", d, 3)[0], d[5]))
            elif sub == CDC_MBIM_TYPE:
                found.setdefault("mbim", CdcMbim(*struct.unpack_from("<HHBBHB", d, 3)))
            else:
                others.append(sub)
        except (struct.error, IndexError) as exc:
            problems.append(f"functional descriptor subtype 0x{sub:02x} of {blen} bytes is too short ({exc})")
    return FunctionalDescriptors(problems=tuple(problems), other_subtypes=tuple(others), **found)  # type: ignore[arg-type]


def parse_mac_string(text: str | None) -> bytes | None:
    """iMACAddress is a string descriptor of 12 hex digits (ECM 1.2 §5.4).  None if unusable."""
    if not text:
        return None
    t = text.strip().replace(":", "").replace("-", "")
    if len(t) != 12:
        return None
    try:
        mac = bytes.fromhex(t)
    except ValueError:
        return None
    if mac == bytes(6) or mac[0] & 1:     # all-zero or multicast cannot be a station address
        return None
    return mac
