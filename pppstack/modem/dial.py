"""Dial sequences with typed results, sans-I/O.

Theory of operation: each dialer is a short sequential program over an `AtChannel` (see
`machine.py` for the shell that makes it sans-I/O).  The PPP sequence is the one a careful user
types by hand, with a check before each step that explains a failure instead of hiding it:

    AT (does this port speak AT at all?) -> AT+CMEE=2 (errors in words) -> AT+CPIN? [+ PIN]
    -> [AT^SYSCFGEX network mode] -> AT+CREG?/+CGREG?/+CEREG? until registered
    -> AT^HCSQ? / AT+CSQ (signal, for the log) -> AT+CGDCONT -> ATD*99***<cid># -> CONNECT

The NCM sequence replaces the last two steps with ModemManager's Huawei bearer (anchors §5.1):
AT^NDISDUP=1,1,"apn"[,...] -> AT^NDISSTATQRY? once a second until connected -> AT^DHCP?.  No
legacy init (ATZ, ATQ0, ATS0=0): the E3372h-320 firmware rejects some of it.  URCs arriving at
any point only update `ModemState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pppstack.modem import huawei as hw
from pppstack.modem.at import AtChannel, FinalResult, ModemState, Response, SimState, Urc
from pppstack.modem.machine import Program, SansIoMachine

__all__ = ["DialError", "DialResult", "NcmDialResult", "ProbeResult", "PppDialer", "NcmDialer", "NcmHangup",
           "AtProbe", "StatusQuery", "PDP_TYPES"]

PDP_TYPES = ("IP", "IPV6", "IPV4V6")


class DialError(Enum):
    NO_RESPONSE = "no answer at all to AT: probably not an AT port (wrong port), or the modem is still booting"
    SIM_NOT_INSERTED = "no SIM card is inserted"
    SIM_PIN_REQUIRED = "the SIM needs a PIN and none was given"
    SIM_PIN_REJECTED = "the SIM refused the PIN"
    SIM_PUK_REQUIRED = "the SIM is blocked and needs its PUK"
    SIM_FAILURE = "the SIM card failed or is not usable"
    REGISTRATION_DENIED = "the network denied registration (SIM not allowed on this network or plan)"
    NOT_REGISTERED = "the modem did not register with a network in time (no coverage or wrong network mode)"
    MODE_REJECTED = "the modem refused the network mode (^SYSCFGEX)"
    PDP_CONTEXT_FAILED = "the modem refused the PDP context (APN or PDP type)"
    NO_CARRIER = "the dial failed with NO CARRIER (the network refused the data call: APN, PDP type or plan)"
    BUSY = "the dial failed with BUSY"
    NO_ANSWER = "the dial failed with NO ANSWER"
    NO_DIALTONE = "the dial failed with NO DIALTONE"
    ERROR = "the modem answered ERROR"
    CME_ERROR = "the modem reported an error"
    TIMEOUT = "the modem stopped answering"
    PORT_LOST = "the port went away"
    NDIS_FAILED = "the modem did not bring up the NCM data connection"
    NDIS_UNSUPPORTED = "the modem does not answer ^NDISSTATQRY in a form we understand"


@dataclass(frozen=True)
class DialResult:
    ok: bool
    error: DialError | None
    message: str
    modem_state: ModemState
    connect_text: str = ""              # "CONNECT 150000000" -> "150000000"
    failed_command: str | None = None
    response: Response | None = None


@dataclass(frozen=True)
class NcmDialResult:
    ok: bool
    error: DialError | None
    message: str
    modem_state: ModemState
    ipv4: hw.DhcpInfo | None = None     # static config from ^DHCP?; None -> run DHCP on the net port
    ipv4_connected: bool = False
    ipv6_connected: bool = False
    failed_command: str | None = None
    response: Response | None = None


@dataclass(frozen=True)
class ProbeResult:
    answered: bool                       # anything at all came back
    ok: bool                             # AT -> OK
    lines: tuple[str, ...] = ()
    message: str = ""


def _error_for(resp: Response) -> DialError:
    return {
        FinalResult.NO_CARRIER: DialError.NO_CARRIER, FinalResult.BUSY: DialError.BUSY,
        FinalResult.NO_ANSWER: DialError.NO_ANSWER, FinalResult.NO_DIALTONE: DialError.NO_DIALTONE,
        FinalResult.CME_ERROR: DialError.CME_ERROR, FinalResult.CMS_ERROR: DialError.CME_ERROR,
    }.get(resp.final, DialError.ERROR)


class _Failed(Exception):
    """Internal: unwinds a dial program to its result."""

    def __init__(self, error: DialError, message: str, command: str | None = None,
                 response: Response | None = None) -> None:
        super().__init__(message)
        self.error, self.message, self.command, self.response = error, message, command, response


class _AtDialogue(SansIoMachine):
    """Commands with timeouts over an AtChannel; URCs fold into `state`.

    Resynchronisation (V.250 §5.2: one final result code per command line, in order): a command
    that timed out may still be answered, and a late answer must never be taken for the next
    command's.  So after a timeout the timed-out command stays pending in the channel, and before
    the next command the dialogue drains: it waits until the port has been quiet for `QUIET`
    seconds (crediting any late final result to the command it belongs to), forgets the old
    command, then sends a bare ``AT`` and waits for that AT's own final result.  Only then does
    the next command go out.  A modem that answers neither is reported as not answering.
    """

    QUIET = 1.0            # s of silence that ends a drain
    DRAIN_MAX = 5.0        # s: a modem chattering URCs without pause still gets its next command
    RESYNC_TRIES = 2

    def __init__(self, *, command_timeout: float = 3.0, state: ModemState | None = None) -> None:
        super().__init__()
        self.channel = AtChannel(state)
        self.command_timeout = command_timeout
        self.urcs: list[Urc] = []
        # "  1.503 --> AT+CPIN?" / "  1.520 <-- +CPIN: READY": seconds since the first command
        self.transcript: list[str] = []
        self.notes: list[str] = []        # sentences for the log: how we worked around the modem
        self._t0: float | None = None
        self._last_rx = 0.0
        self._late_for: str | None = None  # the command that timed out; set while out of sync

    @property
    def state(self) -> ModemState:
        return self.channel.state

    def take_unconsumed(self) -> bytes:
        self._pump()
        return self.channel.take_leftover() + super().take_unconsumed()

    def _log(self, line: str) -> None:
        if self._t0 is None:
            self._t0 = self.now
        self.transcript.append(f"{self.now - self._t0:7.3f} {line}")

    def _pump(self, late: bool = False) -> list[Response]:
        if not self._inbuf:
            return []
        self._last_rx = self.now
        data = bytes(self._inbuf)
        self._inbuf.clear()
        out = []
        for ev in self.channel.feed(data):
            if isinstance(ev, Urc):
                self.urcs.append(ev)
                self._log(f"<-- {ev.line}")
            else:
                for line in ev.lines:
                    self._log(f"<-- {line}")
                self._log(f"<-- {ev.describe()}" + (f"  (late answer to {ev.command})" if late else ""))
                out.append(ev)
        return out

    def _send(self, text: str, shown: str | None = None) -> None:
        self._pump()   # URCs that came while idle
        self._outbuf += self.channel.command(text)
        self._log(f"--> {shown or text}")

    def _await(self, timeout: float) -> Program:
        """The final result of the command just sent, or None when none came within ``timeout``."""
        deadline = self.now + timeout
        while True:
            responses = self._pump()
            if responses:
                return responses[-1]
            if self.now >= deadline:
                return None
            yield deadline

    def _cmd(self, text: str, timeout: float | None = None, shown: str | None = None) -> Program:
        """Send one command; returns its Response, or None when nothing final came in time.
        Raises _Failed(TIMEOUT) when an earlier timeout left the modem out of step and it does not
        answer AT either.  ``shown`` replaces the command in the transcript (PINs and passwords)."""
        if self._late_for is not None:
            yield from self._resync(probe=text.strip().upper() != "AT")
        self._send(text, shown)
        resp = yield from self._await(self.command_timeout if timeout is None else timeout)
        if resp is None:
            self._late_for = shown or text   # still pending in the channel: its answer may come late
            self._log(f"... no final result within {self.command_timeout if timeout is None else timeout:g} s")
        return resp

    def _drain(self) -> Program:
        """Wait until the port is quiet; late final results go to the command that timed out."""
        start = self.now
        self._last_rx = max(self._last_rx, start)
        while True:
            self._pump(late=True)
            until = min(self._last_rx + self.QUIET, start + self.DRAIN_MAX)
            if self.now >= until:
                break
            yield until
        self.channel.cancel()      # whatever it still owes us is forgotten, never credited onwards

    def _resync(self, probe: bool) -> Program:
        """After a timeout: drain, then (``probe``) a bare AT whose own final result we see."""
        late = self._late_for
        for _ in range(self.RESYNC_TRIES if probe else 1):
            yield from self._drain()
            if not probe:
                self._late_for = None
                return
            self._send("AT")
            resp = yield from self._await(self.command_timeout)
            if resp is not None:
                self._late_for = None
                return
            self._log(f"... no final result within {self.command_timeout:g} s")
        raise _Failed(DialError.TIMEOUT, f"{DialError.TIMEOUT.value}: after {late} timed out, it did not "
                      "answer AT either", late)

    def _sleep(self, seconds: float) -> Program:
        until = self.now + seconds
        while self.now < until:
            self._pump()
            yield until
        self._pump()

    def _required(self, text: str, error: DialError, what: str, timeout: float | None = None) -> Program:
        resp = yield from self._cmd(text, timeout)
        if resp is None:
            raise _Failed(DialError.TIMEOUT, f"no answer to {text} within "
                          f"{self.command_timeout if timeout is None else timeout:g} s", text)
        if not resp.ok:
            raise _Failed(error, f"{what}: {text} -> {resp.describe()}", text, resp)
        return resp

    # -- shared steps ------------------------------------------------------------------------
    def _probe(self, tries: int = 3, timeout: float = 1.0) -> Program:
        for _ in range(tries):
            resp = yield from self._cmd("AT", timeout)
            if resp is not None and resp.ok:
                return resp
        raise _Failed(DialError.NO_RESPONSE, DialError.NO_RESPONSE.value, "AT")

    def _sim(self, pin: str | None) -> Program:
        bare_ok = False
        for attempt in range(10):
            resp = yield from self._cmd("AT+CPIN?")
            if resp is None:
                raise _Failed(DialError.TIMEOUT, "no answer to AT+CPIN? within "
                              f"{self.command_timeout:g} s", "AT+CPIN?")
            if resp.final is FinalResult.CME_ERROR:
                code = resp.cme_code
                if code == 10:
                    raise _Failed(DialError.SIM_NOT_INSERTED, DialError.SIM_NOT_INSERTED.value, "AT+CPIN?", resp)
                if code == 11:
                    self.state.sim = SimState.PIN
                elif code == 12:
                    self.state.sim = SimState.PUK
                elif code == 14:      # SIM busy: it is still starting
                    yield from self._sleep(1.0)
                    continue
                else:
                    raise _Failed(DialError.SIM_FAILURE, f"the SIM is not usable: {resp.describe()}", "AT+CPIN?", resp)
            elif not resp.ok:
                raise _Failed(DialError.SIM_FAILURE, f"AT+CPIN? -> {resp.describe()}", "AT+CPIN?", resp)
            elif not resp.info("+CPIN") and self.state.sim is SimState.UNKNOWN:
                # Some firmwares answer a bare OK (no +CPIN: line).  Ask once more; a second bare
                # OK means this firmware never says, and a SIM that needed a PIN would have said so.
                if bare_ok:
                    self.state.sim = SimState.READY
                    self.notes.append("the modem answers AT+CPIN? with a bare OK (no +CPIN: line); "
                                      "taking the SIM as ready")
                    return
                bare_ok = True
                yield from self._sleep(1.0)
                continue
            sim = self.state.sim
            if sim is SimState.READY:
                return
            if sim is SimState.PUK:
                raise _Failed(DialError.SIM_PUK_REQUIRED, DialError.SIM_PUK_REQUIRED.value, "AT+CPIN?", resp)
            if sim is SimState.PIN:
                if not pin:
                    raise _Failed(DialError.SIM_PIN_REQUIRED, DialError.SIM_PIN_REQUIRED.value, "AT+CPIN?", resp)
                if not pin.isdigit():
                    raise _Failed(DialError.SIM_PIN_REJECTED, "a PIN is digits only", "AT+CPIN")
                r = yield from self._cmd(f'AT+CPIN="{pin}"', 10.0, shown='AT+CPIN="****"')
                if r is None or not r.ok:
                    raise _Failed(DialError.SIM_PIN_REJECTED, DialError.SIM_PIN_REJECTED.value
                                  + (f" ({r.describe()})" if r else ""), "AT+CPIN", r)
                pin = None    # never send it twice: three wrong PINs block the SIM
                yield from self._sleep(1.0)
                continue
            if attempt < 9:
                yield from self._sleep(1.0)
        raise _Failed(DialError.SIM_FAILURE, f"the SIM did not become ready ({self.state.sim.value})", "AT+CPIN?")

    def _registration(self, timeout: float) -> Program:
        deadline = self.now + timeout
        while True:
            for q in ("AT+CREG?", "AT+CGREG?", "AT+CEREG?"):
                yield from self._cmd(q)
            if self.state.registered:
                return
            if self.state.registration_denied:
                raise _Failed(DialError.REGISTRATION_DENIED, DialError.REGISTRATION_DENIED.value, "AT+CREG?")
            if self.now >= deadline:
                raise _Failed(DialError.NOT_REGISTERED, DialError.NOT_REGISTERED.value
                              + f" ({self.state.summary()})", "AT+CREG?")
            yield from self._sleep(1.0)

    def _prepare(self, pin: str | None, mode: hw.NetworkMode | str | None, registration_timeout: float | None,
                 query_signal: bool) -> Program:
        """What every data bring-up does first: the modem answers, errors come verbose, the SIM is
        unlocked, the network mode is set, registration is awaited (None: not) and signal logged."""
        yield from self._probe()
        yield from self._cmd("AT+CMEE=2")
        yield from self._sim(pin)
        if mode is not None:
            yield from self._required(hw.build_syscfgex(mode), DialError.MODE_REJECTED, "network mode")
        if registration_timeout is not None:
            yield from self._registration(registration_timeout)
        if query_signal:
            yield from self._signal()

    def _define_context(self, cid: int, pdp_type: str, apn: str) -> Program:
        yield from self._required(f'AT+CGDCONT={cid},"{pdp_type}","{apn}"', DialError.PDP_CONTEXT_FAILED,
                                  "PDP context")

    def _signal(self) -> Program:
        for q in ("AT^HCSQ?", "AT^SYSINFOEX", "AT+CSQ"):
            yield from self._cmd(q)


class PppDialer(_AtDialogue):
    """SIM, registration, PDP context, ATD -> CONNECT.  After a successful result the port is in
    data mode and ``take_unconsumed()`` holds any PPP bytes that came with the CONNECT."""

    def __init__(self, apn: str | None = None, pin: str | None = None, pdp_type: str | None = "IP",
                 number: str | None = None, *, cid: int = 1, mode: hw.NetworkMode | str | None = None,
                 wait_registration: bool = True, registration_timeout: float = 60.0,
                 dial_timeout: float = 30.0, command_timeout: float = 3.0, query_signal: bool = True) -> None:
        super().__init__(command_timeout=command_timeout)
        pdp = (pdp_type or "IP").upper()
        if pdp not in PDP_TYPES:
            raise ValueError(f"PDP type must be one of {', '.join(PDP_TYPES)}, not {pdp_type!r}")
        if apn is not None:
            hw.check_at_text(apn, "APN")
        if pin:
            hw.check_pin(pin)
        self.apn, self.pin, self.pdp_type, self.cid = apn, pin, pdp, cid
        self.number = number or f"*99***{cid}#"
        self.mode = mode
        self.wait_registration, self.registration_timeout = wait_registration, registration_timeout
        self.dial_timeout, self.query_signal = dial_timeout, query_signal

    def _lost_result(self, reason: str) -> DialResult:
        return DialResult(False, DialError.PORT_LOST, f"{DialError.PORT_LOST.value}: {reason}", self.state)

    def _program(self) -> Program:
        try:
            wait = self.registration_timeout if self.wait_registration else None
            yield from self._prepare(self.pin, self.mode, wait, self.query_signal)
            if self.apn is not None:
                yield from self._define_context(self.cid, self.pdp_type, self.apn)
            dial = f"ATD{self.number}"
            resp = yield from self._cmd(dial, self.dial_timeout)
            if resp is None:
                raise _Failed(DialError.TIMEOUT, f"no CONNECT within {self.dial_timeout:g} s after {dial}", dial)
            if resp.final is not FinalResult.CONNECT:
                err = _error_for(resp)
                raise _Failed(err, f"{err.value}: {dial} -> {resp.describe()}", dial, resp)
            self.result = DialResult(True, None, f"CONNECT {resp.connect_text}".strip(), self.state,
                                     resp.connect_text, None, resp)
        except _Failed as f:
            self.result = DialResult(False, f.error, f.message, self.state, "", f.command, f.response)


class NcmDialer(_AtDialogue):
    """Huawei NCM bring-up: ^NDISDUP, poll ^NDISSTATQRY? at 1 Hz, read ^DHCP?.

    `max_polls` defaults to ModemManager's 180 polls (three minutes): a slow network can take
    well over a minute to activate the bearer."""

    def __init__(self, apn: str, user: str | None = None, password: str | None = None,
                 auth: hw.AuthType | None = None, *, pin: str | None = None, cid: int = 1,
                 pdp_type: str | None = None, mode: hw.NetworkMode | str | None = None,
                 wait_registration: bool = True, registration_timeout: float = 60.0,
                 max_polls: int = 180, command_timeout: float = 3.0, query_signal: bool = True) -> None:
        super().__init__(command_timeout=command_timeout)
        self.dial_command = hw.build_ndisdup(apn, user, password, auth, cid)  # validates the strings
        if pin:
            hw.check_pin(pin)
        self.apn, self.pin, self.cid, self.mode = apn, pin, cid, mode
        self.pdp_type = pdp_type.upper() if pdp_type else None
        if self.pdp_type is not None and self.pdp_type not in PDP_TYPES:
            raise ValueError(f"PDP type must be one of {', '.join(PDP_TYPES)}, not {pdp_type!r}")
        self.wait_registration, self.registration_timeout = wait_registration, registration_timeout
        self.max_polls, self.query_signal = max_polls, query_signal
        self._shown_dial = hw.build_ndisdup(apn, "****", "****", auth, cid) if (user or password) else None

    def _lost_result(self, reason: str) -> NcmDialResult:
        return NcmDialResult(False, DialError.PORT_LOST, f"{DialError.PORT_LOST.value}: {reason}", self.state)

    def _program(self) -> Program:
        dialled = False
        try:
            wait = self.registration_timeout if self.wait_registration else None
            yield from self._prepare(self.pin, self.mode, wait, self.query_signal)
            if self.pdp_type is not None:
                yield from self._define_context(self.cid, self.pdp_type, self.apn)
            resp = yield from self._cmd(self.dial_command, shown=self._shown_dial)
            if resp is None or not resp.ok:
                raise _Failed(DialError.NDIS_FAILED, f"{DialError.NDIS_FAILED.value}: ^NDISDUP -> "
                              f"{resp.describe() if resp else 'no answer'}", "AT^NDISDUP", resp)
            dialled = True
            stat = yield from self._poll()
            dhcp_resp = yield from self._cmd("AT^DHCP?")
            info = None
            if dhcp_resp is not None and dhcp_resp.ok:
                for args in dhcp_resp.info("^DHCP"):
                    info = hw.parse_dhcp(args) or info
            self.result = NcmDialResult(True, None, "connected" + (f": {info.interface} gw {info.gateway}" if info
                                                                   else " (no ^DHCP answer: use DHCP)"),
                                        self.state, info, bool(stat.ipv4), bool(stat.ipv6))
        except _Failed as f:
            if dialled:
                yield from self._cmd(hw.build_ndisdup_teardown(self.cid))
            self.result = NcmDialResult(False, f.error, f.message, self.state, failed_command=f.command,
                                        response=f.response)

    def _poll(self) -> Program:
        unparsed = 0
        for _ in range(self.max_polls):
            yield from self._sleep(1.0)
            urc = self.state.ndis  # the refusal comes as ^NDISSTAT:0,<cause>; the query form carries no cause
            if urc is not None and not urc.connected and urc.error:
                raise _Failed(DialError.NDIS_FAILED, f"{DialError.NDIS_FAILED.value}: the network refused the "
                              f"connection (cause {urc.error})", "AT^NDISDUP")
            resp = yield from self._cmd("AT^NDISSTATQRY?")
            stat = None
            if resp is not None and resp.ok:
                for args in resp.info("^NDISSTATQRY"):
                    stat = hw.parse_ndisstat(args) or stat
            if stat is None:
                unparsed += 1
                if unparsed > 10:
                    raise _Failed(DialError.NDIS_UNSUPPORTED, DialError.NDIS_UNSUPPORTED.value, "AT^NDISSTATQRY?", resp)
                continue
            self.state.ndis = stat
            if stat.connected:
                return stat
            if stat.error:
                raise _Failed(DialError.NDIS_FAILED, f"{DialError.NDIS_FAILED.value}: the network refused the "
                              f"connection (cause {stat.error})", "AT^NDISSTATQRY?", resp)
        raise _Failed(DialError.NDIS_FAILED, f"{DialError.NDIS_FAILED.value}: not connected after "
                      f"{self.max_polls} s of ^NDISSTATQRY?", "AT^NDISSTATQRY?")


class NcmHangup(_AtDialogue):
    """``AT^NDISDUP=<cid>,0``: tear the NCM data connection down."""

    def __init__(self, cid: int = 1, *, command_timeout: float = 3.0) -> None:
        super().__init__(command_timeout=command_timeout)
        self.cid = cid

    def _lost_result(self, reason: str) -> DialResult:
        return DialResult(False, DialError.PORT_LOST, reason, self.state)

    def _program(self) -> Program:
        cmd = hw.build_ndisdup_teardown(self.cid)
        resp = yield from self._cmd(cmd)
        if resp is None:
            self.result = DialResult(False, DialError.TIMEOUT, f"no answer to {cmd}", self.state, failed_command=cmd)
        elif not resp.ok:
            self.result = DialResult(False, _error_for(resp), f"{cmd} -> {resp.describe()}", self.state,
                                     failed_command=cmd, response=resp)
        else:
            self.result = DialResult(True, None, "disconnected", self.state)


class AtProbe(_AtDialogue):
    """Does this port answer AT?  (``pppstack ports --probe``; a short timeout per try.)"""

    def __init__(self, timeout: float = 1.0, tries: int = 2) -> None:
        super().__init__(command_timeout=timeout)
        self.tries = tries

    def _lost_result(self, reason: str) -> ProbeResult:
        return ProbeResult(False, False, (), reason)

    def _program(self) -> Program:
        for _ in range(self.tries):
            resp = yield from self._cmd("AT")
            if resp is not None:
                self.result = ProbeResult(True, resp.ok, resp.lines, resp.describe())
                return
        answered = bool(self.urcs) or self.channel.noise_count > 0
        self.result = ProbeResult(answered, False, tuple(self.channel.noise),
                                  "only unsolicited text, no OK" if answered else "no answer")


class StatusQuery(_AtDialogue):
    """Read SIM, registration, mode and signal without changing anything."""

    def _lost_result(self, reason: str) -> DialResult:
        return DialResult(False, DialError.PORT_LOST, reason, self.state)

    def _program(self) -> Program:
        try:
            yield from self._probe(tries=2)
        except _Failed as f:
            self.result = DialResult(False, f.error, f.message, self.state, failed_command="AT")
            return
        try:
            for q in ("AT+CPIN?", "AT+CREG?", "AT+CGREG?", "AT+CEREG?", "AT^SYSINFOEX", "AT^HCSQ?", "AT+CSQ",
                      "AT^SYSCFGEX?"):
                yield from self._cmd(q)
        except _Failed as f:
            self.result = DialResult(False, f.error, f.message, self.state, failed_command=f.command)
            return
        self.result = DialResult(True, None, self.state.summary(), self.state)
