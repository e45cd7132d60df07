"""Replays of what real peers sent, rebuilt byte for byte from the pppd logs in the research notes
(anchors §1.9: ppp-project/ppp#119, espressif/esp-protocols#565, netctl#162), against our client.

The modem asks `<auth chap MD5>` and takes empty credentials, Naks IPCP with the address and DNS,
sends its own IPV6CP request, rejects VJ compression, and Protocol-Rejects CCP.
"""

from __future__ import annotations

import logging

from ppp_support import feed, opts, out_packets

from pppstack import events as ev
from pppstack.auth.chap import md5_response
from pppstack.config import LinkConfig
from pppstack.fsm.automaton import State
from pppstack.link import Phase
from pppstack.pppos import PPPoS
from pppstack.wire import Code

LCP, CHAP, IPCP, IPV6CP = 0xC021, 0xC223, 0x8021, 0x8057
MODEM_LCP = opts((2, b"\0\0\0\0"), (3, b"\xc2\x23\x05"), (5, bytes.fromhex("45291790")), (7, b""), (8, b""))
CHALLENGE = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
ADDR = bytes([10, 64, 64, 64])
DNS1, DNS2 = bytes([10, 11, 12, 13]), bytes([10, 11, 12, 14])


def events(x: PPPoS) -> list[ev.Event]:
    out = []
    while (e := x.next_event()) is not None:
        out.append(e)
    return out


def test_modem_session_from_the_real_logs(rng, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="pppstack.ppp")
    x = PPPoS(LinkConfig(user="", password=""), rng)
    x.open(clock.now)
    ((_, req),) = out_packets(x)
    magic = req.data[8:12]
    assert f"sent [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x{magic.hex().lstrip('0')}> <pcomp> <accomp>]" \
        in caplog.messages

    # rcvd [LCP ConfReq id=0x0 <asyncmap 0x0> <auth chap MD5> <magic 0x45291790> <pcomp> <accomp>]
    feed(x, LCP, Code.CONF_REQ, 0, MODEM_LCP, clock.now)
    # our request again (same id) before the Ack: the modem may have flushed the first (fsm/cp.py)
    (_, again), (_, ack) = out_packets(x)
    assert (again.code, again.identifier, again.data) == (Code.CONF_REQ, 1, req.data)
    assert (ack.code, ack.identifier, ack.data) == (Code.CONF_ACK, 0, MODEM_LCP)
    # rcvd [LCP ConfAck id=0x1 ...] (the modem echoes our request)
    feed(x, LCP, Code.CONF_ACK, 1, req.data, clock.now)
    (up,) = events(x)
    assert isinstance(up, ev.LinkUp) and up.auth == "CHAP" and up.pcomp and up.accomp
    assert x.phase is Phase.AUTHENTICATE

    # rcvd [CHAP Challenge id=0x1 <...>, name = "UMTS_CHAP_SRVR"]
    feed(x, CHAP, 1, 1, bytes([16]) + CHALLENGE + b"UMTS_CHAP_SRVR", clock.now)
    ((proto, resp),) = out_packets(x)
    assert proto == CHAP and resp.code == 2 and resp.identifier == 1
    assert resp.data == bytes([16]) + md5_response(1, b"", CHALLENGE)  # empty secret, empty name
    feed(x, CHAP, 3, 1, b"", clock.now)  # Success without a message, as modems send it
    assert x.phase is Phase.NETWORK
    sent = out_packets(x)
    assert [(p, pkt.code, pkt.identifier) for p, pkt in sent] == [(IPCP, 1, 1), (IPV6CP, 1, 1)]
    z = bytes(4)
    assert sent[0][1].data == opts((3, z), (129, z), (131, z))  # no VJ: pppd's request minus <compress>
    ifid = sent[1][1].data[2:]

    # rcvd [IPCP ConfRej id=0x1 <compress VJ 0f 01>]: we never sent VJ, so it answers nothing of ours
    feed(x, IPCP, Code.CONF_REJ, 1, opts((2, b"\x00\x2d\x0f\x01")), clock.now)
    assert out_packets(x) == [] and x.link.ipcp.counters.bad_replies == 1
    # the modem's own requests: IPCP with its address (and VJ, which we refuse), and IPV6CP
    feed(x, IPCP, Code.CONF_REQ, 2, opts((2, b"\x00\x2d\x0f\x01"), (3, ADDR)), clock.now)
    ((_, rej),) = out_packets(x)
    assert (rej.code, rej.data) == (Code.CONF_REJ, opts((2, b"\x00\x2d\x0f\x01")))
    feed(x, IPCP, Code.CONF_REQ, 3, opts((3, ADDR)), clock.now)
    assert [pkt.code for _, pkt in out_packets(x)] == [Code.CONF_ACK]
    modem_ifid = bytes.fromhex("5100 82ab af79 6c55")
    feed(x, IPV6CP, Code.CONF_REQ, 1, opts((1, modem_ifid)), clock.now)
    assert [pkt.code for _, pkt in out_packets(x)] == [Code.CONF_ACK]

    # rcvd [IPCP ConfNak id=0x1 <addr 10.64.64.64> <ms-dns1 10.11.12.13> <ms-dns2 10.11.12.14>]
    feed(x, IPCP, Code.CONF_NAK, 1, opts((3, ADDR), (129, DNS1), (131, DNS2)), clock.now)
    ((_, req2),) = out_packets(x)
    assert req2.identifier == 2 and req2.data == opts((3, ADDR), (129, DNS1), (131, DNS2))
    feed(x, IPCP, Code.CONF_ACK, 2, req2.data, clock.now)
    feed(x, IPV6CP, Code.CONF_ACK, 1, opts((1, ifid)), clock.now)
    got = events(x)
    (v4,) = [e for e in got if isinstance(e, ev.Ipv4Up)]
    assert (str(v4.local), str(v4.peer), [str(d) for d in v4.dns]) == (
        "10.64.64.64", "10.64.64.64", ["10.11.12.13", "10.11.12.14"])
    (v6,) = [e for e in got if isinstance(e, ev.Ipv6Up)]
    assert str(v6.peer_ll) == "fe80::5100:82ab:af79:6c55" and v6.local_ifid == ifid

    # rcvd [LCP ProtRej id=0x1 80 fd ...]: harmless, logged in pppd's words
    feed(x, LCP, Code.PROT_REJ, 1, b"\x80\xfd\x01\x01\x00\x0c\x1a\x04\x78\x00\x18\x04\x78\x00", clock.now)
    assert "Protocol-Reject for 'Compression Control Protocol' (0x80fd) received" in caplog.messages
    assert x.link.ipcp.state is State.OPENED and x.link.ipv6cp.state is State.OPENED
    assert not [e for e in events(x) if isinstance(e, ev.LinkDown)]

    # the password never appears in any log line, in any form
    assert all("hunter2" not in m for m in caplog.messages)


