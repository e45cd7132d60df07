"""What the simulated E3372h-320 says about its radio: signal reports and system information.

One profile per radio access technology, each self-consistent across the three ways Huawei
reports signal (^RSSI on the +CSQ scale, ^CERSSI in dBm, ^HCSQ as table indexes — anchors §5.3).
The WCDMA profile is the thread's own report: ``^RSSI: 16``, ``^CERSSI:0,-80,-4,0,0,0,0``,
``^HCSQ:"WCDMA",45,41,57`` (RSCP index 41 = -80 dBm, Ec/Io index 57 = -4 dB).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Rat", "RadioProfile", "PROFILES"]


class Rat(Enum):
    GSM = "GSM"
    WCDMA = "WCDMA"
    LTE = "LTE"


@dataclass(frozen=True)
class RadioProfile:
    rat: Rat
    rssi: int                # ^RSSI / +CSQ scale 0..31
    hcsq: str                # arguments of ^HCSQ
    cerssi: str              # arguments of ^CERSSI
    sysmode: int             # ^SYSINFOEX <sysmode>
    submode: int             # ^SYSINFOEX <submode>
    submode_name: str
    mode: str                # arguments of ^MODE (sys_mode, sys_submode)
    act: int                 # 27.007 <AcT>: 0 GSM, 2 UTRAN, 7 E-UTRAN
    downlink_bps: int

    def signal_urcs(self) -> list[str]:
        """The report the modem volunteers, in the order of the thread's log."""
        return [f"^RSSI: {self.rssi}", f"^CERSSI:{self.cerssi}", f"^HCSQ:{self.hcsq}"]

    def sysinfoex(self, registered: bool, sim_ok: bool) -> str:
        sim = 1 if sim_ok else 255
        if not registered:
            return f'^SYSINFOEX:0,0,0,{sim},,0,"NO SERVICE",0,"NO SERVICE"'
        return f'^SYSINFOEX:2,3,0,{sim},,{self.sysmode},"{self.rat.value}",{self.submode},"{self.submode_name}"'


PROFILES: dict[Rat, RadioProfile] = {
    Rat.GSM: RadioProfile(Rat.GSM, 21, '"GSM",50', "-71,0,0,0,0,0,0", 1, 3, "EDGE", "3,3", 0, 236_800),
    Rat.WCDMA: RadioProfile(Rat.WCDMA, 16, '"WCDMA",45,41,57', "0,-80,-4,0,0,0,0", 3, 41, "HSPA+", "5,9", 2,
                            42_200_000),
    Rat.LTE: RadioProfile(Rat.LTE, 24, '"LTE",56,53,171,27', "0,0,0,-88,-7,14,0", 6, 101, "LTE", "7,17", 7,
                          150_000_000),
}
