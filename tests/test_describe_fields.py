"""describe: the --json field decoder, and hostile input to every entry point (never raises)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack.describe import PROTOCOLS, decode_frame, decode_packet, describe_frame, describe_packet

H = bytes.fromhex
KNOWN = [e.number for e in PROTOCOLS] + [0x0021, 0x0057, 0x00FD, 0x0053, 0x002D, 0xC025]


def test_lcp_fields() -> None:
    d = decode_packet(0xC021, H("01000019 020600000000 0305c22305 050645291790 0702 0802"))
    assert (d["protocol"], d["protocol_name"], d["code"], d["code_name"], d["id"]) == (0xC021, "LCP", 1, "ConfReq", 0)
    assert d["text"].startswith("[LCP ConfReq id=0x0 <asyncmap 0x0> <auth chap MD5>")
    opts = {o["name"]: o for o in d["options"]}
    assert list(opts) == ["asyncmap", "auth", "magic", "pcomp", "accomp"]
    assert opts["magic"]["value"] == 0x45291790 and opts["magic"]["hex"] == "45291790"
    assert opts["auth"]["value"] == {"protocol": 0xC223, "name": "chap", "algorithm": "MD5"}
    assert opts["pcomp"]["value"] is True


def test_ipcp_and_ipv6cp_fields() -> None:
    d = decode_packet(0x8021, H("03010016 03060a404040 81060a0b0c0d 83060a0b0c0e"))
    assert [(o["name"], o["value"]) for o in d["options"]] == [
        ("addr", "10.64.64.64"),
        ("ms-dns1", "10.11.12.13"),
        ("ms-dns2", "10.11.12.14"),
    ]
    vj = decode_packet(0x8021, H("0401000a 0206002d0f01"))["options"][0]
    assert vj["value"] == {"protocol": 0x2D, "name": "VJ", "max_slot_id": 15, "comp_slot_id": 1}
    v6 = decode_packet(0x8057, H("0101000e 010a510082abaf796c55"))["options"][0]
    assert v6["value"] == {"interface_id": "510082abaf796c55", "link_local": "fe80::5100:82ab:af79:6c55"}


def test_control_fields() -> None:
    rej = decode_packet(0xC021, H("08010008 80fd 0101"))
    assert rej["rejected_protocol"] == 0x80FD and rej["rejected_protocol_name"] == "CCP"
    assert rej["rejected_info"] == "0101"
    assert decode_packet(0xC021, H("08010006 0021"))["rejected_protocol_name"] == "IP"
    assert decode_packet(0xC021, H("05020008 62796521"))["reason"] == "bye!"
    assert decode_packet(0xC021, H("0a00000c 02b18e0e 8591b3b5"))["magic"] == 0x02B18E0E
    chap = decode_packet(0xC223, H("01010017 10 26c7ca167a9bd85a2e95c7424221133d 5553"))
    assert chap["value"] == "26c7ca167a9bd85a2e95c7424221133d" and chap["name"] == "US"
    assert decode_packet(0xC223, H("04020007 453d31"))["message"] == "E=1"


def test_pap_fields_never_hold_the_password() -> None:
    d = decode_packet(0xC023, H("01070011 04") + b"user\x07s3cret!")
    assert d["user"] == "user" and d["password_length"] == 7
    assert "s3cret" not in json.dumps(d) and "733363726574" not in json.dumps(d)


def test_malformed_and_data_fields() -> None:
    assert "error" in decode_packet(0xC021, H("01010009 0702"))
    bad_opt = decode_packet(0xC021, H("01010007 0705 00"))
    assert "runs past" in bad_opt["error"] and bad_opt["code_name"] == "ConfReq"
    ip = decode_packet(0x0021, H("45000054 00004000 40016d8a 0a404002 08080808"))
    assert (ip["protocol_name"], ip["src"], ip["dst"], ip["ip_protocol"]) == ("IP", "10.64.64.2", "8.8.8.8", 1)
    assert decode_packet(0x1235, b"ab")["protocol_name"] is None
    assert decode_frame(H("ff05c021"))["error"]
    assert decode_frame(H("21 45000014"))["protocol"] == 0x21
    assert decode_packet(0xC021, H("09010008 00000001 0000"))["padding"] == 2


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(KNOWN) | st.integers(0, 0xFFFF), st.binary(max_size=80))
def test_random_packets_never_raise(protocol: int, info: bytes) -> None:
    line = describe_packet(protocol, info)
    assert isinstance(line, str) and line.startswith("[") and len(line) <= 1018
    json.dumps(decode_packet(protocol, info))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(KNOWN), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=60), st.binary(max_size=8))
def test_well_framed_packets_with_random_bodies(protocol: int, code: int, ident: int, body: bytes, pad: bytes) -> None:
    # a correct Length with random contents drives the printers past their header checks
    info = bytes((code, ident)) + (len(body) + 4).to_bytes(2, "big") + body + pad
    line = describe_packet(protocol, info)
    assert line.startswith("[") and "]" in line
    json.dumps(decode_packet(protocol, info))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_frames_never_raise(frame: bytes) -> None:
    assert isinstance(describe_frame(frame), str)
    json.dumps(decode_frame(frame))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=30), st.text(alphabet="QXZqxz#%&", min_size=4, max_size=40), st.binary(max_size=4))
def test_pap_password_never_printed(user: bytes, password: str, extra: bytes) -> None:
    pw = password.encode()
    body = bytes((len(user),)) + user + bytes((len(pw),)) + pw + extra
    for length in range(4, len(body) + 5):  # every truncation too
        info = bytes((1, 1)) + length.to_bytes(2, "big") + body
        line = describe_packet(0xC023, info)
        dumped = json.dumps(decode_packet(0xC023, info))
        for text in (line, dumped):
            assert password not in text and pw.hex() not in text.replace(" ", "")
