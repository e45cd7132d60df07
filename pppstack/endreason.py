"""Why a PPP link ended: what the edge observed -> a typed cause and one sentence (pure).

The same symptom means different things: pppd calls all of them "Modem hangup" (anchors §1.7).
`classify_end` looks at what the driver saw (EOF/EIO, the port node vanishing, DCD falling, modem
text where frames should be, the engine's LinkDown cause) and names the cause; the exit code
comes from that cause through the one table in pppstack.exitcodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pppstack.events import DownCause
from pppstack.exitcodes import Cause, EdgeCause, ExitCode, exit_code

__all__ = ["LinkEnd", "Observation", "Evidence", "classify_end", "is_no_carrier_text", "cause_name"]


class Observation(Enum):
    """What the edge saw at the end (or just before it)."""

    EOF = "eof"                      # read returned 0 or EIO: the tty hung up
    PORT_VANISHED = "vanished"       # ENODEV/ENXIO or the device node is gone
    CARRIER_DROP = "carrier"         # DCD was on and went off
    LINK_DOWN = "link-down"          # the engine reported LinkDown(cause)
    STOPPED = "stopped"              # we were asked to stop (signal) and the link closed
    WRITE_STALL = "write-stall"      # the port accepted nothing for a long time


@dataclass(frozen=True)
class Evidence:
    observation: Observation
    down_cause: DownCause | None = None  # the engine's LinkDown cause
    down_message: str = ""
    modem_text: tuple[str, ...] = ()  # non-PPP text seen between frames, most recent last
    seconds_since_connect: float | None = None
    seconds_since_last_frame: float | None = None
    detail: str = ""                 # the OS's words (errno text)
    was_up: bool = False             # a network protocol had opened
    terminating: bool = False        # the engine was in the Terminate phase we did not start
    # the engine's first cause of an end already under way (its LinkDown not reported yet): the
    # peer's Terminate-Request, our close, echo failure...  It wins over what the edge saw next.
    first_cause: DownCause | None = None
    first_message: str = ""
    usb: bool = False                # the port is a USB device's tty (else a vanished port is not "off USB")
    ppp_frames_in: int | None = None  # good PPP frames from the peer (0: nothing but text came back)


def cause_name(cause: Cause) -> str:
    """A short machine name for status files and traces: "hangup", "peer-dead", "usb-error"..."""
    return cause.value if isinstance(cause, EdgeCause) else cause.name.lower().replace("_", "-")


@dataclass(frozen=True)
class LinkEnd:
    """How one call ended: its cause (the exit code follows from it) and a sentence."""

    reason: Cause
    message: str                     # one sentence a newcomer understands
    was_up: bool = False
    wrong_port: bool = False         # CONNECT, then no PPP at all: the edge may name the right port

    @property
    def code(self) -> ExitCode:
        return exit_code(self.reason)

    @property
    def cause(self) -> str:
        return cause_name(self.reason)


_NO_CARRIER_WORDS = ("NO CARRIER", "NO DIALTONE", "NO DIAL TONE", "BUSY", "NO ANSWER")


def is_no_carrier_text(text: str) -> bool:
    """True when modem text means the modem left data mode (the call ended)."""
    upper = text.upper()
    return any(w in upper for w in _NO_CARRIER_WORDS)


def _quote(texts: tuple[str, ...]) -> str:
    shown = [t.strip() for t in texts if t.strip()][-3:]
    return ", ".join(repr(t[:60]) for t in shown)


_EDGE_ENDS = (Observation.EOF, Observation.PORT_VANISHED, Observation.CARRIER_DROP, Observation.WRITE_STALL)

_DEFAULT_SENTENCES: dict[DownCause, str] = {
    DownCause.PEER_DEAD: "The peer stopped answering LCP echo requests (the link is dead).",
    DownCause.PEER_TERMINATED: "The peer ended the link (LCP Terminate-Request).",
    DownCause.LCP_TIMEOUT: "The peer never answered LCP: wrong port, or the modem is not in data mode.",
    DownCause.AUTH_FAILED: "The peer refused our authentication (check user and password).",
    DownCause.PEER_AUTH_FAILED: "The peer failed to authenticate itself to us.",
    DownCause.LOOPBACK: "The link is looped back: our own LCP requests came back to us.",
    DownCause.NETWORK_FAILED: "No network protocol (IPCP or IPv6CP) could be opened.",
    DownCause.NEGOTIATION_FAILED: "LCP option negotiation failed.",
}


def classify_end(ev: Evidence) -> LinkEnd:
    """Turn what was observed into a cause and a sentence (pure; unit-tested)."""
    text = _quote(ev.modem_text)
    no_carrier = any(is_no_carrier_text(t) for t in ev.modem_text)
    obs = ev.observation
    if ev.first_cause is not None and obs in _EDGE_ENDS:
        return _first_cause(ev, ev.first_cause, text, no_carrier)
    if obs is Observation.PORT_VANISHED:
        return _vanished(ev)
    if obs is Observation.CARRIER_DROP:
        return LinkEnd(EdgeCause.CARRIER_DROP, "The modem dropped carrier (DCD went off): the data call ended.",
                       ev.was_up)
    clean = ev.down_cause in (DownCause.LOCAL_CLOSE, DownCause.PEER_TERMINATED)
    if (no_carrier and not clean and ev.ppp_frames_in == 0 and not ev.was_up
            and ev.seconds_since_connect is not None):
        # the thread's ttyUSB0: an AT-only port accepts ATD and says CONNECT, but nothing behind it
        # speaks PPP, and it drops the call a moment later
        return LinkEnd(EdgeCause.NO_CARRIER_TEXT,
                       f"The modem said CONNECT but not one PPP frame followed, and {ev.seconds_since_connect:.0f} s "
                       f"later it printed {text}: this is usually the wrong port (one that takes AT commands "
                       "but does not carry PPP, such as a Huawei stick's PCUI port); dial the modem's PPP port.",
                       ev.was_up, wrong_port=True)
    if no_carrier and not clean and obs in (Observation.EOF, Observation.LINK_DOWN, Observation.WRITE_STALL):
        return LinkEnd(EdgeCause.NO_CARRIER_TEXT,
                       f"The modem ended the data call and went back to command mode (it printed {text}); "
                       "the network dropped the connection or refused it (APN, plan or coverage).", ev.was_up)
    if obs is Observation.EOF and ev.terminating:
        return LinkEnd(DownCause.PEER_TERMINATED, "The peer ended the link (LCP Terminate-Request) and closed the "
                       "line.", ev.was_up)
    if obs is Observation.EOF:
        what = "end of file" if ev.detail in ("", "end of file") else f"an I/O error ({ev.detail})"
        extra = f"; before that it printed {text}" if text else ""
        return LinkEnd(EdgeCause.HANGUP, f"Modem hangup: the serial port reported {what}{extra}. "
                       "The far end closed the line or the modem reset.", ev.was_up)
    if obs is Observation.WRITE_STALL:
        return LinkEnd(EdgeCause.WRITE_STALL, "The serial port stopped accepting data (flow control stuck or the "
                       "modem hung).", ev.was_up)
    if obs is Observation.STOPPED:
        return LinkEnd(EdgeCause.STOPPED, "The link was closed on request.", ev.was_up)
    return _engine_down(ev, text)


def _vanished(ev: Evidence) -> LinkEnd:
    when = f" {ev.seconds_since_connect:.0f} s after CONNECT" if ev.seconds_since_connect is not None else ""
    if not ev.usb:  # a pty, a UART: nothing was unplugged, and there is no power to blame
        return LinkEnd(EdgeCause.PORT_VANISHED, f"The port went away{when}: its device node is gone.", ev.was_up)
    early = ev.seconds_since_connect is not None and ev.seconds_since_connect < 10
    hint = " — often a power problem (a brown-out when the radio transmits)" if early else ""
    return LinkEnd(EdgeCause.PORT_VANISHED, f"The modem dropped off USB{when}{hint}; the serial port is gone.",
                   ev.was_up)


def _engine_down(ev: Evidence, text: str) -> LinkEnd:
    """LINK_DOWN: the engine's cause decides (no cause reported: negotiation failed)."""
    cause = ev.down_cause or DownCause.NEGOTIATION_FAILED
    msg = ev.down_message.rstrip(".") if ev.down_message else ""
    if cause is DownCause.LOCAL_CLOSE:
        return LinkEnd(EdgeCause.STOPPED, (msg or "The link was closed on request") + ".", ev.was_up)
    if cause is DownCause.PEER_DEAD and text:
        return LinkEnd(EdgeCause.NO_CARRIER_TEXT, f"The peer stopped answering LCP echo requests, and the modem "
                       f"printed {text} where PPP frames should be: it left data mode.", ev.was_up)
    if cause is DownCause.LCP_TIMEOUT and text:
        return LinkEnd(cause, f"No PPP from the peer, only text ({text}): this port is not in data "
                       "mode (wrong port, or the dial did not really connect).", ev.was_up)
    return LinkEnd(cause, (msg + ".") if msg else _DEFAULT_SENTENCES[cause], ev.was_up)


def _first_cause(ev: Evidence, cause: DownCause, text: str, no_carrier: bool) -> LinkEnd:
    """The engine was already ending the link when the line ended: its cause is the reason, and
    what the line did next is mentioned as what followed (pppd reports the first cause too)."""
    obs = ev.observation
    if obs is Observation.PORT_VANISHED:
        then = "the modem dropped off USB" if ev.usb else "the port went away"
    elif obs is Observation.CARRIER_DROP:
        then = "the modem dropped carrier"
    elif no_carrier:
        then = f"the modem printed {text} (it was already leaving data mode)"
    elif obs is Observation.WRITE_STALL:
        then = "the port stopped accepting data"
    else:
        then = "the line closed" if ev.detail in ("", "end of file") else f"the port reported {ev.detail}"
    msg = ev.first_message.rstrip(".")
    if cause is DownCause.LOCAL_CLOSE:
        return LinkEnd(EdgeCause.STOPPED, f"{msg or 'The link was closed on request'}; then {then}.", ev.was_up)
    return LinkEnd(cause, f"{msg or 'The link was ending'}; then {then}.", ev.was_up)
