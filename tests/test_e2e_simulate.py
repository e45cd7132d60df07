"""`pppstack up --simulate`, the README's first command: the whole path against the simulated E3372.

As root (inside a throwaway namespace) it creates a real TUN and the system's ping crosses it;
without privileges it says what it could not do and still proves the link through PPP.  Both
must end by themselves with exit code 0 and a summary a newcomer can read.  A fault injected in
the simulator (the network drops the call) must come back as its own exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pppstack.io.hooks import status_files

pytestmark = pytest.mark.netns


@pytest.fixture
def tmp_path():
    """A private directory: pytest's shared numbered temp dirs are pruned by other pytest runs on a
    shared machine while our child processes still use them."""
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pppstack-e2e-") as d:
        yield pathlib.Path(d)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")


def test_simulate_as_root_pings_through_a_real_interface(netns: str, tmp_path) -> None:
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--simulate",
                           "--run-dir", str(tmp_path), "--json", "--debug"], capture_output=True, text=True, env=ENV,
                          timeout=90)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["exit_name"] == "OK" and summary["ifname"] == "ppp0"
    assert summary["ping"]["received"] == 3 and summary["ping"]["via"] == "ppp0", proc.stderr
    assert "IPCP is up: local address 100.68.27.142, peer 10.64.64.64" in proc.stderr
    assert "CONNECT" in proc.stderr  # the AT dial ran
    # --debug: pppd's own packet format, secrets hidden
    assert "sent [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x" in proc.stderr
    assert "rcvd [IPCP ConfNak id=0x1 <addr 100.68.27.142>" in proc.stderr
    # the interface and status file are gone afterwards
    links = subprocess.run(["ip", "-n", netns, "link"], capture_output=True, text=True).stdout
    assert "ppp0" not in links
    assert not status_files(str(tmp_path))


def test_simulate_without_privileges_still_proves_the_link(tmp_path) -> None:
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                           sys.executable, "-m", "pppstack", "up", "--simulate", "--run-dir", str(tmp_path / "x")],
                          capture_output=True, text=True, env=dict(ENV, HOME="/tmp"), timeout=90)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "could not create a TUN device" in err and "run as root" in err
    assert "ping through PPP to 10.64.64.64: 5/5 replies" in err
    assert "exit code 0 (ok)" in err
    assert "Traceback" not in err
    # what a newcomer reads: sentences, each said once, the last line a pointer to the next step
    assert "(number=" not in err and "(reason=" not in err
    assert err.count("authentication succeeded") == 1
    assert err.rstrip().splitlines()[-1].startswith("  next: add --stay")


def test_simulated_network_drop_is_named(netns: str, tmp_path) -> None:
    """DEAD_ECHO: the bearer dies and stops answering LCP echo; the exit code says so."""
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--simulate",
                           "--stay", "--sim-fault", "DEAD_ECHO", "--lcp-echo-interval", "1", "--lcp-echo-failure",
                           "2", "--run-dir", str(tmp_path), "--json"], capture_output=True, text=True, env=ENV,
                          timeout=90)
    summary = json.loads(proc.stdout)
    assert summary["exit_name"] == "PEER_DEAD", proc.stderr
    assert proc.returncode == summary["exit_code"] == 14
    assert summary["message"] == "No response to 2 echo-requests: serial link appears to be disconnected."


def test_sighup_redials_and_sigterm_ends_cleanly(netns: str, tmp_path) -> None:
    """With `persist` SIGHUP redials (without it, it ends the link: test_e2e_end_reasons)."""
    import signal
    import threading
    import time

    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--simulate",
                             "--stay", "--run-dir", str(tmp_path), "persist", "holdoff", "0"],
                            stderr=subprocess.PIPE, text=True, env=ENV)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()

    def wait_for(text: str, count: int = 1, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if "".join(lines).count(text) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"never saw {text!r} x{count}:\n{''.join(lines)}")

    try:
        wait_for("IPCP is up")
        end = time.monotonic() + 3  # the status file follows the log line
        while True:
            found = status_files(str(tmp_path), "ppp0")
            status = json.loads(open(found[0]).read()) if found else {"local": None}
            if status["local"] or time.monotonic() > end:
                break
            time.sleep(0.05)
        assert status["phase"] == "up" and status["local"] == "100.68.27.142"
        proc.send_signal(signal.SIGHUP)
        wait_for("redialling (SIGHUP)")
        wait_for("IPCP is up", count=2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, "".join(lines)
        log = "".join(lines)
        assert "closed on request (SIGTERM received)" in log and "2 call(s)" in log
        assert "ppp0" not in subprocess.run(["ip", "-n", netns, "link"], capture_output=True, text=True).stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_brownout_port_vanishes_and_persist_refinds_the_modem(netns: str, tmp_path) -> None:
    """BROWNOUT: the stick drops off USB after CONNECT and comes back as the next ttyUSBn."""
    import signal
    import threading
    import time

    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--simulate",
                             "--stay", "--sim-fault", "BROWNOUT", "--persist", "--holdoff", "1", "--maxfail", "3",
                             "--run-dir", str(tmp_path)], stderr=subprocess.PIPE, text=True, env=ENV)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    try:
        end = time.monotonic() + 45
        while time.monotonic() < end and proc.poll() is None:
            log = "".join(lines)
            if "dropped off USB" in log and log.count("IPCP is up") >= 2:
                break
            time.sleep(0.1)
        log = "".join(lines)
        assert "dropped off USB" in log, log
        assert log.count("IPCP is up") >= 2, log
        assert "the simulated modem's PPP port is" in log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_connect_chat_script_dials_the_simulator(netns: str, tmp_path) -> None:
    """pppd's `connect 'chat -v -f FILE'`, run by our chat engine, then PPP on the same port."""
    script = tmp_path / "e3372.chat"
    script.write_text("ABORT BUSY ABORT 'NO CARRIER' ABORT ERROR\nTIMEOUT 10\n'' AT\nOK "
                      "'AT+CGDCONT=1,\"IP\",\"internet\"'\nOK ATD*99***1#\nCONNECT ''\n")
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--simulate",
                           "--connect", f"/usr/sbin/chat -v -t5 -f {script}", "--run-dir", str(tmp_path), "--json"],
                          capture_output=True, text=True, env=ENV, timeout=90)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "chat: send (ATD*99***1#^M)" in proc.stderr or "ATD*99***1#" in proc.stderr
    assert "dialling on" not in proc.stderr  # the AT dialer did not run: the script did the dialling
    assert json.loads(proc.stdout)["ping"]["received"] == 3


def test_connect_script_abort_is_connect_failed(netns: str, tmp_path) -> None:
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--simulate",
                           "--sim-fault", "BUSY", "--connect", "chat -v ABORT BUSY '' AT OK ATD*99***1# CONNECT ''",
                           "--run-dir", str(tmp_path)], capture_output=True, text=True, env=ENV, timeout=90)
    assert proc.returncode == 7, proc.stderr  # ExitCode.CONNECT_FAILED
    assert "Connect script failed" in proc.stderr and "Traceback" not in proc.stderr
