"""Both directions of a busy link get the same share of a loop turn (issue 14, "both directions
at once").

A turn of the driver serves the port (what the peer sent: the direction this end receives) and
the TUN (what this end sends).  When both have more waiting than a turn takes, each turn must
take a comparable number of bytes from each: if one side's budget is several times the other's,
the direction an end sends crowds out the one it receives, and on a loaded machine the faster
direction keeps getting faster.  Deterministic: a pipe stands in for the port (prefilled with
more than a turn takes, read 64 KiB at a time like a fast serial port), and the TUN stand-in
always has MTU-sized packets waiting, as a real TUN with a full queue does; the loop is turned
by the driver itself and every byte is counted per turn.  No timing is asserted.
"""

from __future__ import annotations

import fcntl
import os

from pppstack.events import DownCause, LinkDown
from pppstack.io import tun as tun_module
from pppstack.io.pppdriver import PORT_BYTES_PER_TURN, PppDriver

F_SETPIPE_SZ = 1031
MTU = 1500
TURNS = 4


class FloodedTun:
    """A TUN whose queue never empties: every read_batch returns as many packets as asked for."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        os.write(self._w, b"!")       # never drained: the fd stays readable, like a TUN with a queue
        self.packet = bytes(MTU)

    def fileno(self) -> int:
        return self._r

    def read_batch(self, limit: int = 256) -> list[bytes]:
        return [self.packet] * limit

    def write_many(self, packets: list[bytes]) -> int:
        return len(packets)

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


class PipePort:
    """A port whose reads come from a pipe holding ``backlog`` bytes; writes go to a second pipe."""

    usb = False

    def __init__(self, backlog: int) -> None:
        self._r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        fcntl.fcntl(w, F_SETPIPE_SZ, backlog)
        data = bytes(range(256)) * (backlog // 256)
        n = 0
        while n < len(data):
            n += os.write(w, data[n:])
        self._keep = w                # held open: an empty pipe reads EAGAIN, not end of file
        self._out_r, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def fileno(self) -> int:
        return self._r

    def carrier(self) -> bool | None:
        return None

    def close(self) -> None:
        for fd in (self._r, self._keep, self._out_r, self.write_fd):
            os.close(fd)


class CountingLink:
    """Engine stand-in that counts, per loop turn, the bytes it was handed from each side, and
    ends the link after TURNS turns.  It sends nothing to the port, so backpressure never stops
    the TUN: what is measured is the driver's per-turn budgets alone."""

    def __init__(self) -> None:
        self.phase = None
        self.driver: PppDriver | None = None
        self.from_port: dict[int, int] = {}
        self.from_tun: dict[int, int] = {}
        self.events: list[object] = []

    def _turn(self) -> int:
        assert self.driver is not None
        return self.driver.loop.turns

    def open(self, now: float) -> None:
        pass

    def receive_data(self, data: bytes, now: float) -> None:
        t = self._turn()
        self.from_port[t] = self.from_port.get(t, 0) + len(data)

    def send_ip(self, packet: bytes, now: float) -> None:
        t = self._turn()
        self.from_tun[t] = self.from_tun.get(t, 0) + len(packet)
        if t >= TURNS and not self.events:     # the TUN is served every turn: it ends the run
            self.events.append(LinkDown(DownCause.LOCAL_CLOSE, "enough turns"))

    def data_to_send(self) -> bytes:
        return b""

    def take_packets(self) -> list[bytes]:
        return []

    def next_event(self) -> object | None:
        return self.events.pop(0) if self.events else None

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def close(self, reason: str, now: float) -> None:
        pass


def test_a_flooded_port_and_a_flooded_tun_get_comparable_bytes_each_turn() -> None:
    port, tun, link = PipePort(1 << 20), FloodedTun(), CountingLink()
    driver = PppDriver(link, port, tun)       # type: ignore[arg-type]
    link.driver = driver
    driver.network_up = True
    driver.enable_tun()
    try:
        driver.run()
    finally:
        driver.close()
        port.close()
        tun.close()
    assert sum(link.from_port.values()) > 0 and min(link.from_tun) == 1, (link.from_port, link.from_tun)
    for t in range(1, TURNS):    # 1 MiB waits on the port: more than these turns may take from it
        port_bytes, tun_bytes = link.from_port.get(t, 0), link.from_tun.get(t, 0)
        assert tun_bytes > 0 and 0.5 <= port_bytes / tun_bytes <= 2.0, (t, link.from_port, link.from_tun)


def test_the_port_budget_is_the_tun_budget() -> None:
    # with offloads a TUN read hands over up to VNET_READ_BUDGET bytes a turn; the port the same
    assert PORT_BYTES_PER_TURN == tun_module.VNET_READ_BUDGET
