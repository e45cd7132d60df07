"""The PPP link: RFC 1661 §3.2 phases over LCP, authentication and the network protocols.

Theory of operation.  `Link` owns one generic `ControlProtocol` per protocol (LCP, IPCP, IPv6CP)
and the PAP/CHAP machines, and moves through the phases of RFC 1661 §3.2:

  Dead --open--> Establish --LCP tlu--> Authenticate --both directions done--> Network
    ^                                        |  (skipped when nobody asked)        |
    +------ LCP tlf (LinkDown) <-- Terminate <-- Close / auth failure / no NCP <----+

It demultiplexes deframed packets by protocol number (the caller strips FF 03 and PFC), answers
protocols it does not run with LCP Protocol-Reject when LCP is Opened (§5.7), answers Echo-Request,
runs the echo keepalive, and turns each way a link ends into one LinkDown with a sentence.
What the framing layer (pppos.py) must do queues up in `outq`, in order: `OutPacket`s to frame and
`FramingChange`s (negotiated ACCM/PFC/ACFC/MRU) at the exact point between packets where they apply:
  - after our LCP Configure-Ack: the peer's ACCM for every later frame (tx_accm);
  - when the peer acks our LCP request: our ACCM and MRU for what we receive (rx_accm, mru);
  - LCP Opened: the peer's PFC/ACFC; LCP down: no compression and the full ACCM again (pppd lcp_down).

Decisions that change state from inside a protocol's callback (close LCP because IPCP failed,
because authentication failed...) are deferred to the end of the current input, so no automaton
is re-entered while it is performing the actions of a transition.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from pppstack import events as ev
from pppstack.auth import AuthResult
from pppstack.auth.phase import AuthPhase
from pppstack.config import DEFAULT_MRU, LinkConfig
from pppstack.fsm.automaton import State
from pppstack.fsm.cp import NEGOTIATING, RXJ, RXR, ControlProtocol, CpFailure
from pppstack.ipcp import IpcpOptions
from pppstack.ipv6cp import Ipv6cpOptions
from pppstack.lcp import LOOPBACK_FAIL, AuthProtocol, EchoDue, Keepalive, LcpOptions
from pppstack.wire import Code, Protocol, protocol_name

__all__ = ["Link", "Phase", "LinkStats", "OutPacket", "FramingChange", "Outgoing", "FULL_ACCM"]

FULL_ACCM = 0xFFFFFFFF  # RFC 1662 §7.1: every control character escaped (the default before LCP agrees)

log = logging.getLogger("pppstack.ppp")


@dataclass(frozen=True, slots=True)
class OutPacket:
    """A packet for the framing layer to send: protocol number and information field."""

    protocol: int
    info: bytes


@dataclass(frozen=True, slots=True)
class FramingChange:
    """From this point of `Link.outq` on, frame with these settings (None: unchanged)."""

    tx_accm: int | None = None   # characters we escape when sending (the peer's ACCM)
    rx_accm: int | None = None   # characters the peer escapes for us (ours): the deframer may drop others
    pfc: bool | None = None      # we may send one-octet protocol fields
    acfc: bool | None = None     # we may leave out FF 03
    mru: int | None = None       # the longest frame the deframer keeps


Outgoing = OutPacket | FramingChange


class Phase(Enum):
    """RFC 1661 §3.2 link phases."""

    DEAD = "dead"
    ESTABLISH = "establish"
    AUTHENTICATE = "authenticate"
    NETWORK = "network"
    TERMINATE = "terminate"


@dataclass
class LinkStats:
    """Counters of the whole link (the framing layer adds its own)."""

    frames_in: int = 0
    frames_out: int = 0
    ip_packets_in: int = 0
    ip_packets_out: int = 0
    ip_dropped_in: int = 0      # IP packets for a network protocol that is not open
    ip_dropped_out: int = 0     # send_ip while that network protocol is not open
    bad_frames: int = 0         # deframed but unparsable (bad address/control, no protocol)
    protocol_rejects_sent: int = 0
    discarded: int = 0          # packets of a protocol not running in the current phase
    echo_requests_sent: int = 0
    echo_replies_received: int = 0
    loopback_hits: int = 0
    modem_text_lines: int = 0


_LCP_EXTRA: dict[int, str] = {Code.PROT_REJ: RXJ, Code.ECHO_REQ: RXR, Code.ECHO_REP: RXR, Code.DISC_REQ: RXR,
              Code.IDENTIFICATION: RXR, Code.TIME_REMAINING: RXR}


class Link:
    """The sans-I/O PPP link above the framing (see the module docstring)."""

    def __init__(self, config: LinkConfig, rng: Callable[[int], bytes]) -> None:
        self.config = config
        self.rng = rng
        self.phase = Phase.DEAD
        self.stats = LinkStats()
        self.outq: list[Outgoing] = []
        self.events: deque[ev.Event] = deque()
        self.rx_frames = 0
        c = config
        self.lcp_options = LcpOptions(c, rng)
        self.lcp = ControlProtocol("LCP", Protocol.LCP, self.lcp_options, self, restart=c.lcp_restart,
                                   max_configure=c.lcp_max_configure, max_terminate=c.lcp_max_terminate,
                                   max_failure=c.lcp_max_failure, passive=c.passive, silent=c.silent,
                                   reack_repeated=c.reack_repeated_confreq, extra_codes=_LCP_EXTRA,
                                   # pppd flushes its tty after CONNECT: our first request is often lost
                                   resend_first=c.lcp_resend_first)
        self.ipcp_options = IpcpOptions(c)
        self.ipcp = ControlProtocol("IPCP", Protocol.IPCP, self.ipcp_options, self, restart=c.ipcp_restart,
                                    max_configure=c.ipcp_max_configure, max_terminate=c.ipcp_max_terminate,
                                    max_failure=c.ipcp_max_failure, reack_repeated=c.reack_repeated_confreq)
        self.ipv6cp_options = Ipv6cpOptions(c, rng)
        self.ipv6cp = ControlProtocol("IPV6CP", Protocol.IPV6CP, self.ipv6cp_options, self,
                                      restart=c.ipv6cp_restart, max_configure=c.ipv6cp_max_configure,
                                      max_terminate=c.ipv6cp_max_terminate, max_failure=c.ipv6cp_max_failure,
                                      reack_repeated=c.reack_repeated_confreq)
        self.ncps = [cp for cp, off in ((self.ipcp, c.noip), (self.ipv6cp, c.noipv6)) if not off]
        self._by_protocol = {cp.protocol: cp for cp in [self.lcp, *self.ncps]}
        self.keepalive = Keepalive(c.lcp_echo_interval, c.lcp_echo_failure, c.lcp_echo_adaptive)
        self.auth = AuthPhase(c, rng, self._send_auth)
        self.ip4_open = False
        self.ip6_open = False
        self.peer_mru = DEFAULT_MRU
        self._now = 0.0
        self._deferred: list[Callable[[], None]] = []
        self._down_cause: tuple[ev.DownCause, str] | None = None
        self._ncp_notes: list[str] = []
        self.finished = False   # LinkDown has been reported

    # -- driver-facing ------------------------------------------------------------------------------
    def open(self, now: float) -> None:
        """Administrative Open and lower layer Up for LCP (RFC 1661 §3.2 Dead -> Establish)."""
        self._now = now
        if self.finished:
            return
        self.phase = Phase.ESTABLISH
        self.lcp.open(now)
        self.lcp.up(now)
        self._settle()

    def close(self, reason: str, now: float) -> None:
        """Close the link: LCP Terminate-Request, then LinkDown once the peer acks (or times out)."""
        self._now = now
        if self.finished:
            return
        self._close(ev.DownCause.LOCAL_CLOSE, f"The link was closed locally ({reason})", reason)
        self._settle()

    def receive(self, protocol: int, info: bytes, now: float) -> None:
        """One deframed packet that is not on the IP fast path."""
        self._now = now
        self.stats.frames_in += 1
        if log.isEnabledFor(logging.DEBUG):
            _log_packet("rcvd", protocol, info)
        cp = self._by_protocol.get(protocol)
        if cp is not None:
            if cp is self.lcp:
                cp.receive(info, now)
                if self.lcp_options.magic.loops >= LOOPBACK_FAIL and self._down_cause is None:
                    self._close(ev.DownCause.LOOPBACK, _LOOPBACK, "Loopback detected")
            elif self.phase is Phase.NETWORK:
                cp.receive(info, now)
            else:
                self.stats.discarded += 1
                log.debug("%s packet discarded: the link is in phase %s", cp.name, self.phase.value)
        elif protocol == Protocol.PAP or protocol == Protocol.CHAP:
            self._receive_auth(protocol, info, now)
        elif protocol in (Protocol.IPV4, Protocol.IPV6) and self._runs_data(protocol):
            self.stats.ip_dropped_in += 1  # its NCP is not open (yet, or any more)
        else:
            self._protocol_reject(protocol, info)
        self._settle()

    def get_timer(self) -> float | None:
        # asked once per loop turn: plain comparisons, no tuple or generator per call
        best = self.lcp.deadline
        d = self.keepalive.deadline
        if d is not None and (best is None or d < best):
            best = d
        for cp in self.ncps:
            d = cp.deadline
            if d is not None and (best is None or d < best):
                best = d
        d = self.auth.deadline
        if d is not None and (best is None or d < best):
            best = d
        return best

    def handle_timer(self, now: float) -> None:
        self._now = now
        for cp in (self.lcp, *self.ncps):
            cp.handle_timer(now)
        for outcome in self.auth.handle_timer(now):
            self._auth_result(*outcome)
        due = self.keepalive.due(now, self.rx_frames)
        if due is EchoDue.SEND:
            self.stats.echo_requests_sent += 1
            self.lcp.send(Code.ECHO_REQ, self.lcp.next_id(), self._magic_bytes())
        elif due is EchoDue.DEAD:
            n = self.keepalive.failure
            self._close(ev.DownCause.PEER_DEAD,
                        f"No response to {n} echo-requests: serial link appears to be disconnected",
                        "Peer not responding")
        self._settle()

    # -- ControlProtocol upper interface ------------------------------------------------------------
    def cp_send(self, cp: ControlProtocol, info: bytes) -> None:
        if log.isEnabledFor(logging.DEBUG):
            _log_packet("sent", cp.protocol, info)
        self.outq.append(OutPacket(cp.protocol, info))

    def cp_ack_sent(self, cp: ControlProtocol) -> None:
        if cp is self.lcp:  # RFC 1662 §7.1: frames after our Ack escape only what the peer asked
            self.outq.append(FramingChange(tx_accm=self.lcp_options.accm.his))

    def cp_ack_received(self, cp: ControlProtocol) -> None:
        if cp is self.lcp:  # the peer agreed to our ACCM and MRU for what it sends us
            o = self.lcp_options
            self.outq.append(FramingChange(rx_accm=o.accm.got, mru=max(o.mru.got, DEFAULT_MRU)))

    def cp_up(self, cp: ControlProtocol) -> None:
        if cp is self.lcp:
            self._lcp_up()
        elif cp is self.ipcp:
            o = self.ipcp_options
            if int(o.local) == 0:  # pppd ipcp_up: nothing to configure without our own address
                note = "IPCP: the peer never gave us an IP address"
                self._ncp_notes.append(note)
                self._defer(lambda: self.ipcp.close("Could not determine local IP address", self._now))
                return
            self.ip4_open = True
            if self.config.usepeerdns and not o.dns:  # one line, so `usepeerdns` is not silently empty
                why = "rejected the DNS server options (RFC 1877)" if o.dns1.rejected else "gave no DNS servers"
                log.warning("usepeerdns: the peer %s; no DNS servers from the peer", why)
            self.events.append(ev.Ipv4Up(o.local, o.remote, o.dns, self.peer_mru, wins=o.wins))
        elif cp is self.ipv6cp:
            o6 = self.ipv6cp_options
            self.ip6_open = True
            self.events.append(ev.Ipv6Up(o6.local, o6.remote, self.peer_mru))

    def cp_down(self, cp: ControlProtocol) -> None:
        if cp is self.lcp:
            self.phase = Phase.TERMINATE if self.lcp.state in (State.CLOSING, State.STOPPING) else Phase.ESTABLISH
            if self.lcp.state is State.STOPPING and self.lcp.peer_terminated and self._down_cause is None:
                # the peer's Terminate-Request is the first cause: whatever follows (the modem's
                # NO CARRIER, our own close) does not replace it
                self._down_cause = self._peer_terminated()
            self.keepalive.stop()
            self.auth.stop()
            self.outq.append(FramingChange(tx_accm=FULL_ACCM, pfc=False, acfc=False))
            for ncp in self.ncps:
                ncp.down(self._now)
        elif cp is self.ipcp:
            if self.ip4_open:
                self.ip4_open = False
                self.events.append(ev.Ipv4Down())
        elif cp is self.ipv6cp:
            if self.ip6_open:
                self.ip6_open = False
                self.events.append(ev.Ipv6Down())

    def cp_started(self, cp: ControlProtocol) -> None:
        if cp is self.lcp and self.phase is Phase.DEAD and not self.finished:
            self.phase = Phase.ESTABLISH

    def cp_finished(self, cp: ControlProtocol) -> None:
        if cp is self.lcp:
            self._lcp_finished()
            return
        note = self._ncp_failure(cp)
        if note:
            self._ncp_notes.append(note)
            log.info("%s", note)
        if self.phase is Phase.NETWORK and not any(n.is_open or n.state in NEGOTIATING for n in self.ncps):
            why = "; ".join(self._ncp_notes) or "every network protocol closed"
            self._defer(lambda: self._close(ev.DownCause.NETWORK_FAILED, f"No network protocols running: {why}",
                                            "No network protocols running"))

    def cp_extra(self, cp: ControlProtocol, code: int, ident: int, data: bytes) -> None:
        # LCP in Opened: Echo-Request, Echo-Reply, Discard-Request, Identification, Time-Remaining
        magic = self.lcp_options.magic
        peer_magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else 0
        if magic.got and peer_magic == magic.got:
            self.stats.loopback_hits += 1
            log.warning("LCP: received our own magic number in an %s: the line may be looped back",
                        "Echo-Request" if code == Code.ECHO_REQ else "echo packet")
        if code == Code.ECHO_REQ:
            self.lcp.send(Code.ECHO_REP, ident, self._magic_bytes() + data[4:])
        elif code == Code.ECHO_REP:
            self.stats.echo_replies_received += 1
            self.keepalive.reply_received()

    def cp_protocol_rejected(self, cp: ControlProtocol, protocol: int) -> None:
        name = protocol_name(protocol)
        log.info("Protocol-Reject for '%s' (0x%04x) received", name, protocol)
        ncp = self._by_protocol.get(protocol)
        if ncp is not None and ncp is not self.lcp:
            self._defer(lambda: ncp.protocol_rejected(self._now))
        elif self.auth.runs(protocol):
            self._defer(lambda: self._close(ev.DownCause.AUTH_FAILED,
                                            f"The peer does not run {name}, so authentication cannot happen",
                                            "Authentication failed"))

    # -- phases -----------------------------------------------------------------------------------
    def _lcp_up(self) -> None:
        o = self.lcp_options
        self.peer_mru = o.mru.his
        self.outq.append(FramingChange(pfc=o.pfc.his, acfc=o.acfc.his))
        self.events.append(ev.LinkUp(o.mru.got, o.mru.his, o.accm.his, o.pfc.his, o.acfc.his,
                                     AuthProtocol.label(o.auth.his), AuthProtocol.label(o.auth.got)))
        self.keepalive.start(self._now, self.rx_frames)
        if o.auth.refused:
            message = "The peer refused to authenticate itself, and we require it"
            wanted = "CHAP" if self.config.require_chap else "PAP"
            self.events.append(ev.AuthFailed(wanted, message, by_peer=False))
            self._defer(lambda: self._close(ev.DownCause.PEER_AUTH_FAILED, message, "Authentication required"))
            return
        if not self.auth.start(o.auth.his, o.auth.got, self._now):
            self._network_phase()
            return
        self.phase = Phase.AUTHENTICATE

    def _send_auth(self, protocol: int, info: bytes) -> None:
        if log.isEnabledFor(logging.DEBUG):
            _log_packet("sent", protocol, info)
        self.outq.append(OutPacket(protocol, info))

    def _receive_auth(self, protocol: int, info: bytes, now: float) -> None:
        if len(info) < 4 or self.phase not in (Phase.AUTHENTICATE, Phase.NETWORK):
            self.stats.discarded += 1
            return
        length = (info[2] << 8) | info[3]
        if length < 4 or length > len(info):
            self.stats.bad_frames += 1
            return
        if not self.auth.runs(protocol):
            self._protocol_reject(protocol, info)
            return
        for outcome in self.auth.receive(protocol, info[0], info[1], info[4:length], now):
            self._auth_result(*outcome)

    def _auth_result(self, proto: str, as_server: bool, result: AuthResult) -> None:
        if result.ok:
            log.info("%s", result.message)
            self.events.append(ev.AuthSucceeded(proto, result.peer_name, as_server))
            if self.auth.pending == 0 and self.phase is Phase.AUTHENTICATE:
                self._network_phase()
            return
        log.warning("%s", result.message)
        self.events.append(ev.AuthFailed(proto, result.message, by_peer=not as_server))
        cause = ev.DownCause.PEER_AUTH_FAILED if as_server else ev.DownCause.AUTH_FAILED
        self._defer(lambda: self._close(cause, result.message, "Authentication failed"))

    def _network_phase(self) -> None:
        self.phase = Phase.NETWORK
        self._ncp_notes = []
        for ncp in self.ncps:
            ncp.open(self._now)
            ncp.up(self._now)

    def _close(self, cause: ev.DownCause, message: str, term_reason: str) -> None:
        if self._down_cause is None:
            self._down_cause = (cause, message)
        if self.lcp.state is State.OPENED:
            self.phase = Phase.TERMINATE
        self.lcp.close(term_reason, self._now)
        if self.lcp.state in (State.INITIAL, State.CLOSED) and not self.finished:
            self._lcp_finished()  # nothing to terminate: Close ends here without tlf

    def _lcp_finished(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.phase = Phase.DEAD
        self.keepalive.stop()
        self.auth.stop()
        cause, message = self._down_cause or self._lcp_failure()
        log.info("link down: %s", message)
        self.events.append(ev.LinkDown(cause, message))
        # pppd's link_terminated: the lower layer goes down, so a late peer packet reopens nothing
        self._defer(lambda: self.lcp.down(self._now))

    def _lcp_failure(self) -> tuple[ev.DownCause, str]:
        lcp = self.lcp
        if lcp.failure is CpFailure.TIMEOUT:
            n = lcp.counters.conf_reqs_sent
            if lcp.counters.received == 0:
                return (ev.DownCause.LCP_TIMEOUT,
                        f"LCP: no answer to {n} Configure-Requests — wrong port, or the modem is not in data mode")
            return (ev.DownCause.LCP_TIMEOUT,
                    f"LCP: the peer never acknowledged our Configure-Requests ({n} sent) — negotiation did not "
                    "converge")
        if lcp.failure is CpFailure.REJECTED:
            return ev.DownCause.NEGOTIATION_FAILED, "LCP: the peer rejected LCP itself; it does not speak PPP"
        if lcp.peer_terminated:
            return self._peer_terminated()
        return ev.DownCause.NEGOTIATION_FAILED, "LCP negotiation failed"

    def _peer_terminated(self) -> tuple[ev.DownCause, str]:
        reason = self.lcp.peer_term_reason.decode("utf-8", "replace").strip()
        return (ev.DownCause.PEER_TERMINATED,
                "The peer ended the link (LCP Terminate-Request" + (f": {reason!r})" if reason else ")"))

    @property
    def pending_down(self) -> tuple[ev.DownCause, str] | None:
        """Why the link is going down before LinkDown is reported (the first cause), else None.

        The edge uses it when the line ends during the Terminate phase: a peer's Terminate-Request
        followed by the modem's NO CARRIER is still the peer's doing.
        """
        return None if self.finished else self._down_cause

    def _ncp_failure(self, cp: ControlProtocol) -> str:
        if cp.failure is CpFailure.TIMEOUT:
            if cp.counters.naks_received or cp.counters.bad_replies:
                return (f"{cp.name}: the peer kept refusing our Configure-Requests "
                        f"({cp.counters.naks_received} Configure-Naks) — negotiation did not converge")
            what = " — the network did not assign an address" if cp is self.ipcp else ""
            return f"{cp.name}: no answer to {cp.max_configure} Configure-Requests{what}"
        if cp.failure is CpFailure.PROTOCOL_REJECTED:
            return f"the peer does not run {cp.name} (Protocol-Reject)"
        if cp.failure is CpFailure.REJECTED:
            return f"the peer rejected {cp.name}"
        return f"{cp.name} closed by the peer" if cp.peer_terminated else f"{cp.name} stopped"

    # -- helpers ----------------------------------------------------------------------------------
    def _runs_data(self, protocol: int) -> bool:
        return (protocol == Protocol.IPV4 and not self.config.noip) or (
            protocol == Protocol.IPV6 and not self.config.noipv6)

    def _protocol_reject(self, protocol: int, info: bytes) -> None:
        if self.lcp.state is not State.OPENED:
            self.stats.discarded += 1
            return
        self.stats.protocol_rejects_sent += 1
        log.info("Protocol-Reject sent for unsupported protocol 0x%04x (%s)", protocol,
                 protocol_name(protocol, "unknown"))
        body = protocol.to_bytes(2, "big") + info
        self.lcp.send(Code.PROT_REJ, self.lcp.next_id(), body[: max(self.peer_mru - 4, 2)])

    def _magic_bytes(self) -> bytes:
        return self.lcp_options.magic.got.to_bytes(4, "big")

    def _defer(self, fn: Callable[[], None]) -> None:
        self._deferred.append(fn)

    def _settle(self) -> None:
        while self._deferred:
            fn = self._deferred.pop(0)
            fn()


_LOOPBACK = ("The serial line is looped back: we keep receiving our own LCP magic number — the modem is "
             "echoing what we send (is it still in command mode?)")


def _log_packet(direction: str, protocol: int, info: bytes) -> None:
    try:
        from pppstack.describe import describe_packet

        text = describe_packet(protocol, info)
    except Exception:  # the describer is diagnostics only; never let it break the link
        text = f"[proto=0x{protocol:x}] {info[:32].hex(' ')}"
    log.debug("%s %s", direction, text)