def test_pap_password_is_never_logged(rng, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="pppstack")
    x = PPPoS(LinkConfig(user="web", password="hunter2"), rng)
    x.open(clock.now)
    ((_, req),) = out_packets(x)
    feed(x, LCP, Code.CONF_REQ, 0, opts((3, b"\xc0\x23")), clock.now)
    feed(x, LCP, Code.CONF_ACK, 1, req.data, clock.now)
    pap = [pkt for p, pkt in out_packets(x) if p == 0xC023]
    assert pap and b"hunter2" in pap[0].data  # it is on the wire, as PAP requires
    feed(x, 0xC023, 3, pap[0].identifier, b"\x0dLogin failed!", clock.now)
    text = "\n".join(caplog.messages) + repr(events(x))
    assert "hunter2" not in text and "Login failed!" in text


def test_text_between_frames_becomes_modem_text(rng, clock) -> None:
    x = PPPoS(LinkConfig(), rng)
    x.open(clock.now)
    x.receive_data(b"\r\nCONNECT 150000000\r\n", clock.now)
    x.receive_data(b"~\r\nNO CARRIER\r\n", clock.now)
    texts = [e.text for e in events(x) if isinstance(e, ev.ModemText)]
    assert "NO CARRIER" in texts


def test_lost_chap_success_is_recovered_by_repeating_the_response(rng, clock) -> None:
    x = PPPoS(LinkConfig(), rng)
    x.open(clock.now)
    ((_, req),) = out_packets(x)
    feed(x, LCP, Code.CONF_REQ, 0, MODEM_LCP, clock.now)
    feed(x, LCP, Code.CONF_ACK, 1, req.data, clock.now)
    out_packets(x)
    feed(x, CHAP, 1, 7, bytes([16]) + CHALLENGE, clock.now)
    ((_, first),) = out_packets(x)
    clock.advance(3.0)  # the Success is lost on the way
    x.handle_timer(clock.now)
    ((_, again),) = out_packets(x)
    assert again == first and x.phase is Phase.AUTHENTICATE
    feed(x, CHAP, 3, 7, b"Welcome", clock.now)
    assert x.phase is Phase.NETWORK
    clock.advance(10.0)
    x.handle_timer(clock.now)
    assert all(p != CHAP for p, _ in out_packets(x))  # no more Responses once answered
