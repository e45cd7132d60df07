"""The live doctor's I/O: walk a modem (or the simulated one) step by step, stop at the first failure.

USB mode -> ports -> AT -> SIM -> registration -> signal -> dial -> LCP -> auth -> IPCP/IPv6CP ->
traffic.  Every decision is made in pppstack.doctor.live; this module only opens the port, runs
the existing dialer (pppstack.modem.dial) and link driver (run_session, as `up` does), and pings
the peer through PPP without a TUN (pingdemo), so nothing here needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from pppstack import events as ev
from pppstack.doctor.live import LEGACY_INIT, Walk, foreign_chatter, judge_dial, judge_link, judge_usb, legacy_note
from pppstack.doctor.verdicts import Diagnosis, Step, Verdict
from pppstack.io.atport import run as run_at
from pppstack.io.loop import Loop
from pppstack.io.netconf import InterfaceSetup, NetConfig
from pppstack.io.serialport import PortVanished, SerialPort, open_port
from pppstack.modem.dial import DialError, NcmDialer, PppDialer

__all__ = ["run_doctor"]

log = logging.getLogger("pppstack")

LISTEN = 1.5       # s of listening before we speak: is someone else talking on the port?
AFTER_END = 2.5    # s of listening after the link ends: does the modem print ^BOOT?
# the events judge_link's steps are named after (it takes their class names)
_STEP_EVENTS: tuple[type[ev.Event], ...] = (ev.LinkUp, ev.AuthSucceeded, ev.AuthFailed, ev.Ipv4Up, ev.Ipv6Up)


class _Frames(logging.Handler):
    """Keeps the link's pppd-format packet lines (the evidence for the PPP steps)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith(("sent [", "rcvd [")):
            self.lines.append(text)


@contextlib.contextmanager
def _capture_frames() -> Iterator[_Frames]:
    ppp = logging.getLogger("pppstack.ppp")
    handler, level = _Frames(), ppp.level
    ppp.addHandler(handler)
    ppp.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        ppp.removeHandler(handler)
        ppp.setLevel(level)


def _listen(port: SerialPort, seconds: float) -> str:
    """Read whatever arrives for ``seconds`` without sending anything."""
    chunks: list[bytes] = []
    with Loop() as loop:
        def readable(now: float) -> None:
            try:
                chunks.append(port.read())
            except OSError:
                loop.stop()

        loop.add_reader(port.read_fd, readable)
        loop.call_later(seconds, lambda now: loop.stop())
        loop.run()
    return b"".join(chunks).decode("latin-1", errors="replace")


