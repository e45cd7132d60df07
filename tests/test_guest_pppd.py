"""The pppd guest itself: it boots, answers AT like a modem, and pppd speaks PPP after CONNECT.

These checks use nothing of pppstack: raw bytes on the host pty against Debian's pppd.
"""

from __future__ import annotations

import os

import pytest

from tests.guest.pppd import PppdGuest, at_command, open_host_pty, read_until, shared_pppd_guest

pytestmark = pytest.mark.guest


def _fcs16(data: bytes) -> int:
    # RFC 1662 appendix C.2, bit by bit (independent of pppstack.hdlc on purpose)
    fcs = 0xFFFF
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs


def _unescape(frame: bytes) -> bytes:
    out = bytearray()
    it = iter(frame)
    for b in it:
        out.append(next(it) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


@pytest.fixture(scope="module")
def pppd_guest() -> PppdGuest:
    return shared_pppd_guest()


def test_guest_boots_with_ppp_support(pppd_guest: PppdGuest) -> None:
    out = pppd_guest.shell("ls -l /dev/ppp; cat /proc/modules; pppd --version 2>&1")
    assert "ppp_async" in out and "ppp_generic" in out
    assert "pppd version 2.4.9" in out
    assert pppd_guest.boot_seconds is not None and pppd_guest.boot_seconds < 60


def test_at_dial_then_pppd_sends_lcp_configure_request(pppd_guest: PppdGuest) -> None:
    pppd_guest.start_modem(["noauth"])
    fd = open_host_pty(pppd_guest.pty_path)
    try:
        reply = at_command(fd, "AT", timeout=20, retry=0.5)
        assert reply.endswith(b"\r\nOK\r\n")
        assert b"+CPIN: READY" in at_command(fd, "AT+CPIN?")
        assert at_command(fd, "ATE0").endswith(b"OK\r\n")
        os.write(fd, b'AT+CGDCONT=1,"IP","internet"\r')
        assert read_until(fd, b"OK\r\n", 5) == b"\r\nOK\r\n"   # echo is off now
        os.write(fd, b"ATD*99#\r")
        after = read_until(fd, b"CONNECT", 5)
        assert b"CONNECT 150000000" in after
        # pppd's first LCP Configure-Request: flag, FF 7D 23 (address, escaped control), C0 21
        data = read_until(fd, b"\x7e\xff\x7d\x23\xc0\x21", 20)
        data = read_until(fd, b"\x7e", 5, bytearray(data[data.index(b"\x7e\xff\x7d\x23"):]))
        data = read_until(fd, b"\x7e", 5, bytearray(data)) if data.count(b"\x7e") < 2 else data
        raw = data[1:data.index(b"\x7e", 1)]
        frame = _unescape(raw)
        assert _fcs16(frame) == 0xF0B8, "pppd's frame must carry a good FCS-16"
        assert frame[:4] == b"\xff\x03\xc0\x21" and frame[4] == 1   # LCP Configure-Request
        options = frame[8:-2]
        kinds = []
        while options:
            kinds.append(options[0])
            options = options[options[1]:]
        assert 5 in kinds   # magic number
    finally:
        os.close(fd)
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    assert "sent [LCP ConfReq" in log
    assert any("CGDCONT" in line for line in pppd_guest.at_log())
