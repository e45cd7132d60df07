"""What we know about the modem right now: SIM, registration, mode, signal, NDIS state.

`ModemState.update(prefix, args)` folds one URC or information line into it, so it is the same
whether the modem volunteered the line (^RSSI, +CREG: 5) or answered a query (+CREG: 0,5).
Registration codes are 3GPP TS 27.007 §7.2; SIM states §8.3 (+CPIN); the rest is Huawei's dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from pppstack.modem import huawei as hw

__all__ = ["RegStatus", "SimState", "ModemState", "AtParseError", "Operator", "PdpContext",
           "parse_creg", "parse_cpin", "parse_csq", "parse_cops", "parse_cgdcont"]


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
    maybe = [hw._int(x) for x in f[:2] if x and x[0] != '"']
    nums = [n for n in maybe if n is not None]
    if not nums or len(nums) != len(maybe):
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


_CPIN_CODE = re.compile(r"[A-Za-z0-9 -]{1,24}")   # 27.007 §8.3 codes we do not model (PH-SIM PIN, ...)


@dataclass(frozen=True, slots=True)
class AtParseError:
    """A line with a prefix we know whose arguments do not parse.  Kept and counted, never raised:
    a modem's garbage is a fact about the modem, not a reason to stop talking to it."""

    prefix: str
    args: str
    expected: str


@dataclass(frozen=True, slots=True)
class Operator:
    """+COPS: <mode>[,<format>,<oper>[,<AcT>]] (27.007 §7.3)."""

    mode: int
    name: str | None = None
    act: int | None = None


def parse_cops(args: str) -> Operator | None:
    f = hw.split_args(args)
    mode = hw._int(f[0])
    if mode is None or len(f) == 2 or len(f) > 4:
        return None
    if len(f) == 1:
        return Operator(mode)
    fmt, act = hw._int(f[1]), hw._int(f[3]) if len(f) > 3 else None
    if fmt is None or not f[2].startswith('"') or (len(f) > 3 and act is None):
        return None
    return Operator(mode, hw.unquote(f[2]), act)


@dataclass(frozen=True, slots=True)
class PdpContext:
    """+CGDCONT: <cid>,<PDP_type>,<APN>[,<PDP_addr>,...] (27.007 §10.1.1)."""

    cid: int
    pdp_type: str
    apn: str


def parse_cgdcont(args: str) -> PdpContext | None:
    f = hw.split_args(args)
    cid = hw._int(f[0])
    if cid is None or len(f) < 3 or not f[1].startswith('"') or not f[2].startswith('"'):
        return None
    return PdpContext(cid, hw.unquote(f[1]), hw.unquote(f[2]))


def parse_cpin(args: str) -> SimState:
    a = hw.unquote(args).strip().upper()
    for s in (SimState.READY, SimState.PIN2, SimState.PUK2, SimState.PIN, SimState.PUK):
        if a == s.value:
            return s
    return SimState.UNKNOWN


