"""An unwatched trace tap stops scanning a busy link: the grace after the network comes up ends
after IDLE_GRACE seconds or IDLE_GRACE_BYTES, whichever first (scanning in Python cost `up` 40 % of
its CPU at 500 Mbit/s, and the seconds only start counting with the first traffic)."""

from __future__ import annotations

from pppstack import hdlc
from pppstack.io.tracetap import IDLE_GRACE_BYTES, TraceTap


def _chunk(n: int) -> bytes:
    frame = hdlc.encode(b"\xff\x03\x00\x21" + bytes(1400))
    return frame * (n // len(frame) + 1)


def test_unwatched_tap_stops_scanning_after_the_byte_budget() -> None:
    tap = TraceTap()
    scanned: list[int] = []
    feed = tap.tracer.feed
    tap.tracer.feed = lambda sent, data, now: (scanned.append(len(data)), feed(sent, data, now))[1]  # type: ignore[method-assign]
    up = False
    tap.network_up = lambda: up
    chunk = _chunk(64 * 1024)
    for _ in range(3):   # negotiation: everything is scanned however much it is
        tap(True, chunk, 100.0)
    assert len(scanned) == 3 and len(tap.history) > 0
    up = True
    for _ in range(20):   # 1.3 MB in the same instant, long before IDLE_GRACE seconds have passed
        tap(True, chunk, 100.5)
    assert sum(scanned[3:]) <= IDLE_GRACE_BYTES, scanned
    assert 0 < len(scanned) - 3 < 20


def test_a_watched_tap_scans_everything() -> None:
    tap = TraceTap(out=open("/dev/null", "w"))  # noqa: SIM115 - closed with the tap
    tap.network_up = lambda: True
    scanned: list[int] = []
    feed = tap.tracer.feed
    tap.tracer.feed = lambda sent, data, now: (scanned.append(len(data)), feed(sent, data, now))[1]  # type: ignore[method-assign]
    chunk = _chunk(64 * 1024)
    for _ in range(8):
        tap(True, chunk, 100.0)
    assert len(scanned) == 8
    tap.out.close()
