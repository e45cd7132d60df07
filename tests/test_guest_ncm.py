"""The NCM gadget guest itself: Linux's usb_f_ncm on dummy_hcd answers like an NCM device.

Driven from inside the guest by a pyusb script with hand-built NTB16 blocks (nothing from our
ncm package), so a failure here is the guest's, not the codec's.
"""

from __future__ import annotations

import json

import pytest

from tests.guest.ncm import GADGET_IP, GADGET_MAC, GADGET_PID, GADGET_VID, HOST_MAC, NcmGadgetGuest, shared_ncm_guest

pytestmark = pytest.mark.guest


@pytest.fixture(scope="module")
def ncm_guest() -> NcmGadgetGuest:
    return shared_ncm_guest()


def test_gadget_enumerates_and_checkout_is_shared(ncm_guest: NcmGadgetGuest) -> None:
    out = ncm_guest.shell("cat /sys/bus/usb/devices/1-1/idVendor /sys/bus/usb/devices/1-1/idProduct; "
                          "test -e /sys/bus/usb/devices/1-1:1.0/driver && echo BOUND || echo UNBOUND; "
                          "ls /mnt/src; ip -o addr show usb0")
    assert f"{GADGET_VID:04x}\n{GADGET_PID:04x}" in out
    assert "UNBOUND" in out, "no kernel driver may claim the NCM function (our pyusb code drives it)"
    assert "pyproject.toml" in out
    assert f"inet {GADGET_IP}/24" in out
    rc, out = ncm_guest.python("import usb.core, sys; print(sys.version_info[:2], usb.__version__)")
    assert rc == 0 and "(3, 11)" in out, out


def test_gadget_answers_ntb_parameters_arp_and_ping(ncm_guest: NcmGadgetGuest) -> None:
    rc, out = ncm_guest.run(
        f"cd /tmp && python3 /mnt/src/tests/guest/snippets/ntb_ping.py {GADGET_VID:#x} {GADGET_PID:#x} "
        f"{HOST_MAC} {GADGET_IP} 192.168.77.2", timeout=60)
    assert rc == 0, out
    res = json.loads(out.strip().splitlines()[-1])
    print(res)
    assert res["w_length"] == 28
    assert res["formats"] & 1, "NTB16 must be supported"
    assert res["in_max"] >= 2048 and res["out_max"] >= 2048
    assert res["out_divisor"] >= 1 and res["out_align"] >= 1
    # NETWORK_CONNECTION (0x00) with wValue 1: the gadget reports the link up after alt setting 1
    assert any(req == 0x00 and value == 1 for _t, req, value in res["notifications"]), res["notifications"]
    assert res["gadget_mac"] == GADGET_MAC
    assert res["echo_payload_ok"]
