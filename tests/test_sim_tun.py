"""`pppstack sim --tun` inside a network namespace the test creates: the client's packets leave
through a TUN on the simulator's side and the namespace's kernel answers them.  A TCP SYN proves
it: the built-in responder ignores TCP, Linux answers a closed port with RST."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP

from pppstack import events as ev
from pppstack.config import LinkConfig
from pppstack.pppos import PPPoS

ROOT = Path(__file__).resolve().parent.parent


def _exchange(fd: int, link: PPPoS, until, timeout: float = 10.0) -> list[ev.Event]:
    events: list[ev.Event] = []
    end = time.monotonic() + timeout
    while not until(events):
        assert time.monotonic() < end, f"timed out: {events}"
        out = link.data_to_send()
        if out:
            os.write(fd, out)
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            link.receive_data(os.read(fd, 65536), time.monotonic())
        t = link.get_timer()
        if t is not None and time.monotonic() >= t:
            link.handle_timer(time.monotonic())
        while (e := link.next_event()) is not None:
            events.append(e)
    return events


def test_packets_reach_a_real_kernel_through_the_sims_tun(rng) -> None:
    ns = f"pppsim-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = None
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "pppstack", "sim", "--tun",
                                 "--no-echo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        path = proc.stdout.readline().decode().strip()
        assert path, proc.stderr.read().decode() if proc.stderr else ""
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        os.write(fd, b"ATD*99***1#\r")
        buf = b""
        while b"CONNECT\r\n" not in buf:
            buf += os.read(fd, 4096)
        link = PPPoS(LinkConfig(noipv6=True), rng)
        link.open(time.monotonic())
        link.receive_data(buf.partition(b"CONNECT\r\n")[2], time.monotonic())
        events = _exchange(fd, link, lambda es: any(isinstance(e, ev.Ipv4Up) for e in es))
        up = next(e for e in events if isinstance(e, ev.Ipv4Up))
        # the namespace's kernel owns 10.64.64.64 on simwan0 now
        link.send_ip(bytes(IP(src=str(up.local), dst=str(up.peer)) / TCP(sport=40001, dport=9, flags="S", seq=1)),
                     time.monotonic())
        link.send_ip(bytes(IP(src=str(up.local), dst=str(up.peer)) / ICMP(id=3, seq=1) / b"k"), time.monotonic())
        got: list[bytes] = []

        def both(_: list) -> bool:
            got.extend(link.take_packets())
            return len(got) >= 2

        _exchange(fd, link, both)
        pkts = [IP(bytes(p)) for p in got]  # take_packets gives memoryviews; scapy parses bytes
        rst = [p for p in pkts if TCP in p]
        assert rst and rst[0][TCP].flags & 0x04 and rst[0][TCP].sport == 9   # RST from Linux
        assert any(ICMP in p and p[ICMP].type == 0 for p in pkts)
        os.close(fd)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        subprocess.run(["ip", "netns", "del", ns], check=False)
