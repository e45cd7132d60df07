"""AT dialogue parsing: final result codes, information lines and unsolicited result codes.

Theory of operation (3GPP TS 27.007 §4-§5, V.250 §5.7): after a command line the modem sends
zero or more information lines, then exactly one final result code (OK, ERROR, +CME ERROR: ...,
CONNECT, NO CARRIER, BUSY, ...).  Unsolicited result codes (URCs) may arrive at any time, also
between a command and its final result, as in the E3372h-320 log (^RSSI, ^CERSSI and ^HCSQ
between AT+CGDCONT and its OK).  `AtChannel` splits the byte stream into lines and sorts each one:

* a line that equals the pending command is its echo (ATE1) and is dropped;
* a line starting with the pending command's own prefix (``+CREG:`` after ``AT+CREG?``) is an
  information line, even if the same prefix can also be unsolicited;
* a line starting with a known URC prefix is a URC;
* anything else while a command is pending is an information line, otherwise it is noise.

Every URC and every information line also updates `ModemState` (signal, registration, SIM,
system mode, NDIS state), so a caller can read the modem's latest state at any moment.  After a
CONNECT the bytes that follow are PPP, not text: the channel stops parsing and hands them back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from pppstack.modem import huawei as hw

__all__ = [
    "FinalResult", "Response", "Urc", "RegStatus", "SimState", "ModemState", "AtChannel",
    "CME_ERRORS", "URC_PREFIXES", "command_prefix", "parse_creg", "parse_cpin", "parse_csq",
    "AtCommand", "CommandKind", "parse_command_line",
]

log = logging.getLogger("pppstack.modem.at")


class FinalResult(Enum):
    OK = "OK"
    CONNECT = "CONNECT"
    ERROR = "ERROR"
    CME_ERROR = "+CME ERROR"
    CMS_ERROR = "+CMS ERROR"
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    NO_DIALTONE = "NO DIALTONE"
    COMMAND_NOT_SUPPORT = "COMMAND NOT SUPPORT"   # Huawei wording
    TOO_MANY_PARAMETERS = "TOO MANY PARAMETERS"   # Huawei wording


_FINALS = {
    "OK": FinalResult.OK, "ERROR": FinalResult.ERROR, "NO CARRIER": FinalResult.NO_CARRIER,
    "BUSY": FinalResult.BUSY, "NO ANSWER": FinalResult.NO_ANSWER, "NO DIALTONE": FinalResult.NO_DIALTONE,
    "NO DIAL TONE": FinalResult.NO_DIALTONE, "COMMAND NOT SUPPORT": FinalResult.COMMAND_NOT_SUPPORT,
    "TOO MANY PARAMETERS": FinalResult.TOO_MANY_PARAMETERS,
}

# 3GPP TS 27.007 §9.2: the numeric +CME ERROR codes a dial sequence meets, in words.
CME_ERRORS: dict[int, str] = {
    0: "phone failure", 3: "operation not allowed", 4: "operation not supported",
    10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure",
    14: "SIM busy", 15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required",
    18: "SIM PUK2 required", 30: "no network service", 31: "network timeout",
    32: "network not allowed - emergency calls only", 50: "incorrect parameters", 100: "unknown",
    103: "illegal MS", 106: "illegal ME", 107: "GPRS services not allowed", 111: "PLMN not allowed",
    112: "location area not allowed", 113: "roaming not allowed in this location area",
    132: "service option not supported", 133: "requested service option not subscribed",
    134: "service option temporarily out of order", 148: "unspecified GPRS error",
    149: "PDP authentication failure", 150: "invalid mobile class",
}

# Unsolicited prefixes (ModemManager's Huawei list, 27.007 registration URCs, and ^CERSSI seen
# in the thread).  Longest first so ^NDISSTATQRY is not read as ^NDISSTAT.
URC_PREFIXES: tuple[str, ...] = tuple(sorted((
    "^RSSI", "^RSSILVL", "^HRSSILVL", "^HCSQ", "^CERSSI", "^BOOT", "^MODE", "^SRVST", "^SIMST",
    "^DSFLOWRPT", "^NDISSTAT", "^NDISEND", "^PDPDEACT", "^CSNR", "^STIN", "^RFSWITCH", "^POSITION",
    "^POSEND", "^ECCLIST", "^LTERSRP", "^EONS", "^LWURC", "^ORIG", "^CONF", "^CONN", "^CEND",
    "^DDTMF", "^CSCHANNELINFO", "^CCALLSTATE", "^ACTIVEBAND", "^CPBREADY", "^SYSSTART",
    "+CREG", "+CGREG", "+CEREG", "+CGEV", "+CMTI", "+CDSI", "+CUSD", "+CLIP", "+CRING", "RING",
    "+PACSP", "+CTZV", "+CTZE", "+NITZ",
), key=len, reverse=True))


def command_prefix(command: str) -> str | None:
    """The information-line prefix a command answers with: AT+CREG? -> '+CREG', AT^HCSQ? -> '^HCSQ'."""
    c = command.strip().upper()
    if c.startswith("AT"):
        c = c[2:]
    if not c or c[0] not in "+^$%*#":
        return None
    end = 1
    while end < len(c) and (c[end].isalnum() or c[end] in "_"):
        end += 1
    return c[:end] if end > 1 else None


def _match_urc(line: str) -> str | None:
    upper = line.upper()
    for prefix in URC_PREFIXES:
        if upper.startswith(prefix):
            rest = upper[len(prefix):len(prefix) + 1]
            if rest in ("", ":", " ") or (prefix == "RING" and rest == ""):
                return prefix
    return None


@dataclass(frozen=True, slots=True)
class Response:
    """What one command got back."""

    command: str
    final: FinalResult
    lines: tuple[str, ...] = ()
    error_text: str | None = None     # +CME ERROR text ("SIM PIN required"), or the final code
    cme_code: int | None = None
    connect_text: str = ""            # "CONNECT 150000000" -> "150000000"

    @property
    def ok(self) -> bool:
        return self.final in (FinalResult.OK, FinalResult.CONNECT)

    def info(self, prefix: str) -> list[str]:
        """Information lines with this prefix, as their argument text."""
        p = prefix.upper()
        out = []
        for line in self.lines:
            if line.upper().startswith(p):
                rest = line[len(p):]
                out.append(rest[1:].strip() if rest.startswith(":") else rest.strip())
        return out

    def describe(self) -> str:
        if self.final in (FinalResult.CME_ERROR, FinalResult.CMS_ERROR):
            return f"{self.final.value}: {self.error_text}"
        return self.final.value


@dataclass(frozen=True, slots=True)
class Urc:
    name: str     # "^RSSI", "+CREG", ...
    args: str     # text after the colon
    line: str


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

    def to_json(self) -> dict:
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


# ---------------------------------------------------------------- the channel

@dataclass(frozen=True, slots=True)
class _Pending:
    command: str
    prefix: str | None


class AtChannel:
    """Line splitter and sorter for one AT port (sans-I/O: bytes in, events out).

    ``command(text) -> bytes`` starts a command (the caller writes the bytes);
    ``feed(data) -> list[Response | Urc]`` returns completed responses and URCs in order.
    After CONNECT, ``data_mode`` is True and ``take_leftover()`` returns the bytes that followed.
    """

    MAX_LINE = 4096

    def __init__(self, state: ModemState | None = None) -> None:
        self.state = state if state is not None else ModemState()
        self._buf = bytearray()
        self._pending: _Pending | None = None
        self._lines: list[str] = []
        self._leftover = bytearray()
        self.data_mode = False
        self.noise: list[str] = []     # unexpected lines (kept short for diagnostics)
        self.noise_count = 0

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def command(self, text: str) -> bytes:
        """Begin a command; returns the bytes to write (text + CR, per V.250 S3)."""
        if "\r" in text or "\n" in text:
            raise ValueError("an AT command is a single line")
        self._pending = _Pending(text, command_prefix(text))
        self._lines = []
        self.data_mode = False
        return text.encode("latin-1") + b"\r"

    def cancel(self) -> None:
        self._pending = None
        self._lines = []

    def take_leftover(self) -> bytes:
        out = bytes(self._leftover)
        self._leftover.clear()
        return out

    def feed(self, data: bytes) -> list[Response | Urc]:
        if self.data_mode:
            self._leftover += data
            return []
        self._buf += data
        events: list[Response | Urc] = []
        while not self.data_mode:
            cut = self._next_eol()
            if cut < 0:
                if len(self._buf) > self.MAX_LINE:   # a runaway line: drop it, keep going
                    self._noise(self._buf[:80].decode("latin-1", "replace") + "...")
                    self._buf.clear()
                break
            raw = bytes(self._buf[:cut])
            del self._buf[:cut + 1]
            line = raw.decode("latin-1").strip()
            if line:
                ev = self._line(line)
                if ev is not None:
                    events.append(ev)
        if self.data_mode and self._buf:
            # everything after the CONNECT line belongs to PPP; drop only the CONNECT's own LF
            rest = bytes(self._buf)
            self._buf.clear()
            if rest[:1] == b"\n":
                rest = rest[1:]
            self._leftover += rest
        return events

    def _next_eol(self) -> int:
        for i, b in enumerate(self._buf):
            if b in (0x0D, 0x0A):
                return i
        return -1

    def _noise(self, line: str) -> None:
        self.noise_count += 1
        if len(self.noise) < 20:
            self.noise.append(line)
        log.debug("AT: ignored line %r", line)

    def _line(self, line: str) -> Response | Urc | None:
        pending = self._pending
        upper = line.upper()
        if pending is not None:
            if upper == pending.command.upper():
                return None   # echo
            final = self._final(line, pending)
            if final is not None:
                self._pending = None
                self._lines = []
                if final.final is FinalResult.CONNECT:
                    self.data_mode = True
                return final
            if pending.prefix and upper.startswith(pending.prefix) and (
                    len(upper) == len(pending.prefix) or upper[len(pending.prefix)] in ": "):
                self._lines.append(line)
                self.state.update(pending.prefix, line[len(pending.prefix):].lstrip(": ").strip())
                return None
        urc = _match_urc(line)
        if urc is not None:
            args = line[len(urc):]
            args = args[1:].strip() if args.startswith(":") else args.strip()
            self.state.update(urc, args)
            self.state.urcs_seen += 1
            return Urc(urc, args, line)
        if pending is not None:
            self._lines.append(line)
            return None
        self._noise(line)
        return None

    def _final(self, line: str, pending: _Pending) -> Response | None:
        upper = line.upper()
        cmd = pending.command
        lines = tuple(self._lines)
        if upper in _FINALS:
            fr = _FINALS[upper]
            return Response(cmd, fr, lines, None if fr is FinalResult.OK else fr.value)
        if upper == "CONNECT" or upper.startswith("CONNECT "):
            return Response(cmd, FinalResult.CONNECT, lines, None, None, line[7:].strip())
        for prefix, fr in (("+CME ERROR", FinalResult.CME_ERROR), ("+CMS ERROR", FinalResult.CMS_ERROR)):
            if upper.startswith(prefix):
                text = line[len(prefix):].lstrip(": ").strip()
                code: int | None = None
                try:
                    code = int(text)
                    text = CME_ERRORS.get(code, f"error {code}") if fr is FinalResult.CME_ERROR else f"error {code}"
                except ValueError:
                    for num, words in CME_ERRORS.items():
                        if words.lower() == text.lower():
                            code = num
                return Response(cmd, fr, lines, text, code)
        return None


# ---------------------------------------------------------------- the modem's side: command lines

class CommandKind(Enum):
    ACTION = "action"   # AT^SYSINFOEX, ATD*99#, ATE0
    SET = "set"         # AT+CGDCONT=1,"IP","apn"
    READ = "read"       # AT+CREG?
    TEST = "test"       # AT+CGDCONT=?


@dataclass(frozen=True, slots=True)
class AtCommand:
    name: str                 # "+CGDCONT", "^NDISDUP", "D", "E", "&F", "Q"
    kind: CommandKind
    args: tuple[str, ...] = ()

    def arg(self, i: int, default: str = "") -> str:
        """Argument i with quotes removed."""
        return hw.unquote(self.args[i]) if i < len(self.args) else default


def parse_command_line(line: str) -> list[AtCommand] | None:
    """Split one command line as a modem does (V.250 §5.2-5.4): ``AT`` prefix, basic commands
    (E1, Q0, &F, D<dial string>), extended commands separated by ';'.  Returns None when the line
    is not an AT command line (no ``AT`` prefix); an empty list for a bare ``AT``."""
    s = line.strip()
    if s[:2].upper() != "AT":
        return None
    s = s[2:]
    out: list[AtCommand] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in " ;":
            i += 1
            continue
        if ch in "+^$%*#":
            j = i + 1
            while j < len(s) and (s[j].isalnum() or s[j] == "_"):
                j += 1
            name = s[i:j].upper()
            # the rest of this command runs to the next ';' outside quotes
            k, quoted = j, False
            while k < len(s) and (quoted or s[k] != ";"):
                quoted ^= s[k] == '"'
                k += 1
            rest = s[j:k].strip()
            if rest == "?":
                out.append(AtCommand(name, CommandKind.READ))
            elif rest == "=?":
                out.append(AtCommand(name, CommandKind.TEST))
            elif rest.startswith("="):
                out.append(AtCommand(name, CommandKind.SET, tuple(hw.split_args(rest[1:]))))
            else:
                out.append(AtCommand(name, CommandKind.ACTION, (rest,) if rest else ()))
            i = k + 1
        elif ch.upper() == "D":
            k = s.find(";", i + 1)
            dial = s[i + 1:] if k < 0 else s[i + 1:k]
            out.append(AtCommand("D", CommandKind.ACTION, (dial.strip(),)))
            i = len(s) if k < 0 else k + 1
        elif ch.upper() == "S" and i + 1 < len(s) and s[i + 1].isdigit():
            j = i + 1
            while j < len(s) and s[j].isdigit():
                j += 1
            name = "S" + s[i + 1:j]
            if s[j:j + 1] == "?":
                out.append(AtCommand(name, CommandKind.READ))
                i = j + 1
            elif s[j:j + 1] == "=":
                k = j + 1
                while k < len(s) and s[k].isdigit():
                    k += 1
                out.append(AtCommand(name, CommandKind.SET, (s[j + 1:k],)))
                i = k
            else:
                out.append(AtCommand(name, CommandKind.ACTION))
                i = j
        else:
            name = ch.upper()
            j = i + 1
            if ch == "&" and j < len(s):
                name, j = "&" + s[j].upper(), j + 1
            k = j
            if k < len(s) and s[k] in "=?":
                k += 1
            while k < len(s) and s[k].isdigit():
                k += 1
            val = s[j:k]
            if val == "?":
                out.append(AtCommand(name, CommandKind.READ))
            elif val.startswith("="):
                out.append(AtCommand(name, CommandKind.SET, (val[1:],)))
            else:
                out.append(AtCommand(name, CommandKind.ACTION, (val,) if val else ()))
            i = k
    return out
