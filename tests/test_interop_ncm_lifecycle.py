"""`pppstack up --mode ncm` has PPP's session lifecycle, against Linux's NCM gadget (usb_f_ncm
on dummy_hcd in a QEMU guest): ip-up/ip-down with pppd's arguments and environment, SIGHUP
hangs up and redials with --persist, and a device that leaves the bus and comes back is dialled
again; SIGTERM then ends it cleanly (exit 0).  Each call is proven by a ping through it."""

from __future__ import annotations

import re

import pytest

from tests.guest.ncm import GADGET_IP, GADGET_PID, GADGET_VID, NcmGadgetGuest, shared_ncm_guest

pytestmark = pytest.mark.guest

HOST_IP = "192.168.77.2"
GUEST_ENV = "PYTHONPATH=/mnt/src PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1"
HOOK = ('#!/bin/sh\necho "$1|$2|$3|$4|$5|$6|$IFNAME|$IPLOCAL|$IPREMOTE|$LINKNAME|${CONNECT_TIME-}|'
        '${BYTES_SENT-}|${BYTES_RCVD-}" >> "$0.log"\n')
TAG = "lc"
NS = f"nsenter -t $(cat /tmp/{TAG}.pid) -n"
UDC = "/sys/kernel/config/usb_gadget/ncm/UDC"
# the gadget comes back on the bus (binding may be refused while the unbind finishes), the host
# configures it again, and the gadget's usb0 gets its address back
REPLUG = (f"i=0; until grep -q dummy {UDC} || echo dummy_udc.0 > {UDC}; do i=$((i+1)); [ $i -lt 100 ] || "
          "{ echo 'UDC bind refused'; exit 1; }; sleep 0.2; done; i=0; "
          "while [ \"$(cat /sys/bus/usb/devices/1-1/bConfigurationValue 2>/dev/null)\" != 1 ]; do i=$((i+1)); "
          "[ $i -lt 300 ] || { echo 'not configured again'; ls /sys/bus/usb/devices; exit 1; }; sleep 0.1; done; "
          f"ip addr add {GADGET_IP}/24 dev usb0 2>/dev/null; ip link set usb0 up")


@pytest.fixture(scope="module")
def ncm_guest() -> NcmGadgetGuest:
    return shared_ncm_guest()


def _count(g: NcmGadgetGuest, hook: str) -> int:
    return int(g.shell(f"cat /tmp/{TAG}/{hook}.log 2>/dev/null | wc -l").strip() or 0)


def _wait_hooks(g: NcmGadgetGuest, hook: str, n: int, timeout: int = 60) -> None:
    rc, _ = g.run(f"i=0; until [ $(cat /tmp/{TAG}/{hook}.log 2>/dev/null | wc -l) -ge {n} ]; do "
                  f"i=$((i+1)); [ $i -lt {timeout * 10} ] || exit 1; sleep 0.1; done", timeout=timeout + 10)
    assert rc == 0, f"{hook} did not run {n} times:\n" + g.shell(f"cat /tmp/{TAG}.log")


def _ping(g: NcmGadgetGuest) -> None:
    # the address is on once ip-up ran; the gadget may need a moment after a re-plug
    rc, out = g.run(f"{NS} ping -c 3 -i 0.3 -W 3 {GADGET_IP}", timeout=40)
    assert rc == 0 and re.search(r"[23] (packets )?received", out), out + g.shell(f"cat /tmp/{TAG}.log")


def test_persist_hooks_sighup_and_replug_against_the_gadget(ncm_guest: NcmGadgetGuest) -> None:
    g = ncm_guest
    g.shell(f"rm -rf /tmp/{TAG} && mkdir -p /tmp/{TAG}")
    for hook in ("ip-up", "ip-down"):
        g.guest.write_file(f"/tmp/{TAG}/{hook}", HOOK)
        g.shell(f"chmod 755 /tmp/{TAG}/{hook}")
    g.guest.write_file(f"/tmp/{TAG}/peer", "persist\nholdoff 1\nmaxfail 30\nipparam gadget\nnoipv6\n")
    argv = (f"up --mode ncm --usb {GADGET_VID:04x}:{GADGET_PID:04x} --ifname ncm7 --local-ip {HOST_IP}/24 "
            f"--gateway {GADGET_IP} --file /tmp/{TAG}/peer --ip-up /tmp/{TAG}/ip-up --ip-down /tmp/{TAG}/ip-down "
            f"--run-dir /tmp/{TAG}/run")
    g.shell(f"cd /tmp && (unshare -n sh -c 'ip link set lo up; exec env {GUEST_ENV} python3 -m pppstack {argv}' "
            f"> /tmp/{TAG}.log 2>&1 & echo $! > /tmp/{TAG}.pid)")
    try:
        _wait_hooks(g, "ip-up", 1)
        _ping(g)
        g.shell(f"kill -HUP $(cat /tmp/{TAG}.pid)")             # hang up and dial again
        _wait_hooks(g, "ip-down", 1)
        _wait_hooks(g, "ip-up", 2)
        _ping(g)
        # the device leaves the bus and comes back: persist dials it again
        g.shell(f"echo '' > {UDC}")
        _wait_hooks(g, "ip-down", 2)
        rc, out = g.run(REPLUG, timeout=40)
        assert rc == 0, out + g.shell(f"cat /tmp/{TAG}.log")
        _wait_hooks(g, "ip-up", 3, timeout=90)
        _ping(g)
    finally:
        g.run(f"p=$(cat /tmp/{TAG}.pid); kill $p 2>/dev/null; i=0; "
              "while kill -0 $p 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; kill -9 $p; true",
              timeout=30)
        # whatever happened, the gadget is plugged in again for the next test
        g.run(REPLUG + "; true", timeout=40)
    log = g.shell(f"cat /tmp/{TAG}.log")
    ups = g.shell(f"cat /tmp/{TAG}/ip-up.log").split()
    downs = g.shell(f"cat /tmp/{TAG}/ip-down.log").split()
    assert "Traceback" not in log, log
    assert "exit code 0 (ok)" in log and "pppstack: The link was closed on request (SIGTERM received)." in log, log
    assert "redialling (SIGHUP)" in log and "persist: dialling again" in log, log
    assert "dropped off USB" in log, log                      # the unplug was said as such, then redialled
    assert len(ups) == len(downs) == 3 and "3 call(s)" in log, (ups, downs, log)
    usb = f"{GADGET_VID:04x}:{GADGET_PID:04x}"
    for line in ups:     # pppd's six arguments, then its environment
        assert line.startswith(f"ncm7|{usb}|115200|{HOST_IP}|{GADGET_IP}|gadget|ncm7|{HOST_IP}|{GADGET_IP}||"), line
    for line in downs:   # ip-down also has the connect time and the bytes both ways (the pings)
        f = line.split("|")
        assert f[:6] == ["ncm7", usb, "115200", HOST_IP, GADGET_IP, "gadget"], line
        assert f[10].isdigit() and int(f[11]) > 0 and int(f[12]) > 0, line
    assert not g.shell(f"ls /tmp/{TAG}/run 2>/dev/null | grep ncm7 || true").strip()   # status file gone
