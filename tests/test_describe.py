"""describe: pppd's debug text, byte for byte, for packets built by hand from the RFCs.

The expected strings are pppd's own log lines: from the research notes (anchors.md §1.9,
ppp-project/ppp#119, espressif/esp-protocols#565) and a Huawei E398 session posted to
linux-ppp (lore-kernel.gnuweeb.org/linux-ppp/4D861BF0.6000401@workingcode.com/T), and,
for the rest, what pppd 2.4.9's printers (lcp.c, ipcp.c, ipv6cp.c, upap.c, chap-new.c,
ccp.c, utils.c format_packet) write for those bytes.  test_describe_pppd.py checks the
same packets against a real pppd in a guest.
"""

from __future__ import annotations

import pytest

from pppstack.describe import LINE_LIMIT, describe_frame, describe_packet

LCP, PAP, CHAP, IPCP, IPV6CP, CCP, EAP = 0xC021, 0xC023, 0xC223, 0x8021, 0x8057, 0x80FD, 0xC227
H = bytes.fromhex


# -- real log lines ------------------------------------------------------------------------

REAL_LINES = [
    # anchors.md §1.9 (pppd talking to a cellular modem)
    (LCP, "01010014 020600000000 0506a1e27395 0702 0802",
     "[LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0xa1e27395> <pcomp> <accomp>]"),
    (LCP, "01000019 020600000000 0305c22305 050645291790 0702 0802",
     "[LCP ConfReq id=0x0 <asyncmap 0x0> <auth chap MD5> <magic 0x45291790> <pcomp> <accomp>]"),
    (LCP, "09000008 a1e27395", "[LCP EchoReq id=0x0 magic=0xa1e27395]"),
    (IPCP, "0101001c 0206002d0f01 030600000000 810600000000 830600000000",
     "[IPCP ConfReq id=0x1 <compress VJ 0f 01> <addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0>]"),
    (IPV6CP, "0101000e 010a510082abaf796c55", "[IPV6CP ConfReq id=0x1 <addr fe80::5100:82ab:af79:6c55>]"),
    (IPCP, "0401000a 0206002d0f01", "[IPCP ConfRej id=0x1 <compress VJ 0f 01>]"),
    (LCP, "05020020" + b"No network protocols running".hex(), '[LCP TermReq id=0x2 "No network protocols running"]'),
    # issue 3's example
    (IPCP, "03010016 03060a404040 81060a0b0c0d 83060a0b0c0e",
     "[IPCP ConfNak id=0x1 <addr 10.64.64.64> <ms-dns1 10.11.12.13> <ms-dns2 10.11.12.14>]"),
    # Huawei E398 and pppd 2.4.5, linux-ppp 2011-03-18
    (LCP, "01000019 020600000000 0305c22305 050602b18e0e 0702 0802",
     "[LCP ConfReq id=0x0 <asyncmap 0x0> <auth chap MD5> <magic 0x2b18e0e> <pcomp> <accomp>]"),
    (LCP, "0b010008 02b18e0e", "[LCP DiscReq id=0x1 magic=0x2b18e0e]"),
    (CHAP, "01010023 10 26c7ca167a9bd85a2e95c7424221133d" + b"UMTS_CHAP_SRVR".hex(),
     '[CHAP Challenge id=0x1 <26c7ca167a9bd85a2e95c7424221133d>, name = "UMTS_CHAP_SRVR"]'),
    (CHAP, "02010018 10 eed8ef3a56256e7f149dc27eff078935" + b"wap".hex(),
     '[CHAP Response id=0x1 <eed8ef3a56256e7f149dc27eff078935>, name = "wap"]'),
    (LCP, "0a00000c 02b18e0e 8591b3b5", "[LCP EchoRep id=0x0 magic=0x2b18e0e 85 91 b3 b5]"),
    (CHAP, "03010004", '[CHAP Success id=0x1 ""]'),
    (IPCP, "03010004", "[IPCP ConfNak id=0x1]"),
    (IPCP, "0101000a 030600000000", "[IPCP ConfReq id=0x1 <addr 0.0.0.0>]"),
]  # fmt: skip


