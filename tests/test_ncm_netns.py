"""`run_ncm_up` whole: fake modem (pyusb backend) → bind → carrier notification → real TUN →
the kernel's own ping through our L2 shim and NTBs, inside a network namespace this test creates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pppstack.io.hooks import status_files

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.netns

SCRIPT = r"""
import json, os, signal, subprocess, sys, threading, time
from ipaddress import IPv4Address, IPv4Interface
from tests.fake_ncm_device import FakeBackend, FakeNcmModem
from pppstack.io.hooks import status_files
from pppstack.io.ncmlink import NcmUpOptions, run_ncm_up

MODE = sys.argv[1]
if MODE == "vendor":     # 12d1:1506-style vendor classes, firmware that wants the NDP at the end
    from tests.fake_ncm_device import huawei_vendor_ncm
    modem = FakeNcmModem(layout=huawei_vendor_ncm(), pid=0x1506, require_ndp_at_end=True)
else:
    modem = FakeNcmModem()
res = {}
DIAL = len(sys.argv) > 1 and sys.argv[1] in ("dial", "drop")
DROP = sys.argv[1] == "drop"
RESOLV = sys.argv[2] + "/resolv.conf"
at = None
if DIAL:
    from tests.modem_scripted import ScriptedModem
    ok = b"\r\nOK\r\n"
    at = ScriptedModem({
        "AT": ok, "AT+CMEE=2": ok, "AT+CPIN?": b"\r\n+CPIN: READY\r\n" + ok,
        "AT+CREG?": b"\r\n+CREG: 0,1\r\n" + ok, "AT+CGREG?": b"\r\n+CGREG: 0,1\r\n" + ok,
        "AT+CEREG?": b"\r\n+CEREG: 0,1\r\n" + ok, "AT^HCSQ?": ok, "AT^SYSINFOEX": ok, "AT+CSQ": ok,
        'AT^NDISDUP=1,1,"internet"': ok,
        "AT^NDISSTATQRY?": b'\r\n^NDISSTATQRY: 1,,,"IPV4",0,,,"IPV6"\r\n' + ok,
        # ModemManager's test vector: 10.10.1.1/30 gateway 10.10.1.2 (least significant byte first)
        "AT^DHCP?": b"\r\n^DHCP: 1010A0A,FCFFFFFF,2010A0A,2010A0A,8080808,4040808,150000000,50000000\r\n" + ok,
        "AT^NDISDUP=1,0": ok,
    })
    at.__enter__()

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
    try:
        res["resolv"] = open(RESOLV).read()
    except OSError as exc:
        res["resolv"] = str(exc)
    res["addr"] = subprocess.run(["ip", "-4", "addr", "show", "ncmt0"], capture_output=True, text=True).stdout
    # the status file is rewritten every 2 s: wait (with a deadline) until it counts the pings
    deadline = time.monotonic() + (30 if MODE == "plain" else 0)
    while True:
        try:
            from pppstack.cli.status import format_status
            st = json.load(open(status_files(sys.argv[2], "ncmt0")[0]))
            res["status"] = format_status(st)
            res["status_counters"] = st["counters"]
        except (OSError, ValueError, KeyError, ImportError, IndexError) as exc:  # IndexError: no file yet
            res["status"] = repr(exc)
        if res.get("status_counters", {}).get("packets_sent", 0) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if MODE == "plain":   # IPv6 too: the kernel's own ping6 over our NS/NA and the modem as router
        subprocess.run(["ip", "-6", "addr", "add", "2001:db8::2/64", "dev", "ncmt0", "nodad"], check=False)
        subprocess.run(["ip", "-6", "route", "add", "default", "dev", "ncmt0"], check=False)
        time.sleep(0.2)
        p6 = subprocess.run(["ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "3", "2001:db8:ffff::1"],
                            capture_output=True, text=True)
        res["ping6_rc"], res["ping6"] = p6.returncode, p6.stdout + p6.stderr
        res["addr6"] = subprocess.run(["ip", "-6", "addr", "show", "ncmt0"], capture_output=True, text=True).stdout
    if MODE == "mtu":   # --mtu 9000 was clamped; raise the TUN's MTU behind our back: DF packets over
        res["link"] = subprocess.run(["ip", "link", "show", "ncmt0"], capture_output=True, text=True).stdout
        subprocess.run(["ip", "link", "set", "ncmt0", "mtu", "9000"], check=False)   # 1500 get ICMP back
        pb = subprocess.run(["ping", "-n", "-c", "2", "-i", "0.3", "-W", "2", "-M", "do", "-s", "2000", "192.0.2.99"],
                            capture_output=True, text=True)
        res["ping_big"] = pb.stdout + pb.stderr
    if DROP:       # the network ends the call: the modem says so on the AT port
        at.write(b'\r\n^NDISSTAT: 0,33,,"IPV4"\r\n')
        time.sleep(30)        # the link ends on the URC, which ends this process; SIGTERM only if not
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=pinger, daemon=True).start()
if DIAL:      # everything from the AT dialogue: no addresses given
    opts = NcmUpOptions(ifname="ncmt0", apn="internet", at_port=at.path, defaultroute=True, noipv6=True,
                        usepeerdns=True, resolv_conf=RESOLV)
