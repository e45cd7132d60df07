"""ncm/usb.py and the bridge loop, end to end against the fake Huawei-like modem (a pyusb backend).

Packets cross the whole path except TUN: a socketpair plays the TUN device, then bridge() → L2
shim → aggregator → pyusb bulk OUT → the fake modem (its own NTB parser) → ARP/echo answers
→ bulk IN → decoder → L2 → socketpair.  scapy builds and checks the IP packets.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from ipaddress import IPv4Address, IPv4Interface

import pytest

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6  # noqa: E402
from scapy.packet import raw  # noqa: E402

from ncm.l2 import L2Config  # noqa: E402
from ncm.link import CarrierChanged, NcmDownCause, NcmLink, SpeedChanged  # noqa: E402
from ncm.usb import NcmDevice, NcmNotFound, NcmUsbError, UsbPump, find_devices  # noqa: E402
from pppstack.exitcodes import ExitCode  # noqa: E402
from pppstack.io.ncmbridge import bridge  # noqa: E402
from pppstack.io.ncmlink import NcmUpOptions, exit_code_for, run_ncm_up  # noqa: E402
from tests.fake_ncm_device import (  # noqa: E402
    DEVICE_MAC,
    HOST_MAC,
    FakeBackend,
    FakeNcmModem,
    huawei_class_ncm,
    huawei_vendor_ncm,
)


class SocketPort:
    """A TUN stand-in: one datagram per IP packet."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_batch(self, limit: int = 256) -> list[bytes]:
        out = []
        try:
            while len(out) < limit:
                out.append(self.sock.recv(65536))
        except BlockingIOError:
            pass
        return out

    def write_many(self, packets) -> int:  # noqa: ANN001
        for p in packets:
            self.sock.send(p)
        return len(packets)


def bound(modem: FakeNcmModem, ntb32: bool = False) -> NcmDevice:
    dev = NcmDevice.open(backend=FakeBackend(modem))
    dev.bind(ntb32=ntb32, pause=0.001)
    return dev


@pytest.mark.parametrize("layout", [huawei_class_ncm, huawei_vendor_ncm])
def test_function_is_found_by_descriptors(layout) -> None:  # noqa: ANN001
    modem = FakeNcmModem(layout=layout())
    ((dev, f),) = list(find_devices(backend=FakeBackend(modem)))
    assert (f.control, f.data) == (modem.control_if, modem.data_if)
    assert (f.data_alt, f.ep_in, f.ep_out, f.ep_notify, f.out_max_packet) == (1, 0x81, 0x02, 0x83, 512)
    assert f.mac_index == 4 and f.descriptors.ncm is not None
    assert f.vendor_class is (layout is huawei_vendor_ncm)


def test_no_ncm_function_is_a_clear_error() -> None:
    serial_only = FakeNcmModem(layout=huawei_vendor_ncm()[:2], pid=0x1506)
    assert list(find_devices(backend=FakeBackend(serial_only))) == []
    with pytest.raises(NcmNotFound, match="no USB NCM function"):
        NcmDevice.open(backend=FakeBackend(serial_only))
    with pytest.raises(NcmNotFound, match="no USB NCM function"):
        NcmDevice.open(backend=FakeBackend(FakeNcmModem()), vid=0x1234)


@pytest.mark.parametrize("ntb32", [False, True])
def test_bind_sequence_matches_cdc_ncm(ntb32: bool) -> None:
    modem = FakeNcmModem()
    dev = bound(modem, ntb32)
    assert modem.detached == {0, 1}
    reqs = [(rt, req, value) for rt, req, value, _i, _d in modem.requests if rt != 0x80]
    fmt = [(0x21, 0x84, 1)] if ntb32 else []           # SET_NTB_FORMAT only to choose NTB32
    assert reqs == [(0xA1, 0x80, 0), (0x21, 0x8A, 0), *fmt, (0x21, 0x86, 0), (0x21, 0x43, 0x0E)]
    assert modem.input_size == 16384 and modem.ntb32 is ntb32 and dev.ntb32 is ntb32
    assert modem.alt[1] == 1 and dev.mac == HOST_MAC
    assert dev.params is not None and dev.params.ntb32_supported
    dev.close()
    assert modem.alt[1] == 0 and modem.detached == set()        # kernel drivers given back


