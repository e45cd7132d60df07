"""Interop with a real NCM device: Linux's usb_f_ncm gadget on dummy_hcd in a QEMU guest.

Our code runs inside the guest on Debian's python3 + python3-usb, with the checkout shared over
9p; the gadget's usb0 (192.168.77.1) is the far end. First our NTB codec alone against the
gadget (NTB16 and NTB32, NDP first and at the end, many datagrams per block), then the whole NCM
path — ncm/usb.py, the L2 shim and a TUN device — with ping and a TCP transfer whose checksum
must match. Throughput seen through the gadget is printed (TCG-emulated, so only indicative).
"""

from __future__ import annotations

import json

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
