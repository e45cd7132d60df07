"""The AT dialogue resynchronises after a timeout: no reply is ever credited to the wrong command.

Two kinds of modem: an in-order modem on a fake clock (a modem executes one command line at a
time, so a late answer delays every answer after it — V.250 §5.2), and pty modems that answer
late, answer ERROR to AT+CMEE=2, or answer a bare OK to AT+CPIN?.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable

import pytest
from modem_scripted import ScriptedModem

from pppstack.exitcodes import ExitCode, exit_code
from pppstack.io.dialing import run_dialer
from pppstack.io.serialport import open_port
from pppstack.modem.at import SimState
from pppstack.modem.dial import DialError, PppDialer

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
BASE = {
    "AT": OK, "AT+CMEE=2": OK, "AT+CPIN?": b"\r\n+CPIN: READY\r\n" + OK,
    "AT+CREG?": b"\r\n+CREG: 0,1\r\n" + OK, "AT+CGREG?": b"\r\n+CGREG: 0,1\r\n" + OK,
    "AT+CEREG?": b"\r\n+CEREG: 0,0\r\n" + OK,
    "AT^HCSQ?": b'\r\n^HCSQ: "WCDMA",45,41,57\r\n' + OK, "AT^SYSINFOEX": ERROR,
    "AT+CSQ": b"\r\n+CSQ: 16,99\r\n" + OK,
    'AT+CGDCONT=1,"IP","internet"': OK,
    "ATD*99***1#": b"\r\nCONNECT\r\n",
}


def in_order_modem(d: PppDialer, replies: dict[str, bytes], delay: Callable[[str, int], float], clock,
                   limit: int = 5000) -> list[str]:
    """Drive ``d`` against a modem that answers each command line after ``delay(cmd, n)`` seconds
    of work, one line at a time, in order; returns the commands it saw."""
    seen: list[str] = []
    queue: list[tuple[float, bytes]] = []
    busy_until = clock.now
    d.start(clock.now)
    for _ in range(limit):
        if d.done:
            return seen
        for cmd in d.data_to_send().decode().split("\r"):
            if cmd:
                seen.append(cmd)
                busy_until = max(busy_until, clock.now) + delay(cmd, seen.count(cmd))
                queue.append((busy_until, replies.get(cmd, ERROR)))
        timer = d.get_timer()
        if queue and (timer is None or queue[0][0] <= timer):
            at, data = queue.pop(0)
            clock.now = max(clock.now, at)
            d.receive_data(data, clock.now)
        else:
            assert timer is not None, "the dialer waits for nothing"
            clock.now = max(clock.now, timer)
            d.handle_timer(clock.now)
    raise AssertionError("the dialer did not finish")


def test_late_first_answer_and_cmee_error_still_dial(clock) -> None:
    """The issue's modem: still booting (first answer 1.5 s late), AT+CMEE=2 -> ERROR."""
    d = PppDialer("internet")
    seen = in_order_modem(d, {**BASE, "AT+CMEE=2": ERROR},
                          lambda cmd, n: 1.5 if (cmd, n) == ("AT", 1) else 0.01, clock)
    assert d.result.ok, (d.result.message, d.transcript)
    assert d.result.modem_state.sim is SimState.READY
    text = "\n".join(d.transcript)
    assert "OK  (late answer to AT)" in text
    assert seen[-1] == "ATD*99***1#"


def test_a_late_answer_is_never_credited_to_the_next_command(clock) -> None:
    """AT^HCSQ? answers 4 s late; AT+CGDCONT is refused.  Today the late OK slides down the
    queue and the refusal lands on ATD; it must land on AT+CGDCONT, where it belongs."""
    d = PppDialer("internet")
    in_order_modem(d, {**BASE, 'AT+CGDCONT=1,"IP","internet"': b"\r\n+CME ERROR: 50\r\n"},
                   lambda cmd, n: 4.0 if cmd == "AT^HCSQ?" else 0.01, clock)
    assert d.result.error is DialError.PDP_CONTEXT_FAILED, d.result.message
    assert d.result.failed_command == 'AT+CGDCONT=1,"IP","internet"'
    assert "ATD*99***1#" not in "\n".join(d.transcript)


def test_a_modem_that_stops_answering_is_named(clock) -> None:
    d = PppDialer("internet")
    seen = in_order_modem(d, BASE, lambda cmd, n: 1000.0 if cmd == "AT+CGREG?" else 0.01, clock)
    assert d.result.error is DialError.TIMEOUT
    assert "after AT+CGREG? timed out, it did not answer AT either" in d.result.message
    assert "ATD*99***1#" not in seen


