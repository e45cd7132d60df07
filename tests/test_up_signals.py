"""A signal is obeyed at every moment of `pppstack up` (issue 10 §1).

Each test holds `up` in one phase with a modem on a real pty (AT from a table; after CONNECT
either silence or a PPP peer — our engine as the network side, with one protocol's frames
dropped so that phase never ends), sends SIGTERM or SIGINT, and asserts the exit code and the
time from the signal to the exit.  As pppd: during the dial the dial stops at once (a connect
program is killed with its process group), the port is released and `up` exits 24.  After
CONNECT the link is closed with LCP Terminate-Request, which the peer acknowledges (or which
runs out after 2 x 3 s when nobody answers), and still exits 24 while no network protocol was up.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
import tty
import uuid
from collections.abc import Callable

import pytest

from pppstack import hdlc
from pppstack.exitcodes import ExitCode

pytestmark = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
DIAL_LIMIT = 0.5      # seconds from the signal to the exit while dialling (the figure)

OK = b"\r\nOK\r\n"
BASE = {
    "AT": OK, "AT+CMEE=2": OK, "AT+CPIN?": b"\r\n+CPIN: READY\r\n" + OK,
    "AT+CREG?": b"\r\n+CREG: 0,1\r\n" + OK, "AT+CGREG?": b"\r\n+CGREG: 0,1\r\n" + OK,
    "AT+CEREG?": b"\r\n+CEREG: 0,0\r\n" + OK, "AT+CSQ": b"\r\n+CSQ: 16,99\r\n" + OK,
    'AT+CGDCONT=1,"IP","internet"': OK, "ATD*99***1#": b"\r\nCONNECT\r\n",
}
PAP, IPCP, IPV6CP = 0xC023, 0x8021, 0x8057


def _protocol(frame: bytes) -> int:
    if frame[:2] == b"\xff\x03":
        frame = frame[2:]
    return frame[0] if frame[0] & 1 else int.from_bytes(frame[:2], "big")


class PtyModem:
    """AT from ``replies`` (None: silent); after CONNECT, ``peer`` decides: None keeps silent,
    otherwise a PPPoS network side whose incoming frames of the ``drop`` protocols are lost."""

    def __init__(self, replies: dict[str, bytes] | None, peer: dict | None = None,
                 drop: frozenset[int] = frozenset()) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)    # the client opens the path; our master stays readable meanwhile
        self.replies, self.peer_kw, self.drop = replies, peer, drop
        self.commands: list[str] = []
        self.dropped: list[int] = []
        self.frames_in = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PtyModem:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(3)
        os.close(self.master)

    def _read(self, timeout: float) -> bytes | None:
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:       # EIO: nobody has the slave open (before the client, or after it)
            time.sleep(0.02)
            return b""

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            data = self._read(0.02)
            buf += data or b""
            while b"\r" in buf:
                line, buf = buf.split(b"\r", 1)
                cmd = line.decode("latin-1").strip()
                if not cmd:
                    continue
                self.commands.append(cmd)
                reply = None if self.replies is None else self.replies.get(cmd, b"\r\nERROR\r\n")
                if reply:
                    os.write(self.master, reply)
                if reply and reply.startswith(b"\r\nCONNECT"):
                    return self._ppp()

    def _ppp(self) -> None:
        from ppp_support import server

        peer = server(**self.peer_kw) if self.peer_kw is not None else None
        dec = hdlc.Decoder(accm=0)
        if peer is not None:
            peer.open(time.monotonic())
        while not self._stop.is_set():
            if peer is not None:
                out = peer.data_to_send()
                if out:
                    try:
                        os.write(self.master, out)
                    except OSError:
                        pass
            timer = peer.get_timer() if peer is not None else None
            data = self._read(0.05 if timer is None else max(0.0, min(0.05, timer - time.monotonic())))
            now = time.monotonic()
            for frame in dec.feed(data or b""):
                self.frames_in += 1
                if _protocol(frame) in self.drop:
                    self.dropped.append(_protocol(frame))
                elif peer is not None:
                    peer.receive_data(hdlc.encode(frame), now)
            if peer is not None:
                if timer is not None and now >= timer:
                    peer.handle_timer(now)
                while peer.next_event() is not None:
                    pass


class Up:
    """`pppstack up` in a throwaway network namespace, its stderr collected as it comes."""

    def __init__(self, argv: list[str], run_dir: str) -> None:
        self.ns = f"pppstack-sig-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-m", "pppstack", "up",
                                      "--run-dir", run_dir, *argv], stderr=subprocess.PIPE, text=True, env=ENV)
        self.lines: list[str] = []
        self.signalled_at_line = 0
        threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stderr.readline, "")), daemon=True).start()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, cond: Callable[[], bool], what: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"never saw {what} (exit {self.proc.poll()}):\n{self.log}")

    def signal(self, sig: int = signal.SIGTERM, hold: float = 0.3) -> tuple[int, float]:
        """Send ``sig`` once the phase has lasted ``hold`` s more; (exit code, seconds to exit)."""
        time.sleep(hold)   # deep inside the phase's wait, not at its edge
        assert self.proc.poll() is None, self.log
        self.signalled_at_line = len(self.lines)
        # `ip netns exec` execs python: the pid is pppstack's own
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(30)
        took = time.monotonic() - t0
        return code, took

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["ip", "netns", "del", self.ns], check=False)


@pytest.fixture
def run_dir():
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pppstack-sig-") as d:
        yield d


def _up(argv: list[str], run_dir: str) -> Up:
    return Up(argv, run_dir)


def _after(up: Up) -> str:
    time.sleep(0.1)   # the reader thread may still hold the last lines
    return "".join(up.lines[up.signalled_at_line:])


def _dial_phase(modem: PtyModem, argv: list[str], run_dir: str, ready: Callable[[Up], bool], what: str,
                sig: int = signal.SIGTERM) -> tuple[float, Up]:
    with modem:
        up = _up(["--device", modem.path, *argv], run_dir)
        try:
            up.wait_for(lambda: ready(up), what)
            code, took = up.signal(sig)
            assert code == ExitCode.INTERRUPTED, up.log
            assert took < DIAL_LIMIT, f"{took:.3f} s to exit\n{up.log}"
            name = signal.Signals(sig).name
            assert f"{name} received while dialling: stopped the dial and released {modem.path}" in up.log, up.log
            assert "Traceback" not in up.log
            print(f"time to exit ({what}): {took:.3f} s")
        finally:
            up.close()
    return took, up


def test_port_probe_silent_port(run_dir) -> None:
    modem = PtyModem(None)
    _dial_phase(modem, ["--apn", "internet"], run_dir, lambda up: modem.commands.count("AT") >= 1, "the AT probe")


def test_at_dialogue_sim_busy(run_dir) -> None:
    modem = PtyModem({**BASE, "AT+CPIN?": b"\r\n+CME ERROR: 14\r\n"})
    _dial_phase(modem, ["--apn", "internet"], run_dir, lambda up: modem.commands.count("AT+CPIN?") >= 2,
                "the SIM query", sig=signal.SIGINT)


def test_registration_wait_creg_searching(run_dir) -> None:
    modem = PtyModem({**BASE, "AT+CREG?": b"\r\n+CREG: 0,2\r\n" + OK, "AT+CGREG?": b"\r\n+CGREG: 0,2\r\n" + OK,
                      "AT+CEREG?": b"\r\n+CEREG: 0,2\r\n" + OK})
    _dial_phase(modem, ["--apn", "internet"], run_dir, lambda up: modem.commands.count("AT+CREG?") >= 2,
                "the registration wait")


def test_connect_chat_timeout(run_dir) -> None:
    modem = PtyModem(BASE)
    _dial_phase(modem, ["--connect", "chat -t 29 '' AT NEVER-SAID ''"], run_dir,
                lambda up: "AT" in modem.commands, "chat waiting 29 s")


def test_connect_program_is_killed_with_its_group(run_dir) -> None:
    marker = f"{30 + random.random():.6f}"
    modem = PtyModem(BASE)

    def sleeping() -> list[str]:
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read() == b"sleep\0" + marker.encode() + b"\0":   # not our own argv
                        out.append(pid)
            except OSError:
                pass
        return out

    _dial_phase(modem, ["--connect", f"sleep {marker}; echo never"], run_dir, lambda up: bool(sleeping()),
                "the connect program")
    end = time.monotonic() + 2
    while sleeping() and time.monotonic() < end:
        time.sleep(0.02)
    assert not sleeping(), "the connect program outlived pppstack"


def _ppp_phase(modem: PtyModem, argv: list[str], run_dir: str, ready: Callable[[Up], bool], what: str,
               limit: float, code_wanted: ExitCode = ExitCode.INTERRUPTED) -> Up:
    with modem:
        up = _up(["--device", modem.path, "--apn", "internet", *argv], run_dir)
        try:
            up.wait_for(lambda: ready(up), what)
            code, took = up.signal(hold=0.5)
            assert code == code_wanted, up.log
            assert took < limit, f"{took:.3f} s to exit\n{up.log}"
            assert "Traceback" not in up.log
            print(f"time to exit ({what}): {took:.3f} s")
            return up
        finally:
            up.close()


def test_lcp_with_a_silent_peer_exits_24_and_says_it_is_closing(run_dir) -> None:
    import json

    modem = PtyModem(BASE, peer=None)
    from pppstack.io.hooks import status_files

    def phase() -> str:
        try:
            with open(status_files(run_dir, "ppp0")[0]) as f:
                return str(json.load(f).get("phase"))
        except (OSError, ValueError):
            return ""

    with modem:
        up = _up(["--device", modem.path, "--apn", "internet"], run_dir)
        try:
            up.wait_for(lambda: modem.frames_in >= 1 and phase() == "negotiating", "LCP")
            time.sleep(0.5)
            up.signalled_at_line = len(up.lines)
            t0 = time.monotonic()
            up.proc.send_signal(signal.SIGTERM)
            # nobody acknowledges our Terminate-Request: pppd's 2 x 3 s (restart timer) before giving up
            up.wait_for(lambda: phase() == "closing", "the status file saying closing", timeout=5)
            code = up.proc.wait(10)
            took = time.monotonic() - t0
            assert code == ExitCode.INTERRUPTED, up.log
            assert took < 7.5, f"{took:.3f} s\n{up.log}"
            print(f"time to exit (LCP, silent peer): {took:.3f} s")
            after = _after(up)
            assert "still negotiating" not in after, after
            assert "closing: waiting for the peer to acknowledge our Terminate-Request" in after, after
            assert "SIGTERM received before the link came up" in after
        finally:
            up.close()


def test_auth_phase(run_dir) -> None:
    modem = PtyModem(BASE, peer=dict(require_pap=True), drop=frozenset({PAP}))
    _ppp_phase(modem, ["--user", "u", "--password", "p"], run_dir, lambda up: PAP in modem.dropped, "PAP",
               limit=DIAL_LIMIT + 0.5)


def test_ipcp_phase(run_dir) -> None:
    modem = PtyModem(BASE, peer={}, drop=frozenset({IPCP, IPV6CP}))
    _ppp_phase(modem, [], run_dir, lambda up: IPCP in modem.dropped, "IPCP", limit=DIAL_LIMIT + 0.5)


def test_link_up_closes_cleanly_with_0(run_dir) -> None:
    modem = PtyModem(BASE, peer={})
    up = _ppp_phase(modem, [], run_dir, lambda up: "IPCP is up" in up.log, "the link up", limit=DIAL_LIMIT + 0.5,
                    code_wanted=ExitCode.OK)
    assert "closed on request (SIGTERM received)" in up.log


def test_redial_holdoff(run_dir) -> None:
    modem = PtyModem({**BASE, "ATD*99***1#": b"\r\nNO CARRIER\r\n"})
    with modem:
        up = _up(["--device", modem.path, "--apn", "internet", "--persist", "--holdoff", "30"], run_dir)
        try:
            up.wait_for(lambda: "dialling again in 30 s" in up.log, "the holdoff")
            code, took = up.signal()
            assert code == ExitCode.INTERRUPTED, up.log
            assert took < DIAL_LIMIT, f"{took:.3f} s\n{up.log}"
            assert "SIGTERM received while waiting to redial (holdoff)" in up.log
            print(f"time to exit (holdoff): {took:.3f} s")
        finally:
            up.close()


# -- finding the port and the mode switch: in-process, the USB side replaced by fakes ---------------

def _find_with_signal(monkeypatch, modems: Callable[[], list], wait: float) -> tuple[str | None, str, float]:
    import argparse

    from pppstack.io import dialing
    from pppstack.io.session import Signals

    monkeypatch.setattr("pppstack.io.sysfs.find_modems", lambda *a, **k: modems())  # sysroot, all_devices
    with Signals() as signals:
        sent: list[float] = []

        def kill() -> None:
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGTERM)

        t = threading.Timer(0.6, kill)
        t.start()
        try:
            path, why = dialing.find_ppp_port(argparse.Namespace(usb_mode=None), wait=wait, stop=signals)
        finally:
            t.cancel()
        took = time.monotonic() - sent[0]
        assert signals.stop_requested
    return path, why, took


def test_waiting_for_the_modem_obeys_a_signal(monkeypatch) -> None:
    path, why, took = _find_with_signal(monkeypatch, lambda: [], wait=20.0)
    assert path is None and why == "interrupted"
    assert took < DIAL_LIMIT, took
    print(f"time to exit (port wait): {took:.3f} s")


def test_mode_switch_wait_obeys_a_signal(monkeypatch) -> None:
    """The switch is sent through pyusb (our recording backend); the stick re-enumerates as a
    product the rule does not expect, so the switch's own 20 s wait for the new device runs."""
    from modem_fakeusb import RecordingBackend

    from pppstack.modem.ports import DeviceMode

    class Stick:   # what sysfs shows of a stick in CD-ROM mode
        mode = DeviceMode.NEEDS_SWITCH
        vendor, product, id, product_name, ppp_port = 0x12D1, 0x1F01, "1-1", "E3372", None

    backend = RecordingBackend(switch_to=0x14DC)
    monkeypatch.setattr("pppstack.io.modeswitch.default_backend", lambda: backend)
    path, why, took = _find_with_signal(monkeypatch, lambda: [Stick()], wait=0.0)
    assert any(t[0] == "bulk_write" for t in backend.transfers)   # the switch went out, then we waited
    assert path is None and why == "interrupted"
    assert took < DIAL_LIMIT, took
    print(f"time to exit (mode switch wait): {took:.3f} s")


def test_a_second_signal_ends_the_terminate_wait_at_once(run_dir) -> None:
    modem = PtyModem(BASE, peer=None)
    with modem:
        up = _up(["--device", modem.path, "--apn", "internet"], run_dir)
        try:
            up.wait_for(lambda: modem.frames_in >= 1, "LCP")
            up.proc.send_signal(signal.SIGTERM)
            up.wait_for(lambda: "closing the link" in up.log, "the Terminate-Request wait")
            code, took = up.signal(signal.SIGINT, hold=0.0)
            assert code == ExitCode.INTERRUPTED, up.log
            assert took < DIAL_LIMIT, f"{took:.3f} s\n{up.log}"
        finally:
            up.close()
