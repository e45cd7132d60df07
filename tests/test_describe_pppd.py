"""describe against real pppd: Debian's pppd 2.4.9 in a QEMU guest logs what it receives.

We dial the guest's AT responder, then send hand-built frames (every case of
test_describe.py plus a few more) while pppd's LCP is still negotiating, so pppd logs
each one as `rcvd [...]` and discards anything but LCP.  Each logged line must equal
our describe_frame() of the frame we sent — the oracle is pppd's own printer.
"""

from __future__ import annotations

import os
import re
import select
import time
from pathlib import Path

import pytest

from pppstack.cli import main
from pppstack.describe import describe_frame
from tests.guest.pppd import PppdGuest, at_command, open_host_pty, read_until, shared_pppd_guest
from tests.hdlc_spec import fcs16_bitwise as spec_fcs16
from tests.test_describe import (
    CCP_CASES,
    EAP_CASES,
    LCP_CASES,
    NCP_CASES,
    PAP_CHAP_CASES,
    REAL_LINES,
)

pytestmark = pytest.mark.guest

H = bytes.fromhex
# An unknown protocol marks the end of the batch. 0x43 is odd, so the field is one octet (RFC 1661
# section 2): both printers say "[proto=0x43] 21 de ad be ef".
END = H("ff034321 deadbeef")

# Frames whose description leaves the FF 03 + 2-octet form, plus protocols pppd has no printer for.
EXTRA_FRAMES = [
    H("c021 09000008a1e27395"),  # no address/control (ACFC)
    H("ff03 c025 0001"),  # LQR: pppd has no printer for it
    H("ff03 8281") + bytes(40),  # unknown, long: 32 octets then " ..."
    H("ff03 8053 01010004"),  # ECP prints only hex
    H("ff03 c029 01010008 0203 05"),  # CBCP Request <UserDefined delay = 5> (Debian builds CBCP in)
    H("ff03 c029 0201000b 0207 0501 3132 3300") + b"",
    H("ff03 c021 0101") + (4 + 1000).to_bytes(2, "big") + H("fe02") * 500,  # past pppd's 1024-octet buffer
    H("ff03 c021 09010008 00000001 0000"),  # padding after Length
    H("ff03 8021 0101000c 8102 03060a000001 aabbccdd"),  # ms-dns with a short Length
    # PAP requests where pppd prints octets that may be the password (we hide them instead)
    H("ff03 c023 0107000e 04") + b"user\x09s3cr",
    H("ff03 c023 01010004 04") + b"user\x02pw",
]


def _fcs16(data: bytes) -> int:
    return spec_fcs16(data) ^ 0xFFFF


def _hdlc(frame: bytes) -> bytes:
    """RFC 1662 framing with every control character escaped (independent of pppstack.hdlc)."""
    body = frame + _fcs16(frame).to_bytes(2, "little")
    out = bytearray(b"\x7e")
    for b in body:
        if b < 0x20 or b in (0x7D, 0x7E):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    out.append(0x7E)
    return bytes(out)


def _frames() -> list[bytes]:
    cases = [(p, h) for p, h, _ in REAL_LINES] + [(0xC021, h) for h, _ in LCP_CASES]
    cases += [(p, h) for p, h, _ in NCP_CASES + PAP_CHAP_CASES] + [(0x80FD, h) for h, _ in CCP_CASES]
    cases += [(0xC227, h) for h, _ in EAP_CASES]
    frames = [H("ff03") + p.to_bytes(2, "big") + H(h) for p, h in cases]
    return frames + EXTRA_FRAMES


@pytest.fixture(scope="module")
def pppd_guest() -> PppdGuest:
    return shared_pppd_guest()


def _write_all(fd: int, data: bytes, into: bytearray, timeout: float = 30.0) -> None:
    """Write all of ``data`` to the nonblocking pty, draining what pppd sends meanwhile: a busy
    guest takes the bytes slowly, and a short write must not drop the rest of a frame."""
    deadline = time.monotonic() + timeout
    view = memoryview(data)
    while view:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the guest took {len(data) - len(view)} of {len(data)} bytes in {timeout} s")
        r, w, _ = select.select([fd], [fd], [], 0.5)
        if r:
            _drain(fd, into)
        if w:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                pass


BATCH = 8   # frames in flight at once, well under ppp_generic's queue of 32


def _batches(frames: list[bytes]) -> list[list[bytes]]:
    """Runs of at most BATCH frames that ppp_generic puts in the same queue for pppd."""

    def on_channel(frame: bytes) -> bool:  # LCP and the auth protocols (0xc000 and up)
        proto = frame[2:4] if frame[:2] == b"\xff\x03" else frame[:2]
        return int.from_bytes(proto, "big") >= 0xC000

    out: list[list[bytes]] = []
    for frame in frames:
        if out and len(out[-1]) < BATCH and on_channel(out[-1][0]) == on_channel(frame):
            out[-1].append(frame)
        else:
            out.append([frame])
    return out


