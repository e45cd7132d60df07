"""The programs around pppd: OpenWrt netifd (and comgt under it), wvdial, NetworkManager, ModemManager.

Only what changes a verdict is read: where a session starts and ends, and the reason a manager
gives for failing (NetworkManager's device-state reasons, ModemManager's bearer errors).
"""

from __future__ import annotations

import re

from pppstack.doctor.facts import Fact, Kind
from pppstack.doctor.lines import LogLine
from pppstack.doctor.modemtext import at_text, modem_facts

__all__ = ["netifd_facts", "comgt_facts", "wvdial_facts", "nm_facts", "mm_facts"]

# NetworkManager's NMDeviceStateReason nicknames -> what they mean for us
_NM_REASONS: dict[str, Kind] = {
    "gsm-registration-denied": Kind.NOT_REGISTERED, "gsm-registration-timeout": Kind.NOT_REGISTERED,
    "gsm-registration-not-searching": Kind.NOT_REGISTERED, "gsm-registration-failed": Kind.NOT_REGISTERED,
    "gsm-pin-check-failed": Kind.PIN_NEEDED, "gsm-sim-pin-required": Kind.PIN_NEEDED,
    "gsm-sim-puk-required": Kind.PIN_NEEDED, "sim-pin-incorrect": Kind.PIN_NEEDED,
    "gsm-apn-failed": Kind.PDP_CAUSE,
    "modem-no-carrier": Kind.NO_CARRIER, "modem-busy": Kind.BUSY, "modem-dial-failed": Kind.CONNECT_SCRIPT_FAILED,
    "modem-dial-timeout": Kind.CONNECT_SCRIPT_FAILED, "modem-no-dial-tone": Kind.NO_CARRIER,
    "modem-init-failed": Kind.CONNECT_SCRIPT_FAILED,
    "ppp-failed": Kind.NCP_FAIL, "ip-config-unavailable": Kind.NCP_FAIL,
    "no-secrets": Kind.AUTH_FAIL,
    "modem-not-found": Kind.OPEN_ENOENT, "removed": Kind.USB_DISCONNECT,
}


def netifd_facts(line: LogLine) -> list[Fact]:
    msg = line.message
    if re.match(r"^Interface '[^']+' is setting up now", msg):
        return [Fact(Kind.OUTER_START, line)]
    if re.match(r"^Interface '[^']+' (?:is now down|has lost the connection)", msg):
        return [Fact(Kind.ATTEMPT_END, line)]
    if re.match(r"^Interface '[^']+' is now up", msg):
        return [Fact(Kind.IP_UP_MANAGER, line)]
    low = msg.lower()
    if "pin set successfully" in low or "pin ok" in low:
        return [Fact(Kind.PIN_OK, line)]
    if re.search(r"(?:unable to verify pin|pin failed|incorrect pin|sim (?:pin|puk) required)", low):
        return [Fact(Kind.PIN_NEEDED, line, msg)]
    if re.search(r"(?:unable to connect|failed to connect|no data link)", low):
        return [Fact(Kind.CONNECT_SCRIPT_FAILED, line, msg)]
    if re.search(r"no such file or directory", low) and "/dev/tty" in low:
        return [Fact(Kind.OPEN_ENOENT, line, msg)]
    return modem_facts(line, at_text(msg))  # proto scripts echo the modem's answers (e.g. ^NDISSTAT)


def comgt_facts(line: LogLine) -> list[Fact]:
    msg, low = line.message, line.message.lower()
    if "could not write to com device" in low:
        return [Fact(Kind.WRITE_FAILED, line, msg)]
    if re.search(r"can'?t open (?:com )?device|no such file or directory", low):
        return [Fact(Kind.OPEN_ENOENT, line, msg)]
    if "device or resource busy" in low:
        return [Fact(Kind.OPEN_BUSY, line, msg)]
    if low.startswith("sim ready"):
        return [Fact(Kind.PIN_OK, line)]
    if "enter pin" in low or "pin failed" in low or "sim pin" in low:
        return [Fact(Kind.PIN_NEEDED, line, msg)]
    if low.startswith("registered on"):
        return [Fact(Kind.REGISTERED, line, msg)]
    if "registration denied" in low or "not registered" in low or "no registration" in low:
        return [Fact(Kind.NOT_REGISTERED, line, msg)]
    if low.startswith("signal quality"):
        return [Fact(Kind.SIGNAL, line, msg)]
    return modem_facts(line, at_text(msg))


# pppd's exit status as wvdial prints it ("(exit code = 16)") -> what it means
_PPPD_EXIT: dict[int, Kind] = {
    8: Kind.CONNECT_SCRIPT_FAILED, 12: Kind.NCP_FAIL, 15: Kind.ECHO_FAIL, 16: Kind.MODEM_HANGUP,
    19: Kind.AUTH_FAIL, 4: Kind.NO_KERNEL_PPP, 13: Kind.LOOPBACK,
}


