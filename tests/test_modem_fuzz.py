"""Peer garbage never raises out of the modem cores (hypothesis, moderate example counts)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack.modem import huawei as hw
from pppstack.modem.at import AtChannel, AtCommand, FinalResult, Response, parse_command_line
from pppstack.modem.chat import Chat, ChatScript
from pppstack.modem.dial import NcmDialer, PppDialer

LINES = st.lists(st.sampled_from([
    b"OK", b"ERROR", b"CONNECT", b"+CME ERROR: 11", b"+CME ERROR: x", b"^HCSQ:", b"^HCSQ: \"LTE\",a,b", b"+CREG: ",
    b"+CREG: 9,9,9", b"^NDISSTAT: ,,,", b"^DHCP: ,,,,,", b"^SYSINFOEX:", b"^MODE: x", b"^SIMST:", b"^RSSI: 99",
    b"+CPIN: SIM PIN", b"^NDISSTATQRY: 1,,,\"IPV4\"", b"\x00\xff\x7e", b"RING", b"",
]) | st.binary(max_size=20), max_size=30)


@settings(max_examples=150, deadline=None)
@given(LINES, st.sampled_from(["AT+CREG?", "AT^HCSQ?", "ATD*99#", "AT^NDISSTATQRY?", "AT^DHCP?", "AT"]))
def test_at_channel_survives_anything(lines: list[bytes], command: str) -> None:
    ch = AtChannel()
    ch.command(command)
    events = ch.feed(b"\r\n".join(lines) + b"\r\n")
    responses = [e for e in events if isinstance(e, Response)]
    # one command gets at most one final result, and it is the first final line the modem sent
    texts = [t for t in (x.decode("latin-1").strip().upper() for x in b"\r\n".join(lines).splitlines()) if t]
    final_words = {f.value for f in FinalResult} | {"NO DIAL TONE"}
    finals = [t for t in texts if t != command.upper() and (
        t in final_words or t.startswith(("+CME ERROR", "+CMS ERROR", "CONNECT ")))]
    assert len(responses) == (1 if finals else 0)
    assert ch.busy == (not finals)
    if responses:
        assert responses[0].command == command
        assert responses[0].ok == (finals[0] == "OK" or finals[0].startswith("CONNECT"))
    s = ch.state
    assert s.parse_errors == len(s.bad_lines) or len(s.bad_lines) == s.MAX_BAD_LINES
    assert s.to_json()["parse_errors"] == s.parse_errors and isinstance(s.summary(), str)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_parsers_return_none_or_value(text: str) -> None:
    for parse, kind in ((hw.parse_hcsq, hw.Hcsq), (hw.parse_cerssi, hw.Cerssi), (hw.parse_sysinfoex, hw.SysInfoEx),
                        (hw.parse_syscfgex, hw.SysCfgEx), (hw.parse_ndisstat, hw.NdisStat),
                        (hw.parse_dhcp, hw.DhcpInfo), (hw.parse_dhcpv6, hw.Dhcpv6Info)):
        value = parse(text)
        assert value is None or isinstance(value, kind)
    roles = hw.parse_getportmode(text)
    assert all(isinstance(k, int) and k >= 0 and isinstance(v, str) for k, v in roles.items())
    cmd = parse_command_line(text)
    assert cmd is None or all(isinstance(c, AtCommand) for c in cmd)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_dialers_and_chat_survive_garbage(chunks: list[bytes]) -> None:
    machines = [PppDialer("internet"), NcmDialer("internet"),
                Chat(ChatScript.from_argv(["ABORT", "BUSY", "", "AT", "OK", "ATD*99#", "CONNECT", ""]))]
    for m in machines:
        now = 0.0
        m.start(now)
        for c in chunks:
            m.data_to_send()
            m.receive_data(c, now)
            now += 0.7
            m.handle_timer(now)
        for _ in range(400):    # run the clock out: every machine ends with a result
            if m.done:
                break
            t = m.get_timer()
            assert t is not None
            now = max(now, t)
            m.handle_timer(now)
            m.data_to_send()
        assert m.done and m.result is not None
