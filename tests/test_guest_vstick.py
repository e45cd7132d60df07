"""The installed pppstack against a virtual E3372h-320 that the guest kernel's own drivers bind.

From the stick's first plug-in (CD-ROM mode, usb-storage and sr bound) through the thread's
usb-mode.json switch (usb-storage detached, the CBW sent with pyusb, 12d1:155e back with option
on 1.0-1.2 and cdc_ncm on 1.3), port roles from the real sysfs confirmed with AT, to
``pppstack up --apn internet`` with no --device: switch, pick ttyUSB2 by its descriptors, dial
over the option tty, PPP with real pppd, ping across USB, SIGTERM. The stick: tests/guest/vstick*.py.
"""

from __future__ import annotations

import json
import re

import pytest

from pppstack.exitcodes import ExitCode
from tests.guest import vstick_layout as L
from tests.guest.vstick import VStickGuest, shared_vstick_guest

pytestmark = pytest.mark.guest


@pytest.fixture(scope="module")
def stick() -> VStickGuest:
    return shared_vstick_guest()


def ensure_stick_mode(stick: VStickGuest) -> None:
    if stick.stage() != "stick":
        rc, out = stick.pppstack("modeswitch --wait 30", timeout=90)
        assert rc == 0, out + stick.diag()
    stick.wait_stage("stick", driver="option", timeout=30)


def ports_json(stick: VStickGuest, extra: str = "") -> list[dict]:
    rc, out = stick.pppstack(f"ports --json {extra} 2>/dev/null", timeout=90)
    assert rc == 0, out
    return json.loads(out)


def test_cdrom_mode_is_bound_by_usb_storage_and_reads_as_a_cd(stick: VStickGuest) -> None:
    if stick.stage() != "cdrom":
        stick.replug()
    [m] = ports_json(stick)
    assert m["id"] == f"{L.VENDOR:04x}:{L.CDROM_PRODUCT:04x}" and m["mode"] == "needs_switch"
    [i] = m["interfaces"]
    assert (i["class"], i["driver"], i["role"]) == ("08/06/50", "usb-storage", "mass-storage")
    # sr bound too and READ(10) works: the ISO 9660 volume descriptor at block 16 of the image
    out = stick.shell("dmesg | grep -c 'Attached scsi CD-ROM sr0'; "
                      "dd if=/dev/sr0 bs=2048 skip=16 count=1 2>/dev/null | head -c 6 | od -An -c")
    assert out.split()[0] != "0" and "C   D   0   0   1" in out, out


def test_modeswitch_with_the_threads_usb_mode_json(stick: VStickGuest) -> None:
    if stick.stage() != "cdrom":
        stick.replug()
    rc, out = stick.pppstack("modeswitch --config /tmp/usb-mode.json --wait 30", timeout=90)
    assert rc == 0, out + stick.diag()
    assert "trailing comma ignored" in out
    assert "re-enumerated as 12d1:155e" in out
    assert "interface 2: ff/02/01 modem" in out
    stick.wait_stage("stick", driver="option", timeout=30)
    log = stick.dmesg()
    assert re.search(r"usb 1-1: USB disconnect", log)
    assert "Huawei switch CDB 11063000000100010000000000000000" in stick.fw_log()


def test_ports_names_roles_from_real_sysfs_and_probe_confirms(stick: VStickGuest) -> None:
    ensure_stick_mode(stick)
    [m] = ports_json(stick, "--probe --probe-timeout 1")
    assert m["id"] == f"{L.VENDOR:04x}:{L.STICK_PRODUCT:04x}" and m["mode"] == "stick"
    by_number = {i["number"]: i for i in m["interfaces"]}
    assert [by_number[n]["driver"] for n in range(5)] == ["option", "option", "option", "cdc_ncm", "cdc_ncm"]
    assert [by_number[n]["ttys"] for n in range(3)] == [["ttyUSB0"], ["ttyUSB1"], ["ttyUSB2"]]
    assert by_number[0]["role"] == "pcui" and by_number[2]["role"] == "modem"
    assert by_number[3]["role"] == "ncm-control" and by_number[3]["nets"] == ["wwan0"]
    assert (m["ppp_port"], m["at_port"], m["net_interface"]) == ("/dev/ttyUSB2", "/dev/ttyUSB0", "wwan0")
    assert by_number[0]["probe"]["ok"] and by_number[2]["probe"]["ok"]
    assert not by_number[1]["probe"]["answered"], "the diagnostics port never answers AT"


def test_ports_dump_prints_what_a_hardware_report_needs(stick: VStickGuest) -> None:
    ensure_stick_mode(stick)
    rc, out = stick.pppstack("ports --dump 2>/dev/null", timeout=90)
    assert rc == 0, out
    assert "device 1-1  12d1:155e  bcdDevice 0102  USB 2.00  speed 480 Mbit/s" in out, out
    assert "string 'HUAWEI_MOBILE Modem'" in out and "driver option  device ttyUSB2  role modem" in out, out
    assert "driver cdc_ncm  device wwan0  role ncm-control" in out, out
    assert out.count("interrupt in") >= 3, out      # PCUI and modem notify endpoints, NCM's
    # the raw descriptors hold what sysfs has no file for: usb_f_ncm's CDC functional descriptors
    assert "= class-specific interface (CDC NCM)" in out and "= interface association" in out, out


