"""The AT dialect of the simulated E3372h-320: one handler per command, Huawei's wording.

A command line is split by the modem room's `parse_command_line` (V.250 §5.2-5.4); each command
returns its information lines or fails, and the first failure ends the line (V.250 §5.4).  Errors
follow +CMEE (27.007 §9.1): 0 plain ERROR, 1 numeric, 2 verbose (the stick's default).  Unknown
extended commands get Huawei's "COMMAND NOT SUPPORT".  With LEGACY_REJECTED the V.25ter leftovers
that break this firmware in OpenWrt's init list (ATQ0, ATS0=0, AT&C, AT&D, ...) answer ERROR.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from pppstack.modem.at import CME_ERRORS
from pppstack.modem.commandline import AtCommand, CommandKind, parse_command_line

if TYPE_CHECKING:
    from pppstack.sim.modem import SimModem

__all__ = ["AtInterpreter", "CmeError", "MANUFACTURER", "MODEL", "REVISION"]

MANUFACTURER = "huawei"
MODEL = "E3372h-320"
REVISION = "11.0.2.1(H697SP1C983)"
_PDP_TYPES = ("IP", "IPV6", "IPV4V6")
_DIAL = re.compile(r"^\*99(?:\*\*\*(\d+))?#$")
_ACQ = re.compile(r"^(?:00|99|(?:0[123])+)$")
_LEGACY = {"Q", "&C", "&D", "&S", "X", "L", "M", "&K", "\\Q", "&V"}


class CmeError(Exception):
    """A command failed with a 27.007 error code (or plain ERROR when code is None)."""

    def __init__(self, code: int | None = None, final: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.final = final


def _le_hex(addr: object) -> str:
    return bytes(reversed(addr.packed)).hex().upper()  # type: ignore[attr-defined]


class AtInterpreter:
    def __init__(self, modem: SimModem) -> None:
        self.m = modem
        self.last_dial = ""
        self.last_cause = 0        # what AT+CEER reports about the last failed data call
        self._handlers: dict[str, Callable[[AtCommand, float], list[str]]] = {
            "I": self._ati, "+CGMI": self._fixed(MANUFACTURER), "+GMI": self._fixed(MANUFACTURER),
            "+CGMM": self._fixed(MODEL), "+GMM": self._fixed(MODEL), "+CGMR": self._fixed(REVISION),
            "+GMR": self._fixed(REVISION), "+CGSN": lambda c, n: [self.m.config.imei],
            "+GSN": lambda c, n: [self.m.config.imei], "+GCAP": self._fixed("+GCAP: +CGSM,+DS,+ES"),
            "+CIMI": self._cimi, "+CPIN": self._cpin, "^CPIN": self._hcpin, "+CREG": self._creg,
            "+CGREG": self._creg, "+CEREG": self._creg, "+CSQ": self._csq, "^HCSQ": self._hcsq,
            "^SYSINFOEX": self._sysinfoex, "^SYSCFGEX": self._syscfgex, "+CGDCONT": self._cgdcont,
            "E": self._echo, "V": self._verbose, "Q": self._quiet, "&F": self._factory, "Z": self._factory,
            "D": self._dial, "H": lambda c, n: [], "O": self._online, "^NDISDUP": self._ndisdup,
            "^NDISSTATQRY": self._ndisstatqry, "^DHCP": self._dhcp, "^CURC": self._curc,
            "^GETPORTMODE": self._fixed("^GETPORTMODE: TYPE: WCDMA: huawei,PCUI:0,DIAG:1,MDM:2,NDIS:3"),
            "+CMEE": self._cmee, "+CGATT": self._cgatt, "+COPS": self._cops, "+CFUN": self._cfun,
            "+CGPADDR": self._cgpaddr, "&W": lambda c, n: [], "&C": lambda c, n: [], "&D": lambda c, n: [],
            "+CEER": self._ceer,
            "^PORTSEL": lambda c, n: [] if c.kind is not CommandKind.READ else ["^PORTSEL: 0"],
        }

    # -- entry -------------------------------------------------------------------------------------
    def run(self, line: str, now: float) -> tuple[list[str], str]:
        """Execute one command line: (information lines, final result code)."""
        commands = parse_command_line(line)
        if commands is None:
            return [], ""
        info: list[str] = []
        for cmd in commands:
            try:
                info += self._one(cmd, now)
            except CmeError as exc:
                return info, self._error(exc)
            if self.last_dial and cmd.name == "D":
                return info, "CONNECT"
        return info, "OK"

    def _one(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        from pppstack.sim.modem import Fault

        name = cmd.name
        if m.config.has(Fault.LEGACY_REJECTED) and (name in _LEGACY or (name.startswith("S") and
                                                                           cmd.kind is CommandKind.SET)):
            raise CmeError(None, "ERROR")
        if name.startswith("S") and name[1:].isdigit():
            return self._sreg(cmd)
        handler = self._handlers.get(name)
        if handler is None:
            raise CmeError(None, "COMMAND NOT SUPPORT" if name[:1] in "+^" else "ERROR")
        return handler(cmd, now)

    def _error(self, exc: CmeError) -> str:
        if exc.final is not None or exc.code is None:
            return exc.final or "ERROR"
        cmee = self.m.settings.cmee
        if cmee == 1:
            return f"+CME ERROR: {exc.code}"
        if cmee == 2:
            return f"+CME ERROR: {CME_ERRORS.get(exc.code, 'unknown')}"  # 27.007 §9.2 wording
        return "ERROR"

    def _need_sim(self) -> None:
        if self.m.puk_needed:
            raise CmeError(12)
        if self.m.pin_needed:
            raise CmeError(11)

    @staticmethod
    def _fixed(text: str) -> Callable[[AtCommand, float], list[str]]:
        return lambda c, n: [text]

    @staticmethod
    def _int(cmd: AtCommand, i: int, default: int | None = None) -> int:
        raw = cmd.arg(i)
        if raw == "" and default is not None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise CmeError(50) from None

    # -- identification ----------------------------------------------------------------------------
    def _ati(self, cmd: AtCommand, now: float) -> list[str]:
        return [f"Manufacturer: {MANUFACTURER}", f"Model: {MODEL}", f"Revision: {REVISION}",
                f"IMEI: {self.m.config.imei}", "+GCAP: +CGSM,+DS,+ES"]

    def _cimi(self, cmd: AtCommand, now: float) -> list[str]:
        self._need_sim()
        return [self.m.config.imsi]

    # -- SIM ---------------------------------------------------------------------------------------
    def _cpin(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        if cmd.kind is CommandKind.READ:
            return ["+CPIN: " + ("SIM PUK" if m.puk_needed else "SIM PIN" if m.pin_needed else "READY")]
        if cmd.kind is CommandKind.TEST:
            return []
        if cmd.kind is not CommandKind.SET or not cmd.args:
            raise CmeError(50)
        if not m.pin_needed or m.puk_needed:
            raise CmeError(12 if m.puk_needed else 3)
        if cmd.arg(0) == m.config.sim_pin:
            m.pin_entered(now)
            return []
        m.pin_attempts -= 1
        if m.pin_attempts <= 0:
            m.puk_needed = True
            raise CmeError(12)
        raise CmeError(16)

    def _hcpin(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        code = "SIM PUK" if m.puk_needed else "SIM PIN" if m.pin_needed else "READY"
        return [f"^CPIN: {code},{m.pin_attempts if m.pin_needed else ''},10,{m.pin_attempts},10,3"]

    # -- registration and signal -------------------------------------------------------------------
    def _creg(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        if cmd.kind is CommandKind.SET:
            n = self._int(cmd, 0)
            if n not in (0, 1, 2):
                raise CmeError(50)
            m.settings.creg[cmd.name] = n
            return []
        if cmd.kind is CommandKind.TEST:
            return [f"{cmd.name}: (0-2)"]
        n = m.settings.creg[cmd.name]
        stat = 1 if m.registered else (2 if m.radio_on and not m.pin_needed else 0)
        tail = f',"A1B2","01C2D3E4",{m.radio.act}' if n == 2 and m.registered else ""
        return [f"{cmd.name}: {n},{stat}{tail}"]

    def _csq(self, cmd: AtCommand, now: float) -> list[str]:
        return [f"+CSQ: {self.m.radio.rssi if self.m.registered else 99},99"]

    def _hcsq(self, cmd: AtCommand, now: float) -> list[str]:
        return [f"^HCSQ: {self.m.radio.hcsq}" if self.m.registered else '^HCSQ: "NOSERVICE"']

    def _sysinfoex(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        return [m.radio.sysinfoex(m.registered, not m.puk_needed)]

    def _syscfgex(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        if cmd.kind is CommandKind.READ:
            return [f'^SYSCFGEX: "{m.acqorder}",3FFFFFFF,1,2,7FFFFFFFFFFFFFFF']
        if cmd.kind is CommandKind.TEST:
            return ['^SYSCFGEX: ("00","01","02","03","99"),((2000004e80380,"GSM850/GSM900/GSM1800/GSM1900/'
                    'WCDMA BCI/WCDMA BCII/WCDMA BCV/WCDMA BCVIII"),(3fffffff,"All bands")),(0-3),(0-4),'
                    '((800c5,"LTE_B1/LTE_B3/LTE_B7/LTE_B8/LTE_B20"),(7fffffffffffffff,"All bands"))']
        if cmd.kind is not CommandKind.SET or not cmd.args:
            raise CmeError(50)
        order = cmd.arg(0)
        if not _ACQ.match(order):
            raise CmeError(50)
        if order != "99":
            m.set_acqorder(order)
        return []

    # -- PDP context and dialling ------------------------------------------------------------------
    def _cgdcont(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        if cmd.kind is CommandKind.READ:
            return [f'+CGDCONT: {cid},"{t}","{apn}","0.0.0.0",0,0,0,0,0,0'
                    for cid, (t, apn) in sorted(m.contexts.items())]
        if cmd.kind is CommandKind.TEST:
            return [f'+CGDCONT: (0-11),"{t}",,,(0-2),(0-3),(0,1),(0,1),(0-2),(0,1)' for t in _PDP_TYPES]
        if cmd.kind is not CommandKind.SET:
            raise CmeError(50)
        cid = self._int(cmd, 0)
        if not 0 <= cid <= 11:
            raise CmeError(50)
        if len(cmd.args) == 1:
            m.contexts.pop(cid, None)
            return []
        pdp = cmd.arg(1).upper()
        if pdp not in _PDP_TYPES:
            raise CmeError(50)
        m.contexts[cid] = (pdp, cmd.arg(2))
        return []

    def _dial(self, cmd: AtCommand, now: float) -> list[str]:
        from pppstack.sim.modem import Fault

        m = self.m
        number = cmd.arg(0).replace(" ", "")
        self.last_dial = ""
        match = _DIAL.match(number.upper())
        if match is None:
            raise CmeError(None, "NO CARRIER")  # no voice on this stick
        self._need_sim()
        cid = int(match.group(1) or 1)
        if not m.registered or cid not in m.contexts:
            raise CmeError(None, "NO CARRIER")
        if m.config.has(Fault.BUSY):
            raise CmeError(None, "BUSY")
        if m.config.has(Fault.NO_CARRIER):
            raise CmeError(None, "NO CARRIER")
        if m.config.has(Fault.APN_REJECTED):
            self.last_cause = 33   # 24.008 SM cause: requested service option not subscribed
            raise CmeError(None, "NO CARRIER")
        self.last_dial = number
        return []

    def _ceer(self, cmd: AtCommand, now: float) -> list[str]:
        """27.007 §6.10 extended error report: the last data call's cause, in words."""
        if self.last_cause == 33:
            return ['+CEER: "SM cause 33: requested service option not subscribed"']
        return ['+CEER: "No cause information available"']

    def _online(self, cmd: AtCommand, now: float) -> list[str]:
        raise CmeError(None, "NO CARRIER")

    # -- NCM (ModemManager's Huawei bearer, anchors §5.1) ------------------------------------------
    def _ndisdup(self, cmd: AtCommand, now: float) -> list[str]:
        from pppstack.sim.modem import Fault

        m = self.m
        if cmd.kind is not CommandKind.SET or len(cmd.args) < 2:
            raise CmeError(50)
        self._need_sim()
        cid, up = self._int(cmd, 0), self._int(cmd, 1)
        if up not in (0, 1) or cid not in m.contexts and len(cmd.args) < 3:
            raise CmeError(50)
        if up == 0:
            was, m.ndis_up = m.ndis_up, False
            if was:
                m._urc_queue.append('^NDISSTAT: 0,,,"IPV4"')
            return []
        if not m.registered:
            raise CmeError(30)
        if m.config.has(Fault.NO_CARRIER) or m.config.has(Fault.BUSY) or m.config.has(Fault.APN_REJECTED):
            self.last_cause = 33 if m.config.has(Fault.APN_REJECTED) else 0
            m._urc_queue.append('^NDISSTAT: 0,33,,"IPV4"')
            return []
        m.ndis_up = True
        m._urc_queue.append('^NDISSTAT: 1,,,"IPV4"')
        return []

    def _ndisstatqry(self, cmd: AtCommand, now: float) -> list[str]:
        state = 1 if self.m.ndis_up else 0
        return [f'^NDISSTATQRY: {state},,,"IPV4",0,,,"IPV6"']

    def _dhcp(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        if not m.ndis_up:
            raise CmeError(None, "ERROR")
        c = m.config
        import ipaddress

        net = ipaddress.IPv4Network(f"{c.client_ip}/30", strict=False)
        gw = next(h for h in net.hosts() if h != c.client_ip)
        dns = list(c.dns) + [ipaddress.IPv4Address(0)] * 2
        fields = [_le_hex(c.client_ip), _le_hex(net.netmask), _le_hex(gw), _le_hex(gw), _le_hex(dns[0]),
                  _le_hex(dns[1])]
        return [f"^DHCP: {','.join(f.lower() for f in fields)},{m.radio.downlink_bps // 4},{m.radio.downlink_bps}"]

    # -- settings ----------------------------------------------------------------------------------
    def _echo(self, cmd: AtCommand, now: float) -> list[str]:
        self.m.settings.echo = self._flag(cmd)
        return []

    def _verbose(self, cmd: AtCommand, now: float) -> list[str]:
        self.m.settings.verbose = self._flag(cmd)
        return []

    def _quiet(self, cmd: AtCommand, now: float) -> list[str]:
        self.m.settings.quiet = self._flag(cmd)
        return []

    def _flag(self, cmd: AtCommand) -> bool:
        value = cmd.arg(0) or "0"
        if value not in ("0", "1"):
            raise CmeError(None, "ERROR")
        return value == "1"

    def _factory(self, cmd: AtCommand, now: float) -> list[str]:
        self.m.factory_reset()
        return []

    def _sreg(self, cmd: AtCommand) -> list[str]:
        n = int(cmd.name[1:])
        regs = self.m.settings.sregs
        if cmd.kind is CommandKind.READ:
            return [f"{regs.get(n, 0):03d}"]
        if cmd.kind is CommandKind.SET:
            value = self._int(cmd, 0)
            if not 0 <= value <= 255 or n in (3, 5) and value == 0:
                raise CmeError(None, "ERROR")
            regs[n] = value
        return []

    def _curc(self, cmd: AtCommand, now: float) -> list[str]:
        if cmd.kind is CommandKind.READ:
            return [f"^CURC: {int(self.m.settings.curc)}"]
        if cmd.kind is CommandKind.SET:
            self.m.settings.curc = self._int(cmd, 0) != 0
        return []

    def _cmee(self, cmd: AtCommand, now: float) -> list[str]:
        if cmd.kind is CommandKind.READ:
            return [f"+CMEE: {self.m.settings.cmee}"]
        if cmd.kind is CommandKind.TEST:
            return ["+CMEE: (0-2)"]
        v = self._int(cmd, 0, 0)
        if v not in (0, 1, 2):
            raise CmeError(50)
        self.m.settings.cmee = v
        return []

    def _cgatt(self, cmd: AtCommand, now: float) -> list[str]:
        if cmd.kind is CommandKind.READ:
            return [f"+CGATT: {int(self.m.registered)}"]
        self._need_sim()
        return []

    def _cops(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        if cmd.kind is CommandKind.READ:
            return [f'+COPS: 0,0,"{m.config.operator}",{m.radio.act}' if m.registered else "+COPS: 0"]
        return []

    def _cfun(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        if cmd.kind is CommandKind.READ:
            return [f"+CFUN: {1 if m.radio_on else 0}"]
        if cmd.kind is CommandKind.TEST:
            return ["+CFUN: (0,1,4,5,6,7,8),(0-1)"]
        fun = self._int(cmd, 0)
        if fun not in (0, 1, 4, 5, 6, 7, 8):
            raise CmeError(50)
        if fun == 1 and len(cmd.args) > 1 and self._int(cmd, 1) == 1:
            m.reboot("AT+CFUN=1,1", now)
            return []
        m.set_radio(fun == 1, now)
        return []

    def _cgpaddr(self, cmd: AtCommand, now: float) -> list[str]:
        m = self.m
        addr = str(m.config.client_ip) if m.ndis_up or m.network is not None else "0.0.0.0"
        return [f'+CGPADDR: {cid},"{addr if cid == 1 else "0.0.0.0"}"' for cid in sorted(m.contexts)]
