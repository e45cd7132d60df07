"""Huawei AT dialect: parsers and command builders for the E3372 family.

Formats follow ModemManager's Huawei plugin (anchors §5): ^HCSQ signal, ^SYSINFOEX system
information, ^SYSCFGEX network mode, ^NDISSTAT / ^NDISSTATQRY data-connection state, ^DHCP
static IPv4 configuration (little-endian hex words), ^NDISDUP dial/teardown.

Every parser takes the text after the colon (``args``) or the whole line, never raises on peer
input, and returns ``None`` when the line does not parse.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum, IntEnum

__all__ = [
    "AuthType", "Hcsq", "Cerssi", "SysInfoEx", "SysCfgEx", "NetworkMode", "NdisStat", "DhcpInfo", "Dhcpv6Info",
    "split_args", "unquote", "parse_hcsq", "parse_cerssi", "parse_sysinfoex", "parse_syscfgex",
    "parse_ndisstat", "parse_dhcp", "parse_dhcpv6", "parse_getportmode", "build_ndisdup", "build_ndisdup_teardown",
    "build_syscfgex", "rssi_csq_to_dbm", "check_at_text", "check_pin",
]


def split_args(args: str) -> list[str]:
    """Split an AT argument list on commas outside double quotes; fields are stripped."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in args:
        if ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def unquote(field: str) -> str:
    field = field.strip()
    if len(field) >= 2 and field[0] == field[-1] == '"':
        return field[1:-1]
    return field


_DIGITS = {10: re.compile(r"[0-9]{1,12}"), 16: re.compile(r"[0-9A-Fa-f]{1,16}"), -10: re.compile(r"-?[0-9]{1,12}")}


def _int(field: str, base: int = 10, signed: bool = False) -> int | None:
    # Strict on purpose: int() would also take "-1" in hex, "1_0", "+7" and unbounded lengths,
    # and a negative hex word is what made ^DHCP raise OverflowError.
    s = unquote(field)
    if _DIGITS[-base if signed else base].fullmatch(s) is None:
        return None
    return int(s, base)


def _after_colon(line: str, prefix: str) -> str:
    """Accept either the whole line (``^HCSQ: ...``) or just its arguments."""
    s = line.strip()
    if s.upper().startswith(prefix.upper()):
        s = s[len(prefix):]
        if s.startswith(":"):
            s = s[1:]
    return s.strip()


def rssi_csq_to_dbm(rssi: int) -> int | None:
    """3GPP TS 27.007 +CSQ / Huawei ^RSSI scale: 0 = -113 dBm ... 31 = -51 dBm, 99 = unknown."""
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    return None


# ---------------------------------------------------------------- ^HCSQ

@dataclass(frozen=True, slots=True)
class Hcsq:
    """``^HCSQ: "<sysmode>",v1..``; raw values plus their dBm/dB meaning (255 = not known)."""

    sysmode: str            # NOSERVICE, GSM, WCDMA, LTE, TD-SCDMA, CDMA, EVDO
    values: tuple[int, ...]
    rssi_dbm: float | None = None
    rsrp_dbm: float | None = None
    sinr_db: float | None = None
    rsrq_db: float | None = None
    rscp_dbm: float | None = None
    ecio_db: float | None = None

    def describe(self) -> str:
        parts = [self.sysmode]
        for name, value, unit in (("RSSI", self.rssi_dbm, "dBm"), ("RSRP", self.rsrp_dbm, "dBm"),
                                  ("SINR", self.sinr_db, "dB"), ("RSRQ", self.rsrq_db, "dB"),
                                  ("RSCP", self.rscp_dbm, "dBm"), ("Ec/Io", self.ecio_db, "dB")):
            if value is not None:
                parts.append(f"{name} {value:g} {unit}")
        return ", ".join(parts)


def _scale(value: int | None, top: int, base: float, step: float) -> float | None:
    # Huawei reports each quantity as an index into a table of equal steps; 255 means unknown.
    if value is None or value < 0 or value > top:
        return None
    return round(base + value * step, 1)