def parse_csq(args: str) -> tuple[int, int] | None:
    f = hw.split_args(args)
    rssi, ber = hw._int(f[0]), hw._int(f[1]) if len(f) > 1 else 99
    return None if rssi is None or ber is None else (rssi, ber)


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
    dhcpv6: hw.Dhcpv6Info | None = None
    operator: Operator | None = None
    pdp_contexts: dict[int, PdpContext] = field(default_factory=dict)
    urcs_seen: int = 0
    parse_errors: int = 0                     # lines with a known prefix that did not parse
    bad_lines: list[AtParseError] = field(default_factory=list)   # the first few, for diagnostics

    MAX_BAD_LINES = 10

    def _bad(self, prefix: str, args: str, expected: str) -> None:
        self.parse_errors += 1
        if len(self.bad_lines) < self.MAX_BAD_LINES:
            self.bad_lines.append(AtParseError(prefix, args[:120], expected))

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
            "bearer_dropped": self.bearer_dropped, "parse_errors": self.parse_errors, "summary": self.summary(),
        }

    def update(self, name: str, args: str) -> None:
        """Fold one URC or information line (prefix + argument text) into the state; a line with a
        known prefix that does not parse is counted as an `AtParseError` and changes nothing."""
        n = name.upper()
        expected = self._fold(n, args)
        if expected is not None:
            self._bad(n, args, expected)

    def _fold(self, n: str, args: str) -> str | None:
        # Returns None when the line was understood (or is not ours to judge), else what we expected.
        if n == "^RSSI" or n == "+CSQ":
            csq = parse_csq(args)
            if csq is None:
                return "<rssi>[,<ber>]"
            self.rssi = csq[0]
        elif n == "^HCSQ":
            hcsq = hw.parse_hcsq(args)
            if hcsq is None:
                return '"<sysmode>"[,<value>...]'
            self.hcsq = hcsq
            if hcsq.sysmode == "NOSERVICE":
                self.mode = "no service"
        elif n == "^CERSSI":
            cerssi = hw.parse_cerssi(args)
            if cerssi is None:
                return "<value>[,<value>...]"
            self.cerssi = cerssi
        elif n in ("+CREG", "+CGREG", "+CEREG"):
            reg = parse_creg(args)
            if reg is None:
                return "[<n>,]<stat>[,<lac>,<ci>[,<AcT>]]"
            self.registration[n] = reg[0]
            if reg[1] or reg[2]:
                self.cell = (reg[1], reg[2])
        elif n == "+CPIN":
            sim = parse_cpin(args)
            if sim is SimState.UNKNOWN and _CPIN_CODE.fullmatch(hw.unquote(args).strip()) is None:
                return "<code> (READY, SIM PIN, PH-SIM PIN, ...)"
            self.sim = sim
        elif n == "^SIMST":
            code = hw.split_args(args)[0]
            if hw._int(code) is None:
                return "<sim state>"
            self.sim = {"1": SimState.READY if self.sim is SimState.UNKNOWN else self.sim,
                        "255": SimState.NOT_INSERTED, "0": SimState.INVALID}.get(code, self.sim)
        elif n == "^SYSINFOEX":
            info = hw.parse_sysinfoex(args)
            if info is None:
                return "<srv>,<domain>,<roam>,<sim>,<lock>,<sysmode>,<name>[,<submode>,<name>]"
            self.sysinfo = info
            self.mode = "/".join(x for x in (info.sysmode_name, info.submode_name) if x) or self.mode
            if info.sim_state == 255:
                self.sim = SimState.NOT_INSERTED
        elif n == "^SYSCFGEX":
            syscfg = hw.parse_syscfgex(args)
            if syscfg is None:
                return '"<acqorder>",<band>,<roam>,<srvdomain>,<lteband>'
            self.syscfg = syscfg
        elif n == "^MODE":
            f = hw.split_args(args)
            sub = hw._int(f[1]) if len(f) > 1 else None
            if hw._int(f[0]) is None or (len(f) > 1 and sub is None):
                return "<sysmode>[,<submode>]"
            self.mode = _SYSMODES.get(sub, self.mode) if sub is not None else self.mode
        elif n == "^SRVST":
            srv = hw._int(args.strip())
            if srv is None:
                return "<service status>"
            self.service_status = srv
        elif n in ("^NDISSTAT", "^NDISSTATQRY"):
            st = hw.parse_ndisstat(args)
            if st is None:
                return '<state>,<error>,<wx state>,"<family>"[,...]'
            if self.ndis and self.ndis.connected and not st.connected:
                self.bearer_dropped = True
            self.ndis = st
        elif n == "^DHCP":
            dhcp = hw.parse_dhcp(args)
            if dhcp is None:
                return "<addr>,<mask>,<gw>,<server>,<dns1>,<dns2> as little-endian hex words"
            self.dhcp = dhcp
        elif n == "^DHCPV6":
            dhcpv6 = hw.parse_dhcpv6(args)
            if dhcpv6 is None:
                return "<addr>,<mask>,<gw>,<server>,<dns1>,<dns2> as IPv6 addresses"
            self.dhcpv6 = dhcpv6
        elif n == "+COPS":
            op = parse_cops(args)
            if op is None:
                return '<mode>[,<format>,"<oper>"[,<AcT>]]'
            self.operator = op
        elif n == "+CGDCONT":
            ctx = parse_cgdcont(args)
            if ctx is None:
                return '<cid>,"<PDP type>","<APN>"[,...]'
            self.pdp_contexts[ctx.cid] = ctx
        elif n in ("^PDPDEACT", "^NDISEND"):
            self.bearer_dropped = True
        elif n == "^BOOT":
            self.booted += 1
        return None