def test_ntb16_only_device_gets_no_set_ntb_format() -> None:
    modem = FakeNcmModem(params=struct.pack("<HHIHHHHIHHHH", 28, 1, 16384, 4, 0, 4, 0, 8192, 32, 0, 4, 16))
    dev = bound(modem, ntb32=True)
    assert 0x84 not in [r[1] for r in modem.requests] and not dev.ntb32
    assert dev.params is not None and dev.params.out_max_datagrams == 16


def _run_bridge(modem: FakeNcmModem, dev: NcmDevice, send: list[bytes], want: int, *, ndp_at_end: bool = False):  # noqa: ANN202
    pump = UsbPump(dev, poll_ms=50)
    pump.start()
    assert dev.params is not None
    session = NcmLink(dev.params, L2Config(mac=dev.mac or b"\x02" * 6, ipv4=IPv4Interface("10.10.1.1/30"),
                                              gateway=IPv4Address("10.10.1.2")),
                         ntb32=dev.ntb32, ndp_at_end=ndp_at_end, max_packet_size=512, rx_max=dev.rx_max)
    session.start(time.monotonic())
    host, side = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for p in send:
        host.send(p)
    got: list[bytes] = []
    events = []
    host.settimeout(5)

    def collect() -> None:
        try:
            while len(got) < want:
                got.append(host.recv(65536))
        except OSError:
            pass

    t = threading.Thread(target=collect)
    t.start()
    stop = threading.Event()
    deadline = time.monotonic() + 10
    result = bridge(session, pump, SocketPort(side), stop=stop, on_event=events.append,
                    until=lambda s: len(got) >= want or time.monotonic() > deadline)
    t.join(5)
    pump.stop()
    host.close()
    side.close()
    return got, events, result, session


@pytest.mark.parametrize(("ntb32", "ndp_at_end"), [(False, False), (True, False), (False, True)])
def test_icmp_echo_round_trip_through_ntbs(ntb32: bool, ndp_at_end: bool) -> None:
    modem = FakeNcmModem()
    dev = bound(modem, ntb32)
    pings = [raw(IP(src="10.10.1.1", dst="192.0.2.7", id=i) / ICMP(id=7, seq=i) / (b"payload%d" % i)) for i in range(5)]
    got, events, result, session = _run_bridge(modem, dev, pings, 5, ndp_at_end=ndp_at_end)
    assert len(got) == 5
    for i, p in enumerate(sorted(got, key=lambda b: IP(b)[ICMP].seq)):
        r = IP(p)
        assert (r.src, r.dst, r[ICMP].type, r[ICMP].seq, bytes(r[ICMP].payload)) == (
            "192.0.2.7", "10.10.1.1", 0, i, b"payload%d" % i)
        chk = r[ICMP].chksum
        del r[ICMP].chksum
        assert IP(raw(r))[ICMP].chksum == chk
    # what reached the device: our ARP request for the gateway, our ARP reply to its request, the pings
    kinds = [f[12:14] for f in modem.rx_frames]
    assert kinds.count(b"\x08\x06") >= 2 and kinds.count(b"\x08\x00") == 5
    assert all(f[0:6] == DEVICE_MAC for f in modem.rx_frames if f[12:14] == b"\x08\x00")
    assert all(b[:4] == (b"ncmh" if ntb32 else b"NCMH") for b in modem.rx_blocks)
    assert modem.echo_replies == 5
    # packed notifications: both came out of one interrupt transfer
    assert SpeedChanged(150_000_000, 50_000_000) in events and CarrierChanged(True) in events
    assert session.carrier is True and result.stats["rx_frames"] >= 6
    assert result.stats.get("rx_bad_blocks", 0) == 0
    dev.close()


def test_ipv6_echo_resolves_the_modem_by_neighbor_solicitation() -> None:
    modem = FakeNcmModem(arp_host_on_connect=False)
    dev = bound(modem)
    ping = raw(IPv6(src="fe80::e5b:8fff:fe27:9a64", dst="fe80::21e:10ff:fe1f:0") / ICMPv6EchoRequest(data=b"six"))
    got, _events, _result, session = _run_bridge(modem, dev, [ping], 1)
    assert len(got) == 1 and IPv6(got[0])[ICMPv6EchoReply].data == b"six"
    assert session.l2.counters["ns_sent"] == 1
    dev.close()


