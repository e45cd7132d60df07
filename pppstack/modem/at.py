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

Every URC and every information line also updates `ModemState` (state.py: signal, registration,
SIM, system mode, NDIS state), so a caller can read the modem's latest state at any moment.  After a
CONNECT the bytes that follow are PPP, not text: the channel stops parsing and hands them back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from pppstack.modem.commandline import AtCommand, CommandKind, parse_command_line
from pppstack.modem.state import ModemState, RegStatus, SimState, parse_cpin, parse_creg, parse_csq

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
        return str(self.final.value)


@dataclass(frozen=True, slots=True)
class Urc:
    name: str     # "^RSSI", "+CREG", ...
    args: str     # text after the colon
    line: str


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
