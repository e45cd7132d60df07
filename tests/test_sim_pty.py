"""The simulator on real pty pairs, through simrunner: scripted clients open the port path the way a
dialler does (os.open on the ttyUSBn link), and every injected fault shows up at the client as the
fault it is — EOF after CONNECT, EIO and a vanished node, ERROR, BUSY, +CME ERROR."""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP

from pppstack import events as ev
from pppstack.config import LinkConfig
from pppstack.io import atport
from pppstack.io.serialport import PortVanished as SerialPortVanished
from pppstack.io.serialport import open_port
from pppstack.io.simrunner import SimHandle, start_sim
from pppstack.modem.dial import DialError, PppDialer
from pppstack.pppos import PPPoS
from pppstack.sim.modem import DataModeEnded, Fault, PortAppeared, PortRemoved, SimConfig

ROOT = Path(__file__).resolve().parent.parent


class Client:
    """A scripted dialler on the port: write lines, read until a pattern, see EOF/EIO."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = b""
        self.ended: str | None = None     # "eof" / "eio"

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def read_until(self, pattern: bytes, timeout: float = 3.0) -> bytes:
        end = time.monotonic() + timeout
        while pattern not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or self.ended:
                raise AssertionError(f"no {pattern!r} in {self.buf!r} (ended: {self.ended})")
            self._read(left)
        i = self.buf.index(pattern) + len(pattern)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read(self, timeout: float) -> None:
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return
        try:
            data = os.read(self.fd, 4096)
        except OSError as exc:
            assert exc.errno == errno.EIO
            self.ended = "eio"
            return
        if not data:
            self.ended = "eof"
        self.buf += data

    def wait_end(self, timeout: float) -> str | None:
        end = time.monotonic() + timeout
        while not self.ended and time.monotonic() < end:
            self._read(end - time.monotonic())
        return self.ended

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def sim_factory() -> Iterator:
    handles: list[SimHandle] = []

    def make(**kw) -> SimHandle:
        h = start_sim(SimConfig(**kw))
        handles.append(h)
        return h

    yield make
    for h in handles:
        h.stop()


def run_ppp(client: Client, link: PPPoS, until, timeout: float = 10.0) -> list[ev.Event]:
    """Drive our PPPoS client on the pty until `until(events)`; returns the events."""
    events: list[ev.Event] = []
    end = time.monotonic() + timeout
    if client.buf:
        link.receive_data(client.buf, time.monotonic())
        client.buf = b""
    while not until(events):
        now = time.monotonic()
        assert now < end, f"timed out; events so far: {events}"
        out = link.data_to_send()
        if out:
            os.write(client.fd, out)
        while (e := link.next_event()) is not None:
            events.append(e)
        if until(events):
            break
        timer = link.get_timer()
        wait = min(0.05, max(0.0, timer - now)) if timer else 0.05
        r, _, _ = select.select([client.fd], [], [], wait)
        if r:
            try:
                data = os.read(client.fd, 65536)
            except OSError:
                data = b""
            if not data:
                events.append(ev.ModemText("<port closed>"))
                break
            link.receive_data(data, time.monotonic())
        if timer is not None and time.monotonic() >= timer:
            link.handle_timer(time.monotonic())
    return events


def test_thread_dialogue_then_ppp_and_ping(sim_factory, rng) -> None:
    sim = sim_factory(echo=False)
    assert os.path.basename(sim.port_path) == "ttyUSB2" and os.path.realpath(sim.port_path).startswith("/dev/pts/")
    c = Client(sim.port_path)
    c.send('AT+CGDCONT=1,"IP","internet"')
    assert c.read_until(b"OK\r\n") == (b'\r\n^RSSI: 16\r\n\r\n^CERSSI:0,-80,-4,0,0,0,0\r\n\r\n'
                                       b'^HCSQ:"WCDMA",45,41,57\r\n\r\nOK\r\n')
    c.send("ATD*99***1#")
    assert c.read_until(b"CONNECT\r\n") == b"\r\n\r\nCONNECT\r\n"
    os.write(c.fd, b" \r")          # chat's "send ( ^M)" after CONNECT: noise the network ignores
    link = PPPoS(LinkConfig(user="", password=""), rng)
    link.open(time.monotonic())
    events = run_ppp(c, link, lambda es: any(isinstance(e, ev.Ipv4Up) for e in es))
    up = next(e for e in events if isinstance(e, ev.Ipv4Up))
    assert str(up.local) == "100.68.27.142" and str(up.peer) == "10.64.64.64" and len(up.dns) == 2
    link.send_ip(bytes(IP(src=str(up.local), dst=str(up.peer)) / ICMP(id=1, seq=1) / b"abc"), time.monotonic())
    replies: list[bytes] = []

    def got_reply(_: list) -> bool:
        replies.extend(link.take_packets())
        return bool(replies)

    run_ppp(c, link, got_reply)
    rep = IP(bytes(replies[0]))  # a memoryview from take_packets; scapy parses bytes
    assert rep.src == "10.64.64.64" and rep[ICMP].type == 0 and bytes(rep[ICMP].payload) == b"abc"
    link.close("User request", time.monotonic())
    events = run_ppp(c, link, lambda es: any(isinstance(e, ev.ModemText) and "NO CARRIER" in e.text for e in es))
    c.send("AT")
    c.read_until(b"OK\r\n")
    c.close()


def test_the_modem_rooms_dialer_against_the_sim(sim_factory) -> None:
    sim = sim_factory()
    with open_port(sim.port_path) as port:
        result = atport.run(port, PppDialer(apn="internet"), timeout=15)
    assert result.ok, result.message
    assert result.modem_state.registered and result.modem_state.rssi == 16


def test_the_modem_rooms_dialer_sees_sim_pin(sim_factory) -> None:
    sim = sim_factory(faults={Fault.SIM_PIN}, register_after=0.1)
    with open_port(sim.port_path) as port:
        result = atport.run(port, PppDialer(apn="internet"), timeout=15)
    assert not result.ok and result.error is DialError.SIM_PIN_REQUIRED
    with open_port(sim.port_path) as port:
        result = atport.run(port, PppDialer(apn="internet", pin="1234"), timeout=15)
    assert result.ok, result.message


def test_wrong_port_hangs_up_right_after_connect(sim_factory) -> None:
    sim = sim_factory(faults={Fault.WRONG_PORT}, wrong_port_after=0.3, echo=False)
    c = Client(sim.port_path)
    c.send("ATD*99***1#")
    c.read_until(b"CONNECT\r\n")
    t = time.monotonic()
    assert c.wait_end(3.0) in ("eof", "eio")          # pppd: "Modem hangup"
    assert 0.2 <= time.monotonic() - t < 2.0
    c.close()
    # the same name answers again: the sim hung up by closing its pty, so the link is re-made
    # a moment later (a wrong port is a live port, not a vanished one)
    path = sim.wait_for_port(2.0)
    assert path == sim.port_path
    c = Client(path)
    c.send("AT")
    c.read_until(b"OK\r\n")
    c.close()


def test_brownout_port_vanishes_then_reenumerates(sim_factory) -> None:
    sim = sim_factory(faults={Fault.BROWNOUT}, brownout_after=0.4, reenumerate_after=0.6, echo=False)
    old_link, old_pts = sim.port_path, sim.pty_path
    port = open_port(old_link)
    t_dial = time.monotonic()
    port.write(b"ATD*99***1#\r")
    seen, t_connect = b"", None
    with pytest.raises(SerialPortVanished):               # the serial edge names it: dropped off USB
        end = time.monotonic() + 5
        while time.monotonic() < end:
            select.select([port.fileno()], [], [], 0.1)
            seen += port.read()
            if t_connect is None and b"CONNECT" in seen:
                t_connect = time.monotonic()
    # The stick stays up brownout_after (0.4 s) past its CONNECT. Measured from our ATD, which
    # came first, so a loaded machine reading CONNECT late cannot shrink the interval.
    assert t_connect is not None and time.monotonic() - t_dial >= 0.4
    assert sim.wait_for(PortRemoved, 1.0) is not None
    assert not os.path.lexists(old_link) and not os.path.exists(old_pts)
    with pytest.raises(OSError):
        port.write(b"AT\r")
    port.close()
    appeared = sim.wait_for(PortAppeared, 3.0)
    assert isinstance(appeared, PortAppeared) and appeared.index == 3
    new = sim.wait_for_port(2.0)
    assert new is not None and os.path.basename(new) == "ttyUSB5"
    c = Client(new)
    boot = c.read_until(b"^SIMST: 1\r\n")
    assert b"^BOOT:" in boot
    c.send("ATE0")
    c.read_until(b"OK\r\n")
    c.close()


def test_sim_pin_busy_and_legacy_at_the_client(sim_factory) -> None:
    sim = sim_factory(faults={Fault.SIM_PIN, Fault.LEGACY_REJECTED}, echo=False, signal_interval=0)
    c = Client(sim.port_path)
    c.send("ATQ0")
    assert c.read_until(b"\r\n", 3) + c.read_until(b"\r\n") == b"\r\nERROR\r\n"
    c.send("AT+CPIN?")
    assert c.read_until(b"OK\r\n") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    c.send("ATD*99#")
    assert c.read_until(b"required\r\n") == b"\r\n+CME ERROR: SIM PIN required\r\n"
    c.close()
    busy = sim_factory(faults={Fault.BUSY}, echo=False, signal_interval=0)
    c = Client(busy.port_path)
    c.send("ATD*99***1#")
    assert c.read_until(b"BUSY\r\n") == b"\r\nBUSY\r\n"
    c.close()


def test_closing_the_port_in_data_mode_hangs_up(sim_factory, rng) -> None:
    sim = sim_factory(echo=False)
    c = Client(sim.port_path)
    c.send("ATD*99#")
    c.read_until(b"CONNECT\r\n")
    c.close()                                          # DTR drops
    assert sim.wait_for(DataModeEnded, 3.0) is not None
    c = Client(sim.port_path)
    c.send("AT")
    c.read_until(b"OK\r\n")
    c.close()


def test_extra_ports_diag_is_silent_pcui_answers() -> None:
    with start_sim(SimConfig(echo=False, signal_interval=0), extra_ports=True) as sim:
        ports = sim.port_paths()
        assert {r: os.path.basename(p) for r, p in ports.items()} == {"pcui": "ttyUSB0", "diag": "ttyUSB1",
                                                                      "modem": "ttyUSB2"}
        diag, pcui = Client(ports["diag"]), Client(ports["pcui"])
        diag.send("AT")
        pcui.send("AT")
        pcui.read_until(b"OK\r\n")
        diag._read(0.3)
        assert diag.buf == b""
        diag.close()
        pcui.close()


def _sigint_as_at_a_terminal() -> None:
    # A suite started in the background (CI, `cmd &`) inherits SIGINT ignored, and Python then
    # never raises KeyboardInterrupt: give the child the disposition Ctrl-C at a terminal meets.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_cli_prints_the_path_and_stops_on_sigint(tmp_path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "pppstack", "sim", "--fault", "busy", "--no-echo"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
                            preexec_fn=_sigint_as_at_a_terminal)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().decode().strip()
        assert os.path.basename(path) == "ttyUSB2"
        c = Client(path)
        c.send("ATD*99#")
        assert c.read_until(b"BUSY\r\n", 5).endswith(b'57\r\n\r\nBUSY\r\n')  # after the first report
        c.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    assert not os.path.exists(path)
