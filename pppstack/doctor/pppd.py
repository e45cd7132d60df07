"""pppd's and chat's own messages (syslog wording of pppd 2.4/2.5, chat -v)."""

from __future__ import annotations

import re

from pppstack.doctor.facts import Fact, Kind
from pppstack.doctor.lines import LogLine
from pppstack.doctor.modemtext import at_text, modem_facts

__all__ = ["pppd_facts", "chat_facts"]

# (pattern, kind) over pppd's message; the first match wins
_PPPD: tuple[tuple[re.Pattern[str], Kind], ...] = tuple((re.compile(p, re.I), k) for p, k in (
    (r"^pppd [\d.]+\w* started by", Kind.PPPD_START),
    (r"^Serial connection established", Kind.SERIAL_UP),
    (r"^Connect: (\S+) <--> (\S+)", Kind.PPP_CONNECT),
    (r"^Modem hangup", Kind.MODEM_HANGUP),
    (r"^Connection terminated", Kind.ATTEMPT_END),
    (r"^Exit\.?$", Kind.ATTEMPT_END),
    (r"^Connect script failed", Kind.CONNECT_SCRIPT_FAILED),
    (r"^Terminating on signal", Kind.USER_STOP),
    (r"^Connect time [\d.]+ minutes", Kind.USER_STOP),
    (r"^LCP: timeout sending Config-Requests", Kind.LCP_TIMEOUT),
    (r"^(?:IPCP|IPV6CP|IPv6CP): timeout sending Config-Requests", Kind.NCP_FAIL),
    (r"^No network protocols running", Kind.NCP_FAIL),
    (r"^(?:Serial line is looped back|.*appears to be looped back)", Kind.LOOPBACK),
    (r"^(?:CHAP|PAP|MS-CHAP\S*|EAP) authentication failed", Kind.AUTH_FAIL),
    (r"^Peer .* failed (?:CHAP|PAP|EAP|MS-CHAP\S*) authentication", Kind.AUTH_FAIL),  # pppd as the server
    (r"^(?:Remote message: )?.*(?:Authentication failure|authentication failed)", Kind.AUTH_FAIL),
    (r"^(?:CHAP|PAP|MS-CHAP\S*) authentication succeeded", Kind.AUTH_OK),
    (r"^local +IP address (\S+)", Kind.IP_UP),
    (r"^local +LL address (\S+)", Kind.IP_UP),
    (r"^No response to \d+ echo-requests", Kind.ECHO_FAIL),
    (r"^Serial link appears to be disconnected", Kind.ECHO_FAIL),
    (r"^LCP terminated by peer", Kind.PEER_TERMINATED),
    (r"(?:Couldn't open the /dev/ppp device|lacks kernel support for PPP|lacks PPP kernel support"
     r"|Couldn't create new ppp unit)", Kind.NO_KERNEL_PPP),
    (r"^(?:Failed to open|Couldn't open|Can't open) (/dev/\S+?):? .*No such file or directory", Kind.OPEN_ENOENT),
    (r"^Failed to open (/dev/\S+?):? .*(?:Device or resource busy|Permission denied)", Kind.OPEN_BUSY),
    (r"^Device (\S+) is locked by pid", Kind.OPEN_BUSY),
    (r"^Can't get terminal parameters: .*(?:No such device|Input/output error)", Kind.USB_DISCONNECT),
    (r"^Could not determine remote IP address: defaulting to", Kind.NOISE),
))
_NOTES = {"Could not determine remote IP address": "the network did not tell its own address; pppd used "
          "10.64.64.64, as 3G networks always make it do (harmless)"}


def pppd_facts(line: LogLine) -> list[Fact]:
    msg = line.message
    if msg.startswith(("rcvd [", "sent [")):
        if msg.startswith("rcvd ["):
            low = msg.lower()
            if "[chap failure" in low or "[pap authnak" in low:
                return [Fact(Kind.PEER_FRAME, line), Fact(Kind.AUTH_FAIL, line)]
            return [Fact(Kind.PEER_FRAME, line, msg)]
        return []
    for pat, kind in _PPPD:
        m = pat.search(msg)
        if m:
            if kind is Kind.NOISE:
                return [Fact(kind, line, next(v for k, v in _NOTES.items() if msg.startswith(k)))]
            if kind is Kind.PPP_CONNECT:
                return [Fact(kind, line, m.group(2))]
            return [Fact(kind, line, m.group(1) if m.groups() else "")]
    return []


def chat_facts(line: LogLine) -> list[Fact]:
    """chat -v: ``send (ATD*99#^M)``, ``expect (CONNECT)``, one message per received line."""
    msg = line.message
    m = re.match(r"^send \((.*)\)$", msg)
    if m:
        # chat's escapes (\d delay, \p pause, \K break, \c no CR) are not part of the command
        cmd = re.sub(r"\\[dpKc]", "", m.group(1).replace("^M", "")).strip()
        if not cmd.upper().startswith("AT"):
            return []
        kind = Kind.DIAL if re.match(r"^ATD", cmd, re.I) else Kind.SEND_AT
        return [Fact(kind, line, cmd)]
    if re.match(r"^(?:expect|abort on|report|timeout set to|-- got it|Failed|alarm|CONNECTED)\b", msg.strip()):
        if msg.startswith("Failed"):  # "Failed (NO CARRIER)" names the abort string; a bare one says nothing
            return [Fact(Kind.CONNECT_SCRIPT_FAILED, line, msg if "(" in msg else "")]
        if msg.strip() == "alarm":  # chat's timeout: the expected string never came
            return [Fact(Kind.CONNECT_SCRIPT_FAILED, line, "chat timed out waiting for the modem's answer")]
        return []
    if msg.startswith("SIGHUP") or "hangup" in msg.lower():
        return [Fact(Kind.MODEM_HANGUP, line)]
    return modem_facts(line, at_text(msg))