@pytest.mark.parametrize(("protocol", "hexinfo", "line"), REAL_LINES)
def test_real_pppd_lines(protocol: int, hexinfo: str, line: str) -> None:
    assert describe_packet(protocol, H(hexinfo)) == line


def test_ccp_protocol_reject_from_a_modem() -> None:
    # pppd's CCP ConfReq (deflate 15, old deflate 15, bsd v1 15) bounced by the modem (anchors §1.6)
    ccp_req = H("0101000f 1a047800 18047800 15032f")
    assert describe_packet(CCP, ccp_req) == "[CCP ConfReq id=0x1 <deflate 15> <deflate(old#) 15> <bsd v1 15>]"
    rej = H("08010015 80fd") + ccp_req
    assert describe_packet(LCP, rej) == "[LCP ProtRej id=0x1 80 fd 01 01 00 0f 1a 04 78 00 18 04 78 00 15 03 2f]"


# -- LCP, every code -----------------------------------------------------------------------

LCP_CASES = [
    ("01010008 010405dc", "[LCP ConfReq id=0x1 <mru 1500>]"),
    ("02ff000a 0206000a0000", "[LCP ConfAck id=0xff <asyncmap 0xa0000>]"),
    ("03030008 0104ffff", "[LCP ConfNak id=0x3 <mru 65535>]"),
    ("04040008 0304c023", "[LCP ConfRej id=0x4 <auth pap>]"),
    ("01050009 0305c22381", "[LCP ConfReq id=0x5 <auth chap MS-v2>]"),
    ("01050009 0305c22380", "[LCP ConfReq id=0x5 <auth chap MS>]"),
    ("01050009 0305c22306", "[LCP ConfReq id=0x5 <auth chap 06>]"),
    ("01050008 0304c227", "[LCP ConfReq id=0x5 <auth eap>]"),
    ("01050008 03041234", "[LCP ConfReq id=0x5 <auth 0x1234>]"),
    ("0101000c 0408c025000003e8", "[LCP ConfReq id=0x1 <quality lqr 00 00 03 e8>]"),
    ("01010007 0d0306", "[LCP ConfReq id=0x1 <callback CBCP>]"),
    ("01010007 0d0300", "[LCP ConfReq id=0x1 <callback 0x0>]"),
    ("01010008 110405dc", "[LCP ConfReq id=0x1 <mrru 1500>]"),
    ("01010006 1202", "[LCP ConfReq id=0x1 <ssnhf>]"),
    ("0101000d 1309 03 0011223344 55", "[LCP ConfReq id=0x1 <endpoint [MAC:00:11:22:33:44:55]>]"),
    ("0101000b 1307 02 0a000001", "[LCP ConfReq id=0x1 <endpoint [IP:10.0.0.1]>]"),
    ("0101000f 130b 04 01020304 05060708", "[LCP ConfReq id=0x1 <endpoint [magic:01020304.05060708]>]"),
    ("01010009 1305 01 abcd", "[LCP ConfReq id=0x1 <endpoint [local:ab.cd]>]"),
    ("01010007 1303 00", "[LCP ConfReq id=0x1 <endpoint [null]>]"),
    ("01010008 1304 09 ee", "[LCP ConfReq id=0x1 <endpoint [9:ee]>]"),
    # unknown and wrong-length options: pppd prints their octets, type and length included
    ("01010009 0905 010203", "[LCP ConfReq id=0x1 < 09 05 01 02 03>]"),
    ("01010007 010305", "[LCP ConfReq id=0x1 < 01 03 05>]"),
    ("01010006 0502", "[LCP ConfReq id=0x1 < 05 02>]"),
    ("01010008 07040000", "[LCP ConfReq id=0x1 < 07 04 00 00>]"),
    ("01010006 0002", "[LCP ConfReq id=0x1 < 00 02>]"),
    # option Length past the packet, or below 2: the option loop stops and the rest is hex
    ("0101000a 0702 0506 0102", "[LCP ConfReq id=0x1 <pcomp> 05 06 01 02]"),
    ("01010008 0100 0702", "[LCP ConfReq id=0x1 01 00 07 02]"),
    ("01010007 0702 08", "[LCP ConfReq id=0x1 <pcomp> 08]"),
    ("05070004", "[LCP TermReq id=0x7]"),
    ("06070004", "[LCP TermAck id=0x7]"),
    ("0607000a 427965210d0a", '[LCP TermAck id=0x7 "Bye!\\r\\n"]'),
    ("0508000b 61225c62097fff", '[LCP TermReq id=0x8 "a\\"\\\\b\\t\\177\\377"]'),
    ("05080006 0161", "[LCP TermReq id=0x8 01 61]"),
    ("07090008 0e010004", "[LCP CodeRej id=0x9 0e 01 00 04]"),
    ("080a0006 0057", "[LCP ProtRej id=0xa 00 57]"),
    ("09000006 0102", "[LCP EchoReq id=0x0 01 02]"),
    ("0a000008 00000000", "[LCP EchoRep id=0x0 magic=0x0]"),
    ("0c01000e 01020304 68656c6c6f21", '[LCP Ident id=0x1 magic=0x1020304 "hello!"]'),
    ("0d01000e 01020304 0000003c 6869", '[LCP TimeRem id=0x1 magic=0x1020304 seconds=60 "hi"]'),
    ("0d01000a 01020304 0001", "[LCP TimeRem id=0x1 magic=0x1020304 00 01]"),
    ("00010004", "[LCP code=0x0 id=0x1]"),
    ("0e010006 abcd", "[LCP code=0xe id=0x1 ab cd]"),
]  # fmt: skip


