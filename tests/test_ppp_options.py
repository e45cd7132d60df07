"""Option codecs through the real engine: what we ask, and how we answer requests that are good,
unknown, malformed, truncated or hostile (lengths 0, 1, 255, running past the packet)."""

from __future__ import annotations

import pytest
from ppp_support import client, feed, opts, out_packets, server

from pppstack.fsm.automaton import State
from pppstack.wire import Code, ControlPacket

LCP, IPCP, IPV6CP = 0xC021, 0x8021, 0x8057
CHAP_MD5 = b"\xc2\x23\x05"
PAP = b"\xc0\x23"


def started(**kw: object):
    x = client(**kw)
    x.open(0.0)
    (first,) = out_packets(x)
    return x, first[1]


def reply(x) -> ControlPacket:
    (p,) = [pkt for proto, pkt in out_packets(x) if proto == LCP and pkt.code in (2, 3, 4)]
    return p


def test_first_lcp_request_is_pppds() -> None:
    x, req = started()
    assert req.code == Code.CONF_REQ and req.identifier == 1
    types = [req.data[i] for i in (0, 6, 12, 14)]
    assert types == [2, 5, 7, 8]  # <asyncmap 0x0> <magic ...> <pcomp> <accomp>, no MRU at 1500
    assert req.data[:6] == b"\x02\x06\0\0\0\0" and len(req.data) == 16


def test_mru_is_requested_only_when_not_1500() -> None:
    _, req = started(mru=1400)
    assert req.data.startswith(b"\x01\x04\x05\x78")


def test_modem_request_with_chap_md5_is_acked_verbatim() -> None:
    x, _ = started()
    data = opts((2, b"\0\0\0\0"), (3, CHAP_MD5), (5, b"\x45\x29\x17\x90"), (7, b""), (8, b""))
    feed(x, LCP, 1, 0, data, 0.0)
    r = reply(x)
    assert (r.code, r.identifier, r.data) == (Code.CONF_ACK, 0, data)


@pytest.mark.parametrize("asked, expect", [
    (b"\xc2\x23\x80", CHAP_MD5),        # MS-CHAP -> we offer CHAP-MD5
    (b"\xc2\x23\x81", CHAP_MD5),        # MS-CHAPv2
    (b"\xc2\x27", CHAP_MD5),            # EAP
    (b"\xc2", CHAP_MD5),                # truncated value
])
def test_auth_we_cannot_do_is_naked_towards_md5(asked: bytes, expect: bytes) -> None:
    x, _ = started()
    feed(x, LCP, 1, 3, opts((3, asked)), 0.0)
    r = reply(x)
    assert r.code == Code.CONF_NAK and r.data == opts((3, expect))


def test_refuse_chap_naks_towards_pap_and_refusing_both_rejects() -> None:
    x, _ = started(refuse_chap=True)
    feed(x, LCP, 1, 3, opts((3, CHAP_MD5)), 0.0)
    assert reply(x).data == opts((3, PAP))
    y, _ = started(refuse_chap=True, refuse_pap=True)
    feed(y, LCP, 1, 3, opts((3, CHAP_MD5)), 0.0)
    r = reply(y)
    assert r.code == Code.CONF_REJ and r.data == opts((3, CHAP_MD5))


def test_unknown_options_are_rejected_raw_and_reject_beats_nak() -> None:
    x, _ = started()
    unknown = (0x42, b"\x01\x02\x03")
    feed(x, LCP, 1, 7, opts((1, b"\x00\x10"), unknown, (13, b"\x06"), (2, b"\0\0\0\0")), 0.0)
    r = reply(x)  # MRU 16 would be Naked, but Rejects win and carry only the rejected options
    assert r.code == Code.CONF_REJ and r.data == opts(unknown, (13, b"\x06"))


def test_small_mru_is_naked_to_the_minimum() -> None:
    x, _ = started()
    feed(x, LCP, 1, 7, opts((1, b"\x00\x10")), 0.0)
    r = reply(x)
    assert r.code == Code.CONF_NAK and r.data == opts((1, (128).to_bytes(2, "big")))


