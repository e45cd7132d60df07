"""The simulator's edge: SimModem on a pty, driven by a real clock in a background thread.

    sim = start_sim(SimConfig(faults={Fault.BROWNOUT}))
    sim.port_path        # /tmp/pppstack-sim-<pid>-<n>-<random>/ttyUSB2 -> /dev/pts/N (what a client opens)
    ...
    sim.stop()

Ports are named as on the thread's stick and as `pppstack ports` reads its descriptors: ttyUSB2
is the modem port (AT and PPP).  With `extra_ports` the other two appear as well: ttyUSB0 (PCUI:
AT only, its own interpreter) and ttyUSB1 (diagnostics: reads, never answers).  The names are
symlinks in a private directory, so port events look real to a client:

* hang-up (WRONG_PORT): the pty master is closed (the client reads EIO) and a fresh pty takes the
  same name at once;
* brown-out: every link is removed and every master closed — the /dev/pts node disappears too —
  and after the re-enumeration delay new ptys appear as ttyUSB3..5 (the modem port is ttyUSB5)
  with ^BOOT/^SIMST waiting;
* the client closing the port while in data mode is DTR dropping: the modem hangs up (AT&D2).

With `use_tun` (and the privileges) a TUN device on the simulator's side receives the client's
packets, so the host kernel answers them; otherwise the built-in responder does.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pppstack.io.loop import Loop
from pppstack.sim.modem import (
    CommandSeen,
    Connected,
    DataModeEnded,
    Mode,
    ModemReset,
    PortAppeared,
    PortHangup,
    PortRemoved,
    PppEvent,
    SimConfig,
    SimEvent,
    SimModem,
)

__all__ = ["start_sim", "SimHandle"]

log = logging.getLogger("pppstack.sim")
_counter = itertools.count()
_ABSENT_POLL = 0.05  # s between looks at a port nobody has open
_READS_PER_TURN = 16
MODEM_INTERFACE = 2  # the modem (PPP) port is the stick's third ttyUSB, as in the thread and `pppstack ports`


class _QuietSimEngine(logging.Filter):
    """The simulator's PPP engine logs on the same "pppstack.ppp" logger as the client it serves
    (they share a process under `up --simulate`).  Its lines are the network's, not the user's: mark
    them "sim:" and show them only when "pppstack.sim" logs at DEBUG, so a user's log shows their link."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.threadName.startswith("pppstack-sim"):
            return True
        if not logging.getLogger("pppstack.sim").isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg = f"sim: {record.msg}"
        return True


_engine_filter = _QuietSimEngine()


@dataclass
class _Port:
    role: str                       # "modem", "diag", "pcui"
    index: int
    link: str
    modem: SimModem | None          # None: the diag port swallows everything
    master: int = -1
    pts: str = ""
    out: bytearray = field(default_factory=bytearray)
    client: bool = False            # a client holds the slave open
    on_read: Callable[[float], None] | None = None     # the loop's callbacks for this port's master
    on_write: Callable[[float], None] | None = None


