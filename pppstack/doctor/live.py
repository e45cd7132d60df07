"""The live doctor's judgement, sans-I/O: what each step saw -> passed, or the verdict.

The edge (pppstack.io.doctorwalk) opens the port, runs the dialer and the link, and hands the
results here: a modem state, a dial result, a link's end.  Everything that decides is in this
module, so it is tested with plain values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pppstack.doctor.modemtext import PDP_CAUSES
from pppstack.doctor.verdicts import DEFAULT_FIX, Diagnosis, Step, Verdict
from pppstack.exitcodes import ExitCode
from pppstack.modem.dial import DialError, DialResult, NcmDialResult
from pppstack.modem.ports import DeviceMode
from pppstack.modem.state import ModemState

__all__ = ["Walk", "signal_quality", "foreign_chatter", "judge_usb", "judge_dial", "judge_link",
           "LEGACY_INIT", "legacy_note", "cause_of"]

# the init string of wvdial's default and many chat scripts; pppstack needs none of it
LEGACY_INIT = "ATQ0 V1 E1 S0=0 &C1 &D2"


@dataclass
class Walk:
    """The steps passed so far, each with what it saw, plus notes on things ridden through."""

    passed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ok(self, step: Step, saw: str) -> None:
        self.passed.append((step.value, saw))

    def fail(self, verdict: Verdict, step: Step, summary: str, evidence: list[str], fix: str = "") -> Diagnosis:
        return Diagnosis(verdict, step, tuple(e for e in evidence if e), fix or DEFAULT_FIX[verdict], summary,
                         tuple(self.notes))

    def done(self, summary: str, evidence: list[str]) -> Diagnosis:
        return Diagnosis(Verdict.OK, Step.END, tuple(evidence), DEFAULT_FIX[Verdict.OK], summary, tuple(self.notes))


def _rate(value: float, good: float, fair: float, poor: float) -> str:
    return "excellent" if value >= good else "good" if value >= fair else "fair" if value >= poor else "poor"


def signal_quality(state: ModemState) -> str:
    """``LTE RSRP -95 dBm (fair)``: the measure that matters for the technology, rated."""
    h = state.hcsq
    if h is not None and h.sysmode != "NOSERVICE":
        if h.rsrp_dbm is not None:
            sinr = f", SINR {h.sinr_db:g} dB" if h.sinr_db is not None else ""
            return f"{h.sysmode} RSRP {h.rsrp_dbm:g} dBm ({_rate(h.rsrp_dbm, -80, -90, -100)}){sinr}"
        if h.rscp_dbm is not None:
            ecio = f", Ec/Io {h.ecio_db:g} dB" if h.ecio_db is not None else ""
            return f"{h.sysmode} RSCP {h.rscp_dbm:g} dBm ({_rate(h.rscp_dbm, -75, -85, -95)}){ecio}"
        if h.rssi_dbm is not None:
            return f"{h.sysmode} RSSI {h.rssi_dbm:g} dBm ({_rate(h.rssi_dbm, -70, -85, -100)})"
    if state.rssi is not None and state.rssi != 99:
        dbm = -113 + 2 * state.rssi
        return f"RSSI {dbm} dBm (+CSQ {state.rssi}, {_rate(dbm, -70, -85, -100)})"
    return "no signal report"


_URC = re.compile(r"^(\^|\+C(?:E|G)?REG: ?\d$|\+CREG: ?\d,|RING$|\+CMTI)")


def foreign_chatter(text: str) -> list[str]:
    """Lines on a port we have not spoken to yet that only another program could have caused:
    echoed command lines and answers (final result codes, +CSQ: ...); URCs are the modem's own."""
    out = []
    for raw in re.split(r"[\r\n]+", text):
        line = raw.strip()
        if not line or _URC.match(line):
            continue
        if line.upper().startswith("AT") or line in ("OK", "ERROR") or line.startswith(("+CSQ:", "+CME ERROR")):
            out.append(line)
    return out


