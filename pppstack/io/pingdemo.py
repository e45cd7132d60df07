"""Prove a link without a TUN: ICMP echo through PPP to the peer, round-trip times measured.

Used by `pppstack up --simulate` when the user may not create interfaces: the packets are built
here, handed to the engine with `driver.send_ip`, and the simulator's responder answers them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import statistics
import struct
import time
from typing import Any

__all__ = ["PingDemo", "icmp_echo_request", "parse_icmp_echo_reply", "inet_checksum"]

from pppstack.sim.responder import inet_checksum  # one RFC 1071 implementation for the whole package

log = logging.getLogger("pppstack")


def icmp_echo_request(src: ipaddress.IPv4Address, dst: ipaddress.IPv4Address, ident: int, seq: int,
                      payload: bytes) -> bytes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", inet_checksum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq & 0xFFFF, 0x4000, 64, 1, 0,
                      src.packed, dst.packed)
    hdr = hdr[:10] + struct.pack("!H", inet_checksum(hdr)) + hdr[12:]
    return hdr + icmp


def parse_icmp_echo_reply(packet: bytes | memoryview) -> tuple[ipaddress.IPv4Address, int, int, bytes] | None:
    """(source, ident, seq, payload) of a valid ICMP echo reply, else None."""
    packet = bytes(packet)  # PPPoS.take_packets gives memoryviews; IPv4Address takes bytes only
    if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != 1:
        return None
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:]
    if len(icmp) < 8 or icmp[0] != 0 or inet_checksum(icmp) != 0:
        return None
    ident, seq = struct.unpack("!HH", icmp[4:8])
    return ipaddress.IPv4Address(packet[12:16]), ident, seq, icmp[8:]


class PingDemo:
    """Send `count` echo requests once IPCP is up; stop the link after the replies unless `stay`."""

    def __init__(self, driver: Any, count: int = 5, interval: float = 0.2, stay: bool = False,
                 timeout: float = 3.0, wait_for: float | None = None) -> None:
        self.driver = driver
        self.wait_for = wait_for  # after the pings, keep the link up this long for a simulated fault
        self.count = count
        self.interval = interval
        self.stay = stay
        self.timeout = timeout
        self.ident = os.getpid() & 0xFFFF
        self.sent: dict[int, float] = {}
        self.rtts: list[float] = []
        self.seq = 0
        self.finished = False
        self.setup: Any = None
        self.target: ipaddress.IPv4Address | None = None
        self.interrupted: str | None = None  # the signal that stopped the demo before it finished

    def attach(self, setup: Any) -> None:
        self.setup = setup
        self.driver.call_later(0.1, self._tick)

    def _tick(self, now: float) -> None:
        setup = self.setup
        if setup.local is None or setup.peer is None:
            self.driver.call_later(0.1, self._tick)
            return
        self.target = setup.peer
        if self.stay or self.seq < self.count:
            self.seq += 1
            payload = struct.pack("!d", time.monotonic()) + bytes(range(48))
            self.sent[self.seq] = time.monotonic()
            self.driver.send_ip(icmp_echo_request(setup.local, setup.peer, self.ident, self.seq, payload))
            self.driver.call_later(1.0 if self.stay else self.interval, self._tick)
        else:
            self.driver.call_later(self.timeout if len(self.rtts) < self.count else 0.0, self._done)

    def _done(self, now: float) -> None:
        if self.finished:
            return
        self.finished = True
        _stop_or_wait(self.driver, self.wait_for)

    def receive(self, packets: list[bytes]) -> None:
        for p in packets:
            reply = parse_icmp_echo_reply(p)
            if reply is None or reply[1] != self.ident or reply[2] not in self.sent:
                continue
            rtt = (time.monotonic() - self.sent.pop(reply[2])) * 1000
            self.rtts.append(rtt)
            log.info("%d bytes from %s through PPP: icmp_seq=%d time=%.2f ms", len(p), reply[0], reply[2], rtt)
            if not self.stay and len(self.rtts) >= self.count:
                self.driver.call_later(0.0, self._done)


    def summary(self) -> dict[str, Any]:
        return _summary(self, self.seq, [round(r, 3) for r in self.rtts])

    def summary_lines(self) -> list[str]:
        s = self.summary()
        return _summary_lines(s, f"  ping through PPP to {s['target']}")


class KernelPingDemo:
    """With a real TUN: the system's `ping` through the interface, then stop unless `stay`."""

    def __init__(self, driver: Any, count: int = 3, stay: bool = False, wait_for: float | None = None) -> None:
        self.driver = driver
        self.wait_for = wait_for
        self.count = count
        self.stay = stay
        self.finished = False
        self.setup: Any = None
        self.target: ipaddress.IPv4Address | None = None
        self.output = ""
        self.rtts: list[float] = []
        self.sent = 0
        self.interrupted: str | None = None

    def attach(self, setup: Any) -> None:
        self.setup = setup
        self.driver.call_later(0.1, self._tick)

    def _tick(self, now: float) -> None:
        if self.setup.local is None or self.setup.peer is None:
            self.driver.call_later(0.1, self._tick)
            return
        import threading

        self.target = self.setup.peer
        threading.Thread(target=self._ping, daemon=True).start()

    def _ping(self) -> None:
        import re
        import subprocess

        self.sent = self.count
        try:
            proc = subprocess.run(["ping", "-n", "-c", str(self.count), "-i", "0.2", "-W", "2", "-I",
                                   self.setup.ifname, str(self.target)], capture_output=True, text=True, timeout=20)
            self.output = proc.stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.output = str(exc)
        self.rtts = [float(m) for m in re.findall(r"time=([\d.]+) ms", self.output)]
        transmitted = re.search(r"(\d+) packets transmitted", self.output)
        if transmitted:  # fewer than asked when Ctrl-C reached ping too
            self.sent = int(transmitted.group(1))
        for line in self.output.splitlines():
            if "time=" in line:
                log.info("%s", line.strip())
        if self.stay:
            log.info("the link stays up: try `ping %s` (Ctrl-C ends it)", self.target)
        else:
            self.finished = True
            _stop_or_wait(self.driver, self.wait_for)

    def receive(self, packets: list[bytes]) -> None:  # the kernel gets the replies, not us
        pass

    def summary(self) -> dict[str, Any]:
        s = _summary(self, self.sent, self.rtts)
        s["via"] = self.setup.ifname if self.setup else None
        return s

    def summary_lines(self) -> list[str]:
        s = self.summary()
        return _summary_lines(s, f"  ping {s['target']} through {s['via']} (a real interface)")