UP_SCRIPT = r"""
pppstack up --apn internet --debug > /tmp/up.log 2>&1 &
pid=$!
i=0
while ! ip -o addr show 2>/dev/null | grep -q "inet {client} peer" && [ $i -lt 900 ]; do
  kill -0 $pid 2>/dev/null || break
  sleep 0.1; i=$((i+1))
done
ping -c 3 -W 5 {gateway}; echo "PING_RC=$?"
kill -TERM $pid; wait $pid; echo "UP_RC=$?"
"""


def test_up_with_no_device_switches_dials_pppd_and_pings(stick: VStickGuest) -> None:
    if stick.stage() != "cdrom":
        stick.replug()        # a stick just plugged in: CD-ROM mode
    rc, out = stick.run(UP_SCRIPT.format(client=L.PPP_CLIENT, gateway=L.PPP_GATEWAY), timeout=150)
    up_log = stick.run("cat /tmp/up.log", 10)[1]
    diag = f"\n--- up ---\n{up_log}\n{stick.diag()}"
    assert rc == 0, out + diag
    assert "3 packets transmitted, 3 packets received" in out, out + diag
    assert "UP_RC=0" in out, out + diag
    assert "(12d1:1f01) is in CD-ROM mode: sending the mode switch" in up_log
    assert "re-enumerated as 12d1:155e" in up_log
    assert "PPP port /dev/ttyUSB2" in up_log
    assert "closed on request (SIGTERM received)" in up_log
    pppd = stick.pppd_log()
    assert f"remote IP address {L.PPP_CLIENT}" in pppd and "LCP terminated by peer" in pppd


NCM_SCRIPT = r"""
drv() {{ basename "$(readlink /sys/bus/usb/devices/1-1:1.3/driver 2>/dev/null)" 2>/dev/null; }}
echo "BEFORE=$(drv)"
pppstack up --mode ncm --apn internet --debug > /tmp/ncm.log 2>&1 &
pid=$!
i=0
while ! ip -o addr show 2>/dev/null | grep -q "inet {client}" && [ $i -lt 900 ]; do
  kill -0 $pid 2>/dev/null || break
  sleep 0.1; i=$((i+1))
done
echo "DURING=$(drv)"
ping -c 3 -W 5 {gateway}; echo "PING_RC=$?"
kill -TERM $pid; wait $pid; echo "UP_RC=$?"
i=0; while [ -z "$(drv)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "AFTER=$(drv) $(ls /sys/bus/usb/devices/1-1:1.3/net 2>/dev/null)"
"""


def test_up_mode_ncm_unbinds_cdc_ncm_dials_ndisdup_pings_and_rebinds(stick: VStickGuest) -> None:
    ensure_stick_mode(stick)
    rc, out = stick.run(NCM_SCRIPT.format(client=L.PPP_CLIENT, gateway=L.NCM_GATEWAY), timeout=150)
    ncm_log = stick.run("cat /tmp/ncm.log", 10)[1]
    diag = f"\n--- up --mode ncm ---\n{ncm_log}\n{stick.diag()}"
    assert rc == 0, out + diag
    assert "BEFORE=cdc_ncm" in out and "DURING=usbfs" in out, out + diag   # libusb holds it, not cdc_ncm
    assert "3 packets transmitted, 3 packets received" in out, out + diag
    assert "UP_RC=0" in out and "AFTER=cdc_ncm wwan0" in out, out + diag
    assert 'AT^NDISDUP=1,1,"internet"' in ncm_log and "detached the kernel driver from interface 3" in ncm_log
    assert "NCM data path up" in stick.fw_log()


FAULTS_SCRIPT = r"""
up() {{ ip -o addr show 2>/dev/null | grep -q "inet {client} peer"; }}
wait_up() {{ i=0; while ! up && [ $i -lt 900 ]; do kill -0 $pid 2>/dev/null || break; sleep 0.1; i=$((i+1)); done; }}
pppstack up --apn internet --persist --holdoff 1 modem --debug > /tmp/faults.log 2>&1 &
pid=$!
wait_up; ping -c 1 -W 5 {gateway} > /dev/null; echo "PING1=$?"
exec 3< /dev/ttyUSB0        # another program keeps the old PCUI tty open: its number stays taken
echo "brownout 2" > /tmp/vstick/ctl
i=0; while up && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
wait_up; ping -c 1 -W 5 {gateway} > /dev/null; echo "PING2=$?"
exec 3<&-
sleep 2                     # the carrier poll has seen DCD on
echo dcd-drop > /tmp/vstick/ctl
i=0; while up && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
wait_up; ping -c 1 -W 5 {gateway} > /dev/null; echo "PING3=$?"
kill -TERM $pid; wait $pid; echo "UP_RC=$?"
"""