else:         # a plain NCM device: static addresses, up on NETWORK_CONNECTION alone
    opts = NcmUpOptions(ifname="ncmt0", local_ip=IPv4Interface("10.10.1.1/30"), gateway=IPv4Address("10.10.1.2"),
                        defaultroute=True, noipv6=MODE != "plain", run_dir=sys.argv[2],
                        mtu=9000 if MODE == "mtu" else None)
code = run_ncm_up(opts, backend=FakeBackend(modem))
if at is not None:
    at.stop()
    res["at_commands"] = at.commands
res["code"] = int(code)
res["echo_replies"] = modem.echo_replies
res["dropped_blocks"] = modem.dropped_blocks
res["ping_frames"] = sum(1 for f in modem.rx_frames if f[12:14] == b"\x08\x00")
print("RESULT " + json.dumps(res))
"""


@pytest.mark.parametrize("mode", ["plain", "vendor", "dial", "drop", "mtu"])
def test_kernel_ping_crosses_tun_l2_and_ntbs(netns: str, mode: str, tmp_path: Path) -> None:
    if shutil.which("ping") is None:   # tests install nothing: .ci/run does
        pytest.fail("this test needs ping (Debian's iputils-ping, which .ci/run installs)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = ["ip", "netns", "exec", netns, sys.executable, "-c", SCRIPT, mode, str(tmp_path)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=str(ROOT), env=env)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, p.stdout + p.stderr
    res = json.loads(line[7:])
    assert res["ping_rc"] == 0, res
    assert "3 received" in res["ping"] and "default dev ncmt0" in res["route"]
    assert res["echo_replies"] >= 3 and res["ping_frames"] >= 3 and res["dropped_blocks"] == 0
    if mode == "plain":
        assert res["ping6_rc"] == 0, res["ping6"]
        assert "ncmt0: ncm-up" in res["status"] and "10.10.1.1 -> peer 10.10.1.2" in res["status"], res["status"]
        assert res["status_counters"]["packets_sent"] >= 3               # `pppstack status` sees the link
        assert res["status_counters"]["dropped_by_pppstack"] == 0          # and counts what was lost
        assert "dropped    0 by pppstack, " in res["status"], res["status"]
        assert not status_files(str(tmp_path), "ncmt0")                    # and the file goes with it
        assert "fe80::e5b:8fff:fe27:9a64/64" in res["addr6"]          # our EUI-64 link-local, the L2 shim's
    if mode == "mtu":   # clamped with a sentence; an oversize DF packet gets the kernel's own answer
        assert "--mtu 9000 is more than this NCM function can carry" in p.stderr, p.stderr
        assert "wMaxSegmentSize of 1514 bytes allows an MTU of at most 1500" in p.stderr, p.stderr
        assert "mtu 1500 " in res["link"], res["link"]
        assert "mtu = 1500" in res["ping_big"] or "mtu=1500" in res["ping_big"], res["ping_big"]
    if mode == "drop":
        assert res["code"] == 17, p.stderr     # ExitCode.CARRIER_LOST, from the ^NDISSTAT URC
        assert res["at_commands"][-1] == "AT^NDISDUP=1,0"
        return
    assert res["code"] == 0, p.stderr          # SIGTERM ends the link cleanly: ExitCode.OK
    if mode == "dial":
        cmds = res["at_commands"]
        assert cmds.index('AT^NDISDUP=1,1,"internet"') < cmds.index("AT^NDISSTATQRY?") < cmds.index("AT^DHCP?")
        assert cmds[-1] == "AT^NDISDUP=1,0"                           # hung up on the way down
        assert "inet 10.10.1.1 peer 10.10.1.2/32" in res["addr"]      # configured from ^DHCP alone
        assert "nameserver 8.8.8.8\nnameserver 8.8.4.4\n" in res["resolv"]
        assert not (tmp_path / "resolv.conf").exists()                 # removed when the link ended
