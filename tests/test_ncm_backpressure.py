"""A device that is behind slows the sender down instead of losing data inside pppstack.

The fake modem (tests/fake_ncm_device.py) takes its bulk OUT transfers slowly, lets some time
out with nothing taken and cuts others off after part of a block, as a busy modem and pyusb do
(pyusb returns the byte count of a write or read that timed out part way).  A flood of UDP
datagrams crosses bridge() from a socketpair standing in for the TUN; every one must reach the
device's own NTB parser, nothing may be counted as dropped, and the loop must have stopped
reading its input while the device was behind (the kernel's TUN queue holds the rest).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from ipaddress import IPv4Address, IPv4Interface

from ncm.l2 import L2Config
from ncm.link import NcmLink
from ncm.ntb import ntb_missing
from ncm.usb import NcmDevice, UsbPump
from pppstack.io.ncmbridge import bridge
from tests.fake_ncm_device import FakeNcmModem
from tests.test_ncm_usb import SocketPort, bound


def _udp(i: int, size: int) -> bytes:
    payload = struct.pack("!I", i) + bytes(size - 4)
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                      bytes([10, 10, 1, 1]), bytes([192, 0, 2, 9]))
    return hdr + udp


def _udp_seen(modem: FakeNcmModem) -> set[int]:
    return {struct.unpack_from("!I", f, 14 + 28)[0] for f in list(modem.rx_frames)
            if f[12:14] == b"\x08\x00" and f[14 + 9] == 17}


def _session(dev: NcmDevice) -> NcmLink:
    """The host side's NCM link for ``dev`` (10.10.1.1 towards the fake modem's 10.10.1.2), started."""
    assert dev.params is not None
    session = NcmLink(dev.params, L2Config(mac=dev.mac or b"\x02" * 6, ipv4=IPv4Interface("10.10.1.1/30"),
                                           gateway=IPv4Address("10.10.1.2")), rx_max=dev.rx_max)
    session.start(time.monotonic())
    return session

def _flood(modem: FakeNcmModem, count: int, size: int) -> tuple[set[int], dict[str, int], UsbPump]:
    dev = bound(modem)
    pump = UsbPump(dev, poll_ms=50, max_queued_tx=8)
    pump.start()
    assert dev.params is not None
    session = _session(dev)
    host, side = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    def send() -> None:          # blocks when the "TUN queue" is full, as a sender's qdisc would
        for i in range(count):
            host.send(_udp(i, size))

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + 60
    result = bridge(session, pump, SocketPort(side), stop=threading.Event(),
                    until=lambda s: len(_udp_seen(modem)) >= count or time.monotonic() > deadline)
    sender.join(5)
    pump.stop()
    host.close()
    side.close()
    dev.close()
    return _udp_seen(modem), {**result.stats, **pump.stats()}, pump


def test_a_slow_device_loses_nothing_inside_pppstack() -> None:
    modem = FakeNcmModem(write_delay=0.003, write_timeouts=5)
    seen, stats, _pump = _flood(modem, 3000, 60)
    assert seen == set(range(3000)), f"{3000 - len(seen)} datagrams lost; {stats}"
    assert stats["usb_tx_dropped"] == 0 and stats.get("tx_oversize_dropped", 0) == 0
    assert stats["usb_tx_paused"] > 0, "the loop never had to wait for the device"
    assert stats["usb_tx_timeouts"] == 5 == modem.timed_out_writes


def test_full_size_flood_and_writes_cut_off_part_way() -> None:
    modem = FakeNcmModem(write_delay=0.002, cut_writes=20)
    seen, stats, _pump = _flood(modem, 800, 1472)
    assert seen == set(range(800)), f"{800 - len(seen)} datagrams lost; {stats}"
    assert modem.cut_write_count == 20 and stats["usb_tx_partial"] == 20
    # a block cut off part way is one transfer, counted once, when its last byte went out
    assert stats["usb_tx_transfers"] == len(modem.rx_blocks)
    assert stats["usb_tx_dropped"] == 0


def test_a_read_that_times_out_mid_ntb_never_splits_it() -> None:
    modem = FakeNcmModem(cut_reads=1000)
    dev = bound(modem)
    pump = UsbPump(dev, poll_ms=50)
    pump.start()
    frames = [b"\x02" * 6 + b"\x00\x1e\x10\x1f\x00\x00" + b"\x08\x00" + bytes([i]) * 1400 for i in range(30)]
    for i in range(0, 30, 10):
        modem.send_frames(frames[i:i + 10])
    got: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(got) < 4 and time.monotonic() < deadline:      # the connect ARP + three blocks
        got.extend(pump.take_blocks())
        time.sleep(0.01)
    pump.stop()
    dev.close()
    assert modem.cut_read_count >= 3 and pump.rx_partial >= 3
    assert [ntb_missing(b) for b in got] == [0] * len(got)
    from ncm.ntb import decode_ntb
    assert [f for b in got for f in decode_ntb(b) if f[12:14] == b"\x08\x00"] == frames


def test_stopping_with_blocks_queued_counts_them() -> None:
    modem = FakeNcmModem(write_timeouts=10**6)         # a device that never takes anything
    dev = bound(modem)
    pump = UsbPump(dev, poll_ms=50)
    dev.timeout_ms = 20
    pump.start()
    pump.send([b"NCMH" + bytes(60)] * 5)
    pump.stop(timeout=0.3)
    for t in pump._threads:          # the writer counts what it gave up on as it leaves
        t.join(10)
    dev.close()
    assert pump.tx_transfers == 0 and pump.tx_dropped == 5


def test_a_slow_device_loses_nothing_with_libusb_events_on_the_loop() -> None:
    """The same flood with the asynchronous pump whose events the bridge's loop handles (the
    path `up --mode ncm` takes on libusb): backpressure, not drops, and every datagram arrives."""
    from tests.fake_ncm_async import FakeAsyncIo
    modem = FakeNcmModem(write_delay=0.003)
    dev = bound(modem)
    io = FakeAsyncIo(modem)
    r, w = os.pipe()
    os.write(w, b"!")               # "libusb's fd" always ready: the loop handles events every turn
    io.fds = [(r, 0x001)]
    pump = UsbPump(dev, max_queued_tx=8, transfers=2, out_transfers=4, io=io)  # type: ignore[arg-type]
    pump.start()
    assert dev.params is not None
    session = _session(dev)
    host, side = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    count = 2000
    sender = threading.Thread(target=lambda: [host.send(_udp(i, 300)) for i in range(count)], daemon=True)
    sender.start()
    deadline = time.monotonic() + 60
    result = bridge(session, pump, SocketPort(side), stop=threading.Event(),
                    until=lambda s: len(_udp_seen(modem)) >= count or time.monotonic() > deadline)
    sender.join(5)
    pump.stop()
    stats = {**result.stats, **pump.stats()}
    for fd in (r, w):
        os.close(fd)
    host.close()
    side.close()
    dev.close()
    assert _udp_seen(modem) == set(range(count)), stats
    # every NTB's completion ran on the loop's thread (the events thread had left before any)
    assert stats["usb_events_inline"] == 1
    assert {t for t, kind in io.done_on if kind == "out"} == {"MainThread"}
    assert stats["usb_tx_dropped"] == 0 and stats["usb_tx_paused"] > 0
    assert io.max_in_flight["out"] == 4
