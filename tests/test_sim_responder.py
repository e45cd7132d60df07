"""The simulator's echo responder, checked by scapy (which we did not write): requests built by
scapy, replies parsed by scapy with every checksum recomputed and compared."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.packet import Raw

from pppstack.sim.responder import Responder


def _checksums_ok(raw: bytes) -> bool:
    """scapy recomputes every checksum from scratch; the bytes must not change."""
    pkt = (IP if raw[0] >> 4 == 4 else IPv6)(raw)
    for layer in (IP, ICMP, UDP, ICMPv6EchoReply):
        if layer in pkt:
            if hasattr(pkt[layer], "chksum"):
                pkt[layer].chksum = None
            if hasattr(pkt[layer], "cksum"):
                pkt[layer].cksum = None
    return bytes(pkt) == raw


def test_icmp_echo_v4() -> None:
    r = Responder()
    req = IP(src="100.68.27.142", dst="1.1.1.1", id=4242) / ICMP(id=9, seq=2) / b"ping payload"
    raw = r.respond(bytes(req))
    assert raw is not None and _checksums_ok(raw)
    rep = IP(raw)
    assert (rep.src, rep.dst) == ("1.1.1.1", "100.68.27.142")
    assert rep[ICMP].type == 0 and rep[ICMP].id == 9 and rep[ICMP].seq == 2 and rep[Raw].load == b"ping payload"
    assert r.stats.icmp_echo == 1


def test_udp_echo_v4_with_and_without_checksum() -> None:
    r = Responder()
    req = IP(src="100.68.27.142", dst="10.64.64.64") / UDP(sport=40000, dport=7) / b"echo me"
    raw = r.respond(bytes(req))
    assert raw is not None and _checksums_ok(raw)
    rep = IP(raw)
    assert rep[UDP].sport == 7 and rep[UDP].dport == 40000 and rep[Raw].load == b"echo me"
    nochk = IP(bytes(req))
    nochk[UDP].chksum = 0
    assert r.respond(bytes(nochk)) is not None       # IPv4 UDP checksum 0 = none (RFC 768)


def test_icmp_and_udp_echo_v6() -> None:
    r = Responder()
    req = IPv6(src="fe80::1", dst="fe80::2") / ICMPv6EchoRequest(id=5, seq=6, data=b"v6 ping")
    raw = r.respond(bytes(req))
    assert raw is not None and _checksums_ok(raw)
    rep = IPv6(raw)
    assert rep.src == "fe80::2" and rep[ICMPv6EchoReply].id == 5 and rep[ICMPv6EchoReply].data == b"v6 ping"
    udp = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=7) / b"u6"
    raw = r.respond(bytes(udp))
    assert raw is not None and _checksums_ok(raw) and IPv6(raw)[Raw].load == b"u6"


@pytest.mark.parametrize("pkt", [
    IP(dst="1.1.1.1", chksum=0x1234) / ICMP(),                    # bad header checksum
    IP(dst="1.1.1.1") / ICMP(chksum=0x1234),                      # bad ICMP checksum
    IP(dst="1.1.1.1", flags="MF") / ICMP(),                       # a fragment
    IP(dst="1.1.1.1") / ICMP(type=0),                              # a reply, not a request
    IP(dst="1.1.1.1") / UDP(dport=53) / b"dns?",                  # not the echo port
    IPv6(dst="ff02::1") / ICMPv6EchoRequest(),                     # multicast
    IPv6(dst="::1") / UDP(dport=7, chksum=0) / b"x",              # IPv6 UDP needs a checksum
], ids=["ip-csum", "icmp-csum", "fragment", "reply", "udp-53", "v6-multicast", "v6-udp-zero"])
def test_not_answered(pkt) -> None:
    assert Responder().respond(bytes(pkt)) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_garbage_never_raises(data: bytes) -> None:
    r = Responder()
    out = r.respond(data)
    assert out is None or _checksums_ok(out)