@pytest.mark.parametrize(("hexinfo", "line"), LCP_CASES)
def test_lcp(hexinfo: str, line: str) -> None:
    assert describe_packet(LCP, H(hexinfo)) == line


def test_lcp_tail_is_cut_at_32_octets() -> None:
    body = bytes(range(40))
    line = describe_packet(LCP, H("0801002e c025") + body)
    assert line == "[LCP ProtRej id=0x1 c0 25" + "".join(f" {b:02x}" for b in body[:30]) + " ...]"


def test_padding_after_length_prints_after_the_bracket() -> None:
    # RFC 1661 §5: octets past Length are padding; pppd prints them after "]"
    assert describe_packet(LCP, H("09010008 00000001 0000")) == "[LCP EchoReq id=0x1 magic=0x1] 00 00"
    padded = describe_packet(LCP, H("09010008 00000001") + bytes(40))
    assert padded == "[LCP EchoReq id=0x1 magic=0x1]" + " 00" * 32 + " ..."


# -- IPCP, IPV6CP --------------------------------------------------------------------------

NCP_CASES = [
    (IPCP, "0101000e 010a0a000001 0a000002", "[IPCP ConfReq id=0x1 <addrs 10.0.0.1 10.0.0.2>]"),
    (IPCP, "0101000a 02060037 0f01", "[IPCP ConfReq id=0x1 <compress old-VJ 0f 01>]"),
    (IPCP, "01010008 02041234", "[IPCP ConfReq id=0x1 <compress 0x1234>]"),
    (IPCP, "01010010 820608080808 84060a0a0a0a", "[IPCP ConfReq id=0x1 <ms-wins 8.8.8.8> <ms-wins 10.10.10.10>]"),
    (IPCP, "01010009 030501 0203", "[IPCP ConfReq id=0x1 < 03 05 01 02 03>]"),
    (IPCP, "0101000a 0506 01020304", "[IPCP ConfReq id=0x1 < 05 06 01 02 03 04>]"),
    # pppd reads ms-dns's four octets whatever the Length says (here from the next option), so
    # its pointer runs 4 octets ahead of its count: the tail it prints includes the padding
    (IPCP, "0101000c 8102 03060a000001 aabbccdd", "[IPCP ConfReq id=0x1 <ms-dns1 3.6.10.0> 00 01 aa bb cc dd]"),
    (IPCP, "0501000a 6c6f73742100", '[IPCP TermReq id=0x1 "lost!\\000"]'),
    (IPCP, "06020004", "[IPCP TermAck id=0x2]"),
    (IPCP, "07030008 01020304", "[IPCP CodeRej id=0x3 01 02 03 04]"),
    (IPCP, "08030006 0102", "[IPCP code=0x8 id=0x3 01 02]"),
    (IPV6CP, "0201000e 010a0000000000000001", "[IPV6CP ConfAck id=0x1 <addr fe80::0000:0000:0000:0001>]"),
    (IPV6CP, "03010008 0204004f", "[IPV6CP ConfNak id=0x1 <compress 0x4f>]"),
    (IPV6CP, "0401000a 02060000 aaaa", "[IPV6CP ConfRej id=0x1 <compress 0x0 aa aa>]"),
    (IPV6CP, "0101000a 01060102 0304", "[IPV6CP ConfReq id=0x1 < 01 06 01 02 03 04>]"),
    (IPV6CP, "05010006 6279", '[IPV6CP TermReq id=0x1 "by"]'),
]  # fmt: skip


