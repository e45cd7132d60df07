"""Port roles from USB interface descriptors, not from guessing ttyUSB numbers.

Rules, strongest first:
* ModemManager's Huawei udev rules (anchors §5.2): ff/01/01 and ff/02/01 are the PPP-capable
  modem port, ff/01/02 and ff/02/02 the PCUI (AT) port, ff/01/05, ff/01/14, ff/06/14 GPS.
* Linux's huawei_cdc_ncm id table (anchors §4.2): ff/02/16, ff/02/46, ff/02/76, ff/03/16 are
  Huawei's vendor NCM function (12d1:1506), whose AT channel is a cdc-wdm device.
* Class codes from the USB-IF: 02/0d NCM control, 02/06 ECM control, 0a CDC data, 08 mass
  storage, e0/01/03 and ef/04/01 RNDIS, 02/02 ACM.
* The interface string ("... Modem", "... PCUI"), ModemManager's fallback, for vendor interfaces
  the rules above do not name.
* Huawei's own numbering of vendor protocols, where the low nibble names the function
  (x1 modem, x2 PCUI, x3 diagnostics, x4/x5 GPS).  This is an inference from the rows above and
  is marked as such; ``pppstack ports --probe`` confirms AT ports by asking.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["PortRole", "RoleGuess", "classify_interface", "DeviceMode", "device_mode"]


class PortRole(Enum):
    MODEM = "modem"              # PPP-capable AT port (dial ATD*99# here)
    PCUI = "pcui"                # AT control port (^NDISDUP, status, SMS)
    DIAG = "diag"                # Qualcomm/HiSilicon diagnostics: not AT
    GPS = "gps"                  # NMEA
    NCM_CONTROL = "ncm-control"  # CDC NCM communication interface (02/0d)
    NCM_DATA = "ncm-data"        # CDC data interface carrying NTBs (0a)
    VENDOR_NCM = "vendor-ncm"    # Huawei ff/02/16 style NCM (huawei_cdc_ncm; AT via cdc-wdm)
    ECM_CONTROL = "ecm-control"
    RNDIS = "rndis"
    ACM = "acm"                  # CDC ACM modem (ttyACMn)
    MASS_STORAGE = "mass-storage"
    UNKNOWN = "unknown"

    @property
    def speaks_at(self) -> bool:
        return self in (PortRole.MODEM, PortRole.PCUI, PortRole.ACM)


@dataclass(frozen=True, slots=True)
class RoleGuess:
    role: PortRole
    source: str          # why we think so (shown by `pppstack ports`)
    certain: bool = True


_MM_RULES = {
    (0xFF, 0x01, 0x01): PortRole.MODEM, (0xFF, 0x02, 0x01): PortRole.MODEM,
    (0xFF, 0x01, 0x02): PortRole.PCUI, (0xFF, 0x02, 0x02): PortRole.PCUI,
    (0xFF, 0x01, 0x05): PortRole.GPS, (0xFF, 0x01, 0x14): PortRole.GPS, (0xFF, 0x06, 0x14): PortRole.GPS,
}
_HUAWEI_NCM = {(0xFF, 0x02, 0x16), (0xFF, 0x02, 0x46), (0xFF, 0x02, 0x76), (0xFF, 0x03, 0x16)}
_NIBBLE = {0x1: PortRole.MODEM, 0x2: PortRole.PCUI, 0x3: PortRole.DIAG, 0x4: PortRole.GPS, 0x5: PortRole.GPS}


_DESCRIPTION_WORDS = (("pcui", PortRole.PCUI), ("modem", PortRole.MODEM), ("diag", PortRole.DIAG),
                      ("nmea", PortRole.GPS), ("gps", PortRole.GPS))


def _from_description(description: str | None) -> RoleGuess | None:
    # ModemManager's fallback: Huawei names some interfaces ("HUAWEI Mobile Connect - Modem", "... PCUI").
    text = (description or "").lower()
    for word, role in _DESCRIPTION_WORDS:
        if word in text:
            return RoleGuess(role, f"interface string {description!r}", False)
    return None


def classify_interface(cls: int, subclass: int, protocol: int, vendor: int = 0x12D1,
                       description: str | None = None) -> RoleGuess:
    """The role of one interface; ``description`` is its iInterface string when the device has one."""
    guess = _classify(cls, subclass, protocol, vendor)
    if not guess.certain and cls == 0xFF:
        return _from_description(description) or guess
    return guess


def _classify(cls: int, subclass: int, protocol: int, vendor: int) -> RoleGuess:
    key = (cls, subclass, protocol)
    if vendor == 0x12D1 and key in _MM_RULES:
        return RoleGuess(_MM_RULES[key], f"ModemManager Huawei rule {cls:02x}/{subclass:02x}/{protocol:02x}")
    if vendor == 0x12D1 and key in _HUAWEI_NCM:
        return RoleGuess(PortRole.VENDOR_NCM, "Linux huawei_cdc_ncm id table")
    if cls == 0x02 and subclass == 0x0D:
        return RoleGuess(PortRole.NCM_CONTROL, "USB class 02/0d (CDC NCM)")
    if cls == 0x02 and subclass == 0x06:
        return RoleGuess(PortRole.ECM_CONTROL, "USB class 02/06 (CDC ECM)")
    if cls == 0x02 and subclass == 0x02 and protocol in (0x01, 0xFF, 0x00):
        return RoleGuess(PortRole.ACM, "USB class 02/02 (CDC ACM)")
    if cls == 0x0A:
        return RoleGuess(PortRole.NCM_DATA, "USB class 0a (CDC data)")
    if cls == 0x08:
        return RoleGuess(PortRole.MASS_STORAGE, "USB class 08 (mass storage)")
    if (cls, subclass, protocol) in ((0xE0, 0x01, 0x03), (0xEF, 0x04, 0x01)):
        return RoleGuess(PortRole.RNDIS, "RNDIS class code")
    if cls == 0xFF and vendor == 0x12D1 and subclass in (0x01, 0x02, 0x03, 0x06) and (protocol & 0x0F) in _NIBBLE \
            and protocol < 0x20:
        role = _NIBBLE[protocol & 0x0F]
        return RoleGuess(role, f"Huawei protocol numbering 0x{protocol:02x} (inferred; confirm with --probe)", False)
    return RoleGuess(PortRole.UNKNOWN, f"vendor interface {cls:02x}/{subclass:02x}/{protocol:02x}", False)


class DeviceMode(Enum):
    NEEDS_SWITCH = "needs mode switch (CD-ROM / mass storage)"
    HILINK = "HiLink (network device with a router inside; no PPP)"
    STICK = "stick mode (serial ports)"
    UNKNOWN = "unknown"


def device_mode(vendor: int, product: int, roles: list[PortRole]) -> DeviceMode:
    if (vendor, product) in ((0x12D1, 0x14DB), (0x12D1, 0x14DC)) or (
            PortRole.RNDIS in roles and not any(r.speaks_at for r in roles)):
        return DeviceMode.HILINK
    if roles and all(r is PortRole.MASS_STORAGE for r in roles):
        return DeviceMode.NEEDS_SWITCH
    if (vendor, product) == (0x12D1, 0x1F01):
        return DeviceMode.NEEDS_SWITCH
    if any(r in (PortRole.MODEM, PortRole.PCUI, PortRole.ACM, PortRole.DIAG) for r in roles):
        return DeviceMode.STICK
    return DeviceMode.UNKNOWN