@pytest.mark.parametrize("io_errors", [0.0, 0.3], ids=["enodev", "eio-then-enodev"])
def test_usb_disconnect_is_a_named_cause(io_errors: float) -> None:
    """Unplugged mid-transfer, Linux first fails the URBs in flight (libusb: LIBUSB_ERROR_IO,
    "Input/Output Error") and only then reports the device gone: still PORT_VANISHED."""
    modem = FakeNcmModem()
    dev = bound(modem)
    pump = UsbPump(dev, poll_ms=50)
    pump.start()
    assert dev.params is not None
    session = NcmLink(dev.params, L2Config(mac=HOST_MAC, ipv4=IPv4Interface("10.10.1.1/30"),
                                              gateway=IPv4Address("10.10.1.2")))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    threading.Timer(0.3, modem.unplug, kwargs={"io_errors": io_errors}).start()
    result = bridge(session, pump, SocketPort(b), stop=threading.Event())
    pump.stop()
    a.close()
    b.close()
    assert result.down.cause is NcmDownCause.USB_DISCONNECTED and "dropped off USB" in result.down.message
    assert exit_code_for(result.down) is ExitCode.PORT_VANISHED
    dev.close()


def test_carrier_loss_after_up_ends_the_link() -> None:
    modem = FakeNcmModem()
    dev = bound(modem)
    pump = UsbPump(dev, poll_ms=50)
    pump.start()
    assert dev.params is not None
    session = NcmLink(dev.params, L2Config(mac=HOST_MAC, ipv4=IPv4Interface("10.10.1.1/30")))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    threading.Timer(0.3, modem.notify, args=(struct.pack("<BBHHH", 0xA1, 0, 0, 0, 0),)).start()
    result = bridge(session, pump, SocketPort(b), stop=threading.Event())
    pump.stop()
    a.close()
    b.close()
    assert result.down.cause is NcmDownCause.CARRIER_LOST and exit_code_for(result.down) is ExitCode.CARRIER_LOST
    dev.close()


def test_run_ncm_up_reports_missing_device_and_missing_address() -> None:
    assert run_ncm_up(NcmUpOptions(usb="1234:5678"), backend=FakeBackend(FakeNcmModem())) is ExitCode.NO_DEVICE
    modem = FakeNcmModem()
    assert run_ncm_up(NcmUpOptions(), backend=FakeBackend(modem)) is ExitCode.OPTION_ERROR
    assert modem.alt[1] == 0 and modem.detached == set()          # cleaned up on the way out


def test_run_ncm_up_without_carrier_is_no_carrier() -> None:
    modem = FakeNcmModem(connect_on_alt=False)
    code = run_ncm_up(NcmUpOptions(local_ip=IPv4Interface("10.10.1.1/30"), carrier_timeout=0.3),
                      backend=FakeBackend(modem))
    assert code is ExitCode.NO_CARRIER


def test_unplugged_before_bind() -> None:
    modem = FakeNcmModem()
    modem.unplugged.set()
    with pytest.raises(NcmUsbError) as exc:
        NcmDevice.open(backend=FakeBackend(modem)).bind()
    assert exc.value.cause is NcmDownCause.USB_DISCONNECTED and "No such device" in exc.value.message


def test_run_ncm_up_dial_failures_have_their_codes() -> None:
    from tests.modem_scripted import ScriptedModem
    ok = b"\r\nOK\r\n"
    table = {"AT": ok, "AT+CMEE=2": ok, "AT+CPIN?": b"\r\n+CPIN: READY\r\n" + ok,
             "AT+CREG?": b"\r\n+CREG: 0,1\r\n" + ok, "AT+CGREG?": ok, "AT+CEREG?": ok, "AT^HCSQ?": ok,
             "AT^SYSINFOEX": ok, "AT+CSQ": ok, 'AT^NDISDUP=1,1,"internet"': b"\r\n+CME ERROR: 30\r\n"}
    modem = FakeNcmModem()
    with ScriptedModem(table) as at:
        code = run_ncm_up(NcmUpOptions(apn="internet", at_port=at.path), backend=FakeBackend(modem))
    assert code is ExitCode.NCM_DIAL_FAILED
    assert 'AT^NDISDUP=1,1,"internet"' in at.commands and "AT^NDISDUP=1,0" not in at.commands
    assert modem.alt[1] == 0                                          # data path stopped again
    # no AT port given and none found in sysfs for this (fake) device
    code = run_ncm_up(NcmUpOptions(apn="internet"), backend=FakeBackend(FakeNcmModem()))
    assert code is ExitCode.NO_DEVICE