def wvdial_facts(line: LogLine) -> list[Fact]:
    """wvdial's ``--> `` commentary; the modem's answers it prints bare go to modem_facts."""
    msg = line.message
    if not msg.startswith("-->"):
        if re.match(r"^AT", msg, re.I):  # wvdial echoes what it sent ("ATDT*99#")
            return [Fact(Kind.DIAL if re.match(r"^ATD", msg, re.I) else Kind.SEND_AT, line, msg)]
        return modem_facts(line, at_text(msg))
    body = msg[3:].strip()
    low = body.lower()
    if low.startswith("wvdial: internet dialer version"):
        return [Fact(Kind.OUTER_START, line)]
    m = re.match(r"^Sending: (AT.*)$", body, re.I)
    if m:
        return [Fact(Kind.DIAL if re.match(r"^ATD", m.group(1), re.I) else Kind.SEND_AT, line, m.group(1))]
    if low.startswith("cannot open"):
        if "busy" in low or "locked" in low:
            return [Fact(Kind.OPEN_BUSY, line, body)]
        return [Fact(Kind.OPEN_ENOENT, line, body)]
    if low.startswith("cannot get information for serial port"):
        return [Fact(Kind.OPEN_ENOENT, line, body)]
    if low.startswith("modem not responding"):
        return [Fact(Kind.CONNECT_SCRIPT_FAILED, line, body)]
    if low.startswith("no carrier"):
        return [Fact(Kind.NO_CARRIER, line, body)]
    if low.startswith("disconnecting at"):
        return [Fact(Kind.ATTEMPT_END, line)]
    m = re.search(r"\(exit code = (\d+)\)", body)
    if m:
        code = int(m.group(1))
        kind = _PPPD_EXIT.get(code)
        return [Fact(Kind.PPPD_EXIT, line, str(code))] + ([Fact(kind, line, body)] if kind else [])
    if low.startswith(("local  ip address", "local ip address")):
        return [Fact(Kind.IP_UP, line, body.split()[-1])]
    if low.startswith("caught signal"):
        return [Fact(Kind.USER_STOP, line)]
    return []


def nm_facts(line: LogLine) -> list[Fact]:
    msg = line.message
    if re.search(r"Activation: (?:\(\w+\) )?starting connection", msg):
        return [Fact(Kind.OUTER_START, line)]
    m = re.search(r"state change: \S+ -> (\S+)(?: \(reason '([\w-]+)')?", msg)
    if m:
        state, reason = m.group(1), m.group(2) or ""
        facts = []
        if reason in _NM_REASONS:
            facts.append(Fact(_NM_REASONS[reason], line, f"NetworkManager: {reason}"))
        if state == "activated":
            facts.append(Fact(Kind.IP_UP_MANAGER, line))
        if state == "failed":
            facts.append(Fact(Kind.ATTEMPT_END, line, reason))
        return facts
    if re.search(r"Activation: (?:\(\w+\) )?(?:Stage \d of \d \([^)]*\) )?failed", msg):
        return [Fact(Kind.ATTEMPT_END, line)]
    return []


def mm_facts(line: LogLine) -> list[Fact]:
    msg = line.message
    low = msg.lower()
    if "<--" in msg:  # AT debug: "[ttyUSB2/at] <-- '<CR><LF>NO CARRIER<CR><LF>'"
        return modem_facts(line, at_text(msg))
    m = re.search(r"-->\s*'(AT[^']*)'", msg, re.I)
    if m:
        cmd = m.group(1).replace("<CR>", "").strip()
        return [Fact(Kind.DIAL if re.match(r"^ATD", cmd, re.I) else Kind.SEND_AT, line, cmd)]
    if re.search(r"simple connect (?:started|state \(1/)", low):
        return [Fact(Kind.OUTER_START, line)]
    m = re.search(r"registration state changed \(\S+ -> (\S+)\)", low)
    if m:
        state = m.group(1)
        if state in ("home", "roaming", "registered"):
            return [Fact(Kind.REGISTERED, line, state)]
        return [Fact(Kind.NOT_REGISTERED, line, state)]
    m = re.search(r"state changed \((\S+) -> (\S+)\)", low)
    if m:
        if m.group(2) == "connected":
            return [Fact(Kind.IP_UP_MANAGER, line)]
        if m.group(2) == "locked":
            return [Fact(Kind.PIN_NEEDED, line, "locked")]
        if m.group(2) in ("failed",):
            return [Fact(Kind.ATTEMPT_END, line)]
        return []
    if re.search(r"(?:sim-pin|sim pin|sim-puk|modem is locked|unlock required)", low):
        return [Fact(Kind.PIN_NEEDED, line, msg)]
    if "couldn't connect bearer" in low or "connection attempt failed" in low or "bearer connection failed" in low:
        facts = [Fact(Kind.CONNECT_SCRIPT_FAILED, line, msg)]
        if re.search(r"(?:apn|service option|pdp|activation rejected|not subscribed)", low):
            facts.append(Fact(Kind.PDP_CAUSE, line, msg.split(":", 1)[-1].strip()))
        elif re.search(r"(?:not registered|no network|registration)", low):
            facts.append(Fact(Kind.NOT_REGISTERED, line, msg))
        return facts
    if re.search(r"port \S+ (?:is )?(?:busy|in use)|device or resource busy", low):
        return [Fact(Kind.OPEN_BUSY, line, msg)]
    return []
