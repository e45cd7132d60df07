"""Interop: real pppd (Debian's, in a QEMU guest) against our framing, both directions.

pppd's frames after CONNECT go through both decoders (modem text before them must come out as
garbage); our encoder's LCP Configure-Request must be logged by pppd exactly as we built it; and
once both sides acked asyncmap 0, pppd's IPCP request, sent with raw control bytes, must decode
with the receive ACCM set to 0.
"""

from __future__ import annotations

import os
import select
import time

import pytest

from tests.guest.pppd import at_command, open_host_pty, read_until, shared_pppd_guest
from tests.hdlc_spec import BACKENDS, load_backend

pytestmark = pytest.mark.guest

OUR_CONFREQ = bytes.fromhex("ff03 c021 01 42 0010 02 06 00000000 05 06 01020304")


class _Link:
    """Both backends' decoders fed the very same bytes from the pty."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.mods = [load_backend(name) for name in BACKENDS]
        self.decoders = [m.Decoder() for m in self.mods]
        self.strict = self.mods[0].Decoder()  # keeps the default ACCM throughout
        self.frames: list[bytes] = []
        self.garbage = b""

    def set_accm(self, accm: int) -> None:
        for d in self.decoders:
            d.accm = accm

    def wait(self, pred, timeout: float = 30.0) -> bytes:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        seen = len(self.frames)
        while True:
            for f in self.frames[seen:]:
                if pred(f):
                    return f
            seen = len(self.frames)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching frame; got {[f.hex() for f in self.frames]}")
            if not select.select([self.fd], [], [], left)[0]:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            self.strict.feed(chunk)
            got = [d.feed(chunk) for d in self.decoders]
            assert all(g == got[0] for g in got), "C and Python decoders disagree on pppd's bytes"
            garbage = [d.take_garbage() for d in self.decoders]
            assert all(g == garbage[0] for g in garbage)
            self.garbage += garbage[0]
            self.frames += got[0]

    def send(self, frame: bytes) -> None:
        wires = [m.encode(frame) for m in self.mods]
        assert all(w == wires[0] for w in wires)
        os.write(self.fd, wires[0])


def _is(code: int, ident: int | None = None, proto: bytes = b"\xc0\x21"):  # noqa: ANN202
    return lambda f: f[:4] == b"\xff\x03" + proto and f[4] == code and (ident is None or f[5] == ident)


def test_pppd_and_our_framing_understand_each_other() -> None:
    from scapy.layers.ppp import HDLC, PPP_LCP_Configure

    guest = shared_pppd_guest()
    guest.start_modem(["noauth"])
    fd = open_host_pty(guest.pty_path)
    try:
        at_command(fd, "AT", timeout=30, retry=0.5)
        assert at_command(fd, "ATE0").endswith(b"OK\r\n")
        os.write(fd, b'AT+CGDCONT=1,"IP","internet"\r')
        read_until(fd, b"OK\r\n", 5)
        os.write(fd, b"ATD*99#\r")
        link = _Link(fd)
        # 1. pppd's first Configure-Request, after the modem's CONNECT line
        theirs = link.wait(_is(1))
        assert b"CONNECT" in link.garbage
        conf = HDLC(theirs)[PPP_LCP_Configure]
        assert {o.type for o in conf.options} >= {2, 5}  # asyncmap and magic, as pppd always asks
        # 2. our Configure-Request, framed by us, logged by pppd as we meant it
        link.send(OUR_CONFREQ)
        link.wait(_is(2, 0x42))  # pppd's Configure-Ack for our id
        log = guest.wait_for_log("rcvd [LCP ConfReq id=0x42")
        assert "rcvd [LCP ConfReq id=0x42 <asyncmap 0x0> <magic 0x1020304>]" in log
        # 3. ack pppd's request (pppd re-sends it every 3 s: ack the newest)
        theirs = [f for f in link.frames if _is(1)(f)][-1]
        link.send(theirs[:4] + b"\x02" + theirs[5:])
        guest.wait_for_log("rcvd [LCP ConfAck")
        # LCP is open: pppd now sends with asyncmap 0, i.e. control bytes unescaped
        link.set_accm(0)
        ipcp = link.wait(_is(1, proto=b"\x80\x21"))
        opts, kinds = ipcp[8:], []
        while opts:
            kinds.append(opts[0])
            opts = opts[opts[1]:]
        assert 3 in kinds  # <addr ...>
        # a receiver still on the default ACCM drops those control bytes and fails the FCS
        assert link.strict.counters.unescaped_ctrl > 0 and link.strict.counters.bad_fcs > 0
        for d in link.decoders:
            assert d.counters.bad_fcs == 0 and d.counters.frames >= 3
    finally:
        os.close(fd)
        guest.stop_modem()
