"""Helpers for the engine's tests: two PPPoS joined by real HDLC bytes on a fake clock.

The wire between them can lose, duplicate and reorder whole frames (split at 0x7E flags), driven
by a seeded random.Random, so every run is the same run.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pppstack import events as ev
from pppstack.config import LinkConfig
from pppstack.pppos import PPPoS


def seeded(seed: int) -> Callable[[int], bytes]:
    r = random.Random(seed)
    return lambda n: bytes(r.getrandbits(8) for _ in range(n))


CLIENT = dict(user="", password="")
SERVER = dict(local_ip="10.64.64.64", remote_ip="10.11.12.13", ms_dns=("10.11.12.1", "10.11.12.2"),
              usepeerdns=False, name="sim")


def client(**kw: object) -> PPPoS:
    return PPPoS(LinkConfig(**{**CLIENT, **kw}), seeded(1))


def server(**kw: object) -> PPPoS:
    return PPPoS(LinkConfig(**{**SERVER, **kw}), seeded(2))


def frames_of(data: bytes) -> list[bytes]:
    """Split an HDLC byte stream into self-delimited frames (each with its flags)."""
    return [b"~" + p + b"~" for p in data.split(b"~") if p]


class Wire:
    """Moves bytes between two engines; optionally hostile."""

    def __init__(self, a: PPPoS, b: PPPoS, now: float = 1000.0, *, loss: float = 0.0, dup: float = 0.0,
                 reorder: float = 0.0, seed: int = 7) -> None:
        self.a, self.b = a, b
        self.now = now
        self.loss, self.dup, self.reorder = loss, dup, reorder
        self.rand = random.Random(seed)
        self.events: dict[str, list[ev.Event]] = {"a": [], "b": []}
        self.bytes_moved = 0

    def _mangle(self, data: bytes) -> bytes:
        if not (self.loss or self.dup or self.reorder):
            return data
        out: list[bytes] = []
        for f in frames_of(data):
            if self.rand.random() < self.loss:
                continue
            out.append(f)
            if self.rand.random() < self.dup:
                out.append(f)
        for i in range(len(out) - 1):
            if self.rand.random() < self.reorder:
                out[i], out[i + 1] = out[i + 1], out[i]
        return b"".join(out)

    def drain_events(self) -> None:
        for name, x in (("a", self.a), ("b", self.b)):
            while (e := x.next_event()) is not None:
                self.events[name].append(e)

    def step(self) -> bool:
        """Deliver what each side has to send; return False if nothing moved."""
        da, db = self.a.data_to_send(), self.b.data_to_send()
        if da:
            self.b.receive_data(self._mangle(da), self.now)
        if db:
            self.a.receive_data(self._mangle(db), self.now)
        self.bytes_moved += len(da) + len(db)
        self.drain_events()
        return bool(da or db)

    def run(self, until: Callable[[], bool] = lambda: False, max_time: float = 300.0) -> None:
        start = self.now
        while not until():
            if self.step():
                continue
            timers = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
            if not timers or min(timers) - start > max_time:
                return
            self.now = max(self.now, min(timers))
            self.a.handle_timer(self.now)
            self.b.handle_timer(self.now)
            self.drain_events()

    def of(self, side: str, kind: type) -> list:
        return [e for e in self.events[side] if isinstance(e, kind)]


def both_up(w: Wire, v4: bool = True, v6: bool = True) -> Callable[[], bool]:
    def check() -> bool:
        la, lb = w.a.link, w.b.link
        return (not v4 or (la.ip4_open and lb.ip4_open)) and (not v6 or (la.ip6_open and lb.ip6_open))
    return check


# -- a scripted peer: hand-built frames in, our frames parsed out (pppstack.frames, the public helpers) --

def out_packets(x: PPPoS) -> list[tuple[int, object]]:
    """Everything x wants to send, as (protocol, ControlPacket | bytes for data)."""
    from pppstack.frames import read_frames

    return list(read_frames(x.data_to_send()))


def feed(x: PPPoS, proto: int, code: int, ident: int, data: bytes, now: float) -> None:
    from pppstack.frames import wire_packet

    x.receive_data(wire_packet(proto, code, ident, data), now)


def opts(*pairs: tuple[int, bytes]) -> bytes:
    from pppstack.frames import encode_options

    return encode_options(*pairs)
