"""`up --mode ncm --pcap`: the NCM path's Ethernet frames, both ways, on their own pcapng interface.
The fake NCM modem (a pyusb backend) answers the kernel's own ping inside a network namespace this
test creates; tshark (not ours) reads the file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        p = subprocess.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.99"], capture_output=True,
                           text=True)
        if p.returncode == 0:
            break
    res["ping_rc"] = p.returncode
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=pinger, daemon=True).start()
opts = NcmUpOptions(ifname="ncmt0", local_ip=IPv4Interface("10.10.1.1/30"), gateway=IPv4Address("10.10.1.2"),
                    defaultroute=True, noipv6=True, run_dir=sys.argv[1], pcap=sys.argv[1] + "/ncm.pcapng")
res["code"] = int(run_ncm_up(opts, backend=FakeBackend(modem)))
print("RESULT " + json.dumps(res))
"""


def test_ncm_ethernet_frames_in_pcapng(netns: str, tmp_path: Path) -> None:
    assert shutil.which("ping") and shutil.which("tshark"), ".ci/run installs iputils-ping and tshark"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", SCRIPT, str(tmp_path)],
                       capture_output=True, text=True, timeout=60, cwd=str(ROOT), env=env)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, p.stdout + p.stderr
    res = json.loads(line[7:])
    assert res["ping_rc"] == 0 and res["code"] == 0, p.stderr
    pcap = tmp_path / "ncm.pcapng"
    run = subprocess.run(["tshark", "-n", "-r", str(pcap), "-Y", "icmp", "-T", "fields", "-E", "separator=|",
                          "-e", "frame.interface_name", "-e", "frame.packet_flags_direction", "-e", "icmp.type",
                          "-e", "ip.dst"], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    rows = [r.split("|") for r in run.stdout.splitlines()]
    requests = [r for r in rows if r[2] == "8"]
    replies = [r for r in rows if r[2] == "0"]
    assert len(requests) >= 3 and len(replies) >= 3, rows
    assert all(r[0] == "ncm" and int(r[1], 0) == 2 and r[3] == "192.0.2.99" for r in requests)  # outbound
    assert all(r[0] == "ncm" and int(r[1], 0) == 1 and r[3] == "10.10.1.1" for r in replies)  # inbound
    expert = subprocess.run(["tshark", "-n", "-r", str(pcap), "-q", "-z", "expert"], capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}).stdout
    assert "Warn" not in expert and "Error" not in expert, expert