def parse_hcsq(line: str) -> Hcsq | None:
    fields = split_args(_after_colon(line, "^HCSQ"))
    if not fields or not fields[0]:
        return None
    sysmode = unquote(fields[0]).upper()
    maybe = [_int(f) for f in fields[1:]]
    values = tuple(v for v in maybe if v is not None)
    if len(values) != len(maybe):    # a dropped field would shift every later quantity
        return None

    def g(i: int) -> int | None:
        return values[i] if i < len(values) else None
    if sysmode == "LTE":
        return Hcsq(sysmode, values, rssi_dbm=_scale(g(0), 96, -121, 1), rsrp_dbm=_scale(g(1), 97, -141, 1),
                    sinr_db=_scale(g(2), 251, -20.2, 0.2), rsrq_db=_scale(g(3), 34, -20, 0.5))
    if sysmode in ("WCDMA", "TD-SCDMA"):
        return Hcsq(sysmode, values, rssi_dbm=_scale(g(0), 96, -121, 1), rscp_dbm=_scale(g(1), 96, -121, 1),
                    ecio_db=_scale(g(2), 65, -32.5, 0.5))
    if sysmode in ("GSM", "CDMA", "EVDO"):
        return Hcsq(sysmode, values, rssi_dbm=_scale(g(0), 96, -121, 1))
    return Hcsq(sysmode, values)


@dataclass(frozen=True, slots=True)
class Cerssi:
    """``^CERSSI:<gsm rssi>,<wcdma rscp>,<wcdma ecio>,<lte rsrp>,<lte rsrq>,<lte sinr>,...`` in dBm/dB
    (0 = not on that RAT).  Not handled by ModemManager; layout read from the thread's log, where it
    agrees with ^HCSQ sent in the same second."""

    values: tuple[int, ...]

    @property
    def rscp_dbm(self) -> int | None:
        return self.values[1] if len(self.values) > 1 and self.values[1] else None

    @property
    def ecio_db(self) -> int | None:
        return self.values[2] if len(self.values) > 2 and self.values[1] else None


def parse_cerssi(line: str) -> Cerssi | None:
    fields = split_args(_after_colon(line, "^CERSSI"))
    values = tuple(_int(f, signed=True) for f in fields)
    if not values or any(v is None for v in values):
        return None
    return Cerssi(tuple(v for v in values if v is not None))


# ---------------------------------------------------------------- ^SYSINFOEX

@dataclass(frozen=True, slots=True)
class SysInfoEx:
    srv_status: int          # 0 none, 1 restricted, 2 valid, 3 restricted regional, 4 power saving
    srv_domain: int          # 0 none, 1 CS, 2 PS, 3 CS+PS
    roaming: bool
    sim_state: int           # 0 invalid, 1 valid, 2 invalid CS, 3 invalid PS, 4 invalid both, 240 ROM SIM, 255 none
    sysmode: int             # 0 none, 1 GSM, 2 CDMA, 3 WCDMA, 4 TD-SCDMA, 5 WiMAX, 6 LTE
    sysmode_name: str
    submode: int | None
    submode_name: str

    @property
    def has_service(self) -> bool:
        return self.srv_status == 2


def parse_sysinfoex(line: str) -> SysInfoEx | None:
    f = split_args(_after_colon(line, "^SYSINFOEX"))
    if len(f) < 7:
        return None
    nums = [_int(f[i]) for i in (0, 1, 2, 3, 5)]
    if any(n is None for n in nums):
        return None
    srv, dom, roam, sim, mode = (n for n in nums if n is not None)
    sub = _int(f[7]) if len(f) > 7 else None
    return SysInfoEx(srv, dom, bool(roam), sim, mode, unquote(f[6]), sub, unquote(f[8]) if len(f) > 8 else "")


# ---------------------------------------------------------------- ^SYSCFGEX

class NetworkMode(Enum):
    """Acquisition order strings of ^SYSCFGEX (OpenWrt ncm.json names)."""

    AUTO = "00"
    GSM_ONLY = "01"
    UMTS_ONLY = "02"
    LTE_ONLY = "03"
    PREFER_LTE = "030201"
    PREFER_UMTS = "0201"


@dataclass(frozen=True, slots=True)
class SysCfgEx:
    acqorder: str
    band: int
    roam: int
    srvdomain: int
    lteband: int

    @property
    def mode(self) -> NetworkMode | None:
        return next((m for m in NetworkMode if m.value == self.acqorder), None)


def parse_syscfgex(line: str) -> SysCfgEx | None:
    f = split_args(_after_colon(line, "^SYSCFGEX"))
    if len(f) < 5:
        return None
    band, roam, dom, lte = _int(f[1], 16), _int(f[2]), _int(f[3]), _int(f[4], 16)
    if band is None or roam is None or dom is None or lte is None:
        return None
    return SysCfgEx(unquote(f[0]), band, roam, dom, lte)


