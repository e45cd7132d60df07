"""The TUN edge inside a throwaway network namespace: both openers, addresses, routes, a real ping.

The test process plays the far end: it reads the kernel's ICMP echo request from the TUN fd and
writes the reply back, so `ping` succeeding proves reads, writes and the addressing together.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import json, select, struct, subprocess, sys, time
    from pppstack.io.tun import TunDevice, link_local_from_ifid
    from pppstack.io.pingdemo import inet_checksum
    use_pytun = sys.argv[1] == "pytun"
    tun = TunDevice.create("ppp%d", mtu=1400, use_pytun=use_pytun)
    tun.set_ipv4("10.77.0.1", "10.77.0.2")
    ll = tun.set_ipv6_link_local(bytes(range(1, 9)), bytes(range(9, 17)))
    tun.up()
    tun.add_default_route(metric=321)
    tun.add_route("192.0.2.0/24")
    ping = subprocess.Popen(["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.77.0.2"], stdout=subprocess.PIPE,
                            text=True)
    answered = 0
    end = time.monotonic() + 5
    while ping.poll() is None and time.monotonic() < end:
        select.select([tun], [], [], 0.2)
        for p in tun.read_batch():
            if p[0] >> 4 == 4 and p[9] == 1 and p[20] == 8:   # ICMP echo request
                ihl = (p[0] & 15) * 4
                icmp = bytearray(p[ihl:]); icmp[0] = 0; icmp[2:4] = b"\\0\\0"
                icmp[2:4] = struct.pack("!H", inet_checksum(bytes(icmp)))
                hdr = bytearray(p[:ihl]); hdr[12:16], hdr[16:20] = p[16:20], p[12:16]
                hdr[10:12] = b"\\0\\0"; hdr[10:12] = struct.pack("!H", inet_checksum(bytes(hdr)))
                answered += tun.write(bytes(hdr) + bytes(icmp))
    out = ping.communicate()[0]
    info = {
        "name": tun.name, "answered": answered, "ping_rc": ping.returncode, "ping": out,
        "mtu": open(f"/sys/class/net/{tun.name}/mtu").read().strip(),
        "addr": subprocess.run(["ip", "addr", "show", tun.name], capture_output=True, text=True).stdout,
        "routes": subprocess.run(["ip", "route"], capture_output=True, text=True).stdout,
        "ll": [str(a) for a in ll],
    }
    tun.remove_routes()
    info["routes_after"] = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    tun.close()
    info["exists_after_close"] = subprocess.run(["ip", "link", "show", info["name"]],
                                                capture_output=True).returncode == 0
    print(json.dumps(info))
""")


@pytest.mark.parametrize("opener", ["pytun", "ioctl"])
def test_tun_ping_addresses_routes(netns: str, opener: str) -> None:
    import json

    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", SCRIPT, opener],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["name"] == "ppp0"
    assert info["ping_rc"] == 0 and info["answered"] >= 2, info["ping"]
    assert info["mtu"] == "1400"
    assert "inet 10.77.0.1 peer 10.77.0.2/32" in info["addr"]
    assert "inet6 fe80::102:304:506:708 peer fe80::90a:b0c:d0e:f10/128" in info["addr"]
    assert info["ll"] == ["fe80::102:304:506:708", "fe80::90a:b0c:d0e:f10"]
    assert "default dev ppp0" in info["routes"] and "metric 321" in info["routes"]
    assert "192.0.2.0/24 dev ppp0" in info["routes"]
    assert "default" not in info["routes_after"] and "192.0.2.0" not in info["routes_after"]
    assert not info["exists_after_close"]


@pytest.mark.parametrize("opener", ["pytun", "ioctl"])
def test_permission_error_is_a_sentence(opener: str) -> None:
    """Without CAP_NET_ADMIN the error says what is missing, through either opener (pytun's
    error is an OSError carrying EPERM, not a PermissionError).  Root with every capability
    dropped keeps python-pytun importable, as a normal install has it."""
    code = ("from pppstack.io.tun import TunDevice, TunPermissionError\n"
            f"try:\n    TunDevice.create('ppp%d', use_pytun={opener == 'pytun'})\n"
            "except TunPermissionError as e:\n    print('PERM', e.strerror)\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all",
                           sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30)
    assert "PERM" in proc.stdout, proc.stderr
    assert "root or CAP_NET_ADMIN" in proc.stdout