@pytest.mark.parametrize("option", [
    bytes([2, 0]),                       # length 0
    bytes([2, 1]),                       # length 1
    bytes([2, 255, 0, 0, 0, 0]),         # 255 running past the packet
    bytes([5]),                          # cut after the type
    bytes([2, 6, 0, 0]),                 # truncated value
])
def test_malformed_option_lists_are_discarded(option: bytes) -> None:
    x, _ = started()
    feed(x, LCP, 1, 7, option, 0.0)
    assert out_packets(x) == []
    assert x.link.lcp.counters.malformed == 1
    assert x.link.lcp.state is State.REQ_SENT


def test_wrong_length_for_a_known_option_is_rejected() -> None:
    x, _ = started()
    bad = (5, b"\x01\x02")  # magic number of 2 octets
    feed(x, LCP, 1, 7, opts(bad), 0.0)
    r = reply(x)
    assert r.code == Code.CONF_REJ and r.data == opts(bad)


def test_option_with_253_octets_of_data_is_handled() -> None:
    x, _ = started()
    big = (0x99, bytes(253))  # Length 255, the largest an option can be
    feed(x, LCP, 1, 7, opts(big), 0.0)
    r = reply(x)
    assert r.code == Code.CONF_REJ and r.data == opts(big)


def test_packet_length_field_beyond_the_frame_is_discarded() -> None:
    from pppstack import hdlc
    from pppstack.wire import build_frame

    x, _ = started()
    x.receive_data(hdlc.encode(build_frame(LCP, bytes([1, 7, 0, 40, 2, 6, 0, 0, 0, 0]))), 0.0)
    assert out_packets(x) == [] and x.link.lcp.counters.malformed == 1


def test_our_magic_coming_back_is_naked_with_a_fresh_one() -> None:
    x, req = started()
    magic = req.data[8:12]
    feed(x, LCP, 1, 7, opts((5, magic)), 0.0)
    r = reply(x)
    assert r.code == Code.CONF_NAK and r.data[:2] == b"\x05\x06" and r.data[2:] != magic
    assert x.link.lcp_options.magic.collisions == 1


def test_nak_of_asyncmap_is_ored_and_reject_drops_options() -> None:
    x, req = started()
    feed(x, LCP, 3, 1, opts((2, b"\x00\x0a\x00\x00")), 0.0)
    (new,) = [p for _, p in out_packets(x)]
    assert new.identifier == 2 and new.data[:6] == b"\x02\x06\x00\x0a\x00\x00"
    feed(x, LCP, 4, 2, opts((7, b""), (8, b"")), 0.0)
    (newer,) = [p for _, p in out_packets(x)]
    assert [newer.data[i] for i in (0, 6)] == [2, 5] and len(newer.data) == 12


def test_reject_naming_an_option_we_did_not_send_is_discarded() -> None:
    x, _ = started()
    feed(x, LCP, 4, 1, opts((1, b"\x05\xdc")), 0.0)
    assert out_packets(x) == [] and x.link.lcp.counters.bad_replies == 1


def test_ack_that_differs_from_our_request_is_discarded() -> None:
    x, req = started()
    feed(x, LCP, 2, 1, req.data[:-2], 0.0)
    assert x.link.lcp.state is State.REQ_SENT and x.link.lcp.counters.bad_replies == 1


def test_max_failure_turns_naks_into_rejects() -> None:
    x, _ = started(lcp_max_failure=5)
    codes = []
    for i in range(7):
        feed(x, LCP, 1, i, opts((1, b"\x00\x10")), 0.0)
        codes.append(reply(x).code)
    assert codes == [3] * 5 + [4] * 2


# -- IPCP / IPv6CP codecs through a server engine ---------------------------------------------------

