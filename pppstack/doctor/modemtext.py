"""The modem's own words, wherever they are quoted: chat -v, wvdial, comgt, ModemManager's AT debug.

chat logs each received line as its own message (``^M`` for a bare CR), wvdial prints them bare,
ModemManager quotes them as ``<-- '<CR><LF>NO CARRIER<CR><LF>'``.  This module strips the
quoting and recognises V.250 result codes, 27.007 errors, Huawei URCs and registration states.
"""

from __future__ import annotations

import re

from pppstack.doctor.facts import Fact, Kind
from pppstack.doctor.lines import LogLine

__all__ = ["modem_facts", "at_text", "PDP_CAUSES"]

# 24.008 §10.5.6.6 session-management causes (also 24.301 ESM causes) a user can act on
PDP_CAUSES: dict[int, str] = {
    8: "operator determined barring", 26: "insufficient resources", 27: "missing or unknown APN",
    28: "unknown PDP address or PDP type", 29: "user authentication failed",
    30: "activation rejected by GGSN", 31: "activation rejected, unspecified",
    32: "service option not supported", 33: "requested service option not subscribed",
    34: "service option temporarily out of order", 50: "PDN type IPv4 only allowed",
    51: "PDN type IPv6 only allowed",
}
# 27.007 §9.2.2 +CME ERROR codes for GPRS that mean "the data call was refused"
_CME_PDP = {132: 32, 133: 33, 134: 34, 149: 29}
_CME_PIN = {11, 12, 16, 17, 18}          # SIM PIN / PUK required, incorrect password, PIN2, PUK2
_CME_NOREG = {30, 31, 103, 106, 107, 111, 112, 113}   # no network service, timeout, illegal MS, not allowed

_URC_SIGNAL = re.compile(r"^(\^HCSQ|\^RSSI|\^CERSSI|\^CSNR|\+CSQ|\^LTERSRP|\^CESQ|\+CESQ)\s*:", re.I)
_REG = re.compile(r"^\+C(?:E|G)?REG:\s*(?:(\d),)?\s*(\d)\b")


def at_text(message: str) -> str:
    """The modem's text with chat's ^M, ModemManager's <CR><LF> and quotes removed."""
    t = message.strip()
    mm = re.match(r"^(?:\[[^\]]*\]\s*)?(?:\(\w+\):\s*)?<--\s*'(.*)'$", t)
    if mm:
        t = mm.group(1)
    t = t.replace("<CR>", " ").replace("<LF>", " ").replace("^M", " ")
    return t.strip()


def _cme(text: str, line: LogLine) -> list[Fact]:
    m = re.match(r"^\+CM[ES] ERROR:\s*(.*)$", text, re.I)
    if not m:
        return []
    what = m.group(1).strip()
    low = what.lower()
    code = int(what) if what.isdigit() else None
    facts = [Fact(Kind.AT_ERROR, line, text)]
    if code in _CME_PIN or "pin" in low or "puk" in low:
        facts.append(Fact(Kind.PIN_NEEDED, line, what))
    elif code in _CME_NOREG or "no network service" in low or "network timeout" in low or "not allowed" in low:
        facts.append(Fact(Kind.NOT_REGISTERED, line, what))
    elif code in _CME_PDP:
        facts.append(Fact(Kind.PDP_CAUSE, line, f"{PDP_CAUSES[_CME_PDP[code]]} (+CME ERROR: {code})"))
    elif "service option" in low or "apn" in low or "pdp" in low:
        facts.append(Fact(Kind.PDP_CAUSE, line, what))
    return facts


def modem_facts(line: LogLine, text: str) -> list[Fact]:
    """Facts from one line of modem text (already unquoted by `at_text`)."""
    if not text:
        return []
    up = text.upper()
    word = re.sub(r"\s+", " ", up)
    if word == "OK":
        return [Fact(Kind.AT_OK, line)]
    if word.startswith("AT") and len(word) > 2 and not word.startswith("ATTENTION"):
        return [Fact(Kind.ECHO, line, word)]   # E1: the modem repeats the command line it got
    if word.startswith("CONNECT") and (len(word) == 7 or word[7] in " /"):
        return [Fact(Kind.CONNECT, line, text)]
    if word in ("NO CARRIER", "NO ANSWER", "NO DIALTONE", "NO DIAL TONE"):
        return [Fact(Kind.NO_CARRIER, line, text)]
    if word == "BUSY":
        return [Fact(Kind.BUSY, line)]
    if word in ("ERROR", "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS"):
        return [Fact(Kind.AT_ERROR, line, text)]
    if word.startswith(("+CME ERROR", "+CMS ERROR")):
        return _cme(text, line)
    if word.startswith("+CPIN:") or word.startswith("^CPIN:"):
        state = word.split(":", 1)[1].strip().strip(",").split(",")[0].strip().strip('"')
        if state == "READY":
            return [Fact(Kind.PIN_OK, line)]
        if "PIN" in state or "PUK" in state:
            return [Fact(Kind.PIN_NEEDED, line, state)]
        return []
    if word.startswith("^BOOT") or word == "+PBREADY":
        return [Fact(Kind.BOOT, line, text)]
    if word.startswith("^NDISSTAT"):
        # ^NDISSTAT: <stat>,<err>,<wx_state>,"<PDP_type>"  (Huawei; stat 1 = connected)
        parts = [p.strip().strip('"') for p in text.split(":", 1)[1].split(",")]
        if parts and parts[0] == "1":
            return [Fact(Kind.NDIS_UP, line)]
        if parts and parts[0] in ("0", "3"):
            cause = parts[1] if len(parts) > 1 else ""
            name = PDP_CAUSES.get(int(cause), "") if cause.isdigit() else ""
            facts = [Fact(Kind.NDIS_DOWN, line, cause)]
            if cause.isdigit() and int(cause) > 0:
                facts.append(Fact(Kind.PDP_CAUSE, line, f"{name or 'cause'} (cause {cause})"))
            return facts
        return []
    m = _REG.match(up)
    if m and not word.startswith("+CREG: (") and "?" not in word:
        # "+CREG: 0,1" (query: n,stat) or "+CREG: 1" (URC: stat) -- 27.007 §7.2
        stat = int(m.group(2))
        if stat in (1, 5):
            return [Fact(Kind.REGISTERED, line, text)]
        return [Fact(Kind.NOT_REGISTERED, line,
                     {0: "not searching", 2: "searching", 3: "registration denied", 4: "unknown"}.get(stat, text))]
    if _URC_SIGNAL.match(text):
        if "NOSERVICE" in word.replace(" ", "") or "NO SERVICE" in word:
            return [Fact(Kind.NOT_REGISTERED, line, "no service")]
        if word.startswith("+CSQ") and re.match(r"^\+CSQ:\s*99\b", word):
            return [Fact(Kind.SIGNAL, line, "no signal (+CSQ: 99)")]
        return [Fact(Kind.SIGNAL, line, text)]
    if word.startswith("+CEER:"):
        m2 = re.search(r"\b(\d+)\b", text)
        if m2 and int(m2.group(1)) in PDP_CAUSES:
            return [Fact(Kind.PDP_CAUSE, line, f"{PDP_CAUSES[int(m2.group(1))]} (+CEER)")]
    return []
