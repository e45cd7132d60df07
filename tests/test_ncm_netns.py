"""`run_ncm_up` whole: fake modem (pyusb backend) → bind → carrier notification → real TUN →
the kernel's own ping through our L2 shim and NTBs, inside a network namespace this test creates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.netns

SCRIPT = r"""
import json, os, signal, subprocess, sys, threading, time
from ipaddress import IPv4Address, IPv4Interface
from tests.fake_ncm_device import FakeBackend, FakeNcmModem
from pppstack.io.ncmlink import NcmUpOptions, run_ncm_up

modem = FakeNcmModem()
res = {}

def pinger():
    for _ in range(200):
        try:
            if open("/sys/class/net/ncmt0/operstate").read().strip() in ("up", "unknown"):
                break
        except OSError:
            pass
        time.sleep(0.05)
    time.sleep(0.3)
    p = subprocess.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "192.0.2.99"],
                       capture_output=True, text=True)
    res["ping_rc"], res["ping"] = p.returncode, p.stdout + p.stderr
    res["route"] = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=pinger, daemon=True).start()
code = run_ncm_up(NcmUpOptions(ifname="ncmt0", local_ip=IPv4Interface("10.10.1.1/30"),
                               gateway=IPv4Address("10.10.1.2"), defaultroute=True, noipv6=True),
                  backend=FakeBackend(modem))
res["code"] = int(code)
res["echo_replies"] = modem.echo_replies
res["ping_frames"] = sum(1 for f in modem.rx_frames if f[12:14] == b"\x08\x00")
print("RESULT " + json.dumps(res))
"""


@pytest.fixture
def netns():  # noqa: ANN201
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("this test needs root and iproute2 (CI runs as root with iproute2 installed)")
    name = f"pppstack-ncm-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_kernel_ping_crosses_tun_l2_and_ntbs(netns: str) -> None:
    if shutil.which("ping") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "iputils-ping"], check=False, capture_output=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       timeout=60, cwd=str(ROOT), env=env)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, p.stdout + p.stderr
    res = json.loads(line[7:])
    assert res["ping_rc"] == 0, res
    assert "3 received" in res["ping"] and "default dev ncmt0" in res["route"]
    assert res["echo_replies"] >= 3 and res["ping_frames"] >= 3
    assert res["code"] == 0, p.stderr          # SIGTERM ends the link cleanly: ExitCode.OK