def _lock_holder(device: str) -> int | None:
    """A UUCP lock file (pppd, wvdial, minicom write one) held by a live process."""
    name = os.path.basename(os.path.realpath(device))
    for d in ("/var/lock", "/run/lock"):
        try:
            with open(os.path.join(d, f"LCK..{name}")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            continue
        if pid > 0 and pid != os.getpid():
            try:
                os.kill(pid, 0)
                return pid
            except ProcessLookupError:
                continue
            except PermissionError:
                return pid
    return None


def _usb_step(args: argparse.Namespace, walk: Walk, sim_config: Any) -> tuple[Diagnosis | None, str | None]:
    """Returns (verdict, device).  With --simulate the simulated stick's own identity is examined."""
    from pppstack.modem.ports import device_mode

    if sim_config is not None:
        from pppstack.sim.usbview import usb_identity

        vendor, product, roles = usb_identity(sim_config)
        return judge_usb(vendor, product, device_mode(vendor, product, list(roles)), walk), None
    from pppstack.io.sysfs import find_modems

    modems = find_modems()
    if not modems:
        if args.device:
            walk.notes.append("no USB modem is visible in sysfs; trying the given port anyway")
            return None, args.device
        return walk.fail(Verdict.MODE_SWITCH_NEEDED, Step.USB, "No USB modem with serial ports is plugged in.",
                         [], "Plug the stick in; if it is there (lsusb), it needs a mode switch: "
                         "`pppstack modeswitch`."), None
    m = modems[0]
    d = judge_usb(m.vendor, m.product, m.mode, walk)
    if d is not None:
        return d, None
    device = args.device or (m.at_port if args.mode == "ncm" else m.ppp_port)
    return None, device


def _ports_step(device: str, walk: Walk) -> tuple[Diagnosis | None, SerialPort | None]:
    holder = _lock_holder(device)
    if holder is not None:
        return walk.fail(Verdict.PORT_BUSY, Step.PORTS, f"{device} is locked by process {holder} (a UUCP lock file).",
                         [f"lock file for {os.path.basename(device)} held by pid {holder}"]), None
    try:
        port = open_port(device, 115200)
    except PortVanished as exc:
        return walk.fail(Verdict.MODE_SWITCH_NEEDED, Step.PORTS, f"{device} does not exist: {exc.strerror or exc}.",
                         [str(exc)]), None
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return walk.fail(Verdict.PORT_BUSY, Step.PORTS, f"{device} is held by another program (EBUSY).",
                             [f"open {device}: {exc.strerror}"]), None
        return walk.fail(Verdict.PORT_BUSY if exc.errno == errno.EACCES else Verdict.UNKNOWN, Step.PORTS,
                         f"Could not open {device}: {exc.strerror or exc}.", [str(exc)]), None
    heard = _listen(port, LISTEN)
    foreign = foreign_chatter(heard)
    if foreign:
        port.close()
        return walk.fail(Verdict.PORT_BUSY, Step.PORTS, f"Before we said anything, {device} carried another "
                         "program's commands and answers: someone else (often ModemManager) is using the port.",
                         foreign[:4]), None
    walk.ok(Step.PORTS, f"{device} opened; nobody else is talking on it")
    return None, port


def _ask(port: SerialPort, commands: list[str]) -> list[tuple[str, Any]]:
    from pppstack.modem.questions import Questions

    return run_at(port, Questions(commands), timeout=10) or []


def _ppp_steps(port: SerialPort, args: argparse.Namespace, initial: bytes, walk: Walk, watch: float,
               run_dir: str) -> Diagnosis | None:
    from pppstack.io.pingdemo import PingDemo
    from pppstack.io.session import build_link, run_session
    from pppstack.options import parse_argv

    words = ["lcp-echo-interval", "1", "lcp-echo-failure", "3", "usepeerdns"]
    if args.user:
        words += ["user", args.user]
    if args.password:
        words += ["password", args.password]
    opts = parse_argv(words)
    link = build_link(opts.link_config_kwargs())
    setup = InterfaceSetup(None, NetConfig(device=port.path, run_dir=run_dir))
    seen: set[str] = set()
    addresses: list[str] = []
    inner = setup.on_event

    def on_event(event: ev.Event, now: float) -> None:
        seen.update(cls.__name__ for cls in _STEP_EVENTS if isinstance(event, cls))
        match event:
            case ev.Ipv4Up(local=local, peer=peer, dns=dns):
                addresses[:] = [str(local), str(peer), ", ".join(str(d) for d in dns)]
        inner(event, now)

    setup.on_event = on_event  # type: ignore[method-assign]
    demo: list[PingDemo] = []

    def before(driver: Any) -> None:
        d = PingDemo(driver, stay=True)
        d.attach(setup)
        demo.append(d)
        driver.call_later(watch, lambda now: driver.request_stop("the doctor has seen enough"))

    with _capture_frames() as frames:
        end, _ = run_session(port, link, setup, None, initial=initial, before_run=before,
                             packet_sink=lambda pkts: demo[0].receive(pkts) if demo else None)
    after: list[str] = []
    if end.code.name != "OK" and end.code.name != "PORT_VANISHED":
        try:  # the modem may be back in command mode: does it say ^BOOT?
            after = [x.strip() for x in _listen(port, AFTER_END).splitlines() if x.strip()]
        except OSError:
            pass
    heard_peer = any(f.startswith("rcvd [") for f in frames.lines)
    d = judge_link(end.code, end.message, seen, frames.lines, walk, after, heard_peer)
    if d is not None:
        return d
    if "Ipv4Up" in seen:
        local, peer, dns = addresses or ["?", "?", ""]
        walk.ok(Step.NETWORK, f"IPCP: local {local}, peer {peer}" + (f", DNS {dns}" if dns else "")
                + (", IPv6CP up" if "Ipv6Up" in seen else ""))
    elif "Ipv6Up" in seen:
        walk.ok(Step.NETWORK, "IPv6CP up")
    s = demo[0].summary() if demo else {"sent": 0, "received": 0}
    if not s["received"]:
        return walk.fail(Verdict.PEER_DEAD, Step.TRAFFIC, f"The link came up but {s['sent']} pings to the peer "
                         "got no reply.", frames.lines[-4:])
    walk.ok(Step.TRAFFIC, f"ping {s.get('target')} through PPP: {s['received']}/{s['sent']} replies, median "
            f"{s.get('rtt_ms_median')} ms")
    return None


def _better_port(d: Diagnosis, device: str) -> Diagnosis:
    """A wrong port: name the right one when the stick's USB descriptors say which it is."""
    if d.verdict is not Verdict.WRONG_PORT:
        return d
    from dataclasses import replace

    from pppstack.io.sysfs import find_modems

    for m in find_modems():
        right = m.ppp_port
        if right and os.path.realpath(right) != os.path.realpath(device):
            return replace(d, fix=f"Dial on {right} instead: by its USB descriptors it is this modem's PPP port "
                           f"({device} is not). `pppstack ports` shows every port's role.")
    return d


def run_doctor(args: argparse.Namespace) -> tuple[Diagnosis, Walk]:
    walk = Walk()
    sim: Any = None
    sim_config: Any = None
    if args.simulate:
        from pppstack.sim.modem import Fault, SimConfig

        faults = frozenset(Fault[f.upper().replace("-", "_")] for f in args.sim_fault)
        # timed faults strike 2 s after CONNECT so a short watch sees them
        sim_config = SimConfig(faults=faults, brownout_after=2.0, reset_after=2.0, dead_echo_after=2.0)
    d, device = _usb_step(args, walk, sim_config)
    if d is not None:
        return d, walk
    run_dir = tempfile.mkdtemp(prefix="pppstack-doctor-")
    try:
        if sim_config is not None:
            from pppstack.io.simrunner import start_sim

            sim = start_sim(sim_config)
            device = sim.port_path
        if device is None:
            return walk.fail(Verdict.MODE_SWITCH_NEEDED, Step.PORTS, "The stick is in stick mode but shows no "
                             f"{'AT' if args.mode == 'ncm' else 'PPP'} port.", [],
                             "Check `pppstack ports`: the serial driver (option) may not be bound; "
                             "give --device."), walk
        if not args.device and sim is None and device:
            log.info("the modem's %s port is %s", "AT" if args.mode == "ncm" else "PPP", device)
        d, port = _ports_step(device, walk)
        if d is not None or port is None:
            assert d is not None
            return d, walk
        with port:
            answers = _ask(port, [LEGACY_INIT, "ATE0"])
            if answers and answers[0][1] is not None:
                note = legacy_note(answers[0][1].describe())
                if note:
                    walk.notes.append(note)
            registration = 8.0 if sim is not None else 30.0
            dialer: PppDialer | NcmDialer
            if args.mode == "ncm":
                dialer = NcmDialer(args.apn or "internet", pin=args.pin, registration_timeout=registration,
                                   max_polls=10 if sim is not None else 60)
            else:
                dialer = PppDialer(args.apn, args.pin, "IP", None, registration_timeout=registration)
            result = run_at(port, dialer, timeout=registration + 60)
            ceer: list[str] = []
            if result is not None and not result.ok and result.error in (
                    DialError.NO_CARRIER, DialError.ERROR, DialError.CME_ERROR, DialError.BUSY, DialError.NDIS_FAILED):
                for _, resp in _ask(port, ["AT+CEER"]):
                    if resp is not None:
                        ceer += [f"+CEER: {x}" for x in resp.info("+CEER")]
            if result is None:
                return walk.fail(Verdict.UNKNOWN, Step.AT, "The AT dialogue did not finish.", dialer.transcript[-6:]), \
                    walk
            d = judge_dial(result, dialer.transcript, walk, ceer, device)
            if d is not None:
                return d, walk
            if args.mode == "ncm":
                walk.ok(Step.NETWORK, result.message)
                walk.notes.append("traffic over NCM is not tried by the doctor: `pppstack up --mode ncm` carries it")
                return walk.done("The NCM data call came up.", []), walk
            d = _ppp_steps(port, args, dialer.take_unconsumed(), walk, args.watch, run_dir)
            if d is not None:
                return (_better_port(d, device) if sim is None else d), walk
            return walk.done("Every step passed: the modem dials, PPP negotiates and carries traffic.", []), walk
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        if sim is not None:
            sim.stop()
