"""SimModem: a sans-I/O Huawei E3372h-320 (stick mode) as seen on its modem tty.

Theory of operation.  The modem has three modes.  In COMMAND mode it reads command lines ending
in CR (V.250 §5.2: S3), echoes them when E1, and answers with Huawei's wording and framing:
``\\r\\n<info>\\r\\n`` lines and a final ``\\r\\nOK\\r\\n`` (commands.py holds the dialect).  Its
unsolicited codes (^RSSI, ^CERSSI, ^HCSQ, ^MODE, ^SRVST, ^BOOT, ^SIMST) fall due on a timer
(and when a host opens the port); a due report rides inside the next command's reply, between its
answer and its final result exactly as in the thread's log after AT+CGDCONT, or goes out alone if
no command comes within `report_hold` seconds.  A successful ATD*99# switches to DATA mode: it
says CONNECT and runs the network's side of PPP (network.py).  When PPP ends the modem returns to
COMMAND mode and prints NO CARRIER (V.250 §6.3.1).  GONE is the port having dropped off USB.

Faults are injected by `SimConfig.faults`; every timed one runs off `now`, so tests drive them
with a fake clock.  The I/O edge (pppstack.io.simrunner) reacts to the port events this class
emits: `PortHangup` (close the tty now), `PortRemoved` (remove it), `PortAppeared` (a new
ttyUSBn).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address

from pppstack import events as ev
from pppstack.sim.network import NetworkSettings, NetworkSide
from pppstack.sim.radio import PROFILES, RadioProfile, Rat

__all__ = [
    "Fault", "SimConfig", "Mode", "SimModem", "SimEvent", "CommandSeen", "Connected", "DataModeEnded",
    "PortHangup", "PortRemoved", "PortAppeared", "ModemReset", "PppEvent", "DEFAULT_PIN",
]

DEFAULT_PIN = "1234"


class Fault(Enum):
    WRONG_PORT = "wrong-port"            # hangs up right after CONNECT (the thread's ttyUSB0)
    BROWNOUT = "brownout"                # the port vanishes N s after CONNECT, re-enumerates later
    SIM_PIN = "sim-pin"                  # the SIM wants a PIN
    LEGACY_REJECTED = "legacy-rejected"  # ATQ0, ATS0=0, AT&C1 ... answer ERROR (anchors §2, §7.2)
    NO_CARRIER = "no-carrier"            # ATD -> NO CARRIER
    BUSY = "busy"                        # ATD -> BUSY
    IPCP_STALL = "ipcp-stall"            # IPCP Naked with placeholders many times first
    DEAD_ECHO = "dead-echo"              # LCP echo unanswered after N s
    RESET = "reset"                      # the modem resets mid-session
    NO_REGISTRATION = "no-registration"  # +CREG/+CEREG searching forever, ^HCSQ "NOSERVICE"
    APN_REJECTED = "apn-rejected"        # the network refuses the data call (cause 33; NCM: ^NDISSTAT:0,33)
    AUTH_REJECTED = "auth-rejected"      # the network's CHAP/PAP refuses any credentials
    HILINK = "hilink"                    # HiLink/CD-ROM mode: no serial port answers (12d1:14dc)
    PORT_BUSY = "port-busy"              # another program (ModemManager) polls on the same port

    @property
    def description(self) -> str:
        return _FAULT_WORDS[self]


_FAULT_WORDS = {
    Fault.WRONG_PORT: "hangs up right after CONNECT, as the thread's ttyUSB0 did",
    Fault.BROWNOUT: "drops off USB N s after CONNECT (2G brown-out), back later as another ttyUSBn",
    Fault.SIM_PIN: "the SIM wants a PIN (1234 unless --pin); dialling says +CME ERROR: SIM PIN required",
    Fault.LEGACY_REJECTED: "ATQ0, ATS0=0, AT&C1, AT&D2 ... answer ERROR, as on the E3372h-320",
    Fault.NO_CARRIER: "ATD answers NO CARRIER (the network refuses the data call)",
    Fault.BUSY: "ATD answers BUSY",
    Fault.IPCP_STALL: "IPCP is Naked with placeholder addresses many times first, as 3G networks do",
    Fault.DEAD_ECHO: "LCP echo requests go unanswered after N s (dead bearer, tty still up)",
    Fault.RESET: "the modem resets mid-session: NO CARRIER, then ^BOOT",
    Fault.NO_REGISTRATION: "never registers: +CREG/+CEREG say searching, ^HCSQ says NOSERVICE, ATD NO CARRIER",
    Fault.APN_REJECTED: "the network refuses the data call: ATD NO CARRIER and +CEER cause 33; NCM ^NDISSTAT:0,33",
    Fault.AUTH_REJECTED: "the network's CHAP/PAP refuses whatever user name and password it is given",
    Fault.HILINK: "a stick in HiLink mode (12d1:14dc, cdc_ether): the serial port never answers",
    Fault.PORT_BUSY: "another program (as ModemManager does) sends AT+CSQ on the port every 0.7 s",
}


@dataclass(frozen=True)
class SimConfig:
    """What the simulated stick is like.  Times are seconds after CONNECT unless noted."""

    faults: frozenset[Fault] = frozenset()
    pin: str | None = None               # the SIM's PIN; giving one locks the SIM (as SIM_PIN does)
    rat: Rat | None = None               # default WCDMA (the thread's card); GSM with BROWNOUT (2G)
    echo: bool = True                    # ATE1 at power-on (V.250 default)
    brownout_after: float = 3.0
    reenumerate_after: float = 2.0      # after the brown-out, until the new ttyUSBn appears
    wrong_port_after: float = 1.0        # the thread: CONNECT 18:30:00, "Modem hangup" 18:30:01
    dead_echo_after: float = 5.0
    reset_after: float = 5.0
    boot_time: float = 1.0               # a reset modem is deaf this long before ^BOOT
    register_after: float = 1.0          # after the PIN / a reset, until registered
    ipcp_stall_naks: int = 12
    signal_interval: float = 10.0        # ^RSSI/^CERSSI/^HCSQ every so often (0: never)
    report_hold: float = 1.0             # a due report waits this long to ride inside a command's reply
    client_ip: IPv4Address = IPv4Address("100.68.27.142")
    gateway_ip: IPv4Address = IPv4Address("10.64.64.64")
    dns: tuple[IPv4Address, ...] = (IPv4Address("10.177.0.34"), IPv4Address("10.168.187.116"))
    ipv6: bool = True
    accept_any_credentials: bool = True
    secrets: tuple[tuple[str, str], ...] = ()
    imei: str = "866123045678912"
    imsi: str = "262019876543210"
    operator: str = "SIM Mobile"

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", frozenset(self.faults))
        if self.pin is not None and not (self.pin.isdigit() and 4 <= len(self.pin) <= 8):
            raise ValueError(f"a SIM PIN is 4 to 8 digits, not {self.pin!r}")
        for name in ("brownout_after", "reenumerate_after", "wrong_port_after", "dead_echo_after", "reset_after",
                     "boot_time", "register_after", "signal_interval", "report_hold"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.ipcp_stall_naks < 0:
            raise ValueError("ipcp_stall_naks must not be negative")

    def has(self, fault: Fault) -> bool:
        return fault in self.faults

    @property
    def sim_pin(self) -> str | None:
        if self.pin is not None:
            return self.pin
        return DEFAULT_PIN if Fault.SIM_PIN in self.faults else None

    @property
    def radio(self) -> RadioProfile:
        rat = self.rat or (Rat.GSM if Fault.BROWNOUT in self.faults else Rat.WCDMA)
        return PROFILES[rat]


class Mode(Enum):
    COMMAND = "command"
    DATA = "data"
    BOOTING = "booting"     # reset in place: deaf until ^BOOT
    GONE = "gone"           # dropped off USB


# -- events for the edge and for logs ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SimEvent:
    """Base of what the simulator reports."""


@dataclass(frozen=True, slots=True)
class CommandSeen(SimEvent):
    line: str
    final: str


@dataclass(frozen=True, slots=True)
class Connected(SimEvent):
    number: str


@dataclass(frozen=True, slots=True)
class DataModeEnded(SimEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class PortHangup(SimEvent):
    """Close the tty now (the client reads EOF/EIO); it is usable again right after."""

    reason: str


@dataclass(frozen=True, slots=True)
class PortRemoved(SimEvent):
    """The port drops off USB; `PortAppeared` follows after `reappear_after` s."""

    reason: str
    reappear_after: float


@dataclass(frozen=True, slots=True)
class PortAppeared(SimEvent):
    index: int          # the new ttyUSB number of the modem port


@dataclass(frozen=True, slots=True)
class ModemReset(SimEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class PppEvent(SimEvent):
    event: ev.Event


@dataclass
class _Settings:
    """Volatile settings (AT&F / ATZ / a reboot restore them)."""

    echo: bool = True
    verbose: bool = True
    quiet: bool = False
    cmee: int = 2
    curc: bool = True
    creg: dict[str, int] = field(default_factory=lambda: {"+CREG": 0, "+CGREG": 0, "+CEREG": 0})
    sregs: dict[int, int] = field(default_factory=lambda: {0: 0, 3: 13, 4: 10, 5: 8, 7: 50, 10: 14})


class SimModem:
    """The simulated stick (module docstring).  Same shape as the engine: bytes and `now` in."""

    def __init__(self, config: SimConfig, rng: Callable[[int], bytes], *, respond: bool = True,
                 port_index: int = 0) -> None:
        from pppstack.sim.commands import AtInterpreter

        self.config = config
        self.rng = rng
        self.respond = respond
        self.port_index = port_index
        self.mode = Mode.COMMAND
        self.settings = _Settings(echo=config.echo)
        self.radio = config.radio
        self.acqorder = "00"
        self.contexts: dict[int, tuple[str, str]] = {1: ("IP", "")}
        self.pin_needed = config.sim_pin is not None
        self.pin_attempts = 3
        self.puk_needed = False
        self.registered = not self.pin_needed and not config.has(Fault.NO_REGISTRATION)
        self.radio_on = True
        self.ndis_up = False
        self.network: NetworkSide | None = None
        self.sessions = 0
        self.interp = AtInterpreter(self)
        self._line = bytearray()
        self._last_line = ""
        self._out: list[bytes] = []
        self._events: deque[SimEvent] = deque()
        self._timers: dict[str, float] = {}
        self._urc_queue: list[str] = []
        self._next_report: float | None = None
        self.ppp_events: list[ev.Event] = []
        self.log: list[str] = []

    # -- the driver's API --------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Power on (already registered unless the SIM is locked); the first report is due now."""
        self._next_report = now if self.config.signal_interval > 0 else None
        if self.config.has(Fault.HILINK):
            self.mode = Mode.GONE  # no serial function at all: nothing on this port ever answers
        if self.config.has(Fault.PORT_BUSY):
            self._timers["other_program"] = now + 0.7

    def receive_data(self, data: bytes, now: float) -> None:
        if self.mode is Mode.DATA and self.network is not None:
            self.network.receive_data(data, now)
            self._after_network(now)
            return
        if self.mode is not Mode.COMMAND:
            return  # booting or gone: nobody listens
        for byte in data:
            if self.mode is not Mode.COMMAND:
                break  # ATD switched to data mode: the rest of this read is not ours to echo
            self._command_byte(byte, now)

    def data_to_send(self) -> bytes:
        if self.network is not None:
            out = self.network.data_to_send()
            if out:
                self._out.append(out)
        data, self._out = b"".join(self._out), []
        return data

    def next_event(self) -> SimEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        times = list(self._timers.values())
        if self._next_report is not None and self.mode is Mode.COMMAND and self._reports_on:
            times.append(self._next_report + self.config.report_hold)
        if self.network is not None and self.mode is Mode.DATA:
            t = self.network.get_timer()
            if t is not None:
                times.append(t)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        for name, due in sorted(self._timers.items(), key=lambda kv: kv[1]):
            if now >= due and self._timers.get(name) == due:
                del self._timers[name]
                getattr(self, f"_on_{name}")(now)
        if self.network is not None and self.mode is Mode.DATA:
            self.network.handle_timer(now)
            self._after_network(now)
        if self.mode is Mode.COMMAND and self._next_report is not None \
                and now >= self._next_report + self.config.report_hold:
            if self._reports_on:
                self._emit_urcs(self.radio.signal_urcs())
            self._schedule_report(now)

    def send_ip(self, packet: bytes, now: float) -> None:
        """A packet from the Internet side (the runner's TUN) to the client."""
        if self.network is not None and self.mode is Mode.DATA:
            self.network.send_ip(packet, now)

    def take_packets(self) -> list[bytes]:
        """The client's IP packets (only with respond=False; else the responder answers them)."""
        return self.network.take_packets() if self.network is not None else []

    def port_opened(self, now: float) -> None:
        """A host opened the port: a fresh signal report is due (it rides on the first reply)."""
        if self.config.signal_interval > 0 and (self._next_report is None or self._next_report > now):
            self._next_report = now

    def hangup(self, reason: str, now: float) -> None:
        """DTR dropped (the host closed the port): leave data mode quietly (AT&D2)."""
        if self.mode is Mode.DATA:
            self._end_data(reason, now, say_no_carrier=False)

    # -- command mode ------------------------------------------------------------------------------
    @property
    def _reports_on(self) -> bool:
        return self.settings.curc and self.registered and self.radio_on

    def _schedule_report(self, now: float) -> None:
        iv = self.config.signal_interval
        self._next_report = now + iv if iv > 0 else None

    def _command_byte(self, byte: int, now: float) -> None:
        s = self.settings
        if byte == s.sregs[3]:
            if s.echo:
                self._out.append(bytes((byte,)))
            line = self._line.decode("latin-1")
            self._line.clear()
            self._run_line(line.strip(), now)
        elif byte == s.sregs[5]:
            if self._line:
                self._line.pop()
                if s.echo:
                    self._out.append(b"\b \b")
        elif byte == 0x0A and not self._line:
            return
        else:
            if s.echo:
                self._out.append(bytes((byte,)))
            if len(self._line) < 1024:
                self._line.append(byte)
            if self._line[-2:].upper() == b"A/":  # V.250 §5.2.4: repeat the last command line
                self._line.clear()
                if s.echo:
                    self._out.append(b"\r")
                self._run_line(self._last_line, now)

    def _run_line(self, line: str, now: float) -> None:
        if not line[:2].upper() == "AT":
            return  # not a command line: modems ignore it
        self._last_line = line
        info, final = self.interp.run(line, now)
        self.log.append(f"AT> {line}")
        self._events.append(CommandSeen(line, final))
        for text in info:
            self._text(text)
        if self._urc_queue or (self._reports_on and self._next_report is not None and now >= self._next_report):
            if self._reports_on and self._next_report is not None and now >= self._next_report:
                self._urc_queue.extend(self.radio.signal_urcs())
                self._schedule_report(now)
            for u in self._urc_queue:
                self._text(u)
            self._urc_queue.clear()
        if final == "CONNECT":
            self._out.append(b"\r\n")  # the dial is accepted; CONNECT follows (the thread's ^M ^M CONNECT)
        self._final(final)
        if final == "CONNECT":
            self._start_data(now)

    def _text(self, text: str) -> None:
        self._out.append(f"\r\n{text}\r\n".encode("latin-1") if self.settings.verbose else
                         f"{text}\r\n".encode("latin-1"))

    _NUMERIC = {"OK": 0, "CONNECT": 1, "RING": 2, "NO CARRIER": 3, "ERROR": 4, "NO DIALTONE": 6, "BUSY": 7,
                "NO ANSWER": 8}

    def _final(self, final: str) -> None:
        s = self.settings
        if not final or s.quiet:
            return
        if s.verbose:
            self._out.append(f"\r\n{final}\r\n".encode("latin-1"))
        else:
            self._out.append(f"{self._NUMERIC.get(final, 4)}\r".encode())

    def _emit_urcs(self, urcs: list[str]) -> None:
        """Unsolicited codes: now if idle in command mode, else with the next command's answer."""
        if self.mode is Mode.COMMAND and not self._line:
            for u in urcs:
                self._text(u)
        elif self.mode is Mode.COMMAND:
            self._urc_queue.extend(urcs)

    # -- state changes used by the interpreter -----------------------------------------------------
    def pin_entered(self, now: float) -> None:
        self.pin_needed = False
        self._timers["registered"] = now + self.config.register_after

    def _on_other_program(self, now: float) -> None:
        """PORT_BUSY: someone else's command and its answer, as ModemManager's polling looks on the port."""
        if self.mode is Mode.COMMAND:
            self._out.append(f"AT+CSQ\r\r\n+CSQ: {self.radio.rssi},99\r\n\r\nOK\r\n".encode())
        self._timers["other_program"] = now + 0.7

    def _on_registered(self, now: float) -> None:
        if self.pin_needed or not self.radio_on or self.config.has(Fault.NO_REGISTRATION):
            return
        self.registered = True
        urcs = []
        for name, n in self.settings.creg.items():
            if n:
                urcs.append(f"{name}: 1" if n == 1 else f'{name}: 1,"A1B2","01C2D3E4",{self.radio.act}')
        if self.settings.curc:
            urcs += ["^SRVST: 2", f"^MODE:{self.radio.mode}"]
        self._emit_urcs(urcs)
        if self.config.signal_interval > 0 and (self._next_report is None or self._next_report > now):
            self._next_report = now

    def set_radio(self, on: bool, now: float) -> None:
        self.radio_on = on
        if not on:
            self.registered = False
            self._timers.pop("registered", None)
        elif not self.pin_needed:
            self._timers["registered"] = now + self.config.register_after

    def set_acqorder(self, order: str) -> None:
        self.acqorder = order
        first = order[:2]
        rat = {"01": Rat.GSM, "02": Rat.WCDMA, "03": Rat.LTE}.get(first)
        self.radio = PROFILES[rat] if rat else self.config.radio

    def factory_reset(self) -> None:
        self.settings = _Settings(echo=True)

    def reboot(self, reason: str, now: float) -> None:
        """AT+CFUN=1,1 or the RESET fault: deaf for boot_time, then ^BOOT and ^SIMST."""
        self._events.append(ModemReset(reason))
        self.log.append(f"reset: {reason}")
        self._power_cycle()
        self.mode = Mode.BOOTING
        self._timers["booted"] = now + self.config.boot_time

    def _power_cycle(self) -> None:
        self.settings = _Settings(echo=self.config.echo)
        self.pin_needed = self.config.sim_pin is not None
        self.pin_attempts = 3
        self.puk_needed = False
        self.registered = False
        self.radio_on = True
        self.ndis_up = False
        self._line.clear()
        self._urc_queue.clear()
        self._timers.clear()

    def _on_booted(self, now: float) -> None:
        self.mode = Mode.COMMAND
        self._text("^BOOT:37206354,0,0,0,75")
        self._text("^SIMST: 1")
        self._next_report = None
        if not self.pin_needed:
            self._timers["registered"] = now + self.config.register_after

    def _on_reappear(self, now: float) -> None:
        self._events.append(PortAppeared(self.port_index))
        self.log.append(f"re-enumerated as ttyUSB{self.port_index}..{self.port_index + 2}")
        self._on_booted(now)

    # -- data mode ---------------------------------------------------------------------------------
    def _start_data(self, now: float) -> None:
        c = self.config
        self.mode = Mode.DATA
        self.sessions += 1
        self._events.append(Connected(self.interp.last_dial))
        if c.has(Fault.WRONG_PORT):
            # Not a data-capable port: no PPP ever answers, and the line drops a second later.
            self._timers["wrong_port"] = now + c.wrong_port_after
            return
        self.network = NetworkSide(NetworkSettings(
            client_ip=c.client_ip, gateway_ip=c.gateway_ip, dns=c.dns, ipv6=c.ipv6,
            accept_any_credentials=c.accept_any_credentials and not c.has(Fault.AUTH_REJECTED),
            secrets=() if c.has(Fault.AUTH_REJECTED) else c.secrets,
            ipcp_stall_naks=c.ipcp_stall_naks if c.has(Fault.IPCP_STALL) else 0,
            dead_echo_after=c.dead_echo_after if c.has(Fault.DEAD_ECHO) else None,
            respond=self.respond), self.rng, now)
        if c.has(Fault.BROWNOUT):
            self._timers["brownout"] = now + c.brownout_after
        if c.has(Fault.RESET):
            self._timers["reset"] = now + c.reset_after
        self._after_network(now)

    def _after_network(self, now: float) -> None:
        net = self.network
        if net is None:
            return
        for e in net.events:
            self.ppp_events.append(e)
            self._events.append(PppEvent(e))
        net.events.clear()
        if net.down is not None:
            self._end_data(f"PPP ended: {net.down.message}", now)

    def _end_data(self, reason: str, now: float, say_no_carrier: bool = True) -> None:
        if self.network is not None:
            out = self.network.data_to_send()
            if out:
                self._out.append(out)  # the last Terminate-Ack goes out before the text
        self.network = None
        self._timers.pop("brownout", None)
        self._timers.pop("reset", None)
        self._timers.pop("wrong_port", None)
        self.mode = Mode.COMMAND
        self._next_report = None if self.config.signal_interval <= 0 else now + self.config.signal_interval
        if say_no_carrier:
            self._final("NO CARRIER")
        self._events.append(DataModeEnded(reason))
        self.log.append(f"data mode ended: {reason}")

    def _on_wrong_port(self, now: float) -> None:
        self._end_data("this port does not carry data: the line drops after CONNECT", now)
        self._events.append(PortHangup("the modem hung up right after CONNECT (wrong port)"))

    def _on_brownout(self, now: float) -> None:
        self.network = None
        self._out.clear()
        self._power_cycle()
        self.mode = Mode.GONE
        self._events.append(DataModeEnded("brown-out: the stick rebooted"))
        self._events.append(PortRemoved("the stick browned out and dropped off USB", self.config.reenumerate_after))
        self.log.append("brown-out: port gone")
        # the old ttyUSB0..2 are still held by whoever had them open, so the stick comes back as 3..5;
        # by the next brown-out those were released and it takes 0..2 again
        self.port_index = 3 if self.port_index < 3 else 0
        self._timers["reappear"] = now + self.config.reenumerate_after

    def _on_reset(self, now: float) -> None:
        self.network = None
        self._out.clear()
        self.mode = Mode.COMMAND
        self._final("NO CARRIER")
        self._events.append(DataModeEnded("the modem reset itself"))
        self.reboot("the modem reset mid-session", now)
