"""`up --mode ncm` has PPP's lifecycle: ip-up/ip-down with pppd's arguments and environment,
persist after the network drops the call, SIGHUP hangs up and redials with persist (and ends
the link without it, as pppd), the status file and PPP's summary.  Fake NCM modem (pyusb
backend) and a real TUN, inside a network namespace this test creates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.netns

HOOK = """#!/bin/sh
echo "$1|$2|$3|$4|$5|$6|$IFNAME|$IPLOCAL|$IPREMOTE|$DEVICE|$LINKNAME|${CONNECT_TIME-}|${BYTES_SENT-}" >> "$0.log"
"""

SCRIPT = r"""
import json, logging, os, signal, struct, sys, threading, time
from ipaddress import IPv4Address, IPv4Interface
from tests.fake_ncm_device import FakeBackend, FakeNcmModem
from pppstack.io.ncmlink import NcmUpOptions, run_ncm_up

tmp, persist = sys.argv[1], sys.argv[2] == "persist"
logging.basicConfig(level=logging.INFO, format="%(message)s")
modem = FakeNcmModem()
up_log, down_log = tmp + "/ip-up.log", tmp + "/ip-down.log"
steps = []

def lines(path):
    try:
        return open(path).read().splitlines()
    except OSError:
        return []

def wait_for(path, n, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(lines(path)) >= n:
            return True
        time.sleep(0.05)
    steps.append(f"timeout waiting for {n} lines in {path}")
    return False

def driver():
    if not wait_for(up_log, 1):
        return os.kill(os.getpid(), signal.SIGTERM)
    if not persist:           # pppd without persist: SIGHUP ends the link like SIGTERM
        steps.append("SIGHUP")
        return os.kill(os.getpid(), signal.SIGHUP)
    steps.append("carrier off")   # the network drops the call: NETWORK_CONNECTION = 0
    modem.notify(struct.pack("<BBHHH", 0xA1, 0x00, 0, modem.control_if, 0))
    if not wait_for(up_log, 2):
        return os.kill(os.getpid(), signal.SIGTERM)
    steps.append("SIGHUP")
    os.kill(os.getpid(), signal.SIGHUP)
    if wait_for(up_log, 3):
        steps.append("SIGTERM")
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=driver, daemon=True).start()
opts = NcmUpOptions(ifname="ncmh0", local_ip=IPv4Interface("10.10.1.1/30"), gateway=IPv4Address("10.10.1.2"),
                    noipv6=True, persist=persist, holdoff=0, maxfail=3, ip_up=tmp + "/ip-up",
                    ip_down=tmp + "/ip-down", ipparam="home", linkname="e3372", run_dir=tmp + "/run")
t0 = time.monotonic()
code = run_ncm_up(opts, backend=FakeBackend(modem))
print("RESULT " + json.dumps({"code": int(code), "steps": steps, "up": lines(up_log), "down": lines(down_log),
                              "seconds": time.monotonic() - t0}))
"""


def _run(netns: str, tmp_path: Path, mode: str) -> tuple[dict, str]:
    for name in ("ip-up", "ip-down"):
        (tmp_path / name).write_text(HOOK)
        (tmp_path / name).chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", SCRIPT, str(tmp_path), mode],
                       capture_output=True, text=True, timeout=90, cwd=str(ROOT), env=env)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, p.stdout + p.stderr
    return json.loads(line[7:]), p.stderr


def test_persist_redials_after_carrier_loss_and_sighup_with_hooks_each_time(netns: str, tmp_path: Path) -> None:
    res, err = _run(netns, tmp_path, "persist")
    assert res["steps"] == ["carrier off", "SIGHUP", "SIGTERM"], (res, err)
    assert res["code"] == 0, err                              # SIGTERM on an up link: a clean end
    assert len(res["up"]) == 3 and len(res["down"]) == 3, (res, err)
    for line in res["up"]:     # pppd's six arguments, then its environment
        assert line.startswith("ncmh0|12d1:155e|115200|10.10.1.1|10.10.1.2|home|ncmh0|10.10.1.1|10.10.1.2|"
                               "12d1:155e|e3372||"), line
    for line in res["down"]:   # ip-down also gets CONNECT_TIME and BYTES_SENT
        fields = line.split("|")
        assert fields[:6] == ["ncmh0", "12d1:155e", "115200", "10.10.1.1", "10.10.1.2", "home"], line
        assert fields[11].isdigit() and fields[12].isdigit(), line
    assert "redialling (SIGHUP)" in err and "persist: dialling again" in err, err
    assert "The modem reported the network connection down." in err, err
    assert "pppstack: The link was closed on request (SIGTERM received)." in err, err
    assert "3 call(s)" in err and "exit code 0 (ok)" in err, err           # PPP's summary
    assert not list((tmp_path / "run").glob("ncmh0*.json"))                 # the status file went with it


def test_sighup_without_persist_ends_the_link_as_pppd_does(netns: str, tmp_path: Path) -> None:
    res, err = _run(netns, tmp_path, "once")
    assert res["steps"] == ["SIGHUP"], (res, err)
    assert res["code"] == 0 and len(res["up"]) == 1 and len(res["down"]) == 1, (res, err)
    assert "1 call(s)" in err, err