def judge_usb(vendor: int, product: int, mode: DeviceMode, walk: Walk) -> Diagnosis | None:
    ident = f"{vendor:04x}:{product:04x}"
    if mode in (DeviceMode.HILINK, DeviceMode.NEEDS_SWITCH):
        what = "a HiLink network device" if mode is DeviceMode.HILINK else "a CD-ROM (mass storage)"
        return walk.fail(Verdict.MODE_SWITCH_NEEDED, Step.USB,
                         f"The stick ({ident}) is {what}: it has no serial port to dial on.",
                         [f"USB {ident}: {mode.value}"])
    walk.ok(Step.USB, f"{ident} {mode.value}")
    return None


def cause_of(lines: list[str]) -> str:
    """An SM/ESM cause in +CEER or ^NDISSTAT text, in words ('' if none)."""
    for line in lines:
        if line.upper().startswith(("+CEER", "^NDISSTAT")):
            nums = [int(n) for n in re.findall(r"\b(\d+)\b", line.split(":", 1)[-1])]
            if line.upper().startswith("^NDISSTAT"):
                nums = nums[1:2] if nums and nums[0] == 0 else []
            for n in nums:
                if n in PDP_CAUSES:
                    return f"{PDP_CAUSES[n]} (cause {n})"
    return ""


def legacy_note(answer: str) -> str:
    if answer == "OK":
        return ""
    return (f"this modem answers {answer} to the legacy init string {LEGACY_INIT!r} that wvdial and many "
            "chat scripts send first, which makes such scripts abort; pppstack does not send it")


_STEP_OF_COMMAND = (("AT+CPIN", Step.SIM), ("AT^SYSCFGEX", Step.REGISTRATION), ("AT+CREG", Step.REGISTRATION),
                    ("AT+CGREG", Step.REGISTRATION), ("AT+CEREG", Step.REGISTRATION), ("AT+CGDCONT", Step.DIAL),
                    ("ATD", Step.DIAL), ("AT^NDISDUP", Step.DIAL), ("AT^NDISSTATQRY", Step.DIAL), ("AT", Step.AT))


def _failed_step(result: DialResult | NcmDialResult) -> Step:
    cmd = (result.failed_command or "").upper()
    for prefix, step in _STEP_OF_COMMAND:
        if cmd.startswith(prefix):
            return step
    return Step.DIAL


def judge_dial(result: DialResult | NcmDialResult, transcript: list[str], walk: Walk, ceer: list[str],
               port: str) -> Diagnosis | None:
    """Record the AT steps the dialer passed; the verdict at the first it failed (None: CONNECT)."""
    state = result.modem_state
    step = Step.DIAL if result.ok else _failed_step(result)
    order = [Step.AT, Step.SIM, Step.REGISTRATION, Step.SIGNAL, Step.DIAL]
    reached = order.index(step) if step in order else len(order)
    if reached > 0:
        walk.ok(Step.AT, f"{port} answers AT")
    if reached > 1:
        walk.ok(Step.SIM, f"SIM {state.sim.value}")
    if reached > 2:
        walk.ok(Step.REGISTRATION, "registered" + (f", {state.mode}" if state.mode else ""))
        walk.ok(Step.SIGNAL, signal_quality(state))
    tail = [t.strip() for t in transcript[-6:]]
    if result.ok:
        walk.ok(Step.DIAL, result.message)
        return None
    err = result.error
    msg = result.message
    if err is DialError.NO_RESPONSE:
        return walk.fail(Verdict.WRONG_PORT, Step.AT, f"{port} does not answer AT: it is not the modem's AT/PPP "
                         "port (or the modem is still booting).", tail)
    if err in (DialError.SIM_PIN_REQUIRED, DialError.SIM_PIN_REJECTED, DialError.SIM_PUK_REQUIRED,
               DialError.SIM_NOT_INSERTED, DialError.SIM_FAILURE):
        return walk.fail(Verdict.SIM_PIN, Step.SIM, f"The SIM is not ready: {msg}.", tail)
    if err in (DialError.REGISTRATION_DENIED, DialError.NOT_REGISTERED):
        return walk.fail(Verdict.NO_REGISTRATION, Step.REGISTRATION, f"{msg[0].upper()}{msg[1:]}; signal: "
                         f"{signal_quality(state)}.", tail)
    if err is DialError.PORT_LOST:
        return walk.fail(Verdict.PORT_VANISHED, step, f"The port went away during {step.value}: {msg}.", tail)
    cause = cause_of(ceer + [t.split("<-- ", 1)[-1] for t in transcript])
    if err is DialError.PDP_CONTEXT_FAILED or cause or (
            result.response is not None and result.response.cme_code in (132, 133, 134, 149)):
        return walk.fail(Verdict.PDP_REJECTED, Step.DIAL, "The network refused the data call"
                         + (f": {cause}." if cause else f" ({msg})."), tail + ceer)
    return walk.fail(Verdict.CONNECT_FAILED, Step.DIAL, f"The dial did not reach CONNECT: {msg}.", tail + ceer)


