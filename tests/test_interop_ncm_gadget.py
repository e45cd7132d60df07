"""Interop with a real NCM device: Linux's usb_f_ncm gadget on dummy_hcd in a QEMU guest.

Our code runs inside the guest on Debian's python3 + python3-usb, with the checkout shared over
9p; the gadget's usb0 (192.168.77.1) is the far end. First our NTB codec alone against the
gadget (NTB16 and NTB32, NDP first and at the end, many datagrams per block), then the whole NCM
path — ncm/usb.py, the L2 shim and a TUN device — with ping and a TCP transfer whose checksum
must match. Throughput seen through the gadget is printed (TCG-emulated, so only indicative).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.guest.ncm import GADGET_IP, GADGET_PID, GADGET_VID, HOST_MAC, NcmGadgetGuest, shared_ncm_guest

pytestmark = pytest.mark.guest

HOST_IP = "192.168.77.2"


@pytest.fixture(scope="module")
def ncm_guest() -> NcmGadgetGuest:
    return shared_ncm_guest()


def test_our_ntb_codec_against_the_linux_gadget(ncm_guest: NcmGadgetGuest) -> None:
    rc, out = ncm_guest.run(
        f"cd /tmp && PYTHONPATH=/mnt/src PYTHONDONTWRITEBYTECODE=1 python3 "
        f"/mnt/src/tests/guest/snippets/ncm_codec_gadget.py {GADGET_VID:#x} {GADGET_PID:#x} {HOST_MAC} "
        f"{GADGET_IP} {HOST_IP}", timeout=120)
    assert rc == 0, out
    res = json.loads(out.strip().splitlines()[-1])
    print(res)
    for name in ("ntb16", "ntb16_ndp_at_end", "ntb32", "ntb32_ndp_at_end"):
        assert res[name]["echoed_intact"] == res[name]["sent"] == 8, (name, res[name])


GUEST_PY = "env PYTHONPATH=/mnt/src PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 python3"


def _events(ncm_guest: NcmGadgetGuest) -> list[dict]:
    rc, out = ncm_guest.run("cat /tmp/ncm.log")
    events = []
    for line in out.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "Output", "text": line})
    return events


def _wait_event(ncm_guest: NcmGadgetGuest, kind: str, timeout: float = 60) -> dict:
    ncm_guest.run(f"i=0; while ! grep -q '\"event\": \"{kind}\"' /tmp/ncm.log && [ $i -lt {timeout * 10} ]; do "
                  "sleep 0.1; i=$((i+1)); done", timeout=timeout + 5)
    for e in _events(ncm_guest):
        if e.get("event") == kind:
            return e
    raise AssertionError(f"no {kind}: {_events(ncm_guest)}")


@pytest.mark.parametrize("ntb32", [False, True], ids=["ntb16", "ntb32"])
def test_our_ncm_path_pings_and_moves_tcp_through_the_gadget(ncm_guest: NcmGadgetGuest, ntb32: bool) -> None:
    flag = " --ntb32" if ntb32 else ""
    ncm_guest.shell(
        f"cd /tmp && (unshare -n sh -c 'ip link set lo up; exec {GUEST_PY} -m tests.guest.ncmclient "
        f"--vid {GADGET_VID:#x} --pid {GADGET_PID:#x}{flag}' > /tmp/ncm.log 2>&1 & echo $! > /tmp/ncm.pid)")
    try:
        bound = _wait_event(ncm_guest, "Bound")
        assert bound["ntb32"] is ntb32
        _wait_event(ncm_guest, "Ready")
        ns = "nsenter -t $(cat /tmp/ncm.pid) -n"
        rc, out = ncm_guest.run(f"{ns} ping -c 5 -W 3 {GADGET_IP}", timeout=40)
        assert rc == 0 and re.search(r"[345] packets received", out), out + json.dumps(_events(ncm_guest))
        nbytes = 2 * 1024 * 1024
        xfer = "/mnt/src/tests/guest/snippets/tcp_xfer.py"
        # our side -> gadget: the gadget's stack receives on usb0 in the guest's root namespace
        ncm_guest.shell(f"({GUEST_PY} {xfer} serve 5001 > /tmp/rx.json 2>&1 &); sleep 1")
        rc, out = ncm_guest.run(f"{ns} {GUEST_PY} {xfer} send {GADGET_IP} 5001 {nbytes}", timeout=180)
        assert rc == 0, out
        sent = json.loads(out.strip().splitlines()[-1])
        ncm_guest.run("i=0; while ! grep -q md5 /tmp/rx.json && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done")
        got = json.loads(ncm_guest.shell("cat /tmp/rx.json").strip().splitlines()[-1])
        assert (got["md5"], got["bytes"]) == (sent["md5"], nbytes), (sent, got)
        # gadget -> our side
        ncm_guest.shell(f"({ns} {GUEST_PY} {xfer} serve 5002 > /tmp/rx2.json 2>&1 &); sleep 1")
        rc, out = ncm_guest.run(f"{GUEST_PY} {xfer} send 192.168.77.2 5002 {nbytes}", timeout=180)
        assert rc == 0, out
        sent2 = json.loads(out.strip().splitlines()[-1])
        ncm_guest.run("i=0; while ! grep -q md5 /tmp/rx2.json && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done")
        got2 = json.loads(ncm_guest.shell("cat /tmp/rx2.json").strip().splitlines()[-1])
        assert (got2["md5"], got2["bytes"]) == (sent2["md5"], nbytes), (sent2, got2)
        out_mbit, in_mbit = nbytes * 8 / sent["seconds"] / 1e6, nbytes * 8 / got2["seconds"] / 1e6
        fmt = "NTB32" if ntb32 else "NTB16"
        print(f"NCM gadget ({fmt}, TCG guest): out {out_mbit:.1f} Mbit/s, in {in_mbit:.1f} Mbit/s")
    finally:
        ncm_guest.run("kill $(cat /tmp/ncm.pid) 2>/dev/null; sleep 1; kill -9 $(cat /tmp/ncm.pid) 2>/dev/null; true")
    stats = _events(ncm_guest)[-1]
    assert stats.get("event") == "Stats", _events(ncm_guest)[-5:]


def test_run_ncm_up_against_the_gadget(ncm_guest: NcmGadgetGuest) -> None:
    """The code behind `pppstack up --mode ncm` (pppstack.io.ncmlink.run_ncm_up) with a static
    address, no dial (the gadget reports NETWORK_CONNECTION itself): ping, TCP, clean SIGTERM."""
    script = (
        "import ipaddress, logging, sys\n"
        "from pppstack.io.ncmlink import NcmUpOptions, run_ncm_up\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        f"opts = NcmUpOptions(usb='{GADGET_VID:04x}:{GADGET_PID:04x}', ifname='ncm1',\n"
        f"    local_ip=ipaddress.IPv4Interface('{HOST_IP}/24'), gateway=ipaddress.IPv4Address('{GADGET_IP}'),\n"
        "    run_dir='/tmp/run', carrier_timeout=20)\n"
        "rc = run_ncm_up(opts)\n"
        "print('EXIT', int(rc), rc.name, flush=True)\n"
        "sys.exit(int(rc))\n")
    ncm_guest.guest.write_file("/tmp/ncm_up.py", script)
    ncm_guest.shell(f"cd /tmp && (unshare -n sh -c 'ip link set lo up; exec {GUEST_PY} /tmp/ncm_up.py' "
                    "> /tmp/ncm_up.log 2>&1 & echo $! > /tmp/ncm_up.pid)")
    ns = "nsenter -t $(cat /tmp/ncm_up.pid) -n"
    try:
        rc, out = ncm_guest.run(f"i=0; until {ns} ip addr show dev ncm1 2>/dev/null | grep -q 'inet {HOST_IP}'; do "
                                "i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done", timeout=40)
        assert rc == 0, ncm_guest.shell("cat /tmp/ncm_up.log")
        rc, out = ncm_guest.run(f"{ns} ping -c 5 -W 3 {GADGET_IP}", timeout=40)
        assert rc == 0 and re.search(r"[345] packets received", out), out + ncm_guest.shell("cat /tmp/ncm_up.log")
        xfer = "/mnt/src/tests/guest/snippets/tcp_xfer.py"
        ncm_guest.shell(f"({GUEST_PY} {xfer} serve 5003 > /tmp/rx3.json 2>&1 &); sleep 1")
        rc, out = ncm_guest.run(f"{ns} {GUEST_PY} {xfer} send {GADGET_IP} 5003 1048576", timeout=180)
        assert rc == 0, out
        sent = json.loads(out.strip().splitlines()[-1])
        ncm_guest.run("i=0; while ! grep -q md5 /tmp/rx3.json && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done")
        got = json.loads(ncm_guest.shell("cat /tmp/rx3.json").strip().splitlines()[-1])
        assert (got["md5"], got["bytes"]) == (sent["md5"], 1048576)
    finally:
        ncm_guest.run("p=$(cat /tmp/ncm_up.pid); kill $p 2>/dev/null; i=0; "
                      "while kill -0 $p 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; kill -9 $p; true")
    log = ncm_guest.shell("cat /tmp/ncm_up.log")
    assert "EXIT 0 OK" in log, log
    assert "Traceback" not in log, log
