"""What we know about the modem right now: SIM, registration, mode, signal, NDIS state.

`ModemState.update(prefix, args)` folds one URC or information line into it, so it is the same
whether the modem volunteered the line (^RSSI, +CREG: 5) or answered a query (+CREG: 0,5).
Registration codes are 3GPP TS 27.007 §7.2; SIM states §8.3 (+CPIN); the rest is Huawei's dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

from pppstack.modem import huawei as hw

__all__ = ["RegStatus", "SimState", "ModemState", "parse_creg", "parse_cpin", "parse_csq"]


class RegStatus(IntEnum):
    """+CREG/+CGREG/+CEREG <stat> (27.007 §7.2)."""

    NOT_REGISTERED = 0
    HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5

    @property
    def registered(self) -> bool:
        return self in (RegStatus.HOME, RegStatus.ROAMING)


class SimState(Enum):
    UNKNOWN = "unknown"
    READY = "READY"
    PIN = "SIM PIN"
    PUK = "SIM PUK"
    PIN2 = "SIM PIN2"
    PUK2 = "SIM PUK2"
    NOT_INSERTED = "not inserted"
    FAILURE = "failure"
    INVALID = "invalid"


_SYSMODES = {0: "no service", 1: "GSM", 2: "GPRS", 3: "EDGE", 4: "WCDMA", 5: "HSDPA", 6: "HSUPA",
             7: "HSPA", 8: "TD-SCDMA", 9: "HSPA+", 17: "LTE"}


def parse_creg(args: str) -> tuple[RegStatus, str | None, str | None] | None:
    """Read both forms: the query answer ``<n>,<stat>[,lac,ci[,act]]`` and the URC ``<stat>[,lac,ci]``.
    The answer form has a quoted LAC in field 3, or exactly two numeric fields."""
    f = hw.split_args(args)
    try:
        nums = [int(x) for x in f[:2] if x and x[0] != '"']
    except ValueError:
        return None
    if not nums:
        return None
    query_form = len(f) == 2 and len(nums) == 2 or len(f) >= 3 and f[2].startswith('"') and len(nums) == 2
    stat = nums[1] if query_form else nums[0]
    rest = f[2:] if query_form else f[1:]
    lac = hw.unquote(rest[0]) if len(rest) > 0 and rest[0] else None
    ci = hw.unquote(rest[1]) if len(rest) > 1 and rest[1] else None
    try:
        return RegStatus(stat), lac, ci
    except ValueError:
        return RegStatus.UNKNOWN, lac, ci


def parse_cpin(args: str) -> SimState:
    a = hw.unquote(args).strip().upper()
    for s in (SimState.READY, SimState.PIN2, SimState.PUK2, SimState.PIN, SimState.PUK):
        if a == s.value:
            return s
    return SimState.UNKNOWN


def parse_csq(args: str) -> tuple[int, int] | None:
    f = hw.split_args(args)
    try:
        return int(f[0]), int(f[1]) if len(f) > 1 else 99
    except ValueError:
        return None


@dataclass
class ModemState:
    """The modem's latest known state, from URCs and query answers alike."""

    rssi: int | None = None                   # ^RSSI / +CSQ scale 0..31, 99 unknown
    hcsq: hw.Hcsq | None = None
    cerssi: hw.Cerssi | None = None
    sysinfo: hw.SysInfoEx | None = None
    syscfg: hw.SysCfgEx | None = None
    registration: dict[str, RegStatus] = field(default_factory=dict)   # "+CREG" / "+CGREG" / "+CEREG"
    cell: tuple[str | None, str | None] = (None, None)                   # LAC/TAC, cell id
    sim: SimState = SimState.UNKNOWN
    mode: str | None = None                   # from ^MODE / ^SYSINFOEX, e.g. "WCDMA/HSPA+"
    service_status: int | None = None         # ^SRVST
    ndis: hw.NdisStat | None = None
    dhcp: hw.DhcpInfo | None = None
    booted: int = 0                           # ^BOOT count seen (the modem is alive and chatty)
    bearer_dropped: bool = False              # ^PDPDEACT / ^NDISEND / ^NDISSTAT disconnected
    urcs_seen: int = 0

    @property
    def registered(self) -> bool:
        return any(s.registered for s in self.registration.values())

    @property
    def registration_denied(self) -> bool:
        return bool(self.registration) and not self.registered and any(
            s is RegStatus.DENIED for s in self.registration.values())

    @property
    def rssi_dbm(self) -> float | None:
        if self.hcsq and self.hcsq.rssi_dbm is not None:
            return self.hcsq.rssi_dbm
        return hw.rssi_csq_to_dbm(self.rssi) if self.rssi is not None else None

    def summary(self) -> str:
        parts = []
        if self.sim is not SimState.UNKNOWN:
            parts.append(f"SIM {self.sim.value}")
        if self.registration:
            parts.append("registered" if self.registered else
                         "registration denied" if self.registration_denied else "not registered")
        if self.mode:
            parts.append(self.mode)
        if self.hcsq:
            parts.append(self.hcsq.describe())
        elif self.rssi_dbm is not None:
            parts.append(f"RSSI {self.rssi_dbm:g} dBm")
        return ", ".join(parts) or "nothing known yet"

    def to_json(self) -> dict[str, object]:
        """Plain values for `--json` output and status files."""
        h = self.hcsq
        return {
            "sim": self.sim.value, "registered": self.registered, "registration_denied": self.registration_denied,
            "registration": {k.lstrip("+").lower(): v.name.lower() for k, v in self.registration.items()},
            "cell": {"lac": self.cell[0], "ci": self.cell[1]}, "mode": self.mode, "rssi": self.rssi,
            "rssi_dbm": self.rssi_dbm,
            "hcsq": None if h is None else {"sysmode": h.sysmode, "values": list(h.values), "rssi_dbm": h.rssi_dbm,
                                            "rsrp_dbm": h.rsrp_dbm, "sinr_db": h.sinr_db, "rsrq_db": h.rsrq_db,
                                            "rscp_dbm": h.rscp_dbm, "ecio_db": h.ecio_db},
            "ndis": None if self.ndis is None else {"ipv4": self.ndis.ipv4, "ipv6": self.ndis.ipv6},
            "bearer_dropped": self.bearer_dropped, "summary": self.summary(),
        }

    def update(self, name: str, args: str) -> None:
        """Fold one URC or information line (prefix + argument text) into the state."""
        n = name.upper()
        if n == "^RSSI" or n == "+CSQ":
            csq = hw.split_args(args)
            try:
                self.rssi = int(csq[0])
            except ValueError:
                pass
        elif n == "^HCSQ":
            self.hcsq = hw.parse_hcsq(args) or self.hcsq
            if self.hcsq and self.hcsq.sysmode == "NOSERVICE":
                self.mode = "no service"
        elif n == "^CERSSI":
            self.cerssi = hw.parse_cerssi(args) or self.cerssi
        elif n in ("+CREG", "+CGREG", "+CEREG"):
            reg = parse_creg(args)
            if reg:
                self.registration[n] = reg[0]
                if reg[1] or reg[2]:
                    self.cell = (reg[1], reg[2])
        elif n == "+CPIN":
            self.sim = parse_cpin(args)
        elif n == "^SIMST":
            f = hw.split_args(args)
            code = f[0] if f else ""
            self.sim = {"1": SimState.READY if self.sim is SimState.UNKNOWN else self.sim,
                        "255": SimState.NOT_INSERTED, "0": SimState.INVALID}.get(code, self.sim)
        elif n == "^SYSINFOEX":
            info = hw.parse_sysinfoex(args)
            if info:
                self.sysinfo = info
                self.mode = "/".join(x for x in (info.sysmode_name, info.submode_name) if x) or self.mode
                if info.sim_state == 255:
                    self.sim = SimState.NOT_INSERTED
        elif n == "^SYSCFGEX":
            self.syscfg = hw.parse_syscfgex(args) or self.syscfg
        elif n == "^MODE":
            f = hw.split_args(args)
            try:
                sub = int(f[1]) if len(f) > 1 else None
            except ValueError:
                sub = None
            self.mode = _SYSMODES.get(sub, self.mode) if sub is not None else self.mode
        elif n == "^SRVST":
            try:
                self.service_status = int(args.strip())
            except ValueError:
                pass
        elif n in ("^NDISSTAT", "^NDISSTATQRY"):
            st = hw.parse_ndisstat(args)
            if st:
                if self.ndis and self.ndis.connected and not st.connected:
                    self.bearer_dropped = True
                self.ndis = st
        elif n == "^DHCP":
            self.dhcp = hw.parse_dhcp(args) or self.dhcp
        elif n in ("^PDPDEACT", "^NDISEND"):
            self.bearer_dropped = True
        elif n == "^BOOT":
            self.booted += 1