def judge_link(code: ExitCode, message: str, seen: set[str], frames: list[str], walk: Walk,
               after_text: list[str], heard_peer: bool) -> Diagnosis | None:
    """After CONNECT: the link's end and the events seen on the way -> the PPP steps passed, or the verdict.

    ``seen`` holds event names (LinkUp, AuthSucceeded, Ipv4Up, Ipv6Up); ``frames`` the pppd-format
    debug lines; ``after_text`` what the modem printed in command mode after the link ended."""
    last = frames[-6:]
    if any(t.startswith("^BOOT") for t in after_text):
        return walk.fail(Verdict.MODEM_RESET, Step.TRAFFIC if "Ipv4Up" in seen else Step.LCP,
                         "The modem rebooted mid-session: NO CARRIER, then ^BOOT.", last + after_text[:3])
    if code is ExitCode.PORT_VANISHED:
        return walk.fail(Verdict.PORT_VANISHED, Step.TRAFFIC if "Ipv4Up" in seen else Step.LCP, message, last)
    if code is ExitCode.LOOPBACK:
        return walk.fail(Verdict.LOOPBACK, Step.LCP, message, last)
    if "LinkUp" not in seen:
        if code in (ExitCode.HANGUP, ExitCode.NO_CARRIER, ExitCode.CARRIER_LOST) and not heard_peer:
            return walk.fail(Verdict.WRONG_PORT, Step.LCP, "The port said CONNECT but no PPP followed and the modem "
                             f"hung up: this port does not carry data. ({message})", last)
        return walk.fail(Verdict.LCP_TIMEOUT, Step.LCP, message, last)
    walk.ok(Step.LCP, "LCP opened")
    refused = any(f.startswith(("rcvd [CHAP Failure", "rcvd [PAP AuthNak")) for f in frames)
    if code in (ExitCode.AUTH_FAILED, ExitCode.PEER_AUTH_FAILED) or "AuthFailed" in seen or (
            refused and "AuthSucceeded" not in seen):
        said = next((f[len("rcvd "):] for f in frames if f.startswith(("rcvd [CHAP Failure", "rcvd [PAP AuthNak"))),
                    "")
        return walk.fail(Verdict.AUTH_FAILED, Step.AUTH, "The network refused our PAP/CHAP login"
                         + (f": {said}." if said else f" ({message})."), last)
    if "AuthSucceeded" in seen:
        walk.ok(Step.AUTH, "the network accepted our login")
    if "Ipv4Up" not in seen and "Ipv6Up" not in seen:
        if code is ExitCode.PEER_DEAD:
            return walk.fail(Verdict.PEER_DEAD, Step.NETWORK, message, last)
        return walk.fail(Verdict.NETWORK_FAILED, Step.NETWORK, message, last)
    naks = sum(1 for f in frames if f.startswith("rcvd [IPCP ConfNak"))
    if naks >= 3:
        walk.notes.append(f"the network Naked IPCP {naks} times with placeholder addresses before giving one, "
                          "as 3G networks do; the link waited it out")
    if code is ExitCode.PEER_DEAD:
        return walk.fail(Verdict.PEER_DEAD, Step.TRAFFIC, message, last)
    if code not in (ExitCode.OK,):
        return walk.fail(Verdict.UNKNOWN, Step.TRAFFIC, f"The link came up, then ended: {message}", last)
    return None