@pytest.mark.parametrize(("protocol", "hexinfo", "line"), NCP_CASES)
def test_ncp(protocol: int, hexinfo: str, line: str) -> None:
    assert describe_packet(protocol, H(hexinfo)) == line


# -- PAP, CHAP -----------------------------------------------------------------------------


def test_pap_request_hides_the_password() -> None:
    info = H("01070011 04") + b"user" + b"\x07" + b"s3cret!"
    line = describe_packet(PAP, info)
    assert line == '[PAP AuthReq id=0x7 user="user" password=<hidden>]'
    assert "s3cret" not in line and "73 33" not in line


def test_pap_request_padding_and_bad_length_stay_hidden() -> None:
    # Length says 4 (or more than was sent): pppd would print the rest, password included, in hex
    assert describe_packet(PAP, H("01010004 04") + b"user\x02pw") == "[PAP AuthReq id=0x1] <8 octets hidden>"
    assert describe_packet(PAP, H("010100ff 04") + b"user\x02pw") == "[PAP] <12 octets hidden>"
    assert describe_packet(PAP, H("02010004 0000")) == "[PAP AuthAck id=0x1] 00 00"


def test_pap_short_request_never_leaks_password_octets() -> None:
    # Passwd-Length runs past the packet: pppd would dump the octets (the password) in hex
    info = H("0107000e 04") + b"user" + b"\x09" + b"s3cr"
    line = describe_packet(PAP, info)
    assert line == "[PAP AuthReq id=0x7 <10 octets hidden>]"
    assert "73 33" not in line


PAP_CHAP_CASES = [
    (PAP, "0101000a 0000 a1b2c3d4", '[PAP AuthReq id=0x1 user="" password=<hidden> a1 b2 c3 d4]'),
    (PAP, "02010008 03" + b"OK!".hex(), '[PAP AuthAck id=0x1 "OK!"]'),
    (PAP, "03020005 00", '[PAP AuthNak id=0x2 ""]'),
    (PAP, "03020006 05ff", "[PAP AuthNak id=0x2 05 ff]"),
    (PAP, "04020006 0102", "[PAP code=0x4 id=0x2 01 02]"),
    (CHAP, "04020012" + b"E=691 R=0 V=3".hex() + "0a", '[CHAP Failure id=0x2 "E=691 R=0 V=3\\n"]'),
    (CHAP, "0101000e 08 0102030405060708 41", '[CHAP Challenge id=0x1 <0102030405060708>, name = "A"]'),
    (CHAP, "01010009 04 01020304", '[CHAP Challenge id=0x1 <01020304>, name = ""]'),
    # Value-Size past the end: pppd prints nothing of the body, and consumes it
    (CHAP, "01010008 08 010203", "[CHAP Challenge id=0x1]"),
    (CHAP, "02010004", "[CHAP Response id=0x1]"),
    (CHAP, "05010006 abcd", "[CHAP code=0x5 id=0x1 ab cd]"),
]  # fmt: skip


