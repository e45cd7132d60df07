"""NcmLink (sans-I/O, fake clock) and CDC notification parsing; peer garbage never raises."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv4Interface

from hypothesis import given, settings
from hypothesis import strategies as st

from ncm import NtbParameters, decode_ntb, encode_ntb
from ncm.l2 import L2Config, L2Shim, NeighbourResolved
from ncm.link import CarrierChanged, NcmDownCause, NcmLink, NcmLinkDown, SpeedChanged
from ncm.notify import (
    CONNECTION_SPEED_CHANGE,
    NETWORK_CONNECTION,
    Garbled,
    NetworkConnection,
    OtherNotification,
    ResponseAvailable,
    SpeedChange,
    build_notification,
    parse_notifications,
)

ME, GW = bytes.fromhex("0c5b8f279a64"), bytes.fromhex("001e101f0000")
P = NtbParameters(bmNtbFormatsSupported=3)


def session(**kw) -> NcmLink:  # noqa: ANN003
    return NcmLink(P, L2Config(mac=ME, ipv4=IPv4Interface("10.10.1.1/30"), gateway=IPv4Address("10.10.1.2")), **kw)


def events(s: NcmLink) -> list[object]:
    return list(iter(s.next_event, None))


# -------------------------------------------------------------------- notifications

def test_several_notifications_in_one_transfer() -> None:
    # f_ncm's SPEED_CHANGE (16 bytes: header + DLBitRRate + ULBitRate) then NETWORK_CONNECTION
    data = bytes.fromhex("a12a00000000080000e1f50500e1f505" "a100010000000000")
    assert parse_notifications(data) == [SpeedChange(100_000_000, 100_000_000, 0), NetworkConnection(True, 0)]
    assert build_notification(NETWORK_CONNECTION, 1, 0) == data[16:]


def test_odd_notifications_are_items_not_exceptions() -> None:
    assert parse_notifications(build_notification(0x01, 0, 2)) == [ResponseAvailable(2)]
    serial_state = build_notification(0x20, 0, 1, b"\x03\x00")
    assert parse_notifications(serial_state) == [OtherNotification(0x20, 0, 1, b"\x03\x00")]
    (g,) = parse_notifications(build_notification(CONNECTION_SPEED_CHANGE, 0, 0, b"\x01\x02"))
    assert isinstance(g, Garbled) and "8 data bytes" in g.reason
    (g,) = parse_notifications(b"\xa1\x00\x01")
    assert isinstance(g, Garbled) and "shorter than a notification header" in g.reason
    (g,) = parse_notifications(b"\x21" + bytes(7))
    assert isinstance(g, Garbled) and "bmRequestType" in g.reason
    (g,) = parse_notifications(struct.pack("<BBHHH", 0xA1, 0x2A, 0, 0, 8) + b"\x00\x00")
    assert isinstance(g, Garbled) and "2 came" in g.reason


# -------------------------------------------------------------------- session

def test_carrier_up_then_down_ends_the_link_once() -> None:
    s = session()
    s.receive_notification(build_notification(NETWORK_CONNECTION, 0), 0.0)   # down before ever up: not an end
    assert events(s) == [CarrierChanged(False)] and s.down is None
    s.receive_notification(build_notification(CONNECTION_SPEED_CHANGE, 0, 0, struct.pack("<II", 5, 6))
                           + build_notification(NETWORK_CONNECTION, 1), 1.0)
    assert events(s) == [SpeedChanged(5, 6), CarrierChanged(True)] and s.speed == (5, 6)
    s.receive_notification(build_notification(NETWORK_CONNECTION, 1), 2.0)   # repeated: no new event
    assert events(s) == []
    s.receive_notification(build_notification(NETWORK_CONNECTION, 0), 3.0)
    ev = events(s)
    assert ev[0] == CarrierChanged(False) and isinstance(ev[1], NcmLinkDown)
    assert ev[1].cause is NcmDownCause.CARRIER_LOST
    s.connection_lost(NcmDownCause.USB_DISCONNECTED)                              # the first cause stays
    assert s.down is not None and s.down.cause is NcmDownCause.CARRIER_LOST and events(s) == []


def test_timers_drive_arp_and_the_flush_deadline(clock) -> None:  # noqa: ANN001
    s = session()
    s.start(clock.now)
    assert s.get_timer() == clock.now + 400e-6                    # the ARP request sits in a pending NTB
    s.handle_timer(clock.advance(400e-6))
    (blk,) = s.blocks_to_send()
    (arp,) = decode_ntb(blk)
    assert arp[12:14] == b"\x08\x06" and arp[21] == 1
    assert s.get_timer() == clock.now - 400e-6 + 1.0              # next ARP retry, 1 s after the first
    reply = (ME + GW + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + GW + bytes([10, 10, 1, 2]) + ME
             + bytes([10, 10, 1, 1]))
    s.receive_ntb(encode_ntb([reply], P), clock.advance(0.01))
    assert events(s) == [NeighbourResolved(IPv4Address("10.10.1.2"), GW)] and s.get_timer() is None
    pkt = bytes([0x45, 0, 0, 28]) + bytes(8) + bytes([10, 10, 1, 1, 1, 1, 1, 1]) + bytes(8)
    s.send_ip_many([pkt, pkt], clock.now)
    assert s.blocks_to_send() == [] and s.get_timer() == clock.now + 400e-6
    s.flush()
    (blk,) = s.blocks_to_send()
    assert decode_ntb(blk) == [GW + ME + b"\x08\x00" + pkt] * 2
    st_ = s.stats()
    assert st_["tx_ntbs"] == 2 and st_["rx_frames"] == 1 and st_["l2_arp_replies_received"] == 1


def test_close_flushes_and_bad_blocks_are_counted() -> None:
    s = session(flush_interval=1.0)
    s.receive_ntb(b"NCMH garbage", 0.0)
    s.receive_ntb(b"", 0.0)
    assert s.stats()["rx_bad_blocks"] == 2 and s.take_packets() == []
    s.send_ip(bytes([0x45, 0, 0, 20]) + bytes(16), 0.0)           # held for ARP: nothing to flush yet
    s.l2.receive_frame(ME + GW + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + GW
                       + bytes([10, 10, 1, 2]) + ME + bytes([10, 10, 1, 1]), 0.0)
    s.send_ip(bytes([0x45, 0, 0, 20]) + bytes(16), 0.0)
    blocks = s.close()
    assert sum(len(decode_ntb(b)) for b in blocks) >= 1
    assert s.down is not None and s.down.cause is NcmDownCause.LOCAL_CLOSE


# -------------------------------------------------------------------- never raises

@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=6))
def test_l2_and_session_swallow_any_peer_bytes(chunks: list[bytes]) -> None:
    s = session()
    s.start(0.0)
    shim = L2Shim(L2Config(mac=ME, ipv4=IPv4Interface("10.10.1.1/30"), gateway=IPv4Address("10.10.1.2")))
    for i, c in enumerate(chunks):
        s.receive_notification(c, float(i))
        s.receive_ntb(c, float(i))
        shim.receive_frame(c, float(i))
        shim.receive_frame(ME + GW + c[:2] + c[2:], float(i))
        shim.receive_frame(ME + GW + b"\x86\xdd" + b"\x60" + c, float(i))
        shim.receive_frame(ME + GW + b"\x08\x06" + c, float(i))
        shim.send_ip(c, float(i))
        s.handle_timer(float(i))
