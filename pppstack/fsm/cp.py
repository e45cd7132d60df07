"""The one generic control protocol: RFC 1661's automaton driven by packets and a deadline.

Rules:
  1. Transitions come only from `automaton.TRANSITIONS`; this file turns packets and timeouts
     into automaton Events and performs the Actions of the cell it finds.
  2. Nothing here knows which protocol it runs.  LCP, IPCP and IPv6CP differ only in their
     `OptionSet` and in `extra_codes` (LCP's Echo, Discard and Protocol-Reject).

Theory of operation (RFC 1661 §4, §5).  `receive(info, now)` parses one packet; garbage is
counted and silently discarded (§5: "silently discarded").  Replies to our Configure-Request must
carry its Identifier and arrive before another reply to it (pppd `seen_ack`); the others are
stale and dropped (this is what saves a link from pppd#434's delayed Acks).  A Configure-Request
becomes RCR+ or RCR- after the OptionSet's verdict.  The restart timer is a deadline
(`deadline`), fired by `handle_timer(now)` as TO+ while the restart counter is positive and TO-
once it is spent.  Layer signals (tlu/tld/tls/tlf), packets to send and the Echo/Discard handling
go to an `Upper` (the Link).

One deliberate extension: in Opened, a Configure-Request byte-identical to the one we last acked
is re-acked without This-Layer-Down (`reack_repeated`), because modems in the field re-send their
request right after Opened and the RFC's answer (renegotiate, tearing every NCP down) loops them.
After REACK_LIMIT such repeats we answer as the RFC says, so a peer that truly restarted converges.

A second one, `resend_first` (LCP only, see link.py): in Req-Sent, when the peer's first
Configure-Request of this negotiation arrives while ours is still unanswered, our request is
retransmitted once at once, with the same Identifier, *before* our answer to the peer's request.
Why: pppd (and many modems) flush the tty after CONNECT, so our first request is lost and LCP would
otherwise wait a whole Restart interval (3 s).  Why it is safe (RFC 1661):
  - §5.1 lets a retransmission keep its Identifier; §4.6 lets us send a Configure-Request
    whenever we are negotiating — the Restart timer bounds the *latest* retransmission, not the
    earliest.
  - The peer sent a Configure-Request, so it is not Opened (Opened + RCR would be its own
    renegotiation); it reaches Opened only on an Ack from us of that request.  Our copy travels
    before that Ack, so it always arrives in Req-Sent/Ack-Sent/Ack-Rcvd, where RCR is answered
    without This-Layer-Down: the peer never renegotiates because of it.
  - If the first copy was not lost, the peer answers twice with the same Identifier; we act on the
    first answer and drop the second as stale (pppd's seen_ack), so we never renegotiate either.
The RFC table is untouched: the copy is a timeout-style retransmission done early (no counter spent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from pppstack.errors import MalformedPacket
from pppstack.fsm.automaton import Action, Event, Flag, State, step
from pppstack.fsm.options import OptionSet, OptionVerdict
from pppstack.wire import Code, ControlPacket, parse_options

__all__ = ["ControlProtocol", "Upper", "CpCounters", "CpFailure", "Received", "NEGOTIATING", "RXR", "RXJ"]

log = logging.getLogger("pppstack.ppp")

NEGOTIATING = frozenset({State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT})
_TIMED = NEGOTIATING | {State.CLOSING, State.STOPPING}
_BASE_CODES = frozenset(range(1, 8))  # Configure-* .. Code-Reject: rejecting these is catastrophic

# Re-acks of a repeated request in Opened before we fall back to the RFC (renegotiate): a peer that
# really restarted keeps repeating, and must eventually see our Configure-Request to converge.
REACK_LIMIT = 3

RXR = "rxr"  # extra code kind: Echo/Discard (RXR event)
RXJ = "rxj"  # extra code kind: Protocol-Reject (RXJ event)


class CpFailure(Enum):
    """Why a protocol gave up on its own (the Link turns it into a DownCause and a sentence).

    A close by us or by the peer's Terminate-Request is not a failure (see `peer_terminated`).
    """

    TIMEOUT = "timeout"                      # Max-Configure requests unanswered (TO- while negotiating)
    REJECTED = "rejected"                    # the peer Code-Rejected a base code, or Protocol-Rejected us
    PROTOCOL_REJECTED = "protocol-rejected"  # the peer's LCP Protocol-Rejected this protocol (§5.7)


@dataclass(frozen=True, slots=True)
class Received:
    """What one received packet means: the automaton event (None: nothing for the table) and what
    the actions of its cell answer with (sca/scn/sta/scj/ser), decided before any of them runs."""

    event: Event | None
    code: int
    ident: int
    data: bytes                     # after the header, up to Length
    packet: bytes                   # header and data as received (Code-Reject quotes it)
    reply_code: int = Code.CONF_ACK  # scn: Configure-Nak or Configure-Reject
    reply: bytes = b""              # scn: the options it carries
    reack: bool = False             # Opened: a repeat of the request we acked; re-ack it (no event)
    rejected_protocol: int | None = None  # the peer's Protocol-Reject of another protocol (Opened)


class Upper(Protocol):
    """What a control protocol needs from the layer above it (the Link)."""

    def cp_send(self, cp: ControlProtocol, info: bytes) -> None: ...
    def cp_up(self, cp: ControlProtocol) -> None: ...
    def cp_down(self, cp: ControlProtocol) -> None: ...
    def cp_started(self, cp: ControlProtocol) -> None: ...
    def cp_finished(self, cp: ControlProtocol) -> None: ...
    def cp_extra(self, cp: ControlProtocol, code: int, ident: int, data: bytes) -> None: ...
    def cp_protocol_rejected(self, cp: ControlProtocol, protocol: int) -> None: ...
    def cp_ack_sent(self, cp: ControlProtocol) -> None: ...      # the peer's options now bind what we send
    def cp_ack_received(self, cp: ControlProtocol) -> None: ...  # ours now bind what we receive


@dataclass
class CpCounters:
    """Per-protocol counters (peer garbage is counted, never raised)."""

    received: int = 0
    malformed: int = 0
    stale: int = 0           # replies whose Identifier does not match our outstanding request
    bad_replies: int = 0     # Acks that differ from our request, Rejects of options we never sent
    illegal: int = 0         # events the RFC table calls impossible in the current state
    conf_reqs_sent: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    acks_received: int = 0   # valid Configure-Acks of our request
    term_reqs_sent: int = 0
    code_rejects_sent: int = 0
    early_resends: int = 0   # `resend_first` copies of our Configure-Request


class ControlProtocol:
    """RFC 1661's automaton for one protocol (LCP, IPCP, IPv6CP)."""

    def __init__(self, name: str, protocol: int, options: OptionSet, upper: Upper, *,
                 restart: float = 3.0, max_configure: int = 10, max_terminate: int = 2,
                 max_failure: int = 5, passive: bool = False, silent: bool = False,
                 restart_option: bool = False, reack_repeated: bool = True, resend_first: bool = False,
                 extra_codes: Mapping[int, str] | None = None) -> None:
        self.name = name
        self.protocol = protocol
        self.options = options
        self.upper = upper
        self.restart = restart
        self.max_configure = max_configure
        self.max_terminate = max_terminate
        self.max_failure = max_failure
        self.passive = passive
        self.silent = silent
        self.restart_option = restart_option
        self.reack_repeated = reack_repeated
        self.resend_first = resend_first
        self.extra_codes = dict(extra_codes or {})
        self.state = State.INITIAL
        self.deadline: float | None = None
        self.restart_count = 0
        self.counters = CpCounters()
        self.term_reason = b""
        self.failure: CpFailure | None = None
        self.peer_term_reason = b""
        self.peer_terminated = False          # the peer sent Terminate-Request
        self._id = 0
        self._reqid = -1
        self._seen_ack = False
        self._nakloops = 0    # Naks we sent since our last Ack (Max-Failure, §4.6)
        self._rnakloops = 0   # Naks we received in a row
        self._acked_request: bytes | None = None  # the peer's request we last acked, verbatim
        self._reacks = 0
        self._resent_first = False  # `resend_first` done in this negotiation
        self._now = 0.0

    # -- administrative and lower-layer events ---------------------------------------------------
    def up(self, now: float) -> None:
        """The lower layer is up."""
        self._now = now
        if self.silent and self.state is State.STARTING:
            self._set_state(State.STOPPED)  # pppd's silent option: wait for the peer to speak first
            return
        self._event(Event.UP)

    def down(self, now: float) -> None:
        """The lower layer went down."""
        self._now = now
        self._event(Event.DOWN)

    def open(self, now: float) -> None:
        self._now = now
        self._event(Event.OPEN)

    def close(self, reason: str, now: float) -> None:
        self._now = now
        self.term_reason = reason.encode("utf-8", "replace")[:200]
        self._event(Event.CLOSE)

    def protocol_rejected(self, now: float) -> None:
        """The peer's LCP Protocol-Rejected this protocol: a catastrophic RXJ- for it (§5.7)."""
        self._now = now
        self.failure = CpFailure.PROTOCOL_REJECTED
        self._event(Event.RXJ_MINUS)

    @property
    def is_open(self) -> bool:
        return self.state is State.OPENED

    # -- timer -----------------------------------------------------------------------------------
    def handle_timer(self, now: float) -> None:
        if self.deadline is None or now < self.deadline:
            return
        self._now = now
        self.deadline = None
        if self.restart_count > 0:
            self._event(Event.TO_PLUS)
        else:
            if self.state in NEGOTIATING:
                self.failure = CpFailure.TIMEOUT
            self._event(Event.TO_MINUS)

    # -- packets ---------------------------------------------------------------------------------
    def receive(self, info: bytes, now: float) -> None:
        """One packet of this protocol from the peer; never raises on peer garbage."""
        self._now = now
        self.counters.received += 1
        try:
            pkt = ControlPacket.parse(info)
            rx = self._classify(pkt, info)
        except MalformedPacket as exc:
            self.counters.malformed += 1
            log.info("%s: discarded a malformed packet from the peer: %s", self.name, exc)
            return
        if rx.reack:
            self._send(Code.CONF_ACK, rx.ident, rx.data)
            self.upper.cp_ack_sent(self)
        if rx.rejected_protocol is not None:
            self.upper.cp_protocol_rejected(self, rx.rejected_protocol)
        event = rx.event
        if event is Event.RCA:
            self.upper.cp_ack_received(self)
        if event is not None:
            if event in (Event.RCR_PLUS, Event.RCR_MINUS) and self._early_resend_due():
                self._resent_first = True
                log.debug("%s: the peer's first Configure-Request came before any answer to ours; sending "
                          "ours again (it may have been flushed after CONNECT)", self.name)
                self.counters.early_resends += 1
                self.counters.conf_reqs_sent += 1
                self._send(Code.CONF_REQ, self._reqid, self.options.build_request())
                self.deadline = now + self.restart
            self._event(event, rx)

    def _early_resend_due(self) -> bool:
        return (self.resend_first and not self._resent_first and self.state is State.REQ_SENT
                and not self._seen_ack and self._reqid >= 0)

    def _classify(self, pkt: ControlPacket, info: bytes) -> Received:
        """Decide what a packet means; updates counters and the option codecs, sends nothing."""
        code, ident, data = pkt.code, pkt.identifier, pkt.data
        packet = info[: 4 + len(data)]

        def decided(event: Event | None, *, reply_code: int = Code.CONF_ACK, reply: bytes = b"", reack: bool = False,
                    rejected_protocol: int | None = None) -> Received:
            return Received(event, code, ident, data, packet, reply_code, reply, reack, rejected_protocol)

        if code == Code.CONF_REQ:
            options = parse_options(data)
            if (self.reack_repeated and self.state is State.OPENED and self._acked_request is not None
                    and data == self._acked_request and self._reacks < REACK_LIMIT):
                self._reacks += 1
                log.info("%s: the peer repeated its Configure-Request after Opened; re-acking it", self.name)
                return decided(None, reack=True)
            verdict, reply = self.options.check_request(options, self._nakloops >= self.max_failure)
            if verdict is OptionVerdict.ACK:
                return decided(Event.RCR_PLUS)
            return decided(Event.RCR_MINUS, reply_code=Code.CONF_NAK if verdict is OptionVerdict.NAK else Code.CONF_REJ,
                           reply=b"".join(o.build() for o in reply))
        if code in (Code.CONF_ACK, Code.CONF_NAK, Code.CONF_REJ):
            return decided(self._classify_reply(code, ident, data))
        if code == Code.TERM_REQ:
            self.peer_term_reason = data
            self.peer_terminated = True
            return decided(Event.RTR)
        if code == Code.TERM_ACK:
            return decided(Event.RTA)
        if code == Code.CODE_REJ:
            if not data:
                raise MalformedPacket("Code-Reject without the rejected packet")
            catastrophic = data[0] in _BASE_CODES
            log.info("%s: the peer rejected our code %d%s", self.name, data[0], " (fatal)" if catastrophic else "")
            if catastrophic:
                self.failure = CpFailure.REJECTED
            return decided(Event.RXJ_MINUS if catastrophic else Event.RXJ_PLUS)
        kind = self.extra_codes.get(code)
        if kind == RXR:
            return decided(Event.RXR)
        if kind == RXJ:
            if len(data) < 2:
                raise MalformedPacket("Protocol-Reject without the rejected protocol")
            rejected = (data[0] << 8) | data[1]
            if rejected == self.protocol:
                self.failure = CpFailure.REJECTED
                return decided(Event.RXJ_MINUS)
            return decided(Event.RXJ_PLUS, rejected_protocol=rejected if self.state is State.OPENED else None)
        return decided(Event.RUC)

    def _classify_reply(self, code: int, ident: int, data: bytes) -> Event | None:
        """Configure-Ack/Nak/Reject: RCA or RCN if it answers our outstanding request, else None."""
        if ident != self._reqid or self._seen_ack:
            self.counters.stale += 1
            log.debug("%s: discarded a stale reply id=0x%x (expecting 0x%x)", self.name, ident, self._reqid)
            return None
        options = parse_options(data)
        if code == Code.CONF_ACK:
            ok = self.options.receive_ack(data, options)
        elif code == Code.CONF_NAK:
            self.counters.naks_received += 1
            ok = self.options.receive_nak(options, self._rnakloops >= self.max_failure)
            self._rnakloops += ok
        else:
            ok = self.options.receive_reject(options)
        if not ok:
            self.counters.bad_replies += 1
            log.info("%s: discarded a Configure-%s that does not answer our request", self.name,
                     {2: "Ack", 3: "Nak", 4: "Reject"}[code])
            return None
        self._seen_ack = True
        self.counters.acks_received += code == Code.CONF_ACK
        return Event.RCA if code == Code.CONF_ACK else Event.RCN

    # -- the automaton -----------------------------------------------------------------------------
    def _event(self, event: Event, rx: Received | None = None) -> None:
        before = self.state
        cell = step(before, event)
        if cell is None:
            self.counters.illegal += 1
            log.debug("%s: event %s is impossible in state %s; ignored", self.name, event.value, before.name)
            return
        actions, nxt, flag = cell
        if flag is Flag.CROSSED:
            log.info("%s: %s in %s (crossed connection)", self.name, event.value, before.name)
        if flag is Flag.PASSIVE and self.passive:
            actions = tuple(a for a in actions if a is not Action.TLF)
        self._set_state(nxt)
        negotiating = before in NEGOTIATING
        for action in actions:
            self._do(action, event, actions, negotiating, rx)
        if flag is Flag.RESTART and self.restart_option and self.state in (State.STOPPED, State.OPENED):
            self._event(Event.DOWN)  # §4.3 Open: renegotiate as Down then Up
            self._event(Event.UP)
        if self.state not in _TIMED:
            self.deadline = None

    def _set_state(self, state: State) -> None:
        if state is not self.state:
            log.debug("%s: %s -> %s", self.name, self.state.name, state.name)
            self.state = state

    def _do(self, action: Action, event: Event, actions: tuple[Action, ...], negotiating: bool,
            rx: Received | None) -> None:
        up = self.upper
        if action is Action.TLU:
            self._rnakloops = 0
            self._reacks = 0
            up.cp_up(self)
        elif action is Action.TLD:
            self._acked_request = None
            up.cp_down(self)
        elif action is Action.TLS:
            up.cp_started(self)
        elif action is Action.TLF:
            up.cp_finished(self)
        elif action is Action.IRC:
            self.restart_count = self.max_terminate if Action.STR in actions else self.max_configure
        elif action is Action.ZRC:
            self.restart_count = 0
            self.deadline = self._now + self.restart
        elif action is Action.SCR:
            retransmit = event is Event.TO_PLUS
            if not negotiating and not retransmit:
                self.options.reset()
                self._nakloops = self._rnakloops = 0
                self._resent_first = False
            if not retransmit:
                self._reqid = self._next_id()
            self._seen_ack = False
            self.counters.conf_reqs_sent += 1
            self._send(Code.CONF_REQ, self._reqid, self.options.build_request())
            self.restart_count -= 1
            self.deadline = self._now + self.restart
        elif action is Action.STR:
            self.counters.term_reqs_sent += 1
            self._send(Code.TERM_REQ, self._next_id(), self.term_reason)
            self.restart_count -= 1
            self.deadline = self._now + self.restart
        elif rx is None:
            # sca/scn/sta/scj/ser answer a packet: the table has them only in cells of packet events
            raise RuntimeError(f"{self.name}: action {action.name} of {event.value} without a received packet")
        elif action is Action.SCA:
            self._acked_request = rx.data
            self._nakloops = 0
            self._send(Code.CONF_ACK, rx.ident, rx.data)
            up.cp_ack_sent(self)
        elif action is Action.SCN:
            if rx.reply_code == Code.CONF_NAK:
                self._nakloops += 1
                self.counters.naks_sent += 1
            self._send(rx.reply_code, rx.ident, rx.reply)
        elif action is Action.STA:
            self._send(Code.TERM_ACK, rx.ident, b"")
        elif action is Action.SCJ:
            self.counters.code_rejects_sent += 1
            self._send(Code.CODE_REJ, self._next_id(), rx.packet[:1496])
        elif action is Action.SER:
            up.cp_extra(self, rx.code, rx.ident, rx.data)

    def _next_id(self) -> int:
        self._id = (self._id + 1) & 0xFF
        return self._id

    def next_id(self) -> int:
        """A fresh Identifier for a packet sent outside the automaton (Echo, Protocol-Reject)."""
        return self._next_id()

    def _send(self, code: int, ident: int, data: bytes) -> None:
        self.upper.cp_send(self, ControlPacket(code, ident, data).build())

    def send(self, code: int, ident: int, data: bytes) -> None:
        """Send a packet of this protocol outside the automaton (Echo-Request, Protocol-Reject)."""
        self._send(code, ident, data)
