"""Oracle we did not write: scapy's PPP layers parse the same packets, and agree with our
decoder on every field scapy knows (it has no IPV6CP or CCP layer, anchors.md §8)."""

from __future__ import annotations

import pytest
from scapy.layers.ppp import (
    HDLC,
    PPP,
    PPP_IPCP,
    PPP_CHAP_ChallengeResponse,
    PPP_LCP_Configure,
    PPP_LCP_Echo,
    PPP_PAP_Request,
)

from pppstack.describe import decode_frame
from pppstack.wire import ControlPacket, build_frame
from tests.test_decode import CHAP_CHAL, IPCP_NAK, LCP_REQ
from tests.test_oracle_tshark import PAP_REQ


def test_lcp_configure_request() -> None:
    ours = decode_frame(LCP_REQ)
    lcp = HDLC(LCP_REQ)[PPP_LCP_Configure]
    assert (lcp.code, lcp.id, lcp.len) == (ours["code"], ours["id"], ours["length"])
    assert [o.type for o in lcp.options] == [o["type"] for o in ours["options"]]
    assert lcp.options[0].accm == ours["options"][0]["value"]
    assert lcp.options[1].auth_protocol == ours["options"][1]["value"]["protocol"]
    assert lcp.options[2].magic_number == ours["options"][2]["value"] == 0x45291790


def test_chap_challenge() -> None:
    ours = decode_frame(CHAP_CHAL)
    chap = HDLC(CHAP_CHAL)[PPP_CHAP_ChallengeResponse]
    assert (chap.code, chap.id) == (ours["code"], ours["id"])
    assert bytes(chap.value).hex() == ours["value"] and chap.optional_name.decode() == ours["name"]


def test_ipcp_nak() -> None:
    ours = decode_frame(IPCP_NAK)
    ipcp = HDLC(IPCP_NAK)[PPP_IPCP]
    assert [(o.type, o.data) for o in ipcp.options] == [(o["type"], o["value"]) for o in ours["options"]]


def test_pap_request_username() -> None:
    ours = decode_frame(PAP_REQ)
    pap = HDLC(PAP_REQ)[PPP_PAP_Request]
    assert pap.username.decode() == ours["user"] and len(pap.password) == ours["password_length"]


@pytest.mark.parametrize("magic", [0, 1, 0xA1E27395, 0xFFFFFFFF])
def test_scapy_built_echo_describes_like_pppd(magic: int) -> None:
    # the other direction: a packet scapy builds, described by us the way pppd prints it
    frame = bytes(HDLC() / PPP() / PPP_LCP_Echo(code=9, id=7, magic_number=magic))
    assert decode_frame(frame)["text"] == f"[LCP EchoReq id=0x7 magic=0x{magic:x}]"
    assert build_frame(0xC021, ControlPacket(9, 7, magic.to_bytes(4, "big")).build()) == frame