class SimHandle:
    """A running simulator (see the module docstring).  Thread-safe accessors only."""

    def __init__(self, config: SimConfig, use_tun: bool, extra_ports: bool, rng: Callable[[int], bytes],
                 directory: str | None) -> None:
        self.config = config
        if directory:
            os.makedirs(directory, exist_ok=True)
            self.directory = directory
        else:
            # a fresh directory of our own: one named by the pid alone could be a stale one that a
            # killed run (or another user) left, which we may not write into
            self.directory = tempfile.mkdtemp(prefix=f"pppstack-sim-{os.getpid()}-{next(_counter)}-")
            os.chmod(self.directory, 0o755)     # the port links are for any client, as /dev/ttyUSB* are
        self.tun: Any = None
        self.notes: list[str] = []
        if use_tun:
            self._make_tun()
        self.modem = SimModem(config, rng, respond=self.tun is None)
        self._pcui = SimModem(SimConfig(pin=config.sim_pin, echo=config.echo), rng, port_index=0) \
            if extra_ports else None
        self._extra = extra_ports
        self._lock = threading.Condition()
        self._events: list[tuple[float, SimEvent]] = []
        self.log: list[str] = []
        self._ports: list[_Port] = []
        self._stop = False
        self._ev = Loop()
        self._next_probe: float | None = None   # when ports without a client are looked at again
        self._appear(0)
        now = time.monotonic()
        self.modem.start(now)
        if self._pcui is not None:
            self._pcui.start(now)
        engine_log = logging.getLogger("pppstack.ppp")
        if _engine_filter not in engine_log.filters:
            engine_log.addFilter(_engine_filter)
        self._thread = threading.Thread(target=self._run, name="pppstack-sim", daemon=True)
        self._thread.start()

    # -- public ------------------------------------------------------------------------------------
    @property
    def port_path(self) -> str:
        """The modem port's name (a symlink; it may be missing while the stick is off the bus)."""
        with self._lock:
            p = self._modem_port()
            return p.link if p is not None else self._next_link

    @property
    def pty_path(self) -> str | None:
        with self._lock:
            p = self._modem_port()
            return p.pts if p is not None else None

    def _modem_port(self) -> _Port | None:
        return next((p for p in self._ports if p.role == "modem"), None)

    def port_paths(self) -> dict[str, str]:
        with self._lock:
            return {p.role: p.link for p in self._ports}

    def events(self) -> list[tuple[float, SimEvent]]:
        with self._lock:
            return list(self._events)

    def wait_for(self, kind: type[SimEvent], timeout: float, predicate: Callable[[Any], bool] | None = None,
                 since: int = 0) -> SimEvent | None:
        """The first event of `kind` (index >= since) within `timeout` seconds, else None."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for _, e in self._events[since:]:
                    if isinstance(e, kind) and (predicate is None or predicate(e)):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    return None
                self._lock.wait(left)

    def wait_for_port(self, timeout: float) -> str | None:
        """The modem port's name once it exists (ports appear under the lock, which notifies)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                p = self._modem_port()
                path = p.link if p is not None else self._next_link
                if os.path.exists(path):
                    return path
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    return None
                self._lock.wait(left)

    def stop(self) -> None:
        if self._stop:
            return
        self._stop = True
        self._ev.wake()
        self._thread.join(5.0)
        with self._lock:
            for p in self._ports:
                self._close(p, unlink=True)
            self._ports = []
            self._lock.notify_all()
        self._ev.close()
        if self.tun is not None:
            self.tun.close()
        try:
            for name in os.listdir(self.directory):
                os.unlink(os.path.join(self.directory, name))
            os.rmdir(self.directory)
        except OSError:
            pass

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- ports -------------------------------------------------------------------------------------
    @property
    def _next_link(self) -> str:
        return os.path.join(self.directory, f"ttyUSB{self.modem.port_index + MODEM_INTERFACE}")

    def _open_pty(self, port: _Port) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)           # raw, no echo: the modem's bytes pass untouched
        port.pts = os.ttyname(slave)
        os.close(slave)             # no slave held open: the client's close is visible (DTR drop)
        os.set_blocking(master, False)
        port.master, port.client, port.out = master, False, bytearray()
        port.on_read = lambda now: self._read_port(port, now)
        port.on_write = lambda now: self._write(port)
        self._next_probe = time.monotonic()     # look for its client at once
        tmp = port.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(port.pts, tmp)
        os.replace(tmp, port.link)

    def _appear(self, index: int) -> None:
        # interface order of the thread's stick: PCUI, diagnostics, modem (see tests/modem_sysfs.py)
        roles: list[tuple[int, str, SimModem | None]] = [(MODEM_INTERFACE, "modem", self.modem)]
        if self._extra:
            roles = [(0, "pcui", self._pcui), (1, "diag", None)] + roles
        ports = []
        for i, role, modem in roles:
            p = _Port(role, index + i, os.path.join(self.directory, f"ttyUSB{index + i}"), modem)
            self._open_pty(p)
            ports.append(p)
        with self._lock:
            self._ports = ports
            self._lock.notify_all()
        self._note(f"ports appeared: {', '.join(f'{p.link} ({p.role}, {p.pts})' for p in ports)}")

    def _close(self, port: _Port, unlink: bool) -> None:
        # the name goes first: a client woken by the hang-up must already find its port gone
        if unlink and os.path.lexists(port.link) and os.path.realpath(port.link) == port.pts:
            os.unlink(port.link)
        if port.master >= 0:
            self._ev.forget(port.master)
            os.close(port.master)
            port.master = -1

    def _make_tun(self) -> None:
        from pppstack.io.tun import TunDevice, TunError

        c = self.config
        try:
            tun = TunDevice.create("simwan%d", mtu=1500)
        except TunError as exc:
            self.notes.append(f"no TUN on the simulator side ({exc.strerror or exc}); using the built-in responder")
            return
        try:
            tun.set_ipv4(c.gateway_ip, c.client_ip)
            tun.up()
        except OSError as exc:
            tun.close()
            self.notes.append(f"could not configure the simulator's TUN ({exc}); using the built-in responder")
            return
        self.tun = tun
        os.set_blocking(tun.fileno(), False)

    # -- the loop ----------------------------------------------------------------------------------
    def _note(self, text: str) -> None:
        self.log.append(f"{time.monotonic():.3f} {text}")
        log.info("sim: %s", text)

    def _record(self, e: SimEvent, now: float) -> None:
        with self._lock:
            self._events.append((now, e))
            self._lock.notify_all()
        if isinstance(e, CommandSeen):
            log.debug("sim: %s -> %s", e.line, e.final)
        elif isinstance(e, Connected):
            self.log.append(f"{time.monotonic():.3f} CONNECT to {e.number}")
            log.debug("sim: answered ATD%s with CONNECT", e.number)
        elif isinstance(e, DataModeEnded):
            # routine at every hang-up: the client already reports how its link ended
            self.log.append(f"{time.monotonic():.3f} back in command mode: {e.reason}")
            log.debug("sim: back in command mode (%s)", e.reason)
        elif isinstance(e, PortRemoved):
            self._note(f"the stick dropped off USB ({e.reason}); it comes back in {e.reappear_after:g} s")
        elif isinstance(e, PortAppeared):
            self._note(f"the stick re-enumerated: its modem port is now ttyUSB{e.index + MODEM_INTERFACE}")
        elif isinstance(e, ModemReset):
            self._note(f"the modem reset ({e.reason})")
        elif isinstance(e, PortHangup):
            self._note(f"the modem hung up the port ({e.reason})")
        elif not isinstance(e, PppEvent):
            self._note(repr(e))

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # the simulator must never take the process down; say what happened
            log.exception("the simulator stopped on an internal error")
            with self._lock:
                self._stop = True
                self._lock.notify_all()

    def _loop(self) -> None:
        loop = self._ev
        for m in (self.modem, self._pcui):
            if m is not None:
                loop.add_machine(m.get_timer, m.handle_timer)
        # A pty master says nothing when a client opens its slave (while none has it open it only
        # reports a hang-up, over and over), so ports without a client are looked at on a deadline.
        loop.add_machine(lambda: self._next_probe, self._find_clients)
        if self.tun is not None:
            loop.add_reader(self.tun.fileno(), self._read_tun)
        loop.add_prepare(self._prepare)
        loop.run(until=lambda: self._stop)

    def _prepare(self, now: float) -> None:
        """Before each wait: pass on what the machines said; watch the ports that have a client
        (for room only while output waits)."""
        self._pump(now)
        loop = self._ev
        for p in self._ports:
            if p.master < 0 or p.on_read is None or p.on_write is None:
                continue
            if not p.client:
                loop.forget(p.master)
                continue
            loop.add_reader(p.master, p.on_read)
            if p.out:
                loop.add_writer(p.master, p.on_write)
            else:
                loop.remove_writer(p.master)

    def _find_clients(self, now: float) -> None:
        self._next_probe = None
        for p in self._ports:
            if p.master < 0 or p.client:
                continue
            try:
                data = os.read(p.master, 65536)
            except BlockingIOError:
                data = b""              # open, nothing said yet
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                self._next_probe = now + _ABSENT_POLL   # EIO: nobody holds the slave open
                continue
            p.client = True
            if p.modem is not None:
                p.modem.port_opened(now)
                if data:
                    p.modem.receive_data(data, now)

    def _read_tun(self, now: float) -> None:
        for pkt in self.tun.read_batch(64):
            self.modem.send_ip(pkt, now)

    def _read_port(self, p: _Port, now: float) -> None:
        for _ in range(_READS_PER_TURN):   # bounded: the other ports and the TUN get their turn
            try:
                data = os.read(p.master, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                data = b""
            if not data:  # EIO: the last client closed the slave
                p.client = False
                self._next_probe = now + _ABSENT_POLL
                if p.modem is not None and p.modem.mode is Mode.DATA:
                    p.modem.hangup("the host closed the port (DTR dropped)", now)
                return
            if p.modem is not None:
                p.modem.receive_data(data, now)

    def _write(self, p: _Port) -> None:
        while p.out and p.master >= 0:
            try:
                n = os.write(p.master, p.out)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return
                raise
            del p.out[:n]

    def _pump(self, now: float) -> None:
        for p in list(self._ports):
            if p.modem is None:
                continue
            data = p.modem.data_to_send()
            if data:
                p.out += data
            self._write(p)
            if p.modem is self.modem and self.tun is not None:
                packets = self.modem.take_packets()
                if packets:
                    self.tun.write_many(packets)
        for m in (self.modem, self._pcui):
            while m is not None and (e := m.next_event()) is not None:
                self._record(e, now)
                if m is self.modem:
                    self._port_event(e, now)

    def _port_event(self, e: SimEvent, now: float) -> None:
        if isinstance(e, PortHangup):
            p = self._modem_port()
            if p is None:
                return
            self._write(p)
            self._close(p, unlink=False)
            self._open_pty(p)       # same name, new line: the client's fd is dead, a reopen works
            self._note(f"hung up {p.link}; it is {p.pts} now")
        elif isinstance(e, PortRemoved):
            with self._lock:
                ports, self._ports = self._ports, []
            for p in ports:
                self._close(p, unlink=True)
            if self._pcui is not None:
                self._pcui.reboot("brown-out", now)
        elif isinstance(e, PortAppeared):
            self._appear(e.index)
        elif isinstance(e, Connected | DataModeEnded | ModemReset):
            pass


def start_sim(config: SimConfig | None = None, use_tun: bool = False, *, extra_ports: bool = False,
              rng: Callable[[int], bytes] = os.urandom, directory: str | None = None) -> SimHandle:
    """Start the simulated E3372h-320 in a background thread; `.port_path` is ready on return."""
    return SimHandle(config or SimConfig(), use_tun, extra_ports, rng, directory)
