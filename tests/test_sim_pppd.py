"""Real pppd and chat (Debian's ppp, in a QEMU guest) dial the simulated E3372h-320 — the thread's
setup with OpenWrt's 3g.chat — and must log what they log against a real Huawei stick:
the stick's ``<auth chap MD5>``, a Challenge from "UMTS_CHAP_SRVR", the address and DNS by Nak.

The guest's console pty and the simulator's ttyUSB2 are joined by a byte relay (a null-modem
cable, as socat would be)."""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Iterator

import pytest
from guest.pppd import PppdGuest, open_host_pty, shared_pppd_guest

from pppstack.io.simrunner import SimHandle, start_sim
from pppstack.sim.modem import CommandSeen, DataModeEnded, SimConfig

pytestmark = pytest.mark.guest

# OpenWrt's 3g.chat (anchors §7.1) with the thread's APN, as chat(8) reads it
CHAT_3G = """ABORT BUSY
ABORT 'NO CARRIER'
ABORT ERROR
REPORT CONNECT
TIMEOUT 10
"" "AT&F"
OK "ATE1"
OK 'AT+CGDCONT=1,"IP","internet"'
TIMEOUT 30
OK ATD*99***1#
CONNECT ' '
"""


class Relay:
    """Copy bytes both ways between two ttys until stopped."""

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.a, self.b], [], [], 0.1)
            for src in ready:
                try:
                    data = os.read(src, 65536)
                except OSError:
                    continue
                dst = self.b if src == self.a else self.a
                while data and not self._stop.is_set():
                    try:
                        data = data[os.write(dst, data):]
                    except BlockingIOError:
                        time.sleep(0.001)
                    except OSError:
                        break

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture(scope="module")
def pppd_guest() -> PppdGuest:
    return shared_pppd_guest()


@pytest.fixture
def wired(pppd_guest: PppdGuest) -> Iterator[tuple[PppdGuest, SimHandle]]:
    # a slow guest: the signal report due when the port opens waits for chat's first command
    sim = start_sim(SimConfig(report_hold=30.0))
    # QEMU notices the opened pty within its 1 s poll; until then the guest's writes to the modem
    # port wait (a virtio-serial port, not a console) and start_pppd_client waits for it too
    gfd = open_host_pty(pppd_guest.pty_path)
    sfd = os.open(sim.port_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(sfd)
    relay = Relay(gfd, sfd)
    try:
        yield pppd_guest, sim
    finally:
        pppd_guest.stop_modem()
        relay.stop()
        os.close(gfd)
        os.close(sfd)
        sim.stop()


def test_pppd_and_chat_dial_the_simulated_stick(wired: tuple[PppdGuest, SimHandle]) -> None:
    guest, sim = wired
    guest.guest.write_file("/tmp/3g.chat", CHAT_3G)
    guest.start_pppd_client(["connect '/usr/sbin/chat -s -v -f /tmp/3g.chat'", "user web", "password web",
                              "defaultroute"])
    log = guest.wait_for_log("remote IP address", 60)
    # chat saw the thread's wording; the unsolicited report rode on the first answer
    assert "send (AT+CGDCONT=1,\"IP\",\"internet\"^M)" in log and "CONNECT\n -- got it" in log
    assert "^RSSI: 16^M" in log and '^HCSQ:"WCDMA",45,41,57^M' in log
    # pppd saw a Huawei stick
    assert "rcvd [LCP ConfReq id=0x1 <asyncmap 0x0> <auth chap MD5> <magic " in log
    assert 'name = "UMTS_CHAP_SRVR"]' in log and "CHAP authentication succeeded" in log
    assert "rcvd [IPCP ConfNak id=0x2 <addr 100.68.27.142> <ms-dns1 10.177.0.34> <ms-dns2 10.168.187.116>]" in log
    assert "local  IP address 100.68.27.142" in log and "remote IP address 10.64.64.64" in log
    assert "primary   DNS address 10.177.0.34" in log
    lines = [e.line for _, e in sim.events() if isinstance(e, CommandSeen)]
    assert lines == ["AT&F", "ATE1", 'AT+CGDCONT=1,"IP","internet"', "ATD*99***1#"]
    # the kernel's ping through ppp0 reaches the simulator's responder
    out = guest.shell("ping -c 2 -W 3 10.64.64.64; ping -c 1 -W 3 192.0.2.7 || true")
    assert "2 packets received" in out and "1 packets received" in out
    # pppd hangs up with Terminate-Request: the stick goes back to command mode
    guest.stop_modem()
    assert sim.wait_for(DataModeEnded, 10) is not None
    assert "rcvd [LCP TermAck" in guest.pppd_log()
