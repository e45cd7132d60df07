"""Hostile modem lines (issue 12 §5): every AT response parser turns garbage into a counted
`AtParseError`, never an exception out of `AtChannel.feed()`.

A seeded random loop rather than hypothesis: 100 000 lines per parser in about a second each,
built from the tokens that break number parsing (signs, hex words of every width, underscores,
huge digit runs, quotes, empty fields, latin-1 bytes) around each prefix's real shape.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from pppstack.modem import huawei as hw
from pppstack.modem import state as st
from pppstack.modem.at import URC_PREFIXES, AtChannel, Response, Urc

EXAMPLES = 100_000

TOKENS = [
    "", "0", "1", "2", "3", "5", "6", "17", "99", "255", "-1", "-0", "+1", "1_0", " 7 ", "00ffffff",
    "ffffffff", "0x0101A8C0", "0X", "0x", "-ffffffff", "123456789", "9" * 40, "1e3", "\xb2", "\xff", "\x00",
    '"', '""', '"LTE"', '"WCDMA"', '"NOSERVICE"', '"IPV4"', '"IPV6"', '"IPV4V6"', '"IP"', '"internet"',
    "IPV4", "LTE", "READY", "SIM PIN", '"SIM PUK"', "fe80::1", "::", '"2001:db8::1"', "2001:db8::zz",
    "a3ec5c64", "f8ffffff", "1.2.3.4", ",", ":", " ", "\t", "1" * 13, "f" * 17, "0" * 9,
]

# prefix -> how the line is sent, and the parser that judges its arguments
PARSERS: dict[str, Callable[[str], object]] = {
    "^DHCP": hw.parse_dhcp, "^DHCPV6": hw.parse_dhcpv6, "^NDISSTAT": hw.parse_ndisstat,
    "^HCSQ": hw.parse_hcsq, "^SYSINFOEX": hw.parse_sysinfoex, "+CREG": st.parse_creg,
    "+CPIN": st.parse_cpin, "+CGDCONT": st.parse_cgdcont, "+COPS": st.parse_cops,
    "^CERSSI": hw.parse_cerssi, "^SYSCFGEX": hw.parse_syscfgex, "+CSQ": st.parse_csq,
}
QUERIES = {"^DHCP": "AT^DHCP?", "^DHCPV6": "AT^DHCPV6?", "^NDISSTAT": "AT^NDISSTATQRY?", "^HCSQ": "AT^HCSQ?",
           "^SYSINFOEX": "AT^SYSINFOEX", "+CREG": "AT+CREG?", "+CPIN": "AT+CPIN?", "+CGDCONT": "AT+CGDCONT?",
           "+COPS": "AT+COPS?", "^CERSSI": "AT^CERSSI?", "^SYSCFGEX": "AT^SYSCFGEX?", "+CSQ": "AT+CSQ"}


# One real answer per prefix (the thread's log, ModemManager's tests); mutating a field or two of
# it reaches the checks behind the first field, which random field lists rarely get past.
GOOD = {
    "^DHCP": "a3ec5c64,f8ffffff,a1ec5c64,a1ec5c64,2200b10a,74bba80a,236800,236800",
    "^DHCPV6": "2001:db8::2,ffff:ffff:ffff:ffff::,2001:db8::1,2001:db8::1,2001:4860::8888,::,0,0",
    "^NDISSTAT": '1,,,"IPV4",0,33,,"IPV6"', "^HCSQ": '"LTE",60,50,151,20',
    "^SYSINFOEX": '2,3,0,1,,3,"WCDMA",41,"HSPA+"', "+CREG": '2,1,"1A2B","01C3D4E5",7', "+CPIN": "READY",
    "+CGDCONT": '1,"IPV4V6","internet","0.0.0.0",0,0,0,0', "+COPS": '0,0,"Telekom.de",7',
    "^CERSSI": "0,-80,-4,0,0,0,0", "^SYSCFGEX": '"030201",3FFFFFFF,1,2,7FFFFFFFFFFFFFFF', "+CSQ": "17,99",
}


def _field(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return rng.choice(TOKENS)
    return "".join(chr(rng.randrange(1, 256)) for _ in range(rng.randrange(0, 6)))


def _args(rng: random.Random, prefix: str) -> str:
    if rng.random() < 0.4:
        fields = GOOD[prefix].split(",")
        for _ in range(rng.randrange(0, 3)):
            fields[rng.randrange(len(fields))] = _field(rng)
    else:
        fields = [_field(rng) for _ in range(rng.randrange(0, 11))]
    args = ",".join(fields).replace("\r", "").replace("\n", "")
    # The channel strips the line and the colon before the parser sees it; do the same here so
    # the parser below judges exactly the text the channel hands to ModemState.
    while args != args.strip() or args.startswith(":"):
        args = args.strip().lstrip(":")
    return args


def test_dhcp_negative_word_is_a_parse_error_not_an_overflow() -> None:
    ch = AtChannel()
    ch.command("AT^DHCP?")
    events = ch.feed(b"\r\n^DHCP: -1,00ffffff,0101a8c0,0101a8c0,0,0,0,0\r\n\r\nOK\r\n")
    assert [type(e) for e in events] == [Response] and events[0].ok
    assert ch.state.dhcp is None
    assert ch.state.parse_errors == 1
    bad = ch.state.bad_lines[0]
    assert isinstance(bad, st.AtParseError) and bad.prefix == "^DHCP" and bad.args.startswith("-1,")
    assert ch.state.to_json()["parse_errors"] == 1


@pytest.mark.parametrize("line", [
    "^NDISSTAT: -1,,,IPV4", "^HCSQ: \"LTE\",1_0", "^SYSCFGEX: \"03\",-3FFF,1,2,7F", "+CREG: 0,+1",
    "+CGDCONT: x,\"IP\",\"a\"", "+COPS: 0,0", "^DHCPV6: ::1", "+CPIN: \xff\"", "^SRVST: -2", "^RSSI: 1_5",
])
def test_each_malformed_urc_is_counted(line: str) -> None:
    ch = AtChannel()
    events = ch.feed(line.encode("latin-1") + b"\r\n")
    assert [type(e) for e in events] == [Urc] or ch.noise_count == 1
    assert ch.state.parse_errors == (1 if events else 0)


def test_well_formed_lines_are_not_counted() -> None:
    ch = AtChannel()
    for line in ('^DHCPV6: 2001:db8::2,::,2001:db8::1,2001:db8::1,2001:4860::8888,::,0,0', '+COPS: 0,0,"Telekom",7',
                 '+CGDCONT: 1,"IPV4V6","internet","0.0.0.0",0,0', '+CPIN: PH-SIM PIN', "+CREG: 0,5", "^SRVST: 2"):
        prefix = line.split(":")[0]
        ch.command(f"AT{prefix}?")
        ch.feed(line.encode() + b"\r\nOK\r\n")
    s = ch.state
    assert s.parse_errors == 0, s.bad_lines
    assert s.operator == st.Operator(0, "Telekom", 7)
    assert s.pdp_contexts[1].apn == "internet" and s.dhcpv6 is not None and str(s.dhcpv6.gateway) == "2001:db8::1"


@pytest.mark.parametrize("prefix", sorted(PARSERS))
def test_parser_fuzz(prefix: str) -> None:
    """100 000 lines per parser, as answers and as URCs: nothing raises, and every line the
    parser rejects is exactly one counted parse error."""
    rng = random.Random(f"issue12-{prefix}")
    parse = PARSERS[prefix]
    ch = AtChannel()
    rejected = 0
    start = time.monotonic()
    batch: list[bytes] = []
    for i in range(EXAMPLES):
        args = _args(rng, prefix)
        line = f"{prefix}{rng.choice((': ', ':'))}{args}"
        parsed = parse(args)
        unknown_cpin = parsed is st.SimState.UNKNOWN and st._CPIN_CODE.fullmatch(hw.unquote(args).strip()) is None
        if parsed is None or unknown_cpin:
            rejected += 1
        batch.append(line.encode("latin-1"))
        if len(batch) == 50 or i == EXAMPLES - 1:
            # prefixes that are also URCs go both ways; the rest only reach a parser as answers
            as_answer = prefix not in URC_PREFIXES or rng.random() < 0.5
            if as_answer:
                ch.command(QUERIES[prefix])
            events = ch.feed(b"\r\n".join(batch) + (b"\r\nOK\r\n" if as_answer else b"\r\n"))
            if as_answer:
                assert isinstance(events[-1], Response) and events[-1].ok and not ch.busy
            batch = []
    elapsed = time.monotonic() - start
    assert ch.state.parse_errors == rejected, (prefix, ch.state.bad_lines[:3])
    assert 0 < rejected < EXAMPLES
    assert elapsed < 60, f"{prefix}: {elapsed:.1f} s"     # generous: a loaded CI machine, not a benchmark
