"""RFC 1661 §4.1, the option-negotiation automaton, as data.

Rules:
  1. Every transition lives in TRANSITIONS, laid out in the RFC's order (events down, states
     across).  Nothing else in the package decides a next state.
  2. This module knows no protocol, no packet and no clock.  `cp.py` turns packets and timeouts
     into Events, looks the cell up and performs its Actions.

Theory of operation.  The RFC's table (§4.1) gives, for each of 10 States and 16 Events, a list
of Actions and a next state; "-" marks an impossible cell (we log and discard it, never raise).
Three footnoted variants are kept as flags on the cell, because they are choices an
implementation makes, not transitions:
  p (passive, §4.2 Stopped): on TO- in Req-Sent/Ack-Rcvd/Ack-Sent a passive implementation skips
    This-Layer-Finished and waits in Stopped for the peer's Configure-Request.
  r (restart, §4.3 Open): an Open in Stopped/Closing/Stopping/Opened may be treated as Down then
    Up, to renegotiate.
  x (crossed connection, §4.3 RCA): an Ack or Nak in Ack-Rcvd/Opened is legal but suspicious and
    SHOULD be logged.
"""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = ["State", "Event", "Action", "Flag", "Cell", "TRANSITIONS", "step"]


class State(IntEnum):
    """RFC 1661 §4.2 states, numbered as in the table."""

    INITIAL = 0
    STARTING = 1
    CLOSED = 2
    STOPPED = 3
    CLOSING = 4
    STOPPING = 5
    REQ_SENT = 6
    ACK_RCVD = 7
    ACK_SENT = 8
    OPENED = 9


class Event(Enum):
    """RFC 1661 §4.3 events."""

    UP = "Up"          # lower layer is Up
    DOWN = "Down"      # lower layer is Down
    OPEN = "Open"      # administrative Open
    CLOSE = "Close"    # administrative Close
    TO_PLUS = "TO+"    # Timeout with counter > 0
    TO_MINUS = "TO-"   # Timeout with counter expired
    RCR_PLUS = "RCR+"  # Receive-Configure-Request (Good)
    RCR_MINUS = "RCR-"  # Receive-Configure-Request (Bad)
    RCA = "RCA"        # Receive-Configure-Ack
    RCN = "RCN"        # Receive-Configure-Nak/Rej
    RTR = "RTR"        # Receive-Terminate-Request
    RTA = "RTA"        # Receive-Terminate-Ack
    RUC = "RUC"        # Receive-Unknown-Code
    RXJ_PLUS = "RXJ+"  # Receive-Code-Reject (permitted) or Receive-Protocol-Reject
    RXJ_MINUS = "RXJ-"  # Receive-Code-Reject (catastrophic) or Receive-Protocol-Reject
    RXR = "RXR"        # Receive-Echo-Request, Echo-Reply or Discard-Request


class Action(Enum):
    """RFC 1661 §4.4 actions."""

    TLU = "tlu"  # This-Layer-Up
    TLD = "tld"  # This-Layer-Down
    TLS = "tls"  # This-Layer-Started
    TLF = "tlf"  # This-Layer-Finished
    IRC = "irc"  # Initialize-Restart-Count
    ZRC = "zrc"  # Zero-Restart-Count
    SCR = "scr"  # Send-Configure-Request
    SCA = "sca"  # Send-Configure-Ack
    SCN = "scn"  # Send-Configure-Nak/Rej
    STR = "str"  # Send-Terminate-Request
    STA = "sta"  # Send-Terminate-Ack
    SCJ = "scj"  # Send-Code-Reject
    SER = "ser"  # Send-Echo-Reply


class Flag(Enum):
    """The table's footnotes."""

    PASSIVE = "p"
    RESTART = "r"
    CROSSED = "x"


Cell = tuple[tuple[Action, ...], State, Flag | None]

