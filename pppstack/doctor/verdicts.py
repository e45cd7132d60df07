"""What a doctor concludes: the verdict names, the step each one belongs to, and the fix.

The names are stable (scripts match on them, `--json` prints them).  Where `pppstack up` has an
exit code with the same meaning, the name is the exit code's name (pppstack.exitcodes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Verdict", "Step", "Diagnosis", "STEP_OF", "DEFAULT_FIX"]


class Verdict(Enum):
    OK = "OK"
    WRONG_PORT = "WRONG_PORT"
    PORT_VANISHED = "PORT_VANISHED"
    PORT_BUSY = "PORT_BUSY"
    MODE_SWITCH_NEEDED = "MODE_SWITCH_NEEDED"
    SIM_PIN = "SIM_PIN"
    NO_REGISTRATION = "NO_REGISTRATION"
    PDP_REJECTED = "PDP_REJECTED"
    CONNECT_FAILED = "CONNECT_FAILED"
    LCP_TIMEOUT = "LCP_TIMEOUT"
    AUTH_FAILED = "AUTH_FAILED"
    NETWORK_FAILED = "NETWORK_FAILED"
    PEER_DEAD = "PEER_DEAD"
    MODEM_RESET = "MODEM_RESET"
    LOOPBACK = "LOOPBACK"
    NO_KERNEL_PPP = "NO_KERNEL_PPP"
    UNKNOWN = "UNKNOWN"


class Step(Enum):
    """The live walk's steps, in order (a log verdict names the step it failed at)."""

    USB = "usb"
    PORTS = "ports"
    AT = "at"
    SIM = "sim"
    REGISTRATION = "registration"
    SIGNAL = "signal"
    DIAL = "dial"
    LCP = "lcp"
    AUTH = "auth"
    NETWORK = "network"
    TRAFFIC = "traffic"
    END = "end"


STEP_OF: dict[Verdict, Step] = {
    Verdict.OK: Step.END,
    Verdict.WRONG_PORT: Step.LCP,
    Verdict.PORT_VANISHED: Step.USB,
    Verdict.PORT_BUSY: Step.PORTS,
    Verdict.MODE_SWITCH_NEEDED: Step.USB,
    Verdict.SIM_PIN: Step.SIM,
    Verdict.NO_REGISTRATION: Step.REGISTRATION,
    Verdict.PDP_REJECTED: Step.DIAL,
    Verdict.CONNECT_FAILED: Step.DIAL,
    Verdict.LCP_TIMEOUT: Step.LCP,
    Verdict.AUTH_FAILED: Step.AUTH,
    Verdict.NETWORK_FAILED: Step.NETWORK,
    Verdict.PEER_DEAD: Step.TRAFFIC,
    Verdict.MODEM_RESET: Step.USB,
    Verdict.LOOPBACK: Step.LCP,
    Verdict.NO_KERNEL_PPP: Step.LCP,
    Verdict.UNKNOWN: Step.END,
}

DEFAULT_FIX: dict[Verdict, str] = {
    Verdict.OK: "Nothing to fix.",
    Verdict.WRONG_PORT: (
        "This port answers AT and even CONNECT but does not carry PPP: dial on the modem's data port "
        "instead (on an E3372h-320 in stick mode that is ttyUSB2, not ttyUSB0); `pppstack ports` shows "
        "which is which."),
    Verdict.PORT_VANISHED: (
        "The stick dropped off USB, usually because the port cannot supply the current it draws on 2G: "
        "use a powered USB hub or a short cable, or lock the modem to 3G/4G (AT^SYSCFGEX)."),
    Verdict.PORT_BUSY: (
        "Another program holds or talks on the port (often ModemManager): stop it "
        "(systemctl stop ModemManager) or tell it to ignore the modem, then try again."),
    Verdict.MODE_SWITCH_NEEDED: (
        "The stick is still a CD-ROM or a HiLink (network) device with no serial ports: switch it to "
        "stick mode first with `pppstack modeswitch` (or usb_modeswitch)."),
    Verdict.SIM_PIN: ("The SIM wants a PIN: give it with `--pin` (or AT+CPIN=\"1234\"), or remove the PIN "
                      "lock on a phone."),
    Verdict.NO_REGISTRATION: (
        "The modem is not registered on a network: check the antenna and coverage, that the SIM is active, "
        "and that the bands/technologies the modem is locked to exist where you are."),
    Verdict.PDP_REJECTED: (
        "The network refused the data call: check the APN (the operator's exact APN string) and that the "
        "SIM has a data plan."),
    Verdict.CONNECT_FAILED: (
        "The dial did not reach CONNECT: check the dial string (*99# or *99***1#), the APN, and that the "
        "modem is registered; the modem's own words above say which."),
    Verdict.LCP_TIMEOUT: (
        "Nothing answered PPP after CONNECT: this is usually the wrong port (try the modem's data port) "
        "or a modem that is not in data mode."),
    Verdict.AUTH_FAILED: (
        "The network refused our PAP/CHAP login: check the user name and password for this APN "
        "(many operators want empty ones or any value)."),
    Verdict.NETWORK_FAILED: (
        "PPP came up but the network gave no address (IPCP/IPv6CP never opened): check the APN and the "
        "PDP type (IP vs IPV4V6)."),
    Verdict.PEER_DEAD: (
        "The link came up and then the modem stopped answering LCP echo requests: the radio bearer died; "
        "check the signal, and keep lcp-echo on so the link is restarted."),
    Verdict.MODEM_RESET: (
        "The modem rebooted mid-session (NO CARRIER then ^BOOT): usually power or firmware; try a powered hub "
        "and check its firmware."),
    Verdict.LOOPBACK: (
        "Our own LCP packets came back: the port echoes (the modem is in command mode with echo on, "
        "or the line is looped). Check that CONNECT was really reached."),
    Verdict.NO_KERNEL_PPP: (
        "pppd needs the kernel's PPP driver (/dev/ppp), which this system lacks: load ppp_generic / "
        "ppp_async, or run `pppstack up`, which needs no kernel PPP."),
    Verdict.UNKNOWN: (
        "The log does not say why it stopped: run `pppstack doctor` live, or pppd with `debug`, and read the "
        "lines above."),
}


@dataclass(frozen=True)
class Diagnosis:
    """One verdict: what failed, at which step, the lines that prove it and what to do."""

    verdict: Verdict
    step: Step
    evidence: tuple[str, ...]
    fix: str
    summary: str = ""                     # one sentence: what happened
    notes: tuple[str, ...] = field(default=())
    title: str = ""                       # e.g. "pppd on /dev/ttyUSB2, Wed May 11 15:04:01"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"verdict": self.verdict.value, "step": self.step.value,
                                  "evidence": list(self.evidence), "fix": self.fix}
        if self.summary:
            out["summary"] = self.summary
        if self.notes:
            out["notes"] = list(self.notes)
        if self.title:
            out["session"] = self.title
        return out
