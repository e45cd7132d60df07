"""One pasted log line -> (when, which program, the message), whatever wrapper it came in.

Users paste OpenWrt `logread` (``Fri May  6 18:29:55 2022 daemon.notice pppd[1]: ...``), syslog
(``May  6 18:29:55 host pppd[1]: ...``), `journalctl` in its default and ISO forms, `dmesg` with
``[  918.03]`` or ``-T`` stamps, and bare program output (pppd's own logfile, chat -v on stderr,
wvdial's ``--> `` lines).  Time stamps, host names and facilities are optional everywhere.  The
time is kept as seconds (only differences inside one log matter); the program is lower-cased
without its pid.  Nothing here judges the content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LogLine", "normalise"]

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}

# "Fri May  6 18:29:55 2022 daemon.notice " (logread), optionally without the weekday/year
_LOGREAD = re.compile(
    r"^(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.\d+)?(?: (\d{4}))?"
    r" (?:[a-z0-9]+\.[a-z]+ )?")
# "2022-05-06T18:29:55.123+02:00 " / "2022-05-06 18:29:55 " (journalctl -o short-iso, RFC 5424)
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? ")
# "[  918.034615] " (dmesg, and inside logread's kernel lines) / "[Fri May  6 18:30:51 2022] " (dmesg -T)
_KTIME = re.compile(r"^\[ *(\d+\.\d+)\] ")
_KTIME_T = re.compile(r"^\[[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\] ")
# "pppd[19362]: " / "kernel: " / "NetworkManager[812]: " / "ModemManager[5]: "
_PROG = re.compile(r"^([A-Za-z][\w.\-/]*?)(?:\[(\d+)\])?: ")
_KNOWN = {"pppd", "chat", "kernel", "netifd", "wvdial", "comgt", "gcom", "networkmanager", "modemmanager"}
_WORD = re.compile(r"^[\w.\-]+ ")
_FACILITY = re.compile(r"^(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local[0-7])"
                       r"\.(?:emerg|alert|crit|err|error|warn|warning|notice|info|debug) ")


@dataclass(frozen=True, slots=True)
class LogLine:
    raw: str
    program: str          # "pppd", "chat", "kernel", "netifd", "modemmanager", ... or "" when bare
    message: str          # the program's own words, wrappers removed
    time: float | None    # seconds; comparable only within one log
    stamp: str            # the time as the log printed it ("" if none), for evidence lines


def _secs(month: int, day: int, h: str, m: str, s: str, year: int = 0) -> float:
    return ((year * 12 + month) * 31 + day) * 86400.0 + int(h) * 3600 + int(m) * 60 + int(s)


def normalise(raw: str) -> LogLine:
    """Strip the wrappers from one line (never fails: an odd line is a message of its own)."""
    line = raw.rstrip("\r\n").replace("\t", " ")
    rest = line.lstrip()
    time: float | None = None
    stamp = ""
    m = _LOGREAD.match(rest)
    if m and m.group(1).lower() in _MONTHS:
        year = int(m.group(6)) if m.group(6) else 0
        time = _secs(_MONTHS[m.group(1).lower()], int(m.group(2)), m.group(3), m.group(4), m.group(5), year)
        stamp = f"{m.group(3)}:{m.group(4)}:{m.group(5)}"
        rest = rest[m.end():]
    else:
        m = _ISO.match(rest)
        if m:
            time = _secs(int(m.group(2)) - 1, int(m.group(3)), m.group(4), m.group(5), m.group(6), int(m.group(1)))
            stamp = f"{m.group(4)}:{m.group(5)}:{m.group(6)}"
            rest = rest[m.end():]
        else:
            m = _KTIME_T.match(rest)
            if m and m.group(1).lower() in _MONTHS:
                time = _secs(_MONTHS[m.group(1).lower()], int(m.group(2)), m.group(3), m.group(4), m.group(5),
                             int(m.group(6)))
                stamp = f"{m.group(3)}:{m.group(4)}:{m.group(5)}"
                rest = rest[m.end():]
                return LogLine(raw, "kernel", rest.strip(), time, stamp)
    if stamp and not _PROG.match(rest):
        # a host name and/or a facility.level may follow the time stamp (syslog, journalctl,
        # busybox syslogd: "router daemon.notice pppd[1]: "), never without one
        h = _WORD.match(rest)
        if h and (_PROG.match(rest[h.end():]) or _FACILITY.match(rest[h.end():])):
            rest = rest[h.end():]
        f = _FACILITY.match(rest)
        if f and _PROG.match(rest[f.end():]):
            rest = rest[f.end():]
    program = ""
    p = _PROG.match(rest)
    # bare pppd output has "LCP: timeout ..." and "Connect: ppp0 <--> ...": a word before a colon is
    # a program only with a pid, after a syslog stamp, or when it is one we know
    if p and (p.group(2) or stamp or p.group(1).lower() in _KNOWN):
        program = p.group(1).lower().rsplit("/", 1)[-1]
        rest = rest[p.end():]
    k = _KTIME.match(rest)
    if k:  # the kernel's uptime stamp: use it only when the wrapper gave no wall-clock time
        if time is None:
            time = float(k.group(1))
            stamp = f"[{k.group(1)}]"
        rest = rest[k.end():]
        program = program or "kernel"
    message = rest.strip()
    if program == "netifd":  # "modem_1_1 (30086): comgt 15:04:02 -> ..." relays a proto script's output
        n = re.match(r"^[\w.\-]+ \(\d+\): ?", message)
        if n:
            message = message[n.end():]
            c = re.match(r"^comgt \d\d:\d\d:\d\d -> ", message)
            if c:
                program, message = "comgt", message[c.end():]
    elif program in ("networkmanager", "modemmanager"):
        # "<info>  [1651854595.1234] device (ttyUSB2): ..." / "<warn>  [modem0] ..."
        message = re.sub(r"^<\w+>\s+(?:\[\d+\.\d+\]\s*)?", "", message)
    return LogLine(raw, program, message, time, stamp)