def test_persist_through_a_brownout_and_a_carrier_loss_on_real_option_ttys(stick: VStickGuest) -> None:
    """Brown-out: the stick drops off USB mid-call and comes back in CD-ROM mode; pppstack names
    PORT_VANISHED, switches it again and finds the modem port under its new number (ttyUSB3: the
    old ttyUSB0 is still held open). Then the gadget drops DCD: option hangs the tty up (CLOCAL is
    off with `modem`) and pppstack names the carrier loss, and redials."""
    ensure_stick_mode(stick)
    rc, out = stick.run(FAULTS_SCRIPT.format(client=L.PPP_CLIENT, gateway=L.PPP_GATEWAY), timeout=240)
    log = stick.run("cat /tmp/faults.log", 10)[1]
    diag = f"\n--- up --persist ---\n{log}\n{stick.diag()}"
    assert rc == 0, out + diag
    assert "PING1=0" in out and "PING2=0" in out and "PING3=0" in out and "UP_RC=0" in out, out + diag
    assert "The modem dropped off USB" in log, diag                             # PORT_VANISHED
    assert "(12d1:1f01) is in CD-ROM mode: sending the mode switch" in log.split("dropped off USB", 1)[1], diag
    assert "PPP port /dev/ttyUSB3" in log, diag                                # re-found, new number
    assert "The modem dropped carrier (DCD went off)" in log, diag             # CARRIER_LOST


WRONG_PORT_SCRIPT = r"""
pppstack up --device /dev/ttyUSB0 --apn internet --debug > /tmp/wrong.log 2>&1; echo "UP_RC=$?"
"""


def test_up_on_the_pcui_port_ends_as_a_wrong_port_and_names_the_modem_port(stick: VStickGuest) -> None:
    """The thread's mistake: PPP on ttyUSB0, the PCUI port. It answers AT and even says CONNECT,
    but no PPP follows and the line drops a second later (the firmware runs the simulator's
    wrong-port fault there); pppstack must say so and name ttyUSB2, not retry forever."""
    ensure_stick_mode(stick)
    if "ttyUSB0" not in stick.shell("ls /sys/bus/usb/devices/1-1:1.0/"):
        stick.replug()          # a test before held the old ttyUSB0 open: the PCUI port is numbered on
        ensure_stick_mode(stick)
    rc, out = stick.run(WRONG_PORT_SCRIPT, timeout=120)
    log = stick.run("cat /tmp/wrong.log", 10)[1]
    diag = f"\n--- up --device /dev/ttyUSB0 ---\n{log}\n{stick.diag()}"
    assert rc == 0, out + diag
    assert f"UP_RC={int(ExitCode.NO_CARRIER)}" in out, out + diag     # one call, no redial loop
    assert "--> ATD*99***1#" in log and "<-- CONNECT" in log and "1 call(s)" in log, diag
    assert "this is usually the wrong port" in log, diag
    assert "this modem's PPP port is /dev/ttyUSB2, not /dev/ttyUSB0" in log, diag
    assert "pcui: hang-up" in stick.fw_log(), diag                    # the gadget side dropped it


RESET_SCRIPT = r"""
up() {{ ip -o addr show 2>/dev/null | grep -q "inet {client} peer"; }}
wait_up() {{ i=0; while ! up && [ $i -lt 900 ]; do kill -0 $pid 2>/dev/null || break; sleep 0.1; i=$((i+1)); done; }}
pppstack up --apn internet --persist --holdoff 1 --debug > /tmp/reset.log 2>&1 &
pid=$!
wait_up; ping -c 1 -W 5 {gateway} > /dev/null; echo "PING1=$?"
echo "reset 2" > /tmp/vstick/ctl
i=0; while up && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
wait_up; ping -c 1 -W 5 {gateway} > /dev/null; echo "PING2=$?"
kill -TERM $pid; wait $pid; echo "UP_RC=$?"
"""


def test_persist_through_a_modem_reset(stick: VStickGuest) -> None:
    """The modem resets mid-call: NO CARRIER on the modem port, ^BOOT on the PCUI port, then it
    re-enumerates in CD-ROM mode. pppstack names the NO CARRIER (the first cause), switches the
    stick again, finds its PPP port and the link comes back."""
    ensure_stick_mode(stick)
    if "ttyUSB0" not in stick.shell("ls /sys/bus/usb/devices/1-1:1.0/"):
        stick.replug()          # a test before held the old ttyUSB0 open: start from ttyUSB0..2
        ensure_stick_mode(stick)
    rc, out = stick.run(RESET_SCRIPT.format(client=L.PPP_CLIENT, gateway=L.PPP_GATEWAY), timeout=240)
    log = stick.run("cat /tmp/reset.log", 10)[1]
    diag = f"\n--- up --persist (reset) ---\n{log}\n{stick.diag()}"
    assert rc == 0, out + diag
    assert "PING1=0" in out and "PING2=0" in out and "UP_RC=0" in out, out + diag
    after = log.split("NO CARRIER", 1)
    assert len(after) == 2, diag                                                # the reset's first word
    assert "(12d1:1f01) is in CD-ROM mode: sending the mode switch" in after[1], diag   # re-enumerated
    assert "persist: dialling again" in after[1], diag
    assert "ctl: reset 2" in stick.fw_log(), diag
