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


# -- libusb's events handled on the owner's thread (take_events / handle_events) --------------------

def _inline(modem: FakeNcmModem, **kw: object) -> tuple[UsbPump, FakeAsyncIo, int]:
    """A pump whose events the test's own thread handles, as the bridge's loop does; the fd the
    fake "libusb" offers is a pipe kept readable (the loop would then call handle_events)."""
    pump, io = _pump(modem, **kw)  # type: ignore[arg-type]
    r, w = os.pipe()
    os.write(w, b"!")
    io.fds = [(r, 0x001)]
    assert pump.take_events() == [(r, 0x001)]
    assert not [t for t in pump._threads if t.name == "ncm-usb-events"], "the events thread stayed"
    io.done_threads.clear()                 # what completed before the handover ran on that thread
    pump.drain_wake()                       # and may have woken the owner
    return pump, io, w


def _spin(pump: UsbPump, cond, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        pump.handle_events()


def test_inline_events_keep_order_with_many_in_flight_and_never_use_the_wake_pipe() -> None:
    modem = FakeNcmModem(write_delay=0.001, arp_host_on_connect=False)
    pump, io, _w = _inline(modem, transfers=2, out_transfers=8, max_queued_tx=32)
    blocks = [build_ntb_device([_frame(i)], seq=i) for i in range(100)]
    for i in range(0, 100, 20):
        _spin(pump, pump.writable)
        pump.send(blocks[i:i + 20])
    _spin(pump, lambda: len(modem.rx_blocks) >= 100)
    assert modem.rx_blocks == blocks                    # every NTB, once, in send() order
    assert io.max_in_flight["out"] == 8 and io.max_in_flight["in"] == 2
    assert io.done_threads == {"MainThread"}            # every completion on the owner's thread
    modem.send_block(build_ntb_device([_frame(7)], seq=7))
    _spin(pump, lambda: pump.rx_transfers == 1)
    assert select.select([pump.wake_fd], [], [], 0)[0] == [], "a completion on the owner's thread wrote the pipe"
    assert pump.running()                               # reads are posted: the device must stay open
    pump.stop()
    assert pump.stats()["usb_events_inline"] == 1 and pump.tx_dropped == 0
    assert io.freed and io.in_flight_when_freed == 0 and not pump.running()


def test_inline_stop_lets_what_is_in_flight_and_queued_go_out() -> None:
    """The owner's loop has ended, so nobody handles events but stop() itself: an implementation
    that cancelled at once (or waited on the events thread that is gone) loses these blocks."""
    modem = FakeNcmModem(write_delay=0.001)
    pump, io, _w = _inline(modem, transfers=2, out_transfers=4)
    blocks = [build_ntb_device([_frame(i)], seq=i) for i in range(10)]
    pump.send(blocks)                                   # 4 in flight, 6 queued; no events handled
    assert len(io.posted_out) == 4
    pump.stop(timeout=5)
    assert [b for b in modem.rx_blocks if b in blocks] == blocks
    assert pump.tx_dropped == 0 and pump.tx_transfers == 10
    assert io.freed and io.in_flight_when_freed == 0 and not pump.running()


def test_inline_stop_cancels_what_the_device_never_takes_and_counts_it() -> None:
    modem = FakeNcmModem()
    pump, io, _w = _inline(modem, transfers=2, out_transfers=2)
    io.hold_out = True
    pump.send([build_ntb_device([_frame(i)], seq=i) for i in range(5)])
    t0 = time.monotonic()
    pump.stop(timeout=0.3)
    assert time.monotonic() - t0 < 5
    assert pump.tx_dropped == 5 and pump.tx_transfers == 0      # 2 cancelled in flight + 3 queued
    assert io.freed and io.in_flight_when_freed == 0 and not pump.running()


def test_notifications_come_through_an_interrupt_transfer_both_ways() -> None:
    modem = FakeNcmModem(arp_host_on_connect=False)
    pump, io = _pump(modem)
    assert not [t for t in pump._threads if t.name == "ncm-notify"]   # no thread of its own
    modem.notify(b"\xa1\x00\x01\x00\x00\x00\x00\x00")
    assert select.select([pump.wake_fd], [], [], 5)[0]
    pump.drain_wake()
    _wait(lambda: b"\xa1\x00\x01\x00" in b"".join(pump._notes))   # after the connect-time ones
    r, w = os.pipe()
    io.fds = [(r, 0x001)]
    assert pump.take_events() is not None
    pump.take_notifications()
    modem.notify(b"\xa1\x00\x00\x00\x00\x00\x00\x00")
    _spin(pump, lambda: b"".join(pump._notes).endswith(b"\xa1\x00\x00\x00\x00\x00\x00\x00"))
    pump.stop()
    assert io.in_flight_when_freed == 0                 # the interrupt transfer was cancelled too


def test_unplug_with_inline_events_ends_with_usb_disconnected() -> None:
    modem = FakeNcmModem()
    pump, io, _w = _inline(modem)
    modem.unplug()
    _spin(pump, lambda: pump.error is not None)
    assert pump.error is not None and pump.error[0] is NcmDownCause.USB_DISCONNECTED, pump.error
    pump.stop()
    assert not pump.running() and io.freed


def test_the_threads_pump_keeps_its_events_to_itself() -> None:
    modem = FakeNcmModem()
    pump, io = _pump(modem)
    assert pump.take_events() is None                   # the fake offers no fds: thread stays
    assert [t for t in pump._threads if t.name == "ncm-usb-events"]
    pump.stop()