def build_syscfgex(mode: NetworkMode | str) -> str:
    """``AT^SYSCFGEX="<order>",3FFFFFFF,2,4,7FFFFFFFFFFFFFFF,,``: all bands, roaming allowed
    (2 = no change), CS+PS (4 = no change) — the OpenWrt ncm.json form."""
    order = mode.value if isinstance(mode, NetworkMode) else str(mode)
    if not order or len(order) % 2 or not order.isdigit():
        raise ValueError(f"not a ^SYSCFGEX acquisition order: {order!r}")
    return f'AT^SYSCFGEX="{order}",3FFFFFFF,2,4,7FFFFFFFFFFFFFFF,,'


# ---------------------------------------------------------------- ^NDISSTAT / ^NDISSTATQRY

@dataclass(frozen=True, slots=True)
class NdisStat:
    """Connection state per IP family; None = the modem did not report that family."""

    ipv4: bool | None
    ipv6: bool | None
    error: int | None = None   # 3GPP cause (PDP reject) from field 2 when disconnected

    @property
    def connected(self) -> bool:
        return bool(self.ipv4) or bool(self.ipv6)


def parse_ndisstat(line: str) -> NdisStat | None:
    """``^NDISSTAT: 1,,,IPV4`` / ``^NDISSTATQRY: 0,,,"IPV4",0,,,"IPV6"`` / ``^NDISSTATQry:1``."""
    s = line.strip()
    for prefix in ("^NDISSTATQRY", "^NDISSTAT"):
        if s.upper().startswith(prefix):
            s = _after_colon(s, prefix)
            break
    f = split_args(s)
    if not f or not f[0]:
        return None
    ipv4: bool | None = None
    ipv6: bool | None = None
    error: int | None = None
    if len(f) == 1:  # bare "1": old firmware, IPv4 only
        v = _int(f[0])
        return None if v is None else NdisStat(ipv4=v == 1, ipv6=None)
    for i in range(0, len(f) - 3, 4):
        state = _int(f[i])
        if state is None:
            return None
        family = unquote(f[i + 3]).upper()
        if f[i + 1] and state != 1:
            error = _int(f[i + 1])
        if family == "IPV4":
            ipv4 = state == 1
        elif family == "IPV6":
            ipv6 = state == 1
        elif family == "IPV4V6":
            ipv4 = ipv6 = state == 1
        else:
            return None
    if ipv4 is None and ipv6 is None:
        return None
    return NdisStat(ipv4, ipv6, error)


# ---------------------------------------------------------------- ^DHCP

