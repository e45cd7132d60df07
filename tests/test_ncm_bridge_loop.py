"""The NCM bridge on the one loop: an idle link sleeps (no 250 ms polling), and a signal whose
handler only sets the stop event (as `up --mode ncm`'s does) ends the link at once."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from ipaddress import IPv4Address, IPv4Interface

from ncm.l2 import L2Config
from ncm.link import NcmDownCause, NcmLink
from ncm.usb import UsbPump
from pppstack.io.ncmbridge import bridge
from tests.fake_ncm_device import HOST_MAC, FakeNcmModem
from tests.test_ncm_usb import SocketPort, bound


class CountingPump:
    """The real pump, with the number of loop turns it saw (the bridge takes blocks once a turn)."""

    def __init__(self, pump: UsbPump) -> None:
        self.pump = pump
        self.turns: list[float] = []

    def take_blocks(self) -> list[bytes]:
        self.turns.append(time.monotonic())
        return self.pump.take_blocks()

    def __getattr__(self, name: str) -> object:
        return getattr(self.pump, name)


def test_idle_bridge_sleeps_and_a_signal_ends_it_at_once() -> None:
    modem = FakeNcmModem()
    dev = bound(modem)
    pump = UsbPump(dev, poll_ms=50)
    pump.start()
    assert dev.params is not None
    session = NcmLink(dev.params, L2Config(mac=HOST_MAC, ipv4=IPv4Interface("10.10.1.1/30"),
                                              gateway=IPv4Address("10.10.1.2")))
    session.start(time.monotonic())
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stop = threading.Event()
    sent_at: list[float] = []
    old = signal.signal(signal.SIGUSR1, lambda *_: stop.set())
    counting = CountingPump(pump)

    def kill() -> None:
        sent_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGUSR1)

    killer = threading.Timer(2.0, kill)
    safety = threading.Timer(20.0, stop.set)      # the test fails, never hangs
    killer.start()
    safety.start()
    try:
        result = bridge(session, counting, SocketPort(b), stop=stop)
        ended = time.monotonic()
    finally:
        killer.cancel()
        safety.cancel()
        signal.signal(signal.SIGUSR1, old)
        pump.stop()
        a.close()
        b.close()
        dev.close()
    assert result.down.cause is NcmDownCause.LOCAL_CLOSE
    assert sent_at and ended - sent_at[0] < 1.0, "the signal was not seen at once"
    # the second before the signal is idle (connect notifications and ARP are long done): a loop
    # polling every 250 ms turns 4 times in it, one that sleeps until something happens does not
    idle = [t for t in counting.turns if sent_at[0] - 1.0 <= t < sent_at[0]]
    assert len(idle) <= 1, f"{len(idle)} turns in an idle second"