_S = State
_E = Event
tlu, tld, tls, tlf = Action.TLU, Action.TLD, Action.TLS, Action.TLF
irc, zrc, scr, sca, scn = Action.IRC, Action.ZRC, Action.SCR, Action.SCA, Action.SCN
str_, sta, scj, ser = Action.STR, Action.STA, Action.SCJ, Action.SER
P, R, X = Flag.PASSIVE, Flag.RESTART, Flag.CROSSED


def _c(actions: tuple[Action, ...], nxt: State, flag: Flag | None = None) -> Cell:
    return (actions, nxt, flag)


# RFC 1661 §4.1.  Absent (state, event) pairs are the table's "-" cells.
TRANSITIONS: dict[tuple[State, Event], Cell] = {
    # ---- Up
    (_S.INITIAL, _E.UP): _c((), _S.CLOSED),
    (_S.STARTING, _E.UP): _c((irc, scr), _S.REQ_SENT),
    # ---- Down
    (_S.CLOSED, _E.DOWN): _c((), _S.INITIAL),
    (_S.STOPPED, _E.DOWN): _c((tls,), _S.STARTING),
    (_S.CLOSING, _E.DOWN): _c((), _S.INITIAL),
    (_S.STOPPING, _E.DOWN): _c((), _S.STARTING),
    (_S.REQ_SENT, _E.DOWN): _c((), _S.STARTING),
    (_S.ACK_RCVD, _E.DOWN): _c((), _S.STARTING),
    (_S.ACK_SENT, _E.DOWN): _c((), _S.STARTING),
    (_S.OPENED, _E.DOWN): _c((tld,), _S.STARTING),
    # ---- Open
    (_S.INITIAL, _E.OPEN): _c((tls,), _S.STARTING),
    (_S.STARTING, _E.OPEN): _c((), _S.STARTING),
    (_S.CLOSED, _E.OPEN): _c((irc, scr), _S.REQ_SENT),
    (_S.STOPPED, _E.OPEN): _c((), _S.STOPPED, R),
    (_S.CLOSING, _E.OPEN): _c((), _S.STOPPING, R),
    (_S.STOPPING, _E.OPEN): _c((), _S.STOPPING, R),
    (_S.REQ_SENT, _E.OPEN): _c((), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.OPEN): _c((), _S.ACK_RCVD),
    (_S.ACK_SENT, _E.OPEN): _c((), _S.ACK_SENT),
    (_S.OPENED, _E.OPEN): _c((), _S.OPENED, R),
    # ---- Close
    (_S.INITIAL, _E.CLOSE): _c((), _S.INITIAL),
    (_S.STARTING, _E.CLOSE): _c((tlf,), _S.INITIAL),
    (_S.CLOSED, _E.CLOSE): _c((), _S.CLOSED),
    (_S.STOPPED, _E.CLOSE): _c((), _S.CLOSED),
    (_S.CLOSING, _E.CLOSE): _c((), _S.CLOSING),
    (_S.STOPPING, _E.CLOSE): _c((), _S.CLOSING),
    (_S.REQ_SENT, _E.CLOSE): _c((irc, str_), _S.CLOSING),
    (_S.ACK_RCVD, _E.CLOSE): _c((irc, str_), _S.CLOSING),
    (_S.ACK_SENT, _E.CLOSE): _c((irc, str_), _S.CLOSING),
    (_S.OPENED, _E.CLOSE): _c((tld, irc, str_), _S.CLOSING),
    # ---- TO+
    (_S.CLOSING, _E.TO_PLUS): _c((str_,), _S.CLOSING),
    (_S.STOPPING, _E.TO_PLUS): _c((str_,), _S.STOPPING),
    (_S.REQ_SENT, _E.TO_PLUS): _c((scr,), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.TO_PLUS): _c((scr,), _S.REQ_SENT),
    (_S.ACK_SENT, _E.TO_PLUS): _c((scr,), _S.ACK_SENT),
    # ---- TO-
    (_S.CLOSING, _E.TO_MINUS): _c((tlf,), _S.CLOSED),
    (_S.STOPPING, _E.TO_MINUS): _c((tlf,), _S.STOPPED),
    (_S.REQ_SENT, _E.TO_MINUS): _c((tlf,), _S.STOPPED, P),
    (_S.ACK_RCVD, _E.TO_MINUS): _c((tlf,), _S.STOPPED, P),
    (_S.ACK_SENT, _E.TO_MINUS): _c((tlf,), _S.STOPPED, P),
    # ---- RCR+
    (_S.CLOSED, _E.RCR_PLUS): _c((sta,), _S.CLOSED),
    (_S.STOPPED, _E.RCR_PLUS): _c((irc, scr, sca), _S.ACK_SENT),
    (_S.CLOSING, _E.RCR_PLUS): _c((), _S.CLOSING),
    (_S.STOPPING, _E.RCR_PLUS): _c((), _S.STOPPING),
    (_S.REQ_SENT, _E.RCR_PLUS): _c((sca,), _S.ACK_SENT),
    (_S.ACK_RCVD, _E.RCR_PLUS): _c((sca, tlu), _S.OPENED),
    (_S.ACK_SENT, _E.RCR_PLUS): _c((sca,), _S.ACK_SENT),
    (_S.OPENED, _E.RCR_PLUS): _c((tld, scr, sca), _S.ACK_SENT),
    # ---- RCR-
    (_S.CLOSED, _E.RCR_MINUS): _c((sta,), _S.CLOSED),
    (_S.STOPPED, _E.RCR_MINUS): _c((irc, scr, scn), _S.REQ_SENT),
    (_S.CLOSING, _E.RCR_MINUS): _c((), _S.CLOSING),
    (_S.STOPPING, _E.RCR_MINUS): _c((), _S.STOPPING),
    (_S.REQ_SENT, _E.RCR_MINUS): _c((scn,), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.RCR_MINUS): _c((scn,), _S.ACK_RCVD),
    (_S.ACK_SENT, _E.RCR_MINUS): _c((scn,), _S.REQ_SENT),
    (_S.OPENED, _E.RCR_MINUS): _c((tld, scr, scn), _S.REQ_SENT),
    # ---- RCA
    (_S.CLOSED, _E.RCA): _c((sta,), _S.CLOSED),
    (_S.STOPPED, _E.RCA): _c((sta,), _S.STOPPED),
    (_S.CLOSING, _E.RCA): _c((), _S.CLOSING),
    (_S.STOPPING, _E.RCA): _c((), _S.STOPPING),
    (_S.REQ_SENT, _E.RCA): _c((irc,), _S.ACK_RCVD),
    (_S.ACK_RCVD, _E.RCA): _c((scr,), _S.REQ_SENT, X),
    (_S.ACK_SENT, _E.RCA): _c((irc, tlu), _S.OPENED),
    (_S.OPENED, _E.RCA): _c((tld, scr), _S.REQ_SENT, X),
    # ---- RCN
    (_S.CLOSED, _E.RCN): _c((sta,), _S.CLOSED),
    (_S.STOPPED, _E.RCN): _c((sta,), _S.STOPPED),
    (_S.CLOSING, _E.RCN): _c((), _S.CLOSING),
    (_S.STOPPING, _E.RCN): _c((), _S.STOPPING),
    (_S.REQ_SENT, _E.RCN): _c((irc, scr), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.RCN): _c((scr,), _S.REQ_SENT, X),
    (_S.ACK_SENT, _E.RCN): _c((irc, scr), _S.ACK_SENT),
    (_S.OPENED, _E.RCN): _c((tld, scr), _S.REQ_SENT, X),
    # ---- RTR
    (_S.CLOSED, _E.RTR): _c((sta,), _S.CLOSED),
    (_S.STOPPED, _E.RTR): _c((sta,), _S.STOPPED),
    (_S.CLOSING, _E.RTR): _c((sta,), _S.CLOSING),
    (_S.STOPPING, _E.RTR): _c((sta,), _S.STOPPING),
    (_S.REQ_SENT, _E.RTR): _c((sta,), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.RTR): _c((sta,), _S.REQ_SENT),
    (_S.ACK_SENT, _E.RTR): _c((sta,), _S.REQ_SENT),
    (_S.OPENED, _E.RTR): _c((tld, zrc, sta), _S.STOPPING),
    # ---- RTA
    (_S.CLOSED, _E.RTA): _c((), _S.CLOSED),
    (_S.STOPPED, _E.RTA): _c((), _S.STOPPED),
    (_S.CLOSING, _E.RTA): _c((tlf,), _S.CLOSED),
    (_S.STOPPING, _E.RTA): _c((tlf,), _S.STOPPED),
    (_S.REQ_SENT, _E.RTA): _c((), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.RTA): _c((), _S.REQ_SENT),
    (_S.ACK_SENT, _E.RTA): _c((), _S.ACK_SENT),
    (_S.OPENED, _E.RTA): _c((tld, scr), _S.REQ_SENT),
    # ---- RUC
    (_S.CLOSED, _E.RUC): _c((scj,), _S.CLOSED),
    (_S.STOPPED, _E.RUC): _c((scj,), _S.STOPPED),
    (_S.CLOSING, _E.RUC): _c((scj,), _S.CLOSING),
    (_S.STOPPING, _E.RUC): _c((scj,), _S.STOPPING),
    (_S.REQ_SENT, _E.RUC): _c((scj,), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.RUC): _c((scj,), _S.ACK_RCVD),
    (_S.ACK_SENT, _E.RUC): _c((scj,), _S.ACK_SENT),
    (_S.OPENED, _E.RUC): _c((scj,), _S.OPENED),
    # ---- RXJ+
    (_S.CLOSED, _E.RXJ_PLUS): _c((), _S.CLOSED),
    (_S.STOPPED, _E.RXJ_PLUS): _c((), _S.STOPPED),
    (_S.CLOSING, _E.RXJ_PLUS): _c((), _S.CLOSING),
    (_S.STOPPING, _E.RXJ_PLUS): _c((), _S.STOPPING),
    (_S.REQ_SENT, _E.RXJ_PLUS): _c((), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.RXJ_PLUS): _c((), _S.REQ_SENT),
    (_S.ACK_SENT, _E.RXJ_PLUS): _c((), _S.ACK_SENT),
    (_S.OPENED, _E.RXJ_PLUS): _c((), _S.OPENED),
    # ---- RXJ-
    (_S.CLOSED, _E.RXJ_MINUS): _c((tlf,), _S.CLOSED),
    (_S.STOPPED, _E.RXJ_MINUS): _c((tlf,), _S.STOPPED),
    (_S.CLOSING, _E.RXJ_MINUS): _c((tlf,), _S.CLOSED),
    (_S.STOPPING, _E.RXJ_MINUS): _c((tlf,), _S.STOPPED),
    (_S.REQ_SENT, _E.RXJ_MINUS): _c((tlf,), _S.STOPPED),
    (_S.ACK_RCVD, _E.RXJ_MINUS): _c((tlf,), _S.STOPPED),
    (_S.ACK_SENT, _E.RXJ_MINUS): _c((tlf,), _S.STOPPED),
    (_S.OPENED, _E.RXJ_MINUS): _c((tld, irc, str_), _S.STOPPING),
    # ---- RXR
    (_S.CLOSED, _E.RXR): _c((), _S.CLOSED),
    (_S.STOPPED, _E.RXR): _c((), _S.STOPPED),
    (_S.CLOSING, _E.RXR): _c((), _S.CLOSING),
    (_S.STOPPING, _E.RXR): _c((), _S.STOPPING),
    (_S.REQ_SENT, _E.RXR): _c((), _S.REQ_SENT),
    (_S.ACK_RCVD, _E.RXR): _c((), _S.ACK_RCVD),
    (_S.ACK_SENT, _E.RXR): _c((), _S.ACK_SENT),
    (_S.OPENED, _E.RXR): _c((ser,), _S.OPENED),
}


def step(state: State, event: Event) -> Cell | None:
    """The table's cell for (state, event), or None for an impossible ("-") cell."""
    return TRANSITIONS.get((state, event))
