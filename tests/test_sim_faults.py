"""The simulator's network side and its timed faults, sans-I/O: our PPPoS client dials the
SimModem through a byte shuttle; a fake clock jumps from deadline to deadline."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from scapy.layers.inet import ICMP, IP

from pppstack import events as ev
from pppstack.config import LinkConfig
from pppstack.pppos import PPPoS
from pppstack.sim.modem import (
    Connected,
    DataModeEnded,
    Fault,
    Mode,
    ModemReset,
    PortAppeared,
    PortHangup,
    PortRemoved,
    SimConfig,
    SimModem,
)
from pppstack.sim.network import PLACEHOLDER_ADDR


class Pair:
    def __init__(self, clock, rng, client: LinkConfig | None = None, **sim) -> None:
        self.clock = clock
        self.sim = SimModem(SimConfig(echo=False, signal_interval=0, **sim), rng)
        self.sim.start(clock.now)
        self.client = PPPoS(client or LinkConfig(user="anyone", password="anything"), rng)
        self.client_events: list[ev.Event] = []
        self.sim_events: list[object] = []
        self.text = b""        # what the client saw outside PPP after CONNECT

    def dial(self) -> None:
        self.sim.receive_data(b"ATD*99***1#\r", self.clock.now)
        out = self.sim.data_to_send()
        head, _, ppp = out.partition(b"CONNECT\r\n")
        assert head == b"\r\n\r\n"
        self.client.open(self.clock.now)
        self.client.receive_data(ppp, self.clock.now)

    def run(self, until, limit: float = 120.0) -> None:
        end = self.clock.now + limit
        while True:
            moved = self._shuttle()
            if until():
                return
            if moved:
                continue
            timers = [t for t in (self.client.get_timer(), self.sim.get_timer()) if t is not None]
            if not timers or min(timers) > end:
                raise AssertionError(f"stuck: client {self.client_events}, sim {self.sim_events}")
            self.clock.now = max(self.clock.now, min(timers))
            self.client.handle_timer(self.clock.now)
            self.sim.handle_timer(self.clock.now)

    def _shuttle(self) -> bool:
        now = self.clock.now
        a = self.client.data_to_send()
        if a:
            self.sim.receive_data(a, now)
        b = self.sim.data_to_send()
        if b:
            self.client.receive_data(b, now)
        while (e := self.client.next_event()) is not None:
            self.client_events.append(e)
            if isinstance(e, ev.ModemText):
                self.text += e.text.encode() + b"\n"
        while (s := self.sim.next_event()) is not None:
            self.sim_events.append(s)
        return bool(a or b)

    def got(self, kind: type) -> list:
        return [e for e in self.client_events if isinstance(e, kind)]

    def sim_got(self, kind: type) -> list:
        return [e for e in self.sim_events if isinstance(e, kind)]


def test_client_gets_address_dns_and_ping_reply(clock, rng) -> None:
    p = Pair(clock, rng)
    p.dial()
    p.run(lambda: p.got(ev.Ipv4Up))
    up = p.got(ev.Ipv4Up)[0]
    assert up.local == IPv4Address("100.68.27.142") and up.peer == IPv4Address("10.64.64.64")
    assert up.dns == (IPv4Address("10.177.0.34"), IPv4Address("10.168.187.116"))
    assert p.got(ev.LinkUp)[0].auth == "CHAP"     # the stick asked for CHAP ...
    assert p.got(ev.AuthSucceeded)                 # ... and took made-up credentials
    req = IP(src=str(up.local), dst="192.0.2.80") / ICMP(id=7, seq=3) / b"through the sim"
    p.client.send_ip(bytes(req), clock.now)
    p._shuttle()
    replies = [IP(bytes(r)) for r in p.client.take_packets()]  # memoryviews; scapy parses bytes
    assert len(replies) == 1
    r = replies[0]
    assert r.src == "192.0.2.80" and r[ICMP].type == 0 and r[ICMP].id == 7 and r[ICMP].seq == 3
    assert bytes(r[ICMP].payload) == b"through the sim"
    again = IP(bytes(r))
    again.chksum = None
    again[ICMP].chksum = None
    assert bytes(again) == bytes(r)   # scapy recomputes both checksums to the same values


def test_client_hangs_up_modem_says_no_carrier(clock, rng) -> None:
    p = Pair(clock, rng)
    p.dial()
    p.run(lambda: p.got(ev.Ipv4Up))
    p.client.close("User request", clock.now)
    p.run(lambda: p.sim.mode is Mode.COMMAND)
    p._shuttle()
    assert p.text.endswith(b"NO CARRIER\n")
    assert p.sim_got(DataModeEnded)
    p.sim.receive_data(b"AT\r", clock.now)
    assert p.sim.data_to_send() == b"\r\nOK\r\n"   # back in command mode


def test_strict_credentials_reject_a_wrong_secret(clock, rng) -> None:
    p = Pair(clock, rng, client=LinkConfig(user="web", password="wrong"),
             accept_any_credentials=False, secrets=(("web", "web"),))
    p.dial()
    p.run(lambda: p.got(ev.LinkDown))
    assert p.got(ev.LinkDown)[0].cause is ev.DownCause.AUTH_FAILED


def test_ipcp_stall_naks_with_placeholders_then_assigns(clock, rng) -> None:
    p = Pair(clock, rng, faults={Fault.IPCP_STALL}, ipcp_stall_naks=15)
    p.dial()
    p.run(lambda: p.got(ev.Ipv4Up))
    assert p.sim.network is not None and p.sim.network.naks_sent == 15
    assert p.got(ev.Ipv4Up)[0].local == IPv4Address("100.68.27.142")
    assert PLACEHOLDER_ADDR == IPv4Address("10.64.64.64")


def test_ipcp_stall_longer_than_five_naks_costs_dns_with_a_low_max_failure(clock, rng) -> None:
    """Why IPCP's Max-Failure is 100 (design.md): after 5 Naks a client stops asking for DNS."""
    impatient = Pair(clock, rng, client=LinkConfig(ipcp_max_failure=5), faults={Fault.IPCP_STALL},
                     ipcp_stall_naks=20)
    impatient.dial()
    impatient.run(lambda: impatient.got(ev.LinkDown) or impatient.got(ev.Ipv4Up))
    up = impatient.got(ev.Ipv4Up)[0]
    assert up.local == IPv4Address("100.68.27.142") and up.dns == ()
    patient = Pair(clock, rng, faults={Fault.IPCP_STALL}, ipcp_stall_naks=20)
    patient.dial()
    patient.run(lambda: patient.got(ev.Ipv4Up))
    assert len(patient.got(ev.Ipv4Up)[0].dns) == 2


