"""The pppd guest itself: it boots, answers AT like a modem, and pppd speaks PPP after CONNECT.

These checks use nothing of pppstack: raw bytes on the host pty against Debian's pppd.
"""

from __future__ import annotations

import os

import pytest

from tests.guest.pppd import PppdGuest, at_command, open_host_pty, read_until, shared_pppd_guest
from tests.hdlc_spec import fcs16_bitwise as spec_fcs16

pytestmark = pytest.mark.guest


def _fcs16(data: bytes) -> int:
    # RFC 1662 appendix C.2, bit by bit (independent of pppstack.hdlc on purpose)
    return spec_fcs16(data)


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


def _encode(frame: bytes) -> bytes:
    fcs = _fcs16(frame) ^ 0xFFFF
    raw = frame + bytes((fcs & 0xFF, fcs >> 8))
    out = bytearray(b"\x7e")
    for b in raw:
        if b < 0x20 or b in (0x7D, 0x7E):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out + b"\x7e")


def _pc(frame: bytes) -> tuple[int, int]:
    """(protocol, code) of a frame with or without address/control and protocol compression."""
    if frame[:2] == b"\xff\x03":
        frame = frame[2:]
    if frame[0] & 1:
        return frame[0], frame[1]
    return int.from_bytes(frame[:2], "big"), frame[2]


class _Frames:
    """Host-side deframer for the raw exchange below (good FCS only, FCS stripped)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.raw = bytearray()          # every byte pppd sent, for the differential check below
        self.frames: list[bytes] = []

    def wait(self, pred, timeout: float = 10.0) -> bytes:
        import select
        import time

        deadline = time.monotonic() + timeout
        while True:
            while b"\x7e" in self.buf:
                chunk, self.buf = self.buf.split(b"\x7e", 1)
                if len(chunk) >= 4:
                    f = _unescape(chunk)
                    if _fcs16(f) == 0xF0B8:
                        self.frames.append(f[:-2])
                        if pred(f[:-2]):
                            return f[:-2]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching frame; got {[f.hex() for f in self.frames]}")
            if select.select([self.fd], [], [], left)[0]:
                try:
                    data = os.read(self.fd, 4096)
                except BlockingIOError:
                    continue
                self.buf += data
                self.raw += data


def test_our_describe_prints_what_pppd_logs(pppd_guest: PppdGuest) -> None:
    """Oracle for pppstack.describe: every packet pppd sent or received in a hand-driven exchange
    must print, with our describe_frame, exactly as pppd wrote it in its debug log."""
    from pppstack.describe import describe_frame

    pppd_guest.start_modem(["noauth", "+ipv6", "ipv6cp-use-ipaddr"])
    fd = open_host_pty(pppd_guest.pty_path)
    sent: list[bytes] = []

    def send(frame: bytes) -> None:
        sent.append(frame)
        os.write(fd, _encode(frame))

    lcp = b"\xff\x03\xc0\x21"
    try:
        at_command(fd, "AT", timeout=20, retry=0.5)
        os.write(fd, b"ATD*99#\r")
        read_until(fd, b"CONNECT", 5)
        rx = _Frames(fd)
        theirs = rx.wait(lambda f: f.startswith(lcp) and f[4] == 1)
        # ours: MRU 1400, asyncmap 0, magic, pcomp, accomp and an option pppd does not know (0x42)
        opts = bytes.fromhex("0104057802060000000005061234567807020802") + b"\x42\x04\xab\xcd"
        send(lcp + bytes((1, 0x21)) + (4 + len(opts)).to_bytes(2, "big") + opts)
        rx.wait(lambda f: _pc(f) == (0xC021, 4))          # ConfRej of option 0x42
        opts = opts[:-4]
        send(lcp + bytes((1, 0x22)) + (4 + len(opts)).to_bytes(2, "big") + opts)
        rx.wait(lambda f: _pc(f) == (0xC021, 2))          # ConfAck
        send(lcp + b"\x02" + theirs[5:])                            # ack pppd's request
        rx.wait(lambda f: _pc(f) == (0x8021, 1))                    # IPCP ConfReq (pppd now uses ACFC)
        send(b"\xff\x03\x80\x21" + bytes.fromhex("01010016030600000000810600000000830600000000"))
        rx.wait(lambda f: _pc(f) == (0x8021, 3))                    # Nak with our address and DNS
        send(lcp + bytes.fromhex("0930000812345678") + b"")         # Echo-Request
        rx.wait(lambda f: _pc(f) == (0xC021, 10))         # Echo-Reply
        send(lcp + bytes.fromhex("0531000862796521"))               # Terminate-Request "bye!"
        rx.wait(lambda f: _pc(f) == (0xC021, 6))          # Terminate-Ack
    finally:
        os.close(fd)
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    lines = set(log.splitlines())
    missing = [f"rcvd {describe_frame(f)}" for f in sent if f"rcvd {describe_frame(f)}" not in lines]
    missing += [f"sent {describe_frame(f)}" for f in rx.frames if f"sent {describe_frame(f)}" not in lines]
    assert not missing, "our printer disagrees with pppd:\n" + "\n".join(missing) + "\n--- pppd log ---\n" + log
    assert len(rx.frames) >= 5 and len(sent) == 6
    # our HDLC decoder, fed pppd's raw bytes in odd-sized pieces, finds exactly the same frames
    from pppstack import hdlc

    # receive ACCM 0: we asked pppd for asyncmap 0, so after LCP opens its control bytes come
    # unescaped (with the default all-ones map a decoder must drop them, RFC 1662 §7.1)
    dec = hdlc.Decoder(accm=0)
    ours = []
    for i in range(0, len(rx.raw), 7):
        ours += dec.feed(bytes(rx.raw[i:i + 7]))
    assert ours[:len(rx.frames)] == rx.frames
    assert dec.counters.bad_fcs == 0
