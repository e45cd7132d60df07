"""AtChannel: URCs are recognised wherever they arrive and never confused with responses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack.modem.at import AtChannel, FinalResult, RegStatus, Response, SimState, Urc, command_prefix, parse_creg

THREAD = b'\r\n^RSSI: 16\r\n\r\n^CERSSI:0,-80,-4,0,0,0,0\r\n\r\n^HCSQ:"WCDMA",45,41,57\r\n\r\nOK\r\n'


def feed_all(ch: AtChannel, data: bytes, chunk: int = 0) -> list:
    if not chunk:
        return ch.feed(data)
    out = []
    for i in range(0, len(data), chunk):
        out += ch.feed(data[i:i + chunk])
    return out


def test_thread_urcs_between_command_and_ok() -> None:
    ch = AtChannel()
    assert ch.command('AT+CGDCONT=1,"IP","internet.vodafone.net"') == b'AT+CGDCONT=1,"IP","internet.vodafone.net"\r'
    events = ch.feed(THREAD)
    assert [type(e) for e in events] == [Urc, Urc, Urc, Response]
    assert [e.name for e in events[:3]] == ["^RSSI", "^CERSSI", "^HCSQ"]
    resp = events[3]
    assert resp.final is FinalResult.OK and resp.lines == ()
    assert ch.state.rssi == 16 and ch.state.hcsq.sysmode == "WCDMA" and ch.state.cerssi.rscp_dbm == -80
    assert not ch.busy


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=40))
def test_any_chunking_gives_the_same_events(chunk: int) -> None:
    a, b = AtChannel(), AtChannel()
    a.command("AT+CGDCONT=1")
    b.command("AT+CGDCONT=1")
    assert feed_all(a, THREAD) == feed_all(b, THREAD, chunk)


def test_query_answer_vs_unsolicited_creg() -> None:
    ch = AtChannel()
    ch.command("AT+CREG?")
    ev = ch.feed(b"\r\n+CREG: 1\r\n\r\n+CREG: 0,5\r\n\r\nOK\r\n")
    # "+CREG: 1" during AT+CREG? is read as the answer's line too (same prefix), but parsed in its own form
    resp = ev[-1]
    assert isinstance(resp, Response) and resp.info("+CREG") == ["1", "0,5"]
    assert ch.state.registration["+CREG"] is RegStatus.ROAMING
    # unsolicited while idle
    ev = ch.feed(b'\r\n+CREG: 3,"00C3","0000A13F",7\r\n')
    assert isinstance(ev[0], Urc)
    assert ch.state.registration["+CREG"] is RegStatus.DENIED and ch.state.cell == ("00C3", "0000A13F")


def test_parse_creg_forms() -> None:
    assert parse_creg("0,1")[0] is RegStatus.HOME
    assert parse_creg("2,1,\"1A2B\",\"01C3D4\",7") == (RegStatus.HOME, "1A2B", "01C3D4")
    assert parse_creg("5")[0] is RegStatus.ROAMING
    assert parse_creg("1,\"1A2B\",\"01C3D4\"")[0] is RegStatus.HOME
    assert parse_creg("x") is None


def test_echo_is_dropped_and_info_lines_kept() -> None:
    ch = AtChannel()
    ch.command("ATI")
    ev = ch.feed(b"ATI\r\r\nManufacturer: huawei\r\nModel: E3372h-320\r\n\r\nOK\r\n")
    assert ev[0].lines == ("Manufacturer: huawei", "Model: E3372h-320")


def test_cme_error_numeric_and_text() -> None:
    ch = AtChannel()
    ch.command("AT+CPIN?")
    r = ch.feed(b"\r\n+CME ERROR: 11\r\n")[0]
    assert r.final is FinalResult.CME_ERROR and r.cme_code == 11 and r.error_text == "SIM PIN required"
    ch.command("AT+CPIN?")
    r = ch.feed(b"\r\n+CME ERROR: SIM not inserted\r\n")[0]
    assert r.cme_code == 10 and r.describe() == "+CME ERROR: SIM not inserted"


def test_huawei_final_codes() -> None:
    ch = AtChannel()
    ch.command("ATQ0")
    assert ch.feed(b"\r\nCOMMAND NOT SUPPORT\r\n")[0].final is FinalResult.COMMAND_NOT_SUPPORT


def test_connect_switches_to_data_mode() -> None:
    ch = AtChannel()
    ch.command("ATD*99***1#")
    ev = ch.feed(b"\r\nCONNECT 150000000\r\n~\xff\x7d\x23\xc0\x21")
    assert ev[0].final is FinalResult.CONNECT and ev[0].connect_text == "150000000"
    assert ch.data_mode
    assert ch.feed(b"more") == []
    assert ch.take_leftover() == b"~\xff\x7d\x23\xc0\x21more"


def test_urcs_update_state() -> None:
    ch = AtChannel()
    ch.feed(b"\r\n^SIMST: 255\r\n^BOOT:12345,0,0,0,72\r\n^MODE: 5,9\r\n^SRVST: 2\r\n")
    assert ch.state.sim is SimState.NOT_INSERTED and ch.state.booted == 1
    assert ch.state.mode == "HSPA+" and ch.state.service_status == 2
    ch.feed(b"^NDISSTAT: 1,,,IPV4\r\n")
    assert ch.state.ndis.connected and not ch.state.bearer_dropped
    ch.feed(b"^NDISSTAT: 0,,,IPV4\r\n")
    assert ch.state.bearer_dropped
    ch2 = AtChannel()
    ch2.feed(b"\r\n^PDPDEACT\r\n")
    assert ch2.state.bearer_dropped


def test_noise_is_counted_not_raised() -> None:
    ch = AtChannel()
    assert ch.feed(b"\x00\xff garbage\r\n" + b"x" * 5000) == []
    assert ch.noise_count >= 1


def test_command_prefix() -> None:
    assert command_prefix("AT+CREG?") == "+CREG"
    assert command_prefix("AT^NDISSTATQRY?") == "^NDISSTATQRY"
    assert command_prefix("ATD*99#") is None
    assert command_prefix("AT") is None


def test_parse_command_line_for_the_modem_side() -> None:
    from pppstack.modem.at import CommandKind, parse_command_line

    assert parse_command_line("AT") == []
    assert parse_command_line("hello") is None
    [q] = parse_command_line("ATQ0")
    assert (q.name, q.kind, q.args) == ("Q", CommandKind.ACTION, ("0",))
    assert [c.name for c in parse_command_line("ATE1Q0V1&F")] == ["E", "Q", "V", "&F"]
    [d] = parse_command_line("ATD*99***1#")
    assert d.name == "D" and d.args == ("*99***1#",)
    [c] = parse_command_line('AT+CGDCONT=1,"IP","a;b"')
    assert c.kind is CommandKind.SET and c.arg(1) == "IP" and c.arg(2) == "a;b"
    assert [(c.name, c.kind) for c in parse_command_line("AT+CREG?;+CGREG?;+CGDCONT=?")] == [
        ("+CREG", CommandKind.READ), ("+CGREG", CommandKind.READ), ("+CGDCONT", CommandKind.TEST)]
    [s0] = parse_command_line("ATS0=0")
    assert (s0.name, s0.kind, s0.args) == ("S0", CommandKind.SET, ("0",))
    [n] = parse_command_line('AT^NDISDUP=1,1,"internet"')
    assert n.name == "^NDISDUP" and n.arg(2) == "internet"
