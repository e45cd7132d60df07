"""UsbPump with several transfers in flight (libusb's asynchronous API), against a simulated device.

tests/fake_ncm_async.py stands in for `ncm.usb.LibusbAsync` over the fake modem; the same pump
code runs on Linux's f_ncm gadget in tests/test_interop_ncm_gadget.py (through real libusb).
"""

from __future__ import annotations

import os
import select
import time

import pytest

from ncm.link import NcmDownCause
from ncm.usb import LibusbAsync, UsbPump
from tests.fake_ncm_async import FakeAsyncIo
from tests.fake_ncm_device import FakeNcmModem, build_ntb_device
from tests.test_ncm_usb import bound


def _wait(cond, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def _frame(i: int) -> bytes:
    return b"\x0c\x5b\x8f\x27\x9a\x64" + b"\x00\x1e\x10\x1f\x00\x00" + b"\x08\x00" + i.to_bytes(4, "big") + bytes(60)


def _pump(modem: FakeNcmModem, transfers: int = 4, **kw: object) -> tuple[UsbPump, FakeAsyncIo]:
    io = FakeAsyncIo(modem)
    pump = UsbPump(bound(modem), transfers=transfers, io=io, **kw)  # type: ignore[arg-type]
    assert pump.asynchronous
    pump.start()
    return pump, io


def test_blocks_go_out_in_order_with_several_in_flight() -> None:
    modem = FakeNcmModem(write_delay=0.002)
    pump, io = _pump(modem)
    blocks = [build_ntb_device([_frame(i)], seq=i) for i in range(60)]
    for i in range(0, 60, 6):
        _wait(pump.writable)
        pump.send(blocks[i:i + 6])
    _wait(lambda: len(modem.rx_blocks) >= 60)
    pump.stop()
    assert modem.rx_blocks == blocks                    # every NTB, once, in order
    assert io.max_in_flight["out"] == 4 and io.max_in_flight["in"] == 4
    assert pump.stats()["usb_tx_transfers"] == 60 and pump.tx_dropped == 0
    assert pump.stats()["usb_transfers_in_flight"] == 4
    assert io.freed and io.in_flight_when_freed == 0 and not pump.running()


def test_blocks_come_in_in_order_and_wake_the_owner() -> None:
    modem = FakeNcmModem(arp_host_on_connect=False)
    pump, io = _pump(modem, transfers=3)
    sent = [build_ntb_device([_frame(i)], seq=i) for i in range(40)]
    for b in sent:
        modem.send_block(b)
    got: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(got) < 40 and time.monotonic() < deadline:
        if select.select([pump.wake_fd], [], [], 1)[0]:
            pump.drain_wake()
            got += pump.take_blocks()
    pump.stop()
    assert got == sent and pump.rx_transfers == 40
    assert io.max_in_flight["in"] == 3


def test_a_burst_of_blocks_wakes_the_owner_once_until_it_drains() -> None:
    modem = FakeNcmModem(arp_host_on_connect=False)
    pump, _io = _pump(modem)
    for i in range(20):
        modem.send_block(build_ntb_device([_frame(i)], seq=i))
    _wait(lambda: pump.rx_transfers == 20)
    assert os.read(pump.wake_fd, 4096) == b"!"          # one byte for the 20 blocks
    pump.drain_wake()
    assert len(pump.take_blocks()) == 20
    modem.send_block(build_ntb_device([_frame(99)], seq=99))
    assert select.select([pump.wake_fd], [], [], 5)[0], "no wake after the owner drained"
    pump.stop()


def test_queue_high_water_and_wake_when_half_drained() -> None:
    modem = FakeNcmModem(arp_host_on_connect=False)     # no RX wake mixed in with the TX one
    pump, io = _pump(modem, transfers=2, max_queued_tx=8)
    io.hold_out = True                                  # the device takes nothing for now
    pump.send([build_ntb_device([_frame(i)], seq=i) for i in range(8)])
    assert not pump.writable() and pump.tx_paused == 1
    pump.drain_wake()
    io.hold_out = False
    # Each wake is one burst of completions: under load the first may come before the queue is
    # down to half, so keep waiting on the pipe (never on a timer) until the pump says writable.
    deadline = time.monotonic() + 10
    while not pump.writable():
        left = deadline - time.monotonic()
        assert left > 0 and select.select([pump.wake_fd], [], [], left)[0], "no wake once the queue drained to half"
        pump.drain_wake()
    _wait(lambda: len(modem.rx_blocks) == 8)            # all of them reach the device before we stop
    pump.stop()
    assert pump.tx_dropped == 0 and len(modem.rx_blocks) == 8


def test_stop_cancels_what_the_device_never_took_and_counts_it() -> None:
    modem = FakeNcmModem()
    pump, io = _pump(modem, transfers=2)
    io.hold_out = True
    pump.send([build_ntb_device([_frame(i)], seq=i) for i in range(5)])
    t0 = time.monotonic()
    pump.stop(timeout=0.3)
    assert time.monotonic() - t0 < 5
    # 2 in flight were cancelled, 3 never left the queue: all 5 counted, none sent
    assert pump.tx_dropped == 5 and pump.tx_transfers == 0
    assert io.freed and io.in_flight_when_freed == 0 and not pump.running()


def test_unplug_ends_with_usb_disconnected() -> None:
    modem = FakeNcmModem()
    pump, io = _pump(modem)
    _wait(lambda: len(io.posted_in) == 4)
    modem.unplug()
    assert select.select([pump.wake_fd], [], [], 5)[0]
    _wait(lambda: pump.error is not None)
    assert pump.error is not None and pump.error[0] is NcmDownCause.USB_DISCONNECTED, pump.error
    pump.stop()
    assert not pump.running() and io.freed


def test_a_stalled_read_is_cleared_and_posted_again() -> None:
    modem = FakeNcmModem(arp_host_on_connect=False)
    pump, io = _pump(modem, transfers=2)
    io.stall_next_in = 1
    block = build_ntb_device([_frame(7)], seq=7)
    modem.send_block(block)
    _wait(lambda: pump.rx_transfers == 1)
    assert pump.take_blocks() == [block] and pump.stalls == 1 and pump.error is None
    pump.stop()


def test_other_backends_and_one_transfer_use_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    modem = FakeNcmModem()
    dev = bound(modem)
    assert LibusbAsync.attach(dev.dev) is None          # the fake pyusb backend has no libusb
    assert not UsbPump(dev).asynchronous
    monkeypatch.setenv("PPPSTACK_NCM_TRANSFERS", "1")
    assert not UsbPump(dev, io=FakeAsyncIo(modem)).asynchronous  # type: ignore[arg-type]
    monkeypatch.setenv("PPPSTACK_NCM_TRANSFERS", "3")
    p = UsbPump(dev, io=FakeAsyncIo(modem))  # type: ignore[arg-type]
    assert p.asynchronous and p.transfers == 3


def test_a_wake_while_the_owner_drains_does_not_silence_later_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """A completion can land between the owner's read of the pipe and the end of drain_wake():
    the pump must not be left thinking the owner is still to be woken (it was: the gadget test's
    TCP transfer stalled)."""
    modem = FakeNcmModem(arp_host_on_connect=False)
    pump, _io = _pump(modem)
    pump._wake()
    real_read = os.read

    def read_then_wake(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        if data and fd == pump.wake_fd:
            pump._wake()                                 # as the events thread would, right then
        return data

    monkeypatch.setattr(os, "read", read_then_wake)
    pump.drain_wake()
    monkeypatch.undo()
    modem.send_block(build_ntb_device([_frame(1)], seq=1))
    assert select.select([pump.wake_fd], [], [], 5)[0], "the next block did not wake the owner"
    pump.stop()
