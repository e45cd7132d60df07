"""`up --trace`, `up --pcap` and `pppstack trace` on a live link: the simulated E3372 in a network
namespace this test creates.  tshark (not ours) reads the pcapng; two watchers attach to one
running `up` at once, see the whole negotiation, and end when the link ends."""

from __future__ import annotations

import os
import re
import select
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

pytestmark = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")


@pytest.fixture
def tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pppstack-trace-") as d:  # short: unix socket paths are limited
        yield Path(d)


def _up(netns: str, tmp: Path, *extra: str) -> list[str]:
    return ["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--simulate", "--ifname", "trc0",
            "--run-dir", str(tmp), *extra]


def _tshark(pcap: Path, *args: str) -> str:
    exe = shutil.which("tshark")
    assert exe, "tshark is needed (.ci/run installs it)"
    proc = subprocess.run([exe, "-n", "-r", str(pcap), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(pcap.parent)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float) -> bytes:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        assert left > 0 and proc.poll() is None, (buf, proc.stderr.read() if proc.stderr else b"")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            buf += os.read(fd, 65536)
    return buf


def test_up_trace_and_pcap(netns: str, tmp: Path) -> None:
    pcap = tmp / "s.pcapng"
    proc = subprocess.run(_up(netns, tmp, "--trace=verbose", "--pcap", str(pcap)), capture_output=True, text=True,
                          env=ENV, timeout=90)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    lines = out.splitlines()
    # one timeline: the AT dialogue, CONNECT, then PPP in ms since CONNECT, then the end
    needles = ('AT     "ATD*99***1#"', 'modem  "CONNECT', "PPP starts", "sent   [LCP ConfReq id=0x1 <asyncmap 0x0>",
               "rcvd   [IPCP ConfNak", "sent   [LCP TermReq", "end    OK")
    order = [next(i for i, x in enumerate(lines) if needle in x) for needle in needles]
    assert order == sorted(order), out
    stamps = [float(m.group(1)) for x in lines[order[2]:] if (m := re.match(r"^\s*([+-]\d+\.\d) ms", x))]
    assert stamps == sorted(stamps) and stamps[0] == 0.0
    assert "Req <magic 0x" in out and "we ask for it" in out
    assert "Nak <addr 100.68.27.142>: the peer wants this value" in out
    # tshark: no warnings, every control packet decodes, directions and magic numbers match the frames
    expert = _tshark(pcap, "-q", "-z", "expert")
    assert "Warn" not in expert and "Error" not in expert, expert
    rows = [r.split("|") for r in _tshark(pcap, "-Y", "lcp && ppp.code == 1", "-T", "fields", "-E", "separator=|",
                                          "-e", "frame.p2p_dir", "-e", "lcp.opt.magic_number").splitlines()]
    ours = re.search(r"sent   \[LCP ConfReq id=0x1 <asyncmap 0x0> <magic (0x[0-9a-f]+)>", out)
    theirs = re.search(r"rcvd   \[LCP ConfReq id=0x\w+ .*<magic (0x[0-9a-f]+)>", out)
    assert ours and theirs
    # (our request may go out twice: a resend when the peer's first request finds it unanswered)
    assert {tuple(r) for r in rows} == {("0", f"0x{int(ours.group(1), 16):08x}"),
                                        ("1", f"0x{int(theirs.group(1), 16):08x}")}
    assert len(rows) == out.count("[LCP ConfReq")
    ppp = _tshark(pcap, "-Y", "ppp && !_ws.malformed", "-T", "fields", "-e", "_ws.col.Protocol").split()
    assert {"LCP", "CHAP", "IPCP", "IPV6CP"} <= {p.upper() for p in ppp} and "ICMP" in ppp, ppp
    assert _tshark(pcap, "-Y", "_ws.malformed").strip() == ""
    text = _tshark(pcap, "-Y", "text", "-T", "fields", "-e", "text")
    assert "ATD*99***1#" in text and "CONNECT" in text


def test_two_watchers_follow_a_running_up(netns: str, tmp: Path) -> None:
    up = subprocess.Popen(_up(netns, tmp, "--stay"), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchers: list[subprocess.Popen[str]] = []
    try:
        deadline = time.monotonic() + 60

        def link_up() -> bool:
            status = list(tmp.glob("trc0@net*.json"))
            return bool(list(tmp.glob("trc0@net*.trace.sock")) and status
                        and '"up"' in status[0].read_text(errors="replace"))

        while not link_up():
            assert up.poll() is None and time.monotonic() < deadline, "up never came up"
            time.sleep(0.1)
        for extra in (["--verbose"], ["--ladder", str(tmp / "live.svg")]):
            watchers.append(subprocess.Popen([sys.executable, "-m", "pppstack", "trace", "--run-dir", str(tmp),
                                              *extra], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        seen = [_read_until(w, b"[IPCP ConfAck", 30.0) for w in watchers]  # attached: the history arrived
        assert up.poll() is None  # and the link is still up
    finally:
        up.send_signal(signal.SIGINT)
        up_out, up_err = up.communicate(timeout=30)
    assert up.returncode == 0, up_err
    for w, head in zip(watchers, seen, strict=True):
        rest, err = w.communicate(timeout=30)
        out = (head + rest).decode()
        assert w.returncode == 0, err
        assert "sent   [LCP ConfReq id=0x1" in out and "[IPCP ConfAck" in out  # the history from the start
        assert 'sent   [LCP TermReq id=0x2 "SIGINT received"]' in out and "end    OK" in out  # live, to the end
    svg = (tmp / "live.svg").read_text()
    assert svg.count('class="packet"') >= 12 and "SIGINT received" in svg
    cairosvg.svg2png(bytestring=svg.encode())
    assert not list(tmp.glob("*.trace.sock"))  # up removes its socket


def test_trace_without_a_running_up(tmp: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pppstack", "trace", "--run-dir", str(tmp)], env=ENV,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "no running `pppstack up`" in proc.stderr and "Traceback" not in proc.stderr


def test_trace_asks_which_link_when_several_run(tmp: Path) -> None:
    for name in ("ppp0@net1", "ppp1@net1"):
        (tmp / f"{name}.trace.sock").touch()
    proc = subprocess.run([sys.executable, "-m", "pppstack", "trace", "--run-dir", str(tmp)], env=ENV,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "several links run (ppp0@net1, ppp1@net1): choose one with --ifname" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "pppstack", "trace", "--run-dir", str(tmp), "--ifname", "ppp1"],
                          env=ENV, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "is gone (a stale socket)" in proc.stderr and "Traceback" not in proc.stderr
