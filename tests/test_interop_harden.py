"""Issue 10 against real pppd 2.4.9 in the QEMU guest (tests/guest/pppd.py):

- `pppstack serve --local A --remote B` enforces its address policy on a pppd client that wishes
  for its own address and interface identifier (pppd logs what it ended up with);
- `pppstack up` against pppd with `maxconnect`: pppd's Terminate-Request "Connect time expired"
  ends with PEER_TERMINATED (19) and pppd's words;
- IPv6 link-local through `up`: `ping -6 fe80::PEER%ifname` to pppd's side works.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.guest.pppd import PppdGuest, shared_pppd_guest

pytestmark = pytest.mark.guest

REPO = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def pppd_guest() -> PppdGuest:
    return shared_pppd_guest()


def _end(proc: subprocess.Popen, timeout: float = 20) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err.decode(errors="replace")


@pytest.mark.parametrize(("serve_words", "addr", "ifid_naked"), [
    ((), "10.66.0.2", True),
    (("ipcp-accept-remote", "ipv6cp-accept-remote"), "10.66.0.9", False),
])
def test_serve_address_policy_with_a_pppd_client_that_wishes(pppd_guest: PppdGuest, serve_words: tuple[str, ...],
                                                              addr: str, ifid_naked: bool) -> None:
    # pppd 2.4.9 takes our Nak of its address (ipcp-accept-local) but keeps an identifier it was
    # given (`ipv6 ::9,`) whatever ipv6cp-accept-local says: there the proof is our Naks in its log
    pppd_guest.start_pppd_client(["10.66.0.9:", "ipcp-accept-local", "+ipv6", "ipv6 ::9,", "ipv6cp-accept-local"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "pppstack", "serve", "--device", pppd_guest.pty_path, "--local", "10.66.0.1",
         "--remote", "10.66.0.2", "--no-tun", "ipv6", "::1,::2", *serve_words],
        cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        log = pppd_guest.wait_for_log("local  LL address", 60)
        log = pppd_guest.wait_for_log("local  IP address", 30)
        assert f"local  IP address {addr}" in log, log
        assert "remote IP address 10.66.0.1" in log, log
        assert "remote LL address fe80::0000:0000:0000:0001" in log, log
        naks = re.findall(r"rcvd \[IPV6CP ConfNak id=0x\w+ <addr (fe80::[0-9a-f:]+)>\]", log)
        if ifid_naked:
            assert naks and set(naks) == {"fe80::0000:0000:0000:0002"}, log
        else:
            assert not naks and "local  LL address fe80::0000:0000:0000:0009" in log, log
    finally:
        _, err = _end(proc)
        pppd_guest.stop_modem()
    assert "Traceback" not in err, err


def test_up_maxconnect_is_peer_terminated_with_pppds_words(pppd_guest: PppdGuest, netns: str, tmp_path: Path) -> None:
    # The NO CARRIER that follows on a real modem cannot be staged here: pppd holds hvc0 in its PPP
    # line discipline until it exits and nothing written to the console after that reaches the
    # host; test_end_first_cause drives that sequence on a pty with our engine as the peer.
    pppd_guest.start_modem(["noauth", "noccp", "maxconnect 5"])
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--device", pppd_guest.pty_path,
         "--apn", "internet", "--ifname", "pst9", "--noipv6", "--run-dir", str(tmp_path), "--json"],
        cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    finally:
        pppd_guest.stop_modem()
    text = err.decode(errors="replace")
    assert proc.returncode == 19, (proc.returncode, out.decode()[-2000:], text[-3000:])
    summary = json.loads(out)
    assert summary["exit_name"] == "PEER_TERMINATED"
    assert "Connect time expired" in summary["message"], summary


def test_up_ipv6_link_local_ping_to_pppd(pppd_guest: PppdGuest, netns: str, tmp_path: Path) -> None:
    pppd_guest.start_modem(["noauth", "noccp", "noip", "+ipv6"])
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--device", pppd_guest.pty_path,
         "--apn", "internet", "--ifname", "pst6", "--run-dir", str(tmp_path), "noip"],
        cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        log = pppd_guest.wait_for_log("remote LL address", 60)
        m = re.search(r"local  LL address fe80::([0-9a-f:]+)", log)
        assert m, log
        peer = "fe80::" + ":".join(g.lstrip("0") or "0" for g in m.group(1).split(":"))
        deadline = time.monotonic() + 20
        while peer not in subprocess.run(["ip", "-n", netns, "-6", "route", "show", "dev", "pst6"],
                                         capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline and proc.poll() is None, "no route to the peer's link-local address"
            time.sleep(0.2)
        ping = subprocess.run(["ip", "netns", "exec", netns, "ping", "-6", "-c", "3", "-i", "0.3", "-W", "3",
                               f"{peer}%pst6"], capture_output=True, text=True, timeout=30)
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        code, err = _end(proc)
        pppd_guest.stop_modem()
    assert "Traceback" not in err, err
