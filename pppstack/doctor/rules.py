"""The verdict rules: one session's facts -> one Diagnosis.

The rules run from the root causes a symptom can hide to the symptoms themselves: a USB
disconnect explains the "Modem hangup" after it, a PIN explains a failed dial, an echo failure
after the address came up explains a dead link.  Each rule quotes the lines it relied on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pppstack.doctor.facts import Fact, Kind
from pppstack.doctor.sessions import Session
from pppstack.doctor.verdicts import DEFAULT_FIX, STEP_OF, Diagnosis, Step, Verdict

__all__ = ["judge"]

_WRONG_PORT_SECONDS = 10.0   # CONNECT, then the line drops this soon with no PPP from the peer
_MEANINGFUL = set(Kind) - {Kind.SIGNAL, Kind.NOISE, Kind.AT_OK, Kind.SEND_AT, Kind.ECHO}


def _after(a: Fact | None, b: Fact | None) -> float | None:
    if a is None or b is None or a.line.time is None or b.line.time is None:
        return None
    return b.line.time - a.line.time


def _secs(d: float | None) -> str:
    if d is None:
        return ""
    return f"{d:.0f} s" if d < 120 else f"{d / 60:.0f} min"


def _dx(verdict: Verdict, facts: Sequence[Fact | None], summary: str, fix: str = "",
        step: Step | None = None) -> Diagnosis:
    seen: list[str] = []
    for f in sorted((f for f in facts if f is not None), key=lambda f: (f.line.time or 0.0)):
        if f.evidence not in seen:
            seen.append(f.evidence)
    return Diagnosis(verdict, step or STEP_OF[verdict], tuple(seen), fix or DEFAULT_FIX[verdict], summary)


def _port(s: Session) -> str:
    c = s.first(Kind.PPP_CONNECT)
    return c.detail if c else ""


def _no_kernel_ppp(s: Session) -> Diagnosis | None:
    f = s.first(Kind.NO_KERNEL_PPP)
    return None if f is None else _dx(Verdict.NO_KERNEL_PPP, [f],
                                      "pppd could not use the kernel's PPP driver (/dev/ppp).")


def _loopback(s: Session) -> Diagnosis | None:
    f = s.first(Kind.LOOPBACK)
    return None if f is None else _dx(Verdict.LOOPBACK, [s.first(Kind.PPP_CONNECT), f],
                                      "pppd saw its own LCP requests come back.")


def _foreign_echoes(s: Session) -> list[Fact]:
    """Echoed command lines that are not the command we last sent: another program talks on the port."""
    last_sent: str | None = None
    foreign = []
    for f in s.body:
        if f.kind in (Kind.SEND_AT, Kind.DIAL):
            last_sent = " ".join(f.detail.upper().split())
        elif f.kind is Kind.ECHO and last_sent is not None and " ".join(f.detail.split()) != last_sent:
            foreign.append(f)
    return foreign


def _busy(s: Session) -> Diagnosis | None:
    f = s.first(Kind.OPEN_BUSY)
    if f is not None:
        return _dx(Verdict.PORT_BUSY, [f], "The port was in use by another program.")
    foreign = _foreign_echoes(s)
    if not foreign:
        return None
    return _dx(Verdict.PORT_BUSY, foreign[:3], f"The modem echoed commands nobody in this log sent "
               f"({foreign[0].detail}): another program (often ModemManager) talks on the same port.")


def _no_port(s: Session) -> Diagnosis | None:
    f = s.first(Kind.OPEN_ENOENT)
    storage = s.anywhere(Kind.STORAGE_MODE)
    ttys = s.anywhere(Kind.TTY_ATTACHED)
    dialled = s.has(Kind.DIAL, Kind.CONNECT, Kind.PPP_CONNECT)
    if f is None and not (storage and not ttys and not dialled and s.has(Kind.STORAGE_MODE)):
        return None
    if s.has(Kind.USB_DISCONNECT) and ttys:
        return None  # it existed and then vanished: the disconnect rule says so
    what = "the serial port does not exist" if f else "the stick showed up only as a CD-ROM / network device"
    return _dx(Verdict.MODE_SWITCH_NEEDED, [f, *storage[-2:]], f"No serial port: {what}.")


def _vanished(s: Session) -> Diagnosis | None:
    gone = s.all(Kind.USB_DISCONNECT)
    if not gone:
        return None
    connect = s.first(Kind.PPP_CONNECT) or s.first(Kind.CONNECT)
    port = _port(s).rsplit("/", 1)[-1]
    mine = next((g for g in gone if port and g.detail == port), None)
    hangup = s.first(Kind.MODEM_HANGUP)
    d = _after(connect, gone[0])
    when = f" {_secs(d)} after {'Connect' if connect and connect.kind is Kind.PPP_CONNECT else 'CONNECT'}" \
        if d is not None else ""
    summary = f"The modem dropped off USB{when}" + (f", taking {port} with it" if mine else "") + \
        "; pppd's \"Modem hangup\" is the consequence, not the cause." if hangup else "."
    if not hangup:
        summary = f"The modem dropped off USB{when}."
    fix = DEFAULT_FIX[Verdict.PORT_VANISHED]
    if s.anywhere(Kind.BOOT):
        fix += " The modem also rebooted (^BOOT), which points the same way."
    return _dx(Verdict.PORT_VANISHED, [connect, gone[0], mine, hangup], summary, fix)


def _reset(s: Session) -> Diagnosis | None:
    boot = s.first(Kind.BOOT)
    before = s.first(Kind.CONNECT, Kind.NO_CARRIER, Kind.PPP_CONNECT)
    if boot is None or before is None or s.body.index(boot) < s.body.index(before):
        return None
    nc = s.first(Kind.NO_CARRIER)
    return _dx(Verdict.MODEM_RESET, [before, nc, boot], "The modem rebooted in the middle of the session (^BOOT).")


def _pin(s: Session) -> Diagnosis | None:
    # a lock reported before the session started (ModemManager at boot) still holds during it
    pins = [f for f in s.preamble + s.body if f.kind in (Kind.PIN_NEEDED, Kind.PIN_OK)]
    need = next((f for f in reversed(pins) if f.kind is Kind.PIN_NEEDED), None)
    if need is None or pins[-1].kind is Kind.PIN_OK:
        return None
    if s.has(Kind.IP_UP, Kind.IP_UP_MANAGER):
        return None
    what = need.detail if need.detail and len(need.detail) <= 30 else "it wants a PIN"
    return _dx(Verdict.SIM_PIN, [need, s.last(Kind.AT_ERROR), s.last(Kind.ATTEMPT_END)], f"The SIM is locked ({what}).")


def _registration(s: Session) -> Diagnosis | None:
    last = s.last(Kind.NOT_REGISTERED, Kind.REGISTERED)
    if last is None or last.kind is Kind.REGISTERED or s.has(Kind.CONNECT, Kind.PPP_CONNECT, Kind.IP_UP):
        return None
    return _dx(Verdict.NO_REGISTRATION, [last, s.last(Kind.NO_CARRIER, Kind.AT_ERROR, Kind.CONNECT_SCRIPT_FAILED)],
               f"The modem was not registered on a network ({last.detail or 'not registered'}).")


def _pdp(s: Session) -> Diagnosis | None:
    cause = s.last(Kind.PDP_CAUSE)
    if cause is None or s.has(Kind.IP_UP, Kind.NDIS_UP, Kind.IP_UP_MANAGER):
        return None
    return _dx(Verdict.PDP_REJECTED, [s.last(Kind.DIAL), cause],
               f"The network refused the data call: {cause.detail}.")


def _ppp(s: Session) -> Diagnosis | None:
    """After CONNECT: what PPP itself said."""
    connect = s.first(Kind.PPP_CONNECT) or s.first(Kind.CONNECT)
    up = s.first(Kind.IP_UP)
    echo = s.first(Kind.ECHO_FAIL)
    if echo is not None:
        if up is None:
            return _dx(Verdict.PEER_DEAD, [connect, echo], "The peer stopped answering LCP echo requests.")
        return _dx(Verdict.PEER_DEAD, [up, echo],
                   f"The link was up for {_secs(_after(up, echo)) or 'a while'}, then the peer stopped "
                   "answering LCP echo requests.")
    auth = s.first(Kind.AUTH_FAIL)
    if auth is not None and up is None:
        return _dx(Verdict.AUTH_FAILED, [connect, *s.all(Kind.AUTH_FAIL)[:3]],
                   "The network refused our PAP/CHAP login.")
    lcp = s.first(Kind.LCP_TIMEOUT)
    if lcp is not None:
        heard = s.has(Kind.PEER_FRAME)
        summary = ("LCP never opened: the peer's answers did not match our requests." if heard else
                   "Nothing answered our LCP Configure-Requests after CONNECT.")
        return _dx(Verdict.LCP_TIMEOUT, [connect, lcp], summary)
    ncp = s.first(Kind.NCP_FAIL)
    if ncp is not None and up is None:
        return _dx(Verdict.NETWORK_FAILED, [connect, s.first(Kind.AUTH_OK), ncp],
                   "PPP came up but no network protocol (IPCP/IPv6CP) opened.")
    return None


def _dial(s: Session) -> Diagnosis | None:
    if s.has(Kind.CONNECT, Kind.PPP_CONNECT, Kind.NDIS_UP, Kind.IP_UP, Kind.IP_UP_MANAGER):
        return None
    answer = s.last(Kind.NO_CARRIER, Kind.BUSY, Kind.AT_ERROR)   # the modem's own words first
    scripts = s.all(Kind.CONNECT_SCRIPT_FAILED)
    failed = next((f for f in reversed(scripts) if f.detail), scripts[-1] if scripts else None)
    if answer is None and failed is None:
        return None
    dial = s.last(Kind.DIAL)
    said = (answer.detail or answer.line.message) if answer is not None else \
        (failed.detail or failed.line.message) if failed is not None else ""
    return _dx(Verdict.CONNECT_FAILED, [dial, answer, failed], f"The dial never reached CONNECT ({said}).")


def _ncm(s: Session) -> Diagnosis | None:
    """An NCM attempt: no pppd, and the data call (^NDISDUP) never brought the link up."""
    if s.has(Kind.PPPD_START, Kind.PPP_CONNECT, Kind.CONNECT, Kind.DIAL):
        return None
    netdev = s.anywhere(Kind.NCM_NETDEV)
    not_ready = s.anywhere(Kind.LINK_NOT_READY)
    ndis = s.anywhere(Kind.NDIS_DOWN)
    if not (netdev or not_ready or ndis) or s.anywhere(Kind.NDIS_UP) or s.has(Kind.IP_UP_MANAGER):
        return None
    start, end = s.first(Kind.OUTER_START), s.first(Kind.ATTEMPT_END)
    took = _after(start, end)
    dev = (netdev or not_ready)[0].detail if (netdev or not_ready) else "the NCM interface"
    summary = (f"The NCM data call never came up: {dev} never got a link"
               + (f" and the interface was taken down {_secs(took)} after setting up" if took is not None else "")
               + "; the modem was never asked for, or refused, the data connection (^NDISDUP).")
    fix = ("Ask the modem for the data call on its AT port and read its answer: "
           "`pppstack doctor --mode ncm --device /dev/ttyUSB2 --apn YOUR_APN` shows the ^NDISSTAT cause; "
           "or use PPP on ttyUSB2.")
    return _dx(Verdict.CONNECT_FAILED, [netdev[0] if netdev else None, start, end, *not_ready[:1], *ndis[:1]],
               summary, fix)


def _wrong_port(s: Session) -> Diagnosis | None:
    connect = s.first(Kind.PPP_CONNECT) or s.first(Kind.CONNECT)
    hangup = s.first(Kind.MODEM_HANGUP)
    if connect is None or hangup is None or s.has(Kind.PEER_FRAME, Kind.IP_UP, Kind.AUTH_OK):
        return None
    d = _after(connect, hangup)
    if d is not None and d > _WRONG_PORT_SECONDS:
        return None
    port = _port(s)
    at = s.first(Kind.AT_OK)
    summary = (f"{port or 'The port'} answered AT and CONNECT, but no PPP followed: the modem hung up "
               f"{_secs(d) + ' ' if d is not None else ''}after Connect. This port does not carry data.")
    return _dx(Verdict.WRONG_PORT, [at, s.last(Kind.CONNECT), s.first(Kind.PPP_CONNECT), hangup], summary)


def _ok(s: Session) -> Diagnosis | None:
    up = s.first(Kind.IP_UP) or s.first(Kind.IP_UP_MANAGER) or s.first(Kind.NDIS_UP)
    if up is None:
        return None
    hangup = s.first(Kind.MODEM_HANGUP)
    if hangup is not None and not s.has(Kind.USER_STOP):
        return _dx(Verdict.UNKNOWN, [up, hangup],
                   f"The link worked for {_secs(_after(up, hangup)) or 'a while'}, then the modem hung up without "
                   "saying why.", step=Step.TRAFFIC)
    return _dx(Verdict.OK, [up, s.first(Kind.USER_STOP)], "The link came up" +
               (" and was ended on purpose." if s.has(Kind.USER_STOP) else "."))


_RULES: tuple[Callable[[Session], Diagnosis | None], ...] = (
    _no_kernel_ppp, _loopback, _busy, _no_port, _vanished, _reset, _pin, _registration, _pdp, _ppp,
    _dial, _ncm, _wrong_port, _ok,
)


def judge(s: Session) -> Diagnosis:
    for rule in _RULES:
        d = rule(s)
        if d is not None:
            return _with_notes(s, d)
    tail = [f for f in s.body if f.kind in _MEANINGFUL][-5:]
    connect = s.last(Kind.PPP_CONNECT)
    last = s.last(*(_MEANINGFUL - {Kind.ECHO}))
    if connect is not None and connect is last:
        summary = (f"The log ends right after Connect on {connect.detail} with no word from PPP: "
                   "the link neither came up nor failed while logging.")
    elif last is not None and last.kind is Kind.CONNECT:
        summary = "The dial reached CONNECT and the log ends there: what PPP did next is not in it."
    else:
        summary = "No known failure in these lines."
    return _with_notes(s, _dx(Verdict.UNKNOWN, list(tail), summary))


def _with_notes(s: Session, d: Diagnosis) -> Diagnosis:
    notes = [f.detail for f in s.all(Kind.NOISE)]
    naks = sum(1 for f in s.all(Kind.PEER_FRAME) if f.detail.startswith("rcvd [IPCP ConfNak"))
    if naks >= 3:
        notes.append(f"the network Naked IPCP {naks} times before giving an address: 3G networks do that while "
                     "the data call comes up; it is not a failure by itself")
    if s.has(Kind.SIGNAL) and d.verdict is not Verdict.NO_REGISTRATION:
        notes.append("the modem's signal reports (^RSSI/^HCSQ/^CERSSI) between the lines are normal")
    if s.has(Kind.WRITE_FAILED) and d.verdict is not Verdict.PORT_BUSY:
        notes.append("comgt could not write to the port before pppd ran (it was probably still held)")
    notes = list(dict.fromkeys(notes))
    return Diagnosis(d.verdict, d.step, d.evidence, d.fix, d.summary, tuple(notes), d.title)