def network_server(**kw: object):
    x = server(**kw)
    x.open(0.0)
    out_packets(x)
    x.link.lcp.state = State.OPENED  # pretend LCP is up
    x.link._network_phase()  # noqa: SLF001
    x.link._settle()  # noqa: SLF001
    x._flush()  # noqa: SLF001
    sent = out_packets(x)
    return x, sent


def ncp_reply(x, proto: int) -> ControlPacket:
    (p,) = [pkt for pr, pkt in out_packets(x) if pr == proto and pkt.code in (2, 3, 4)]
    return p


def test_server_naks_address_and_dns_to_a_client_asking_zero() -> None:
    x, sent = network_server()
    assert [pr for pr, _ in sent] == [IPCP, IPV6CP]
    assert sent[0][1].data == opts((3, bytes([10, 64, 64, 64])))
    z = bytes(4)
    feed(x, IPCP, 1, 1, opts((3, z), (129, z), (131, z)), 0.0)
    r = ncp_reply(x, IPCP)
    assert r.code == 3 and r.data == opts((3, bytes([10, 11, 12, 13])), (129, bytes([10, 11, 12, 1])),
                                          (131, bytes([10, 11, 12, 2])))


def test_vj_nbns_and_dns_without_ms_dns_are_rejected() -> None:
    x, _ = network_server(ms_dns=())
    vj = (2, b"\x00\x2d\x0f\x01")
    feed(x, IPCP, 1, 1, opts(vj, (3, bytes([10, 11, 12, 13])), (129, bytes(4)), (130, bytes(4))), 0.0)
    r = ncp_reply(x, IPCP)
    assert r.code == 4 and r.data == opts(vj, (129, bytes(4)), (130, bytes(4)))


def test_client_without_address_is_told_one_by_unsolicited_nak() -> None:
    x, _ = network_server()
    feed(x, IPCP, 1, 1, b"", 0.0)
    r = ncp_reply(x, IPCP)
    assert r.code == 3 and r.data == opts((3, bytes([10, 11, 12, 13])))


def test_deprecated_ip_addresses_option_is_judged_like_address() -> None:
    x, _ = network_server()
    feed(x, IPCP, 1, 1, opts((1, bytes(4) + bytes([10, 64, 64, 64]))), 0.0)
    r = ncp_reply(x, IPCP)
    assert r.code == 3 and r.data == opts((1, bytes([10, 11, 12, 13, 10, 64, 64, 64])))


def test_ipv6cp_identifier_zero_and_collision_are_naked() -> None:
    x, sent = network_server()
    ours = sent[1][1].data[2:]
    feed(x, IPV6CP, 1, 1, opts((1, bytes(8))), 0.0)
    r = ncp_reply(x, IPV6CP)
    assert r.code == 3 and r.data[2:] not in (bytes(8), ours)
    feed(x, IPV6CP, 1, 2, opts((1, ours)), 0.0)
    r = ncp_reply(x, IPV6CP)
    assert r.code == 3 and r.data[2:] not in (bytes(8), ours)
    feed(x, IPV6CP, 1, 3, opts((1, b"\x02\0\0\0\0\0\0\x09")), 0.0)
    assert ncp_reply(x, IPV6CP).code == 2


@pytest.mark.parametrize("ours", [True, False])
def test_magic_number_zero_is_naked_with_a_new_value(ours: bool) -> None:
    """RFC 1661 §6.4: a Magic-Number of zero is illegal and MUST be Naked with a new value
    (we Acked it); whether or not we negotiate our own, the hint comes from the injected rng."""
    x, req = started() if ours else started(magic=False)
    feed(x, LCP, 1, 7, opts((5, bytes(4))), 0.0)
    r = reply(x)
    assert r.code == Code.CONF_NAK and r.data[:2] == b"\x05\x06"
    suggested = r.data[2:]
    assert suggested != bytes(4) and (not ours or suggested != req.data[8:12])
    assert x.link.lcp_options.magic.zero_naks == 1
    feed(x, LCP, 1, 8, opts((5, suggested)), 0.0)   # the peer takes the hint: Acked
    assert reply(x).code == Code.CONF_ACK
