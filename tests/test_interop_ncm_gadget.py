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


def _start_ncm_up(ncm_guest: NcmGadgetGuest, tag: str, ifname: str, **extra: str) -> str:
    """run_ncm_up in its own network namespace (static address, --json); returns the nsenter prefix."""
    more = "".join(f", {k}={v}" for k, v in extra.items())
    script = (
        "import ipaddress, logging, sys\n"
        "from pppstack.io.ncmlink import NcmUpOptions, run_ncm_up\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        f"opts = NcmUpOptions(usb='{GADGET_VID:04x}:{GADGET_PID:04x}', ifname='{ifname}', json=True, noipv6=True,\n"
        f"    local_ip=ipaddress.IPv4Interface('{HOST_IP}/24'), gateway=ipaddress.IPv4Address('{GADGET_IP}'),\n"
        f"    run_dir='/tmp/run-{tag}', carrier_timeout=20{more})\n"
        "rc = run_ncm_up(opts)\n"
        "print('EXIT', int(rc), rc.name, flush=True)\n"
        "sys.exit(int(rc))\n")
    ncm_guest.guest.write_file(f"/tmp/{tag}.py", script)
    ncm_guest.shell(f"cd /tmp && (unshare -n sh -c 'ip link set lo up; exec {GUEST_PY} /tmp/{tag}.py' "
                    f"> /tmp/{tag}.log 2>&1 & echo $! > /tmp/{tag}.pid)")
    ns = f"nsenter -t $(cat /tmp/{tag}.pid) -n"
    rc, _ = ncm_guest.run(f"i=0; until {ns} ip addr show dev {ifname} 2>/dev/null | grep -q 'inet {HOST_IP}'; do "
                          "i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done", timeout=40)
    assert rc == 0, ncm_guest.shell(f"cat /tmp/{tag}.log")
    return ns


def _stop_ncm_up(ncm_guest: NcmGadgetGuest, tag: str) -> str:
    ncm_guest.run(f"p=$(cat /tmp/{tag}.pid); kill $p 2>/dev/null; i=0; "
                  "while kill -0 $p 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; kill -9 $p; true",
                  timeout=30)
    return ncm_guest.shell(f"cat /tmp/{tag}.log")


def _tun_counters(ncm_guest: NcmGadgetGuest, ns: str, ifname: str) -> dict[str, int]:
    """The TUN's packets handed to pppstack and dropped in its queue, and what the namespace's
    stack sent besides the flood's UDP (IPv4 non-UDP, IPv6) - /proc/net is per namespace."""
    out = ncm_guest.shell(f"{ns} sh -c 'cat /proc/net/dev; cat /proc/net/snmp; cat /proc/net/snmp6 2>/dev/null'")
    line = next(ln for ln in out.splitlines() if f"{ifname}:" in ln)
    fields = [int(x) for x in line.split(":", 1)[1].split()]
    snmp = [ln.split() for ln in out.splitlines() if ln.startswith(("Ip:", "Udp:"))]
    ip = dict(zip(snmp[0][1:], snmp[1][1:], strict=True))      # header line, then values
    udp = dict(zip(snmp[2][1:], snmp[3][1:], strict=True))
    ip6 = next((int(ln.split()[1]) for ln in out.splitlines() if ln.startswith("Ip6OutRequests")), 0)
    return {"tx_packets": fields[9], "tx_dropped": fields[11],
            "other": int(ip["OutRequests"]) - int(udp["OutDatagrams"]) + ip6}


@pytest.mark.parametrize(("count", "size"), [(20000, 60), (4000, 1472)], ids=["small", "full-size"])
def test_udp_flood_loses_nothing_inside_pppstack(ncm_guest: NcmGadgetGuest, count: int, size: int) -> None:
    """Issue 12.1: a UDP flood into the TUN faster than USB takes it.  Every datagram the kernel
    handed pppstack (the TUN's tx_packets) reaches the gadget's socket; what could not wait is
    dropped by the kernel's TUN queue (its tx_dropped), never by us (the --json summary)."""
    tag = f"flood{size}"
    ncm_guest.shell("sysctl -qw net.core.rmem_max=134217728 net.core.netdev_max_backlog=100000")
    ns = _start_ncm_up(ncm_guest, tag, "ncm2")
    try:
        flood = "/mnt/src/tests/guest/snippets/udp_flood.py"
        ncm_guest.shell(f"({GUEST_PY} {flood} serve 5010 3 > /tmp/{tag}.rx 2>&1 &); "
                        f"i=0; until grep -q listening /tmp/{tag}.rx || [ $i -gt 50 ]; do sleep 0.1; i=$((i+1)); done")
        gadget_before = ncm_guest.shell("cat /sys/class/net/usb0/statistics/rx_packets "
                                        "/sys/class/net/usb0/statistics/rx_dropped; grep Udp: /proc/net/snmp")
        before = _tun_counters(ncm_guest, ns, "ncm2")
        rc, out = ncm_guest.run(f"{ns} {GUEST_PY} {flood} send {GADGET_IP} 5010 {count} {size}", timeout=300)
        assert rc == 0, out
        sent = json.loads(out.strip().splitlines()[-1])
        ncm_guest.run(f"i=0; while ! grep -q received /tmp/{tag}.rx && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); "
                      "done", timeout=320)
        got = json.loads(ncm_guest.shell(f"cat /tmp/{tag}.rx").strip().splitlines()[-1])
        after = _tun_counters(ncm_guest, ns, "ncm2")
        gadget_after = ncm_guest.shell("cat /sys/class/net/usb0/statistics/rx_packets "
                                       "/sys/class/net/usb0/statistics/rx_dropped; grep Udp: /proc/net/snmp")
        # and a TCP transfer after the flood keeps its checksum
        xfer = "/mnt/src/tests/guest/snippets/tcp_xfer.py"
        ncm_guest.shell(f"({GUEST_PY} {xfer} serve 5011 > /tmp/{tag}.tcp 2>&1 &); sleep 1")
        rc, out = ncm_guest.run(f"{ns} {GUEST_PY} {xfer} send {GADGET_IP} 5011 1048576", timeout=180)
        assert rc == 0, out
        tcp_sent = json.loads(out.strip().splitlines()[-1])
        ncm_guest.run(f"i=0; while ! grep -q md5 /tmp/{tag}.tcp && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done")
        tcp_got = json.loads(ncm_guest.shell(f"cat /tmp/{tag}.tcp").strip().splitlines()[-1])
    finally:
        log = _stop_ncm_up(ncm_guest, tag)
    read_by_us = after["tx_packets"] - before["tx_packets"]
    kernel_dropped = after["tx_dropped"] - before["tx_dropped"]
    other = after["other"] - before["other"]       # the namespace's own traffic, not the flood's
    summary = json.loads(next(ln for ln in log.splitlines() if ln.startswith("{")))
    print(f"UDP flood {count} x {size} B: sent {sent['sent']}, read by pppstack {read_by_us}, arrived "
          f"{got['received']} ({got['distinct']} distinct), kernel TUN queue dropped {kernel_dropped}, other {other}, "
          f"pppstack dropped {summary.get('dropped_by_pppstack')}, paused reading {summary.get('usb_tx_paused')} times")
    assert summary["dropped_by_pppstack"] == 0 and summary["usb_tx_dropped"] == 0, summary
    assert got["distinct"] == got["received"] and 0 <= other <= 5, (got, before, after)
    assert read_by_us - other <= got["received"] <= read_by_us, (sent, got, before, after, gadget_before,
                                                                 gadget_after, {k: v for k, v in summary.items() if v})
    assert sent["sent"] <= read_by_us + kernel_dropped <= sent["sent"] + other, (sent, before, after)
    assert (tcp_got["md5"], tcp_got["bytes"]) == (tcp_sent["md5"], 1048576)
    assert "EXIT 0 OK" in log and "Traceback" not in log, log


UNPLUG = {   # how the device goes away, and how it comes back for the next test
    # the host unbinds the device: usbfs kills the URBs in flight (libusb: LIBUSB_ERROR_IO,
    # "Input/Output Error"), then answers ENODEV - the case that used to exit 21 USB_ERROR
    "host-unbind": ("echo 1-1 > /sys/bus/usb/drivers/usb/unbind", "echo 1-1 > /sys/bus/usb/drivers/usb/bind"),
    # the gadget leaves the bus (its UDC unbound): a disconnect the hub reports
    "gadget-leaves": ("echo '' > /sys/kernel/config/usb_gadget/ncm/UDC",
                      "echo dummy_udc.0 > /sys/kernel/config/usb_gadget/ncm/UDC"),
}


@pytest.mark.parametrize("how", list(UNPLUG))
def test_unplugging_mid_transfer_is_port_vanished(ncm_guest: NcmGadgetGuest, how: str) -> None:
    """Issue 12.4: the device goes away while a TCP transfer runs: exit 16 PORT_VANISHED, as on
    the serial path, with the sentence for it - not 21 USB_ERROR "Input/Output Error"."""
    tag = "unplug"
    unplug, replug = UNPLUG[how]
    ns = _start_ncm_up(ncm_guest, tag, "ncm3")
    try:
        xfer = "/mnt/src/tests/guest/snippets/tcp_xfer.py"
        ncm_guest.shell(f"({GUEST_PY} {xfer} serve 5012 > /tmp/{tag}.tcp 2>&1 &); sleep 1")
        ncm_guest.shell(f"({ns} {GUEST_PY} {xfer} send {GADGET_IP} 5012 50000000 > /tmp/{tag}.snd 2>&1 &)")
        # unplug once data is flowing (the gadget's usb0 has received a good part of a megabyte)
        rx = "/sys/class/net/usb0/statistics/rx_bytes"
        ncm_guest.run(f"b=$(cat {rx}); i=0; while [ $(( $(cat {rx}) - b )) -lt 300000 ] && [ $i -lt 300 ]; "
                      "do sleep 0.1; i=$((i+1)); done", timeout=40)
        ncm_guest.shell(unplug)
        rc, _ = ncm_guest.run(f"p=$(cat /tmp/{tag}.pid); i=0; while kill -0 $p 2>/dev/null && [ $i -lt 100 ]; "
                              "do sleep 0.1; i=$((i+1)); done; ! kill -0 $p 2>/dev/null", timeout=20)
        log = ncm_guest.shell(f"cat /tmp/{tag}.log")
        assert rc == 0, "still running 10 s after the unplug:\n" + log
    finally:
        _stop_ncm_up(ncm_guest, tag)
        # plug the gadget back in for whatever runs next in this guest
        ncm_guest.run(f"{replug}; ip addr add {GADGET_IP}/24 dev usb0 2>/dev/null; "
                      "ip link set usb0 up; i=0; while [ \"$(cat /sys/bus/usb/devices/1-1/bConfigurationValue "
                      "2>/dev/null)\" != 1 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done", timeout=30)
    assert "EXIT 16 PORT_VANISHED" in log, log
    assert "dropped off USB" in log and "Traceback" not in log, log
