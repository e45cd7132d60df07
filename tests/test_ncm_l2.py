"""The L2 shim, cross-checked with scapy (a parser and builder we did not write)."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address, IPv4Interface, IPv6Address

import pytest

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP, UDP  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import ARP, Ether  # noqa: E402
from scapy.packet import Raw, raw  # noqa: E402

from ncm.l2 import L2Config, L2Shim, NeighbourResolved, NeighbourUnreachable, eui64_link_local  # noqa: E402

ME = bytes.fromhex("0c5b8f279a64")
GW = bytes.fromhex("001e101f0000")
ME_S, GW_S = ME.hex(":"), GW.hex(":")


def shim(**kw) -> L2Shim:  # noqa: ANN003
    cfg = dict(mac=ME, ipv4=IPv4Interface("100.92.236.163/29"), gateway=IPv4Address("100.92.236.161"))
    cfg.update(kw)
    return L2Shim(L2Config(**cfg))


def checksums_ok(frame: bytes) -> bool:
    """scapy recomputes every checksum; the frame must come out identical."""
    e = Ether(frame)
    for layer in (IP, ICMP, UDP, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RS):
        if layer in e and hasattr(e[layer], "chksum"):
            del e[layer].chksum
        if layer in e and hasattr(e[layer], "cksum"):
            del e[layer].cksum
    return raw(Ether(raw(e))) == frame


def resolved(s: L2Shim, now: float = 0.0) -> None:
    s.start(now)
    s.take_frames()
    s.receive_frame(raw(Ether(src=GW_S, dst=ME_S) / ARP(op=2, hwsrc=GW_S, psrc="100.92.236.161", hwdst=ME_S,
                                                       pdst="100.92.236.163")), now)


def test_gateway_is_resolved_by_arp_and_held_packets_follow() -> None:
    s = shim()
    s.start(0.0)
    (req,) = s.take_frames()
    a = Ether(req)
    assert a.dst == "ff:ff:ff:ff:ff:ff" and a[ARP].op == 1 and a[ARP].pdst == "100.92.236.161"
    assert a[ARP].psrc == "100.92.236.163" and a[ARP].hwsrc == ME_S
    ping = raw(IP(src="100.92.236.163", dst="1.1.1.1") / ICMP() / b"held")
    s.send_ip(ping, 0.1)
    assert s.take_frames() == []
    s.receive_frame(raw(Ether(src=GW_S, dst=ME_S) / ARP(op=2, hwsrc=GW_S, psrc="100.92.236.161", hwdst=ME_S,
                                                       pdst="100.92.236.163")), 0.2)
    (out,) = s.take_frames()
    e = Ether(out)
    assert (e.src, e.dst, e.type) == (ME_S, GW_S, 0x0800) and raw(e[IP]) == ping
    assert s.next_event() == NeighbourResolved(IPv4Address("100.92.236.161"), GW)
    s.send_ip(ping, 0.3)                             # now the fast path
    assert s.take_frames() == [out]
    assert s.get_timer() is None


def test_arp_retries_then_gives_up_and_says_why() -> None:
    s = shim(arp_retries=3, arp_interval=1.0)
    s.start(0.0)
    s.send_ip(raw(IP(src="100.92.236.163", dst="1.1.1.1") / ICMP()), 0.0)
    sent = len(s.take_frames())
    for t in (1.0, 2.0, 3.0):
        assert s.get_timer() == t
        s.handle_timer(t)
        sent += len(s.take_frames())
    assert sent == 3 and s.get_timer() is None
    ev = s.next_event()
    assert isinstance(ev, NeighbourUnreachable) and ev.dropped == 1 and "did not answer 3 ARP" in ev.message


def test_answers_arp_for_our_address_only() -> None:
    s = shim()
    who = Ether(src=GW_S, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=GW_S, psrc="100.92.236.161",
                                                         pdst="100.92.236.163")
    s.receive_frame(raw(who), 0.0)
    (rep,) = s.take_frames()
    r = Ether(rep)
    assert r.dst == GW_S and r[ARP].op == 2 and r[ARP].hwsrc == ME_S and r[ARP].psrc == "100.92.236.163"
    assert r[ARP].hwdst == GW_S and r[ARP].pdst == "100.92.236.161"
    s.receive_frame(raw(Ether(src=GW_S, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=GW_S, psrc="100.92.236.161",
                                                                     pdst="100.92.236.164")), 0.0)
    assert s.take_frames() == [] and s.counters["arp_replies_sent"] == 1


def test_incoming_ip_is_trimmed_of_ethernet_padding_and_filtered() -> None:
    s = shim()
    pkt = raw(IP(src="1.1.1.1", dst="100.92.236.163") / UDP(sport=53, dport=5353) / b"x")
    s.receive_frame(raw(Ether(src=GW_S, dst=ME_S) / IP(pkt)) + bytes(20), 0.0)       # padded to 60+
    s.receive_frame(raw(Ether(src=GW_S, dst="02:00:00:00:00:09") / IP(pkt)), 0.0)      # another station
    s.receive_frame(raw(Ether(src=GW_S, dst=ME_S, type=0x88CC) / (b"lldp" * 10)), 0.0)
    s.receive_frame(raw(Ether(src=GW_S, dst=ME_S) / IP(len=900) / b"short"), 0.0)
    s.receive_frame(b"\x00" * 10, 0.0)
    assert s.take_packets() == [pkt]
    c = s.counters
    assert (c["rx_not_for_us"], c["rx_other_ethertype"], c["rx_bad_ip"], c["rx_runt"]) == (1, 1, 1, 1)


def test_on_link_destination_is_resolved_itself_and_broadcast_goes_to_everyone() -> None:
    s = shim()
    resolved(s)
    s.send_ip(raw(IP(src="100.92.236.163", dst="100.92.236.162") / ICMP()), 0.0)
    (req,) = s.take_frames()
    assert Ether(req)[ARP].pdst == "100.92.236.162"
    s.send_ip(raw(IP(src="100.92.236.163", dst="100.92.236.167") / UDP()), 0.0)
    s.send_ip(raw(IP(src="100.92.236.163", dst="224.0.0.251") / UDP()), 0.0)
    b, m = s.take_frames()
    assert Ether(b).dst == "ff:ff:ff:ff:ff:ff" and Ether(m).dst == "01:00:5e:00:00:fb"


def test_answers_neighbor_solicitation_for_link_local_and_learned_global() -> None:
    s = shim()
    ll = eui64_link_local(ME)
    assert ll == IPv6Address("fe80::e5b:8fff:fe27:9a64")
    s.send_ip(raw(IPv6(src="2001:db8::5", dst="2001:4860::1") / ICMPv6EchoRequest()), 0.0)  # learns 2001:db8::5
    s.take_frames()
    for target in (str(ll), "2001:db8::5"):
        ns = (Ether(src=GW_S, dst="33:33:ff:27:9a:64") / IPv6(src="fe80::1", dst="ff02::1:ff27:9a64")
              / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=GW_S))
        s.receive_frame(raw(ns), 0.0)
        (na,) = s.take_frames()
        assert checksums_ok(na)
        n = Ether(na)
        assert n.dst == GW_S and n[IPv6].dst == "fe80::1" and n[IPv6].hlim == 255
        assert n[ICMPv6ND_NA].tgt == target and n[ICMPv6ND_NA].S == 1 and n[ICMPv6ND_NA].O == 1
        assert n[ICMPv6NDOptDstLLAddr].lladdr == ME_S
    bad = raw(Ether(src=GW_S, dst=ME_S) / IPv6(src="fe80::1", dst=str(ll), hlim=64) / ICMPv6ND_NS(tgt=str(ll)))
    s.receive_frame(bad, 0.0)
    assert s.take_frames() == [] and s.counters["rx_bad_ndp"] == 1      # RFC 4861 §7.1.1: hop limit 255


def test_ipv6_resolution_by_ns_and_router_learning() -> None:
    s = shim()
    ping = raw(IPv6(src=str(eui64_link_local(ME)), dst="fe80::1") / ICMPv6EchoRequest(data=b"q"))
    s.send_ip(ping, 0.0)
    (ns,) = s.take_frames()
    assert checksums_ok(ns)
    n = Ether(ns)
    assert n.dst == "33:33:ff:00:00:01" and n[IPv6].dst == "ff02::1:ff00:1" and n[ICMPv6ND_NS].tgt == "fe80::1"
    na = (Ether(src=GW_S, dst=ME_S) / IPv6(src="fe80::1", dst=str(eui64_link_local(ME)))
          / ICMPv6ND_NA(tgt="fe80::1", S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=GW_S))
    s.receive_frame(raw(na), 0.0)
    (out,) = s.take_frames()
    assert Ether(out).dst == GW_S and raw(Ether(out)[IPv6]) == ping
    # off-link before any RA: a router solicitation goes out and the packet waits for the RA
    s2 = shim()
    s2.send_ip(raw(IPv6(src="2001:db8::5", dst="2001:4860::1") / ICMPv6EchoRequest()), 0.0)
    (rs,) = s2.take_frames()
    assert checksums_ok(rs) and ICMPv6ND_RS in Ether(rs) and Ether(rs).dst == "33:33:00:00:00:02"
    ra = (Ether(src=GW_S, dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1")
          / ICMPv6ND_RA() / ICMPv6NDOptSrcLLAddr(lladdr=GW_S))
    s2.receive_frame(raw(ra), 0.0)
    (held,) = s2.take_frames()
    assert Ether(held).dst == GW_S
    assert [ICMPv6ND_RA in IPv6(p) for p in s2.take_packets()] == [True]     # the RA also goes up to TUN


def test_ipv6_multicast_and_offlink_after_ipv4_resolution() -> None:
    s = shim()
    resolved(s)
    s.take_frames()
    s.send_ip(raw(IPv6(src="fe80::5", dst="ff02::2") / ICMPv6ND_RS()), 0.0)
    s.send_ip(raw(IPv6(src="2001:db8::5", dst="2001:4860::1") / ICMPv6EchoRequest()), 0.0)
    m, u = s.take_frames()
    assert Ether(m).dst == "33:33:00:00:00:02" and Ether(u).dst == GW_S    # the modem is the only router


def test_peer_mac_is_learned_from_traffic_when_arp_is_never_answered() -> None:
    s = shim(gateway=None, ipv4=IPv4Interface("10.0.0.2/32"))
    s.receive_frame(raw(Ether(src=GW_S, dst=ME_S) / IP(src="8.8.8.8", dst="10.0.0.2") / ICMP()), 0.0)
    s.send_ip(raw(IP(src="10.0.0.2", dst="8.8.8.8") / ICMP()), 0.0)
    (f,) = s.take_frames()
    assert Ether(f).dst == GW_S


def test_static_gateway_mac_needs_no_arp() -> None:
    s = shim(gateway_mac=GW)
    s.start(0.0)
    s.send_ip(raw(IP(src="100.92.236.163", dst="9.9.9.9") / ICMP()), 0.0)
    (f,) = s.take_frames()
    assert Ether(f).dst == GW_S and s.counters["arp_requests_sent"] == 0


def test_config_rejects_multicast_mac_and_garbage_is_counted() -> None:
    with pytest.raises(ValueError):
        L2Config(mac=b"\x01" * 6)
    s = shim()
    for junk in (b"", b"\x45", b"\x60" + bytes(10), b"\x99" * 40):
        s.send_ip(junk, 0.0)
    s.receive_frame(raw(Ether(src=GW_S, dst=ME_S) / ARP(op=7)), 0.0)
    s.receive_frame(raw(Ether(src=GW_S, dst=ME_S, type=0x86DD) / Raw(b"\x60" + bytes(30))), 0.0)
    c = s.counters
    assert c["tx_empty"] + c["tx_not_ip"] == 4 and c["rx_bad_arp"] == 1 and c["rx_bad_ip"] == 1


def _mixed_frames(seed: int) -> list[bytes]:
    """Frames a busy link brings: IPv4 to us (most), with broken lengths, to another MAC, as
    broadcast, ARP, IPv6, other ethertypes and runts, built by scapy."""
    import random
    rnd = random.Random(seed)
    out: list[bytes] = []
    for i in range(300):
        k = rnd.random()
        udp = (IP(src="100.92.236.161", dst="100.92.236.163") / UDP(sport=9, dport=1000 + i)
               / Raw(bytes(rnd.randrange(0, 1400))))
        if k < 0.6:
            f = raw(Ether(src=GW_S, dst=ME_S) / udp) + bytes(rnd.choice([0, 0, 4]))      # with trailer now and then
        elif k < 0.65:
            f = bytearray(raw(Ether(src=GW_S, dst=ME_S) / udp))
            f[16:18] = rnd.choice([b"\x00\x10", b"\xff\xff", b"\x00\x14"])             # bad IPv4 total length
            f = bytes(f)
        elif k < 0.7:
            f = raw(Ether(src=GW_S, dst="02:11:22:33:44:55") / udp)                     # not for us
        elif k < 0.75:
            f = raw(Ether(src=GW_S, dst="ff:ff:ff:ff:ff:ff") / udp)
        elif k < 0.8:
            f = raw(Ether(src=GW_S, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=GW_S, psrc="100.92.236.161",
                                                                   pdst="100.92.236.163"))
        elif k < 0.85:
            f = raw(Ether(src=GW_S, dst=ME_S) / IPv6(src="fe80::1", dst="2001:db8::1") / UDP() / Raw(b"x" * 20))
        elif k < 0.9:
            f = raw(Ether(src=GW_S, dst=ME_S, type=0x88CC) / Raw(bytes(50)))
        elif k < 0.95:
            f = raw(Ether(src=GW_S, dst=ME_S) / udp)[:rnd.randrange(0, 34)]            # runts
        else:
            f = bytes(ME) + bytes(GW) + b"\x08\x00" + bytes([0x65]) + bytes(40)         # version 6 in an IPv4 frame
        out.append(f)
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("learn", [True, False])
def test_receive_frames_is_receive_frame_for_each(seed: int, learn: bool) -> None:
    """The batched fast path for IPv4 to us must do exactly what one receive_frame call per
    frame does: the same packets in order, counters, answers, events and learned peer MAC."""
    frames = _mixed_frames(seed)
    one, many = shim(learn_peer_mac=learn), shim(learn_peer_mac=learn)
    for a in (one, many):
        a.start(0.0)
    for i in range(0, len(frames), 37):
        batch = frames[i:i + 37]
        for f in batch:
            one.receive_frame(f, 1.0)
        many.receive_frames(batch, 1.0)
    assert many.take_packets() == one.take_packets()
    assert many.counters == one.counters and many.take_frames() == one.take_frames()
    assert many._peer_mac == one._peer_mac
    assert [many.next_event() for _ in range(5)] == [one.next_event() for _ in range(5)]


def test_receive_frames_learns_the_peer_mac_from_the_first_ipv4_frame() -> None:
    s = shim()
    f = raw(Ether(src=GW_S, dst=ME_S) / IP(src="100.92.236.161", dst="100.92.236.163") / UDP())
    s.receive_frames([f, f], 0.0)
    assert s._peer_mac == GW and len(s.take_packets()) == 2


@pytest.mark.parametrize("seed", range(3))
def test_receive_spans_is_receive_frame_for_each(seed: int) -> None:
    """Frames given as (offset, length) in one block, as the receive path hands them over."""
    frames = _mixed_frames(seed)
    one, many = shim(), shim()
    for a in (one, many):
        a.start(0.0)
    for i in range(0, len(frames), 29):
        batch = frames[i:i + 29]
        block, spans = b"NCMH" + bytes(8), []
        for f in batch:
            spans += [len(block) + 2, len(f)]
            block += b"\xee\xee" + f
        for f in batch:
            one.receive_frame(f, 1.0)
        many.receive_spans(block, spans, 1.0)
    assert many.take_packets() == one.take_packets()
    assert many.counters == one.counters and many.take_frames() == one.take_frames()
    assert many._peer_mac == one._peer_mac
