"""The MTU an NCM function carries, and ICMP "too big" for a packet over it (issue 12.3).

scapy (not ours) parses and checksums the ICMP answers; the aggregator and decoder (ours, but
tested against f_ncm's bytes elsewhere) must carry a frame of exactly the computed MTU.
"""

from __future__ import annotations

import logging
from ipaddress import IPv4Address, IPv4Interface, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP, UDP  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6PacketTooBig, IPv6  # noqa: E402
from scapy.packet import raw  # noqa: E402

from ncm.aggregate import Aggregator  # noqa: E402
from ncm.l2 import L2Config  # noqa: E402
from ncm.link import NcmLink  # noqa: E402
from ncm.mtu import max_mtu, too_big_reply  # noqa: E402
from ncm.ntb import decode_ntb, encode_ntb  # noqa: E402
from ncm.params import NtbParameters  # noqa: E402

F_NCM = NtbParameters(dwNtbInMaxSize=16384, dwNtbOutMaxSize=16384)


def test_f_ncm_carries_1500_set_by_wmaxsegmentsize() -> None:
    lim = max_mtu(F_NCM, max_segment=1514, rx_max=16384)
    assert lim.mtu == 1500 and "wMaxSegmentSize of 1514" in lim.reason


def test_small_ntbs_bound_the_mtu() -> None:
    small = NtbParameters(dwNtbInMaxSize=2048, dwNtbOutMaxSize=2048, wNdpOutDivisor=16, wNdpOutAlignment=16)
    lim = max_mtu(small, max_segment=9014, rx_max=2048)
    assert 1900 < lim.mtu < 2048 - 14 and "dwNtbOutMaxSize" in lim.reason
    agg = Aggregator(small)
    assert agg.fits_alone(lim.mtu + 14)            # the aggregator takes a frame of exactly the MTU


@settings(max_examples=200, deadline=None)
@given(out_max=st.integers(256, 40000), in_max=st.integers(2048, 40000), div=st.sampled_from([1, 2, 4, 8, 16, 64]),
       rem=st.integers(0, 63), align=st.sampled_from([2, 4, 8, 16]), ntb32=st.booleans(),
       seg=st.one_of(st.none(), st.integers(100, 9014)))
def test_a_frame_of_the_mtu_always_fits_both_ways(out_max: int, in_max: int, div: int, rem: int, align: int,
                                                  ntb32: bool, seg: int | None) -> None:
    p = NtbParameters(bmNtbFormatsSupported=3, dwNtbInMaxSize=in_max, dwNtbOutMaxSize=out_max, wNdpOutDivisor=div,
                      wNdpOutPayloadRemainder=rem % div, wNdpOutAlignment=align, wNdpInDivisor=div,
                      wNdpInPayloadRemainder=rem % div, wNdpInAlignment=align)
    lim = max_mtu(p, max_segment=seg, rx_max=in_max, ntb32=ntb32)
    if lim.mtu == 68:
        return                         # too small a device to care; the floor is IPv4's minimum
    frame = bytes(14) + bytes(lim.mtu)
    agg = Aggregator(p, ntb32=ntb32, flush_interval=0)
    assert agg.fits_alone(len(frame))
    [block] = agg.add(frame, 0.0)
    assert len(block) <= min(out_max, 0xFFFF if not ntb32 else out_max)
    assert decode_ntb(block) == [frame]
    # the device's NTB to us, laid out with its IN pads, fits what we asked for
    back = NtbParameters(bmNtbFormatsSupported=3, dwNtbOutMaxSize=in_max, wNdpOutDivisor=div,
                         wNdpOutPayloadRemainder=rem % div, wNdpOutAlignment=align)
    assert len(encode_ntb([frame], back, ntb32=ntb32)) <= in_max
    if seg is not None:
        assert len(frame) <= seg


def test_ipv4_df_packet_gets_frag_needed_as_scapy_reads_it() -> None:
    big = raw(IP(src="10.10.1.1", dst="192.0.2.7", flags="DF", id=77) / UDP(sport=4000, dport=53) / bytes(1600))
    reply = too_big_reply(big, 1500, src4=IPv4Address("10.10.1.2"))
    assert reply is not None
    pkt = IP(reply)
    assert (pkt.src, pkt.dst, pkt[ICMP].type, pkt[ICMP].code, pkt[ICMP].nexthopmtu) == \
        ("10.10.1.2", "10.10.1.1", 3, 4, 1500)
    assert pkt.chksum == IP(raw(pkt.copy().__class__(raw(pkt)))).chksum
    again = IP(reply)
    del again.chksum
    del again[ICMP].chksum
    assert raw(IP(raw(again))) == reply                     # scapy's checksums equal ours
    assert pkt[ICMP].payload.original[:28] == big[:28]      # the header and 64 bits quoted


def test_no_answer_without_df_or_to_an_icmp_error() -> None:
    no_df = raw(IP(src="10.10.1.1", dst="192.0.2.7") / UDP() / bytes(1600))
    assert too_big_reply(no_df, 1500, src4=IPv4Address("10.10.1.2")) is None
    err = raw(IP(src="10.10.1.1", dst="192.0.2.7", flags="DF") / ICMP(type=3, code=1) / bytes(1600))
    assert too_big_reply(err, 1500, src4=IPv4Address("10.10.1.2")) is None


def test_ipv6_packet_gets_packet_too_big_as_scapy_reads_it() -> None:
    big = raw(IPv6(src="2001:db8::2", dst="2001:db8:ffff::1") / ICMPv6EchoRequest(data=bytes(2000)))
    src = IPv6Address("fe80::e5b:8fff:fe27:9a64")
    reply = too_big_reply(big, 1500, src6=src)
    assert reply is not None and len(reply) <= 1280
    pkt = IPv6(reply)
    assert (pkt.src, pkt.dst, pkt[ICMPv6PacketTooBig].mtu) == (str(src), "2001:db8::2", 1500)
    again = IPv6(reply)
    del again[ICMPv6PacketTooBig].cksum
    assert raw(IPv6(raw(again))) == reply


def test_session_counts_says_and_answers_oversize_packets(caplog) -> None:  # noqa: ANN001
    s = NcmLink(F_NCM, L2Config(mac=bytes.fromhex("0c5b8f279a64"), ipv4=IPv4Interface("10.10.1.1/30"),
                                   gateway=IPv4Address("10.10.1.2")), mtu=1500, flush_interval=0)
    big = raw(IP(src="10.10.1.1", dst="192.0.2.7", flags="DF") / UDP() / bytes(1600))
    fits = raw(IP(src="10.10.1.1", dst="192.0.2.7", flags="DF") / UDP() / bytes(1472))
    with caplog.at_level(logging.WARNING, logger="pppstack.ncm"):
        s.send_ip_many([big, fits, big], 0.0)
    assert s.stats()["link_tx_too_big"] == 2 and s.stats()["link_tx_too_big_icmp"] == 2
    replies = s.take_packets()
    assert [IP(r)[ICMP].nexthopmtu for r in replies] == [1500, 1500]
    assert "larger than the link's MTU of 1500" in caplog.text
    assert s.l2.counters["tx_empty"] == 0   # the one that fits went on to the L2 shim
