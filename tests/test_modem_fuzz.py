"""Peer garbage never raises out of the modem cores (hypothesis, moderate example counts)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack.modem import huawei as hw
from pppstack.modem.at import AtChannel, parse_command_line
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
    ch.feed(b"\r\n".join(lines) + b"\r\n")
    ch.state.summary()
    ch.state.to_json()


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_parsers_return_none_or_value(text: str) -> None:
    for parse in (hw.parse_hcsq, hw.parse_cerssi, hw.parse_sysinfoex, hw.parse_syscfgex, hw.parse_ndisstat,
                  hw.parse_dhcp, hw.parse_getportmode, parse_command_line):
        parse(text)


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