def test_dead_echo_is_seen_as_a_dead_peer(clock, rng) -> None:
    p = Pair(clock, rng, client=LinkConfig(lcp_echo_interval=2, lcp_echo_failure=3),
             faults={Fault.DEAD_ECHO}, dead_echo_after=10.0)
    p.dial()
    p.run(lambda: p.got(ev.Ipv4Up))
    t_up = clock.now
    p.run(lambda: p.got(ev.LinkDown))
    assert p.got(ev.LinkDown)[0].cause is ev.DownCause.PEER_DEAD
    assert clock.now - t_up >= 10.0
    assert p.sim.network is None or p.sim.network.echoes_dropped >= 3


def test_reset_mid_session(clock, rng) -> None:
    p = Pair(clock, rng, faults={Fault.RESET}, reset_after=4.0, boot_time=1.0)
    p.dial()
    p.run(lambda: p.got(ev.Ipv4Up))
    p.run(lambda: p.sim_got(ModemReset))
    assert p.text.endswith(b"NO CARRIER\n")
    assert p.sim.mode is Mode.BOOTING
    p.run(lambda: p.sim.mode is Mode.COMMAND)
    p._shuttle()
    assert b"^BOOT:" in p.text and b"^SIMST: 1" in p.text


def test_brownout_vanishes_and_reenumerates(clock, rng) -> None:
    p = Pair(clock, rng, faults={Fault.BROWNOUT}, brownout_after=3.0, reenumerate_after=2.0)
    t0 = clock.now
    p.dial()
    p.run(lambda: p.sim_got(PortRemoved))
    assert clock.now - t0 == pytest.approx(3.0)
    assert p.sim.mode is Mode.GONE
    p.sim.receive_data(b"AT\r", clock.now)
    assert p.sim.data_to_send() == b""
    p.run(lambda: p.sim_got(PortAppeared))
    assert clock.now - t0 == pytest.approx(5.0)
    assert p.sim_got(PortAppeared)[0].index == 3
    assert b"^BOOT:" in p.text and b"^SIMST: 1" in p.text   # what the new port says first


def test_wrong_port_hangs_up_after_connect_without_ppp(clock, rng) -> None:
    p = Pair(clock, rng, faults={Fault.WRONG_PORT}, wrong_port_after=1.0)
    p.dial()
    p.run(lambda: p.sim_got(PortHangup))
    assert p.sim_got(Connected) and not p.got(ev.LinkUp)
    assert p.text.endswith(b"NO CARRIER\n")


def test_ipv6_ping_to_the_peers_link_local(clock, rng) -> None:
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

    p = Pair(clock, rng)
    p.dial()
    p.run(lambda: p.got(ev.Ipv6Up) and p.got(ev.Ipv4Up))
    up6 = p.got(ev.Ipv6Up)[0]
    req = IPv6(src=str(up6.local_ll), dst=str(up6.peer_ll)) / ICMPv6EchoRequest(id=1, seq=9, data=b"six")
    p.client.send_ip(bytes(req), clock.now)
    p._shuttle()
    (reply,) = [IPv6(bytes(r)) for r in p.client.take_packets()]
    assert reply.src == str(up6.peer_ll) and reply[ICMPv6EchoReply].seq == 9 and reply[ICMPv6EchoReply].data == b"six"


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="PIN"):
        SimConfig(pin="12a4")
    with pytest.raises(ValueError, match="brownout_after"):
        SimConfig(brownout_after=-1)
