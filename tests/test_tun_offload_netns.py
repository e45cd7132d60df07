"""TUN offloads end to end: `up` and `serve` in two network namespaces over a pty, real TCP both
ways, bytes verified by SHA-256; and the kernel's own interface counters as the witness that
super-packets crossed the TUN (a TUN counts one packet per read or write, so an average above the
MTU can only be GSO super-packets: TSO on the sending side's reads, our GRO on the receiving
side's writes).  With PPPSTACK_TUN_OFFLOAD=0 the same transfer crosses at MTU size.

Also: both ways of opening the device (python-pytun, raw ioctl) get offloads, the switch turns
them off, and a kernel that refuses TUNSETOFFLOAD leaves a working plain TUN and one log line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid

import pytest

from pppstack import offload
from pppstack.io import tun as tunmod
from tests import test_e2e_link as e2e

pytestmark = pytest.mark.netns   # root: the namespaces fixture fails with a sentence without it
tmp_path = e2e.tmp_path
namespaces = e2e.namespaces
_release_ptys = e2e._release_ptys
MTU = 1500


def _counters(ns: e2e.Netns, ifname: str) -> dict[str, int]:
    out = {}
    for key in ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes"):
        out[key] = int(ns.run("cat", f"/sys/class/net/{ifname}/statistics/{key}").stdout)
    return out


def _serve_ifname(ns: e2e.Netns) -> str:
    names = [line.split(":")[1].strip() for line in ns.run("ip", "-o", "link").stdout.splitlines()]
    (name,) = [n for n in names if n.startswith("ppp")]
    return name


def _transfer(src: e2e.Netns, dst: e2e.Netns, dst_ip: str, port: int, total: int) -> None:
    recv = subprocess.Popen(dst.cmd(sys.executable, "-c", e2e.RECEIVER, dst_ip, str(port)),
                            stdout=subprocess.PIPE, text=True, env=e2e.ENV)
    try:
        assert recv.stdout is not None and recv.stdout.readline().strip() == "listening"
        sent = src.run(sys.executable, "-c", e2e.SENDER, dst_ip, str(port), str(total), timeout=300)
        assert sent.returncode == 0, sent.stderr
        got = recv.communicate(timeout=60)[0].split()
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()
    n_sent, digest = sent.stdout.split()
    assert int(n_sent) == total and int(got[0]) == total
    assert got[1] == digest


def _avg(after: dict[str, int], before: dict[str, int], kind: str) -> float:
    packets = after[f"{kind}_packets"] - before[f"{kind}_packets"]
    return (after[f"{kind}_bytes"] - before[f"{kind}_bytes"]) / max(1, packets)


@pytest.mark.parametrize("switch", ["1", "0"])
def test_tcp_both_ways_through_offloaded_tuns(namespaces, tmp_path, monkeypatch, switch) -> None:
    monkeypatch.setitem(e2e.ENV, "PPPSTACK_TUN_OFFLOAD", switch)
    a, b = namespaces
    master, slave_path = e2e._raw_pty()
    try:
        up, serve = e2e._start_pair(a, b, tmp_path, device=slave_path, serve_master=master)
    finally:
        os.close(master)
    try:
        up.wait_for("IPCP is up", 30)
        serve.wait_for("IPCP is up", 10)
        sif = _serve_ifname(b)
        total = 24 * 1024 * 1024
        a0, b0 = _counters(a, "ppp7"), _counters(b, sif)
        _transfer(a, b, e2e.SERVER_IP, 5001, total)        # up reads (TSO), serve writes (GRO)
        a1, b1 = _counters(a, "ppp7"), _counters(b, sif)
        _transfer(b, a, e2e.CLIENT_IP, 5002, total)        # serve reads, up writes
        a2, b2 = _counters(a, "ppp7"), _counters(b, sif)
        sizes = {"up reads": _avg(a1, a0, "tx"), "serve writes": _avg(b1, b0, "rx"),
                 "serve reads": _avg(b2, b1, "tx"), "up writes": _avg(a2, a1, "rx")}
        print(f"offload={switch}: average bytes per TUN crossing {sizes}")
        if switch == "1":
            assert all(s > 2 * MTU for s in sizes.values()), sizes
        else:
            assert all(s <= MTU for s in sizes.values()), sizes
        assert up.p.poll() is None and serve.p.poll() is None, up.log + serve.log
    finally:
        up.stop()
        serve.stop()


def _name() -> str:
    return f"pof{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("use_pytun", [True, False] if tunmod._pytun is not None else [False])
def test_both_openers_get_offloads_and_the_switch_turns_them_off(monkeypatch, use_pytun) -> None:
    assert offload.available, "offloads need pppstack's C core: install a C compiler, then pip install -e ."
    monkeypatch.setenv("PPPSTACK_TUN_OFFLOAD", "1")
    with tunmod.TunDevice.create(_name(), use_pytun=use_pytun) as t:
        assert t.offload is not None
    monkeypatch.setenv("PPPSTACK_TUN_OFFLOAD", "0")
    with tunmod.TunDevice.create(_name(), use_pytun=use_pytun) as t:
        assert t.offload is None
    monkeypatch.delenv("PPPSTACK_TUN_OFFLOAD")    # opt-in: off when not asked for
    with tunmod.TunDevice.create(_name(), use_pytun=use_pytun) as t:
        assert t.offload is None
    with tunmod.TunDevice.create(_name(), use_pytun=use_pytun, offload=True) as t:
        assert t.offload is not None


@pytest.mark.parametrize("refused", [tunmod.TUNSETOFFLOAD, tunmod.TUNSETVNETHDRSZ])
def test_a_refused_offload_ioctl_leaves_a_plain_tun_and_one_line(monkeypatch, caplog, refused) -> None:
    real = tunmod.fcntl.ioctl

    def ioctl(fd, request, arg=0, *rest):
        if request == refused:
            raise OSError(22, "Invalid argument")
        return real(fd, request, arg, *rest)

    monkeypatch.setattr(tunmod.fcntl, "ioctl", ioctl)
    monkeypatch.setenv("PPPSTACK_TUN_OFFLOAD", "1")
    name = _name()
    with caplog.at_level(logging.INFO, logger="pppstack.tun"):
        with tunmod.TunDevice.create(name, use_pytun=False) as t:
            assert t.offload is None
            assert t.read() == b"" and t.read_batch() == []    # a working fd, nothing waiting
    lines = [r.getMessage() for r in caplog.records if "offloads are off" in r.getMessage()]
    assert len(lines) == 1 and "Invalid argument" in lines[0], lines