def test_bare_ok_to_cpin_is_taken_as_ready_and_said(clock) -> None:
    d = PppDialer("internet")
    seen = in_order_modem(d, {**BASE, "AT+CPIN?": OK}, lambda cmd, n: 0.01, clock)
    assert d.result.ok, d.result.message
    assert seen.count("AT+CPIN?") == 2            # asked once more before believing it
    assert any("bare OK" in n for n in d.notes)


# -- pty modems, through the edge `up` uses -----------------------------------------------------

class LateModem(ScriptedModem):
    """A ScriptedModem that sends some answers late (as a booting modem does), in order."""

    def __init__(self, replies: dict, late: dict[tuple[str, int], float]) -> None:
        self.late = late
        self.counts: dict[str, int] = {}
        self.busy_until = 0.0
        self.lock = threading.Lock()
        super().__init__({k: self._answer(v) for k, v in replies.items()})

    def _answer(self, data: bytes) -> Callable[[str], None]:
        def reply(cmd: str) -> None:
            import time

            n = self.counts[cmd] = self.counts.get(cmd, 0) + 1
            with self.lock:
                self.busy_until = max(self.busy_until, time.monotonic()) + self.late.get((cmd, n), 0.005)
                at = self.busy_until
            t = threading.Timer(at - time.monotonic(), self._send_late, (data,))
            t.daemon = True
            t.start()
        return reply

    def _send_late(self, data: bytes) -> None:
        if not self.closed:
            try:
                self.write(data)
            except OSError:
                pass


def _dial(replies: dict, late: dict, caplog) -> tuple[ExitCode, str, list[str]]:
    args = argparse.Namespace(apn="internet", pin=None, pdp_type="IP", number=None)
    with LateModem(replies, late) as modem, caplog.at_level(logging.INFO, logger="pppstack"):
        with open_port(modem.path) as port:
            cause, message, _ = run_dialer(port, args)
            code = exit_code(cause)
    return code, message, modem.commands


def test_pty_booting_modem_with_cmee_error_dials(caplog) -> None:
    code, message, commands = _dial({**BASE, "AT+CMEE=2": ERROR}, {("AT", 1): 1.5}, caplog)
    assert code is ExitCode.OK, (message, caplog.text)
    assert commands[-1] == "ATD*99***1#"


def test_pty_bare_ok_to_cpin(caplog) -> None:
    code, message, _ = _dial({**BASE, "AT+CPIN?": OK}, {}, caplog)
    assert code is ExitCode.OK, message
    assert "bare OK" in caplog.text


def test_pty_failure_logs_the_transcript_with_times(caplog) -> None:
    code, message, _ = _dial({**BASE, 'AT+CGDCONT=1,"IP","internet"': b"\r\n+CME ERROR: 50\r\n"}, {}, caplog)
    assert code is ExitCode.CONNECT_FAILED and "AT+CGDCONT" in message
    assert "AT transcript" in caplog.text
    lines = [r.getMessage() for r in caplog.records if "-->" in r.getMessage() or "<--" in r.getMessage()]
    assert lines[-2].split()[1:] == ["-->", 'AT+CGDCONT=1,"IP","internet"']
    assert lines[-1].split()[1:] == ["<--", "+CME", "ERROR:", "incorrect", "parameters"]
    float(lines[-1].split()[0])   # seconds since the first command


@pytest.mark.netns
def test_up_with_the_issues_modem_gets_past_the_sim(tmp_path) -> None:
    """Through the CLI: the booting modem with AT+CMEE=2 -> ERROR.  Today `up` says
    "AT+CPIN? -> ERROR" (exit 7); the dialogue must reach ATD, whose NO CARRIER is the real end."""
    import os
    import subprocess
    import sys
    import uuid

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ns = f"pppstack-resync-{uuid.uuid4().hex[:8]}"
    replies = {**BASE, "AT+CMEE=2": ERROR, "ATD*99***1#": b"\r\nNO CARRIER\r\n"}
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with LateModem(replies, {("AT", 1): 1.5}) as modem:
            proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "pppstack", "up", "--device",
                                   modem.path, "--apn", "internet", "--run-dir", str(tmp_path)],
                                  capture_output=True, text=True, timeout=60,
                                  env=dict(os.environ, PYTHONPATH=root, PYTHONUNBUFFERED="1"))
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    err = proc.stderr
    assert proc.returncode == ExitCode.CONNECT_FAILED, err
    assert "ATD*99***1# -> NO CARRIER" in err and "AT+CPIN? -> ERROR" not in err, err
    assert "OK  (late answer to AT)" in err and "AT transcript" in err, err