def _stop_or_wait(driver: Any, wait_for: float | None) -> None:
    """End the demo, or keep the link up until a simulated fault ends it (at most `wait_for` s)."""
    if wait_for is None:
        driver.request_stop("demo finished")
        return
    log.info("pings done; the link stays up until the simulated fault happens (at most %.0f s)", wait_for)
    driver.call_later(wait_for, lambda now: driver.request_stop("the simulated fault did not happen in time"))


def _summary(demo: Any, sent: int, rtts: list[float]) -> dict[str, Any]:
    s: dict[str, Any] = {"target": str(demo.target) if demo.target else None, "sent": sent, "received": len(rtts),
                         "rtt_ms": rtts}
    if rtts:
        s["rtt_ms_median"] = round(statistics.median(rtts), 3)
    if demo.interrupted and not demo.finished:
        s["interrupted"] = demo.interrupted
    return s


def _summary_lines(s: dict[str, Any], head: str) -> list[str]:
    """One line a newcomer reads; an interrupted demo says so rather than looking like packet loss."""
    if s["target"] is None:  # the link never came up: there was nothing to ping
        return []
    if "interrupted" in s:
        got = f"{s['received']} of {s['sent']} answered" if s["sent"] else "no request sent yet"
        return [f"{head}: interrupted by {s['interrupted']} ({got})"]
    if not s["received"]:
        return [f"{head}: {s['sent']} sent, no replies"]
    return [f"{head}: {s['received']}/{s['sent']} replies, median round trip {s['rtt_ms_median']} ms"]