@pytest.mark.parametrize(("protocol", "hexinfo", "line"), PAP_CHAP_CASES)
def test_pap_chap(protocol: int, hexinfo: str, line: str) -> None:
    assert describe_packet(protocol, H(hexinfo)) == line


# -- CCP -----------------------------------------------------------------------------------

CCP_CASES = [
    ("01010008 1a044800", "[CCP ConfReq id=0x1 <deflate 12>]"),
    ("01010008 1a047901", "[CCP ConfReq id=0x1 <deflate 15 method 9 check 1>]"),
    ("01010007 15032c", "[CCP ConfReq id=0x1 <bsd v1 12>]"),
    ("01010008 0102 0202", "[CCP ConfReq id=0x1 <predictor 1> <predictor 2>]"),
    ("0101000a 120601000040", "[CCP ConfReq id=0x1 <mppe +H -M +S -L -D -C>]"),
    ("0101000a 120600000061", "[CCP ConfReq id=0x1 <mppe -H -M +S +L -D +C>]"),
    ("0101000a 120600010002", "[CCP ConfReq id=0x1 <mppe -H -M -S -L -D -C +U (00 01 00 02)>]"),
    ("0101000a 1a060800 aabb", "[CCP ConfReq id=0x1 <deflate 8 aa bb>]"),
    ("01010007 1a0378", "[CCP ConfReq id=0x1 < 1a 03 78>]"),
    ("01010008 fe04 0102", "[CCP ConfReq id=0x1 < fe 04 01 02>]"),
    ("05010007 627965", '[CCP TermReq id=0x1"bye"]'),
    ("0e050004", "[CCP ResetReq id=0x5]"),
    ("0f050006 0102", "[CCP ResetAck id=0x5 01 02]"),
    ("08050004", "[CCP code=0x8 id=0x5]"),
]  # fmt: skip


@pytest.mark.parametrize(("hexinfo", "line"), CCP_CASES)
def test_ccp(hexinfo: str, line: str) -> None:
    assert describe_packet(CCP, H(hexinfo)) == line


# -- EAP (pppd 2.4.9's printer) ------------------------------------------------------------

EAP_CASES = [
    ("01010005 01", "[EAP Request id=0x1 Identity <No message>]"),
    ("02010009 01" + b"user".hex(), '[EAP Response id=0x1 Identity <Name "user">]'),
    ("0101000a 02" + b"hello".hex(), '[EAP Request id=0x1 Notification <Message "hello">]'),
    ("0102000f 04 08 0102030405060708 53",
     '[EAP Request id=0x2 MD5-Challenge <Value 01 02 03 04 05 06 07 08> <Name "S">]'),
    ("02020006 0304", "[EAP Response id=0x2 Nak <Suggested-type 04 (MD5-Challenge)>]"),
    ("02020005 03", "[EAP Response id=0x2 Nak <missing hint>]"),
    ("01020007 04 05 01", "[EAP Request id=0x2 MD5-Challenge <truncated> 01]"),
    ("03030004", "[EAP Success id=0x3]"),
    ("04030004", "[EAP Failure id=0x3]"),
    ("01030006 0d20", "[EAP Request id=0x3 TLS --S]"),
    ("01030006 0dc0", "[EAP Request id=0x3 TLS LM- ]"),
    ("02030006 0d00", "[EAP Response id=0x3 TLS Ack]"),
    ("01030010 63 0102030405060708090a0b", "[EAP Request id=0x3 type=0x63...]"),
]  # fmt: skip