def _wait_rcvd(guest: PppdGuest, n: int, fd: int, heard: bytearray, timeout: float = 60.0) -> None:
    """Wait until pppd's log has ``n`` "rcvd" lines, reading what it sends meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        out = guest.run("grep -c '^rcvd ' /tmp/ppp/pppd.log")[1]
        _drain(fd, heard)
        if int(out.split()[0] if out.split() else 0) >= n:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"pppd logged {out.strip()} of {n} frames in {timeout} s")
        time.sleep(0.1)


def _frames_in(heard: bytes) -> int:
    """How many of pppd's frames were heard: flag-delimited, starting FF 03 (03 escaped, as
    pppd's LCP escapes every control character), so the dial text before them does not count."""
    return sum(1 for chunk in heard.split(b"\x7e") if chunk.startswith((b"\xff\x7d\x23", b"\xff\x03")))


def _drain(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            return
        into += chunk


def test_pppd_logs_our_frames_as_we_describe_them(
    pppd_guest: PppdGuest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # debug twice: pppd then logs Echo packets too; a long max-configure keeps LCP negotiating
    pppd_guest.start_modem(["noauth", "debug", "lcp-max-configure 1000", "lcp-restart 30", "noccp"])
    fd = open_host_pty(pppd_guest.pty_path)
    frames = _frames()
    heard = bytearray()  # everything pppd's side of the pty sends us after the dial
    try:
        at_command(fd, "AT", timeout=20, retry=0.5)
        os.write(fd, b"ATD*99#\r")
        heard += read_until(fd, b"CONNECT", 10)
        pppd_guest.wait_for_log("sent [LCP ConfReq", timeout=20)
        # Send in batches and wait until pppd has logged each (however slow the guest): the kernel
        # queues what pppd reads, drops frames beyond 32 queued (ppp_generic's PPP_MAX_RQLEN), and
        # keeps two queues (LCP/auth on the channel, NCPs on the unit) that pppd drains in no set
        # order, so a batch holds frames of one queue only.
        done = 0
        for batch in _batches(frames):
            for frame in batch:
                _write_all(fd, _hdlc(frame), heard)
            done += len(batch)
            _wait_rcvd(pppd_guest, done, fd, heard)
        _write_all(fd, _hdlc(END), heard)
        log = pppd_guest.wait_for_log(f"rcvd {describe_frame(END)}", timeout=60)
        assert f"rcvd {describe_frame(END)}" in log, "pppd never logged the end marker\n" + log[-2000:]
        # everything pppd logged as sent by then reaches us (the port loses nothing): wait for it
        want = len(re.findall(r"^sent ", log, re.M))
        deadline = time.monotonic() + 30
        while _frames_in(bytes(heard)) < want and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.5)[0]:
                _drain(fd, heard)
    finally:
        os.close(fd)
        pppd_guest.stop_modem()
    rcvd = [m.group(1) for m in re.finditer(r"^rcvd (.*)$", log, re.M)]
    assert rcvd and rcvd[-1] == describe_frame(END), log[-2000:]
    ours = [describe_frame(f) for f in frames]
    theirs = rcvd[-1 - len(frames) : -1]
    assert len(theirs) == len(frames)
    mismatches = [
        (i, o, t) for i, (o, t) in enumerate(zip(ours, theirs, strict=True))
        if o != t and "octets hidden>" not in o  # where we hide what pppd prints of a PAP request
    ]  # fmt: skip
    assert not mismatches, "\n".join(f"#{i}\n ours:   {o}\n pppd's: {t}" for i, o, t in mismatches)
    hidden = [(o, t) for o, t in zip(ours, theirs, strict=True) if "octets hidden>" in o]
    assert len(hidden) == 2 and all(o != t for o, t in hidden)
    assert hidden[0][1] == "[PAP AuthReq id=0x7 04 75 73 65 72 09 73 33 63 72]"  # pppd: the password in hex
    assert max(len(line) for line in theirs) == 1018  # pppd's buffer cuts the long line where ours does

    # The other direction, end to end: what pppd wrote on the tty, through `pppstack decode --pppd`,
    # reads exactly as pppd's own "sent" lines (its Acks, Naks, Rejects, Code-Rejects, TermAcks...).
    capture = tmp_path / "from-pppd.bin"
    capture.write_bytes(bytes(heard))
    capsys.readouterr()
    assert main(["decode", "--pppd", str(capture)]) == 0
    decoded = [line.removeprefix("rcvd ") for line in capsys.readouterr().out.splitlines()]
    sent = [m.group(1) for m in re.finditer(r"^sent (.*)$", log, re.M)]
    assert len(decoded) >= 10, bytes(heard)[:200]
    assert decoded == sent[: len(decoded)]
    assert len(decoded) >= want, f"pppd logged {want} frames sent by the end marker, we heard {len(decoded)}"
