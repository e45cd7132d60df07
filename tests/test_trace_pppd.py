"""pcapng and ladder from a real session: `pppstack up --pcap --trace` against Debian's pppd in the
QEMU guest (with Debian's options: pppd offers CCP, VJ and IPv6CP, and wants CHAP), read back by
tshark.  pppd's own debug log is the witness: every frame pppd says it sent is in our file as
received, every frame it says it received is there as sent, with the same magic numbers; tshark
decodes every control packet with nothing malformed.  pppd's log itself goes through
`decode --pcap` (log -> frames -> pcapng) and `trace --ladder`, and must say the same."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cairosvg
import pytest

from pppstack.capture.timeline import RecordKind, from_pcapng
from pppstack.cli import main
from tests.guest.pppd import DEBIAN_OPTIONS, REMOTE_IP, PppdGuest, shared_pppd_guest

pytestmark = pytest.mark.guest

REPO = Path(__file__).resolve().parent.parent
CONTROL = "lcp || chap || pap || ipcp || ipv6cp || ccp"


@pytest.fixture(scope="module")
def pppd_guest() -> PppdGuest:
    return shared_pppd_guest()


@pytest.fixture
def tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pppstack-tp-") as d:
        yield Path(d)


def _tshark(pcap: Path, *args: str) -> str:
    exe = shutil.which("tshark")
    assert exe, "tshark is needed (.ci/run installs it)"
    proc = subprocess.run([exe, "-n", "-r", str(pcap), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(pcap.parent)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _pppd_lines(log: str) -> list[tuple[str, str]]:
    return re.findall(r"^(sent|rcvd) (\[.*\])\s*$", log, re.M)


def _is_subsequence(small: list[str], big: list[str]) -> bool:
    """Per protocol: pppd reads LCP from the channel and NCPs from the unit (two kernel queues),
    so only within one protocol is its log in wire order."""
    for proto in {t.split()[0] for t in small + big}:
        it = iter([y for y in big if y.split()[0] == proto])
        if not all(any(x == y for y in it) for x in small if x.split()[0] == proto):
            return False
    return True


def _session(pppd_guest: PppdGuest, netns: str, tmp: Path) -> tuple[str, str]:
    pppd_guest.start_modem([*DEBIAN_OPTIONS, "require-chap", "name pppguest", "+ipv6"],
                           chap_secrets="client pppguest s3cret *\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--device", pppd_guest.pty_path,
         "--apn", "internet", "--ifname", "pst0", "--noipv6", "--run-dir", str(tmp), "--user", "client",
         "--password", "s3cret", "--pcap", str(tmp / "s.pcapng"), "--trace=verbose"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            p = subprocess.run(["ip", "-n", netns, "-4", "addr", "show", "dev", "pst0"], capture_output=True, text=True)
            if f"inet {REMOTE_IP}" in p.stdout:
                break
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        pppd_guest.wait_for_log("Exit", 30.0) if proc.returncode == 0 else None
        log = pppd_guest.pppd_log()
        pppd_guest.stop_modem()
    assert proc.returncode == 0, err.decode()
    return out.decode(), log


def test_pcapng_of_a_real_pppd_session(pppd_guest: PppdGuest, netns: str, tmp: Path) -> None:
    trace, log = _session(pppd_guest, netns, tmp)
    pcap = tmp / "s.pcapng"
    # the trace explains what we refused, in our words
    assert "Rej <compress VJ 0f 01>: we do not implement Van Jacobson compression" in trace, trace
    assert 'AT     "ATD' in trace and "end    OK" in trace
    assert "s3cret" not in trace and b"s3cret" not in pcap.read_bytes()
    # tshark: nothing malformed, no warnings, every control packet decoded
    assert _tshark(pcap, "-Y", "_ws.malformed || _ws.expert.severity >= \"warning\"").strip() == ""
    assert _tshark(pcap, "-Y", "ppp && !(" + CONTROL + ") && !ip && !ipv6").strip() == "", "an undecoded PPP frame"
    rows = [r.split("|") for r in _tshark(pcap, "-Y", CONTROL, "-T", "fields", "-E", "separator=|", "-e",
                                          "frame.p2p_dir", "-e", "lcp.opt.magic_number", "-e", "ppp.code").splitlines()]
    records = [r for r in from_pcapng(pcap.read_bytes()) if r.kind is RecordKind.FRAME
               and int.from_bytes(r.data[2:4], "big") >= 0x8000]
    assert len(rows) == len(records) > 10
    # direction: what pppd sent we received (p2p_dir 1), what pppd received we sent (0)
    pppd_sent = [text for way, text in _pppd_lines(log) if way == "sent"]
    pppd_rcvd = [text for way, text in _pppd_lines(log) if way == "rcvd"]
    ours_rcvd = [r.describe() for r in records if r.sent is False]
    ours_sent = [r.describe() for r in records if r.sent is True]
    assert [d for d, *_ in rows] == ["0" if r.sent else "1" for r in records]
    assert _is_subsequence(pppd_sent, ours_rcvd) and len(pppd_sent) >= len(ours_rcvd) - 1, (pppd_sent, ours_rcvd)
    assert _is_subsequence(pppd_rcvd, ours_sent) and len(pppd_rcvd) >= len(ours_sent) - 2, (pppd_rcvd, ours_sent)
    # magic numbers: pppd's in its sent requests are in our received ones, and ours in what pppd received
    his = set(re.findall(r"sent \[LCP ConfReq id=0x\w+ .*<magic 0x([0-9a-f]+)>", log))
    mine = set(re.findall(r"rcvd \[LCP ConfReq id=0x\w+ .*<magic 0x([0-9a-f]+)>", log))
    assert his and mine
    seen = {(d, int(m, 16)) for d, m, code in rows if m and code == "1"}
    assert seen == {("1", int(x, 16)) for x in his} | {("0", int(x, 16)) for x in mine}
    # the ladder of the recorded negotiation
    svg = tmp / "l.svg"
    assert main(["trace", "--quiet", "--ladder", str(svg), str(pcap)]) == 0
    text = svg.read_text()
    assert text.count('class="packet"') == len(records) and "verdict: OK" in text
    assert "[CHAP Success" in text and "ProtRej" in text
    cairosvg.svg2png(bytestring=text.encode(), write_to=str(tmp / "l.png"))


def test_pppds_own_log_becomes_pcapng(pppd_guest: PppdGuest, netns: str, tmp: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, log = _session(pppd_guest, netns, tmp)
    logfile = tmp / "pppd.log"
    logfile.write_text(log)
    pcap = tmp / "from-log.pcapng"
    assert main(["decode", "--pcap", str(pcap), str(logfile)]) == 0
    out = capsys.readouterr().out
    lines = _pppd_lines(log)
    assert f"summary: pppd log, {len(lines)} frames rebuilt exactly, 0 approximately, 0 skipped" in out, out
    assert _tshark(pcap, "-Y", "_ws.malformed || _ws.expert.severity >= \"warning\"").strip() == ""
    rows = _tshark(pcap, "-Y", CONTROL, "-T", "fields", "-e", "frame.p2p_dir").split()
    assert rows == ["0" if way == "sent" else "1" for way, _ in lines]
    back = [r for r in from_pcapng(pcap.read_bytes()) if r.kind is RecordKind.FRAME]
    assert [r.describe() for r in back] == [text for _, text in lines]
    svg = tmp / "log.svg"
    assert main(["trace", "--quiet", "--ladder", str(svg), str(logfile)]) == 0
    cairosvg.svg2png(bytestring=svg.read_bytes())