@dataclass(frozen=True, slots=True)
class DhcpInfo:
    address: ipaddress.IPv4Address
    netmask: ipaddress.IPv4Address
    gateway: ipaddress.IPv4Address
    dhcp_server: ipaddress.IPv4Address
    dns: tuple[ipaddress.IPv4Address, ...]
    uplink_bps: int | None = None
    downlink_bps: int | None = None

    @property
    def prefixlen(self) -> int:
        return ipaddress.IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen

    @property
    def interface(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{self.address}/{self.prefixlen}")


def _le_hex_ip(field: str) -> ipaddress.IPv4Address | None:
    # Huawei prints each address as a 32-bit hex word with the least significant byte first,
    # sometimes with a 0x prefix and without leading zeros.
    s = unquote(field)
    if s[:2] in ("0x", "0X"):
        s = s[2:]
    word = _int(s, 16) if len(s) <= 8 else None
    if word is None:
        return None
    return ipaddress.IPv4Address(word.to_bytes(4, "little"))


def parse_dhcp(line: str) -> DhcpInfo | None:
    """``^DHCP: <addr>,<mask>,<gw>,<dhcp server>,<dns1>,<dns2>,<uplink bps>,<downlink bps>``."""
    f = split_args(_after_colon(line, "^DHCP"))
    if len(f) < 6:
        return None
    ips = [_le_hex_ip(x) for x in f[:6]]
    if any(ip is None for ip in ips):
        return None
    addr, mask, gw, server, dns1, dns2 = (ip for ip in ips if ip is not None)
    try:
        ipaddress.IPv4Network(f"0.0.0.0/{mask}")
    except ValueError:
        return None
    dns = tuple(d for d in (dns1, dns2) if int(d) != 0)
    up = _int(f[6]) if len(f) > 6 else None
    down = _int(f[7]) if len(f) > 7 else None
    return DhcpInfo(addr, mask, gw, server, dns, up, down)


@dataclass(frozen=True, slots=True)
class Dhcpv6Info:
    address: ipaddress.IPv6Address
    gateway: ipaddress.IPv6Address
    dns: tuple[ipaddress.IPv6Address, ...]


def _ipv6(field: str) -> ipaddress.IPv6Address | None:
    s = unquote(field)
    if not s or len(s) > 45:
        return None
    try:
        return ipaddress.IPv6Address(s)
    except ValueError:
        return None


def parse_dhcpv6(line: str) -> Dhcpv6Info | None:
    """``^DHCPV6: <addr>,<netmask>,<gw>,<dhcp server>,<dns1>,<dns2>,<up bps>,<down bps>``, IPv6 text."""
    f = split_args(_after_colon(line, "^DHCPV6"))
    if len(f) < 6:
        return None
    ips = [_ipv6(x) for x in f[:6]]
    addr, _mask, gw, _server, dns1, dns2 = ips
    if addr is None or gw is None or any(ip is None and f[i] for i, ip in enumerate(ips)):
        return None
    return Dhcpv6Info(addr, gw, tuple(d for d in (dns1, dns2) if d is not None and not d.is_unspecified))


# ---------------------------------------------------------------- ^NDISDUP

class AuthType(IntEnum):
    NONE = 0
    PAP = 1
    CHAP = 2
    MSCHAPV2 = 3


def check_at_text(value: str, what: str) -> str:
    """A string we put inside quotes on an AT command line: printable ASCII (V.250 sends IRA
    text; the modem has no way to take other characters) without the quote that would end it."""
    bad = sorted({c for c in value if not " " <= c <= "~" or c == '"'})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        named = f"the {what}" if what == "password" else f"the {what} {value!r}"   # a secret is never shown
        raise ValueError(f"{named} contains {shown}: a modem takes printable ASCII only, without double quotes")
    return value


def check_pin(pin: str) -> str:
    """27.007 §8.3 +CPIN: a SIM PIN is 4 to 8 digits."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise ValueError("the SIM PIN must be 4 to 8 digits")
    return pin


def _at_string(value: str, what: str) -> str:
    return f'"{check_at_text(value, what)}"'


def build_ndisdup(apn: str, user: str | None = None, password: str | None = None,
                  auth: AuthType | None = None, cid: int = 1) -> str:
    """``AT^NDISDUP=1,1,"apn"[,"user","pass",auth]``.  As in ModemManager, credentials with no
    auth type mean CHAP."""
    cmd = f"AT^NDISDUP={cid},1,{_at_string(apn, 'APN')}"
    if user or password:
        kind = AuthType.CHAP if auth in (None, AuthType.NONE) else auth
        cmd += f",{_at_string(user or '', 'user name')},{_at_string(password or '', 'password')},{int(kind)}"
    return cmd


def build_ndisdup_teardown(cid: int = 1) -> str:
    return f"AT^NDISDUP={cid},0"


# ---------------------------------------------------------------- ^GETPORTMODE

_PORTMODE_ROLES = {
    "pcui": "pcui", "mdm": "modem", "modem": "modem", "3g_modem": "modem",
    "diag": "diag", "3g_diag": "diag", "4g_diag": "diag", "gps": "gps",
    "ndis": "net", "rndis": "net", "ncm": "net", "ecm": "net",
    "cdrom": "cdrom", "sd": "storage", "bt": "bluetooth", "a_shell": "shell", "c_shell": "shell",
}


def parse_getportmode(line: str) -> dict[int, str]:
    """``^GETPORTMODE: TYPE: WCDMA: Huawei,MDM:0,NDIS:1,DIAG:2,PCUI:3`` -> {0: "modem", 1: "net", ...}."""
    out: dict[int, str] = {}
    for item in _after_colon(line, "^GETPORTMODE").split(","):
        name, _, num = item.rpartition(":")
        name = name.rsplit(":", 1)[-1].strip().lower()
        n = _int(num)
        if n is not None and name:
            role = _PORTMODE_ROLES.get(name) or ("storage" if name.startswith("mass") else None)
            if role:
                out[n] = role
    return out