@pytest.mark.parametrize(("hexinfo", "line"), EAP_CASES)
def test_eap(hexinfo: str, line: str) -> None:
    assert describe_packet(EAP, H(hexinfo)) == line


# -- format_packet: data, unknown protocols, malformed -------------------------------------


def test_ip_data_prints_eight_octets() -> None:
    ping = H("4500005400004000 40016d8a 0a404002 08080808") + bytes(64)
    assert describe_packet(0x0021, ping) == "[IP data] 45 00 00 54 00 00 40 00 ..."
    assert describe_packet(0x0057, H("6000000000")) == "[IPV6 data] 60 00 00 00 00"
    assert describe_packet(0x00FD, H("0102")) == "[Compressed data] 01 02"
    assert describe_packet(0x0053, b"") == "[Encrypted data]"


def test_unknown_protocols() -> None:
    assert describe_packet(0x002D, H("0102")) == "[proto=0x2d] 01 02"
    assert describe_packet(0xC025, H("0001")) == "[proto=0xc025] 00 01"
    assert describe_packet(0x8281, bytes(40)) == "[proto=0x8281]" + " 00" * 32 + " ..."
    assert describe_packet(0x4021, b"") == "[proto=0x4021]"


def test_ecp_prints_only_hex() -> None:
    assert describe_packet(0x8053, H("01010004")) == "[ECP] 01 01 00 04"


@pytest.mark.parametrize(
    ("protocol", "hexinfo", "line"),
    [
        (LCP, "", "[LCP]"),
        (LCP, "0101", "[LCP] 01 01"),
        (LCP, "01010003", "[LCP] 01 01 00 03"),  # Length below the header
        (LCP, "01010009 0702", "[LCP] 01 01 00 09 07 02"),  # Length past the data
        (IPCP, "010100", "[IPCP] 01 01 00"),
        (CHAP, "0101ffff", "[CHAP] 01 01 ff ff"),
        (PAP, "01", "[PAP] <1 octets hidden>"),  # an AuthReq code: could be a password
        (PAP, "02", "[PAP] 02"),
        (CCP, "01010005", "[CCP] 01 01 00 05"),
    ],
)
def test_malformed_headers_print_as_hex(protocol: int, hexinfo: str, line: str) -> None:
    assert describe_packet(protocol, H(hexinfo)) == line


def test_line_limit_matches_pppds_buffer() -> None:
    # an option list of 500 unknown options prints far past pppd's 1024-octet log buffer
    info = H("0101") + (4 + 1000).to_bytes(2, "big") + H("fe02") * 500
    line = describe_packet(LCP, info)
    assert len(line) == LINE_LIMIT == 1018
    assert line.startswith("[LCP ConfReq id=0x1 < fe 02> < fe 02>")


# -- describe_frame ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hexframe", "line"),
    [
        ("ff03c021 09000008a1e27395", "[LCP EchoReq id=0x0 magic=0xa1e27395]"),
        ("c021 09000008a1e27395", "[LCP EchoReq id=0x0 magic=0xa1e27395]"),  # ACFC
        ("21 45000014", "[IP data] 45 00 00 14"),  # ACFC + PFC
        ("ff0321 45000014", "[IP data] 45 00 00 14"),  # PFC
        ("ff030021 45000014", "[IP data] 45 00 00 14"),
        ("ff038021 0101000a030600000000", "[IPCP ConfReq id=0x1 <addr 0.0.0.0>]"),
        ("ff05c021 01", " ff 05 c0 21 01"),  # Linux drops this; pppd shows such a buffer as hex
        ("ff03", " ff 03"),
        ("c0", " c0"),
        ("", ""),
    ],
)
def test_describe_frame(hexframe: str, line: str) -> None:
    assert describe_frame(H(hexframe)) == line
