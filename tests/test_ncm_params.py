"""NTB parameters (the 28-byte GET_NTB_PARAMETERS answer) and CDC functional descriptors."""

from __future__ import annotations

import pytest

from ncm.params import (
    DEFAULT_MAX_DATAGRAMS,
    NtbParameters,
    parse_functional_descriptors,
    parse_mac_string,
)
from tests.test_ncm_ntb import GADGET_PARAMS

# f_ncm's class-specific descriptors after its control interface descriptor: header (bcdCDC
# 1.10), union (control 0, data 1), Ethernet (iMACAddress string 4, wMaxSegmentSize 1514) and
# NCM (bcdNcmVersion 1.00, bmNetworkCapabilities = ETH_FILTER | CRC_MODE).
F_NCM_EXTRA = bytes.fromhex("0524001001" "0524060001" "0d240f0400000000ea05000000" "06241a000111")


def test_gadget_ntb_parameters() -> None:
    p = NtbParameters.from_bytes(GADGET_PARAMS)
    assert (p.wLength, p.bmNtbFormatsSupported, p.dwNtbInMaxSize, p.dwNtbOutMaxSize) == (28, 3, 16384, 16384)
    assert (p.wNdpOutDivisor, p.wNdpOutPayloadRemainder, p.wNdpOutAlignment) == (4, 0, 4)
    assert p.ntb32_supported and p.out_max_datagrams == DEFAULT_MAX_DATAGRAMS
    assert p.to_bytes() == GADGET_PARAMS
    assert "NTB16+NTB32" in p.describe()


def test_huawei_like_parameters_and_fallbacks() -> None:
    # NTB16 only, 32 KiB in, divisor 32 remainder 2 (values a 155e-style device may report), 16 datagrams
    p = NtbParameters(bmNtbFormatsSupported=1, dwNtbInMaxSize=32768, wNdpOutDivisor=32,
                      wNdpOutPayloadRemainder=2, wNdpOutAlignment=4, wNtbOutMaxDatagrams=16)
    again = NtbParameters.from_bytes(p.to_bytes())
    assert again == p and not again.ntb32_supported
    assert (again.out_divisor, again.out_remainder, again.out_max_datagrams) == (32, 2, 16)
    odd = NtbParameters(wNdpOutDivisor=6, wNdpOutPayloadRemainder=9, wNdpOutAlignment=0)
    assert (odd.out_divisor, odd.out_remainder, odd.out_ndp_alignment) == (4, 0, 4)


@pytest.mark.parametrize(("data", "words"), [
    (GADGET_PARAMS[:27], "27 bytes"),
    (b"\x10\x00" + GADGET_PARAMS[2:], "wLength is 16"),
    (GADGET_PARAMS[:2] + b"\x02\x00" + GADGET_PARAMS[4:], "NTB16"),
    (GADGET_PARAMS[:16] + b"\x10\x00\x00\x00" + GADGET_PARAMS[20:], "cannot hold"),
])
def test_bad_parameters_are_explained(data: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        NtbParameters.from_bytes(data)


def test_longer_answer_is_accepted() -> None:
    assert NtbParameters.from_bytes(GADGET_PARAMS + b"\x00\x00").dwNtbOutMaxSize == 16384


def test_f_ncm_functional_descriptors() -> None:
    fd = parse_functional_descriptors(F_NCM_EXTRA)
    assert fd.header is not None and fd.header.bcdCDC == 0x0110
    assert fd.union is not None and (fd.union.bMasterInterface0, fd.union.bSlaveInterface) == (0, (1,))
    assert fd.ethernet is not None and (fd.ethernet.iMACAddress, fd.ethernet.wMaxSegmentSize) == (4, 1514)
    assert fd.ncm is not None and (fd.ncm.bcdNcmVersion, fd.ncm.bmNetworkCapabilities) == (0x0100, 0x11)
    assert fd.mbim is None and fd.problems == ()


def test_descriptor_garbage_is_reported_not_raised() -> None:
    fd = parse_functional_descriptors(F_NCM_EXTRA[:10] + bytes([40, 0x24, 0x1A]))
    assert fd.union is not None and fd.ncm is None and "past the end" in fd.problems[0]
    fd = parse_functional_descriptors(bytes([3, 0x24, 0x1A]))
    assert fd.ncm is None and "too short" in fd.problems[0]
    assert parse_functional_descriptors(b"").union is None
    # other descriptors in the run (an endpoint companion, vendor subtypes) are skipped
    fd = parse_functional_descriptors(bytes([4, 0x30, 0, 0]) + bytes([4, 0x24, 0x77, 1]) + F_NCM_EXTRA)
    assert fd.ncm is not None and fd.other_subtypes == (0x77,)


@pytest.mark.parametrize(("text", "mac"), [
    ("0C5B8F279A64", bytes.fromhex("0c5b8f279a64")),
    ("0c:5b:8f:27:9a:64", bytes.fromhex("0c5b8f279a64")),
    ("000000000000", None), ("010203040506", None), ("xyz", None), ("", None), (None, None),
])
def test_mac_string(text: str | None, mac: bytes | None) -> None:
    assert parse_mac_string(text) == mac
