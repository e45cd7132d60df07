"""What we put on the wire, checked by things we did not write (scapy's PPP layers), and the exact
edges where negotiated framing applies (Linux ppp_async's order, anchors §4.3)."""

from __future__ import annotations

import pytest
import scapy.layers.inet as scapy_inet  # the oracle is a test dependency: missing it fails
import scapy.layers.ppp as scapy_ppp
from ppp_support import Wire, both_up, client, feed, frames_of, opts, out_packets, server

from pppstack import hdlc
from pppstack.wire import split_frame


def frames(data: bytes) -> list[bytes]:
    return hdlc.Decoder(accm=0).feed(data)


def capture(auth: str) -> list[bytes]:
    ca, sa = {"pap": ({"user": "web", "password": "pw"}, {"require_pap": True, "secrets": {"web": "pw"}}),
              "chap": ({"user": "u", "password": "p"}, {"require_chap": True, "secrets": {"u": "p"}})}[auth]
    w = Wire(client(**ca), server(**sa))
    seen: list[bytes] = []
    orig = w.step

    def step() -> bool:
        da, db = w.a.data_to_send(), w.b.data_to_send()
        seen.extend(frames(da) + frames(db))
        if da:
            w.b.receive_data(da, w.now)
        if db:
            w.a.receive_data(db, w.now)
        w.drain_events()
        return bool(da or db)

    w.step = step  # type: ignore[method-assign]
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w))
    w.a.send_ip(bytes(scapy_inet.IP(src="10.11.12.13", dst="10.64.64.64") / scapy_inet.UDP(dport=53)), w.now)
    step()
    del orig
    return seen


@pytest.mark.parametrize("auth", ["pap", "chap"])
def test_scapy_decodes_every_frame_we_send(auth: str) -> None:
    seen = capture(auth)
    kinds = set()
    for f in seen:
        pkt = scapy_ppp.PPP(f)
        proto, info = split_frame(f)
        if proto == 0xC021 and info[0] <= 4:
            conf = pkt[scapy_ppp.PPP_LCP_Configure]
            assert conf.len == len(info) and conf.id == info[1]
            types = [o.type for o in conf.options]
            assert types == [info[i] for i in _option_offsets(info)]
            for o in conf.options:
                if o.type == 2:
                    assert o.accm == 0
            kinds.add("lcp")
        elif proto == 0x8021:
            ipcp = pkt[scapy_ppp.PPP_IPCP]
            assert ipcp.len == len(info)
            for o in ipcp.options:
                if o.type == 3 and info[0] == 2:
                    assert o.data in ("10.11.12.13", "10.64.64.64")
            kinds.add("ipcp")
        elif proto == 0xC223:
            chap = pkt[scapy_ppp.PPP].payload
            assert chap.code == info[0] and chap.id == info[1] and chap.len == len(info)
            if info[0] in (1, 2):
                cr = pkt[scapy_ppp.PPP_CHAP_ChallengeResponse]
                assert cr.value_size == 16 and bytes(cr.value) == info[5:21]
                assert cr.optional_name == (b"sim" if info[0] == 1 else b"u")
            kinds.add("chap")
        elif proto == 0xC023:
            if info[0] == 1:
                req = pkt[scapy_ppp.PPP_PAP_Request]
                assert (req.username, req.password) == (b"web", b"pw")
            else:
                assert pkt[scapy_ppp.PPP_PAP_Response].msg_len == info[4]
            kinds.add("pap")
        elif proto == 0x21:
            ip = pkt[scapy_inet.IP]
            assert ip.dst == "10.64.64.64" and ip[scapy_inet.UDP].dport == 53
            kinds.add("ip")
    assert {"lcp", "ipcp", "ip", auth} <= kinds


def _option_offsets(info: bytes) -> list[int]:
    out, i = [], 4
    while i < len(info):
        out.append(i)
        i += info[i + 1]
    return out


def test_lcp_always_full_accm_and_ff03_data_uses_negotiated_framing() -> None:
    w = Wire(client(), server())
    w.a.open(w.now)
    w.b.open(w.now)
    w.run(both_up(w))
    # LCP Echo-Request from the peer, with control characters in its data
    feed(w.a, 0xC021, 9, 1, w.b.link.lcp_options.magic.got.to_bytes(4, "big") + b"\x01\x02", w.now)
    raw = w.a.data_to_send()
    # Echo is LCP code 9: negotiated framing (ACFC, ACCM 0) applies, as in ppp_async
    assert raw.startswith(b"~\xc0\x21\x0a") and b"\x01\x02" in raw
    w.a.close("bye", w.now)
    raw = w.a.data_to_send()
    # Terminate-Request is code 5: FF 03 (escaped 03) and every control character escaped
    assert raw.startswith(b"~\xff\x7d\x23\xc0\x21\x7d\x25")
    body = raw.strip(b"~")
    assert all(b >= 0x20 for b in body)  # nothing below 0x20 goes out raw


def test_tx_accm_switches_exactly_after_we_send_conf_ack(rng) -> None:
    x = client()
    x.open(0.0)
    out_packets(x)
    # the peer wants 0x000a0000 escaped (bits 17 and 19: 0x11 and 0x13, XON/XOFF)
    feed(x, 0xC021, 1, 0, opts((2, b"\x00\x0a\x00\x00")), 0.0)
    copy, ack = frames_of(x.data_to_send())  # our request again first (fsm/cp.py resend_first)
    assert copy.startswith(b"~\xff\x7d\x23\xc0\x21\x7d\x21")
    assert ack.startswith(b"~\xff\x7d\x23\xc0\x21\x7d\x22")  # the Ack itself: full ACCM
    assert x.stats.tx_accm == 0x000A0000
    x.link.lcp.send(11, 5, b"\x00\x11\x01\x13")  # Discard-Request after the edge
    x._flush()  # noqa: SLF001
    raw = x.data_to_send()
    assert b"\x7d\x31" in raw and b"\x7d\x33" in raw and b"\x01" in raw  # 0x11/0x13 escaped, 0x01 not


def test_rx_accm_applies_when_our_request_is_acked() -> None:
    x = client(asyncmap=0x000A0000)
    x.open(0.0)
    ((_, req),) = out_packets(x)
    assert x.stats.rx_accm == 0  # liberal until the edge
    feed(x, 0xC021, 2, 1, req.data, 0.0)
    assert x.stats.rx_accm == 0x000A0000
