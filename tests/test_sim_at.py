"""The simulated E3372h-320's AT dialect, sans-I/O: bytes in, bytes out, a fake clock.

Oracles: the thread's log (byte layout of the reply to AT+CGDCONT), the modem room's parsers
(AtChannel, parse_dhcp, parse_sysinfoex...), which we did not write for the simulator.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack.modem import huawei as hw
from pppstack.modem.at import AtChannel, FinalResult, Response, SimState, Urc
from pppstack.sim.modem import DEFAULT_PIN, CommandSeen, Fault, Mode, SimConfig, SimModem
from pppstack.sim.radio import Rat

THREAD_REPLY = (b'\r\n^RSSI: 16\r\n\r\n^CERSSI:0,-80,-4,0,0,0,0\r\n\r\n^HCSQ:"WCDMA",45,41,57\r\n'
                b"\r\nOK\r\n")


def make(clock, rng, **kw) -> SimModem:
    m = SimModem(SimConfig(**kw), rng)
    m.start(clock.now)
    return m


def send(m: SimModem, clock, line: str) -> bytes:
    m.receive_data(line.encode() + b"\r", clock.now)
    return m.data_to_send()


def ask(m: SimModem, clock, line: str) -> Response:
    """Run one command through the modem room's AtChannel; return its Response."""
    ch = AtChannel()
    m.receive_data(ch.command(line), clock.now)
    out = [e for e in ch.feed(m.data_to_send()) if isinstance(e, Response)]
    assert len(out) == 1, out
    return out[0]


def test_thread_exchange_byte_for_byte(clock, rng) -> None:
    m = make(clock, rng, echo=False)
    assert send(m, clock, 'AT+CGDCONT=1,"IP","internet"') == THREAD_REPLY
    # chat logs "^M", "^M", "CONNECT": an empty line, then the result
    reply = send(m, clock, "ATD*99***1#")
    assert reply.startswith(b"\r\n\r\nCONNECT\r\n")
    assert reply[len(b"\r\n\r\nCONNECT\r\n"):][:1] == b"\x7e"  # PPP starts at once: the stick's LCP ConfReq
    assert m.mode is Mode.DATA


def test_urcs_in_the_reply_parse_as_urcs_and_fill_state(clock, rng) -> None:
    m = make(clock, rng)
    ch = AtChannel()
    m.receive_data(ch.command('AT+CGDCONT=1,"IP","internet"'), clock.now)
    events = ch.feed(m.data_to_send())
    urcs = [e.name for e in events if isinstance(e, Urc)]
    assert urcs == ["^RSSI", "^CERSSI", "^HCSQ"]
    resp = events[-1]
    assert isinstance(resp, Response) and resp.final is FinalResult.OK and resp.lines == ()
    assert ch.state.rssi == 16 and ch.state.hcsq is not None and ch.state.hcsq.rscp_dbm == -80
    assert ch.state.cerssi is not None and ch.state.cerssi.rscp_dbm == -80  # the profiles agree


def test_reports_come_idle_on_a_timer(clock, rng) -> None:
    m = make(clock, rng, signal_interval=10.0)
    send(m, clock, "AT")                      # the first report rides on the first answer
    assert m.get_timer() == pytest.approx(clock.now + 10.0 + 1.0)   # next due in 10 s, held 1 s
    m.handle_timer(clock.advance(10.0))
    assert m.data_to_send() == b""             # due, held a moment for a command to carry it
    assert m.get_timer() == pytest.approx(clock.now + 1.0)
    m.handle_timer(clock.advance(1.0))
    assert m.data_to_send() == b'\r\n^RSSI: 16\r\n\r\n^CERSSI:0,-80,-4,0,0,0,0\r\n\r\n^HCSQ:"WCDMA",45,41,57\r\n'
    send(m, clock, "AT^CURC=0")
    m.handle_timer(clock.advance(11.0))
    assert m.data_to_send() == b""


def test_echo_backspace_repeat_and_verbosity(clock, rng) -> None:
    m = make(clock, rng, signal_interval=0)
    assert send(m, clock, "AT") == b"AT\r\r\nOK\r\n"            # E1 at power-on
    m.receive_data(b"ATX\x08I\r", clock.now)                      # backspace edits the line
    assert b"Model: E3372h-320" in m.data_to_send()
    m.receive_data(b"A/", clock.now)                              # V.250 repeat
    assert b"Model: E3372h-320" in m.data_to_send()
    assert send(m, clock, "ATE0") == b"ATE0\r\r\nOK\r\n"
    assert send(m, clock, "ATV0") == b"0\r"
    assert send(m, clock, "AT^NOSUCH") == b"4\r"
    assert send(m, clock, "ATV1") == b"\r\nOK\r\n"
    assert send(m, clock, "not a command") == b""
    assert send(m, clock, "AT&F") == b"\r\nOK\r\n"
    assert send(m, clock, "AT") == b"AT\r\r\nOK\r\n"            # &F: echo back on


def test_identification_and_queries_in_huawei_wording(clock, rng) -> None:
    m = make(clock, rng, signal_interval=0)
    send(m, clock, "ATE0")
    assert ask(m, clock, "AT+CGMI").lines == ("huawei",)
    assert ask(m, clock, "AT+CGMM").lines == ("E3372h-320",)
    assert ask(m, clock, "AT+CGSN").lines == ("866123045678912",)
    assert ask(m, clock, "AT^NOSUCH").final is FinalResult.COMMAND_NOT_SUPPORT
    info = hw.parse_sysinfoex(ask(m, clock, "AT^SYSINFOEX").lines[0])
    assert info is not None and info.has_service and info.sysmode_name == "WCDMA" and info.submode_name == "HSPA+"
    cfg = hw.parse_syscfgex(ask(m, clock, "AT^SYSCFGEX?").lines[0])
    assert cfg is not None and cfg.mode is hw.NetworkMode.AUTO
    assert ask(m, clock, hw.build_syscfgex(hw.NetworkMode.LTE_ONLY)).ok
    hcsq = hw.parse_hcsq(ask(m, clock, "AT^HCSQ?").lines[0])
    assert hcsq is not None and hcsq.sysmode == "LTE" and hcsq.rsrp_dbm == -88
    assert ask(m, clock, 'AT^SYSCFGEX="0A",3FFFFFFF,2,4,7FFFFFFFFFFFFFFF,,').final is FinalResult.CME_ERROR
    ports = hw.parse_getportmode(ask(m, clock, "AT^GETPORTMODE").lines[0])
    assert ports == {0: "pcui", 1: "diag", 2: "modem", 3: "net"}  # the thread's layout, as `ports` reads it
    r = ask(m, clock, "AT+CREG=2;+CREG?")
    assert r.lines == ('+CREG: 2,1,"A1B2","01C2D3E4",7',)
    assert ask(m, clock, "AT+CSQ").lines == ("+CSQ: 24,99",)


def test_cgdcont_set_read_delete_and_bad_type(clock, rng) -> None:
    m = make(clock, rng, echo=False, signal_interval=0)
    assert ask(m, clock, 'AT+CGDCONT=2,"IPV4V6","web"').ok
    assert ask(m, clock, "AT+CGDCONT?").lines == ('+CGDCONT: 1,"IP","","0.0.0.0",0,0,0,0,0,0',
                                                 '+CGDCONT: 2,"IPV4V6","web","0.0.0.0",0,0,0,0,0,0')
    assert ask(m, clock, "AT+CGDCONT=2").ok
    assert len(ask(m, clock, "AT+CGDCONT?").lines) == 1
    r = ask(m, clock, 'AT+CGDCONT=1,"PPPX","web"')
    assert r.final is FinalResult.CME_ERROR and r.cme_code == 50
    assert ask(m, clock, "ATD*99***2#").final is FinalResult.NO_CARRIER   # no context 2


def test_sim_pin_flow(clock, rng) -> None:
    m = make(clock, rng, echo=False, signal_interval=0, faults={Fault.SIM_PIN})
    assert ask(m, clock, "AT+CPIN?").lines == ("+CPIN: SIM PIN",)
    r = ask(m, clock, "ATD*99#")
    assert r.final is FinalResult.CME_ERROR and r.error_text == "SIM PIN required" and r.cme_code == 11
    assert send(m, clock, "ATD*99#") == b"\r\n+CME ERROR: SIM PIN required\r\n"   # Huawei's wording
    assert ask(m, clock, "AT+CREG?").lines == ("+CREG: 0,0",)
    bad = ask(m, clock, 'AT+CPIN="0000"')
    assert bad.final is FinalResult.CME_ERROR and bad.error_text == "incorrect password"
    assert ask(m, clock, f'AT+CPIN="{DEFAULT_PIN}"').ok
    assert ask(m, clock, "AT+CPIN?").lines == ("+CPIN: READY",)
    assert ask(m, clock, "AT+CREG?").lines == ("+CREG: 0,2",)          # searching...
    m.handle_timer(clock.advance(1.0))
    m.data_to_send()
    assert ask(m, clock, "AT+CREG?").lines == ("+CREG: 0,1",)
    assert ask(m, clock, "ATD*99#").final is FinalResult.CONNECT


def test_three_wrong_pins_block_the_sim(clock, rng) -> None:
    m = make(clock, rng, echo=False, signal_interval=0, pin="4321")
    for _ in range(3):
        ask(m, clock, 'AT+CPIN="1111"')
    assert ask(m, clock, "AT+CPIN?").lines == ("+CPIN: SIM PUK",)
    assert ask(m, clock, 'AT+CPIN="4321"').cme_code == 12
    send(m, clock, "AT+CMEE=1")
    assert send(m, clock, "ATD*99#") == b"\r\n+CME ERROR: 12\r\n"
    send(m, clock, "AT+CMEE=0")
    assert send(m, clock, "ATD*99#") == b"\r\nERROR\r\n"


@pytest.mark.parametrize("line", ["ATQ0", "ATS0=0", "AT&C1", "AT&D2", "ATE0;Q0"])
def test_legacy_commands_rejected_only_with_the_fault(clock, rng, line: str) -> None:
    plain = make(clock, rng, echo=False, signal_interval=0)
    assert send(plain, clock, line) == b"\r\nOK\r\n"
    legacy = make(clock, rng, echo=False, signal_interval=0, faults={Fault.LEGACY_REJECTED})
    assert send(legacy, clock, line) == b"\r\nERROR\r\n"
    # what a careful dialler sends still works (anchors §7.2: drop ATQ0)
    assert send(legacy, clock, "ATV1") == b"\r\nOK\r\n"
    assert send(legacy, clock, "ATE1") == b"\r\nOK\r\n"
    assert send(legacy, clock, "AT&F") == b"AT&F\r\r\nOK\r\n"


@pytest.mark.parametrize(("fault", "final"), [(Fault.BUSY, b"BUSY"), (Fault.NO_CARRIER, b"NO CARRIER")])
def test_dial_faults(clock, rng, fault: Fault, final: bytes) -> None:
    m = make(clock, rng, echo=False, signal_interval=0, faults={fault})
    assert send(m, clock, "ATD*99***1#") == b"\r\n" + final + b"\r\n"
    assert m.mode is Mode.COMMAND
    events = []
    while (e := m.next_event()) is not None:
        events.append(e)
    assert events == [CommandSeen("ATD*99***1#", final.decode())]


def test_ncm_commands_answer_in_modemmanager_formats(clock, rng) -> None:
    m = make(clock, rng, echo=False, signal_interval=0)
    assert ask(m, clock, "AT^DHCP?").final is FinalResult.ERROR
    st = hw.parse_ndisstat(ask(m, clock, "AT^NDISSTATQRY?").lines[0])
    assert st is not None and not st.connected
    ch = AtChannel()
    m.receive_data(ch.command(hw.build_ndisdup("internet")), clock.now)
    ch.feed(m.data_to_send())
    assert ch.state.ndis is not None and ch.state.ndis.ipv4
    st = hw.parse_ndisstat(ask(m, clock, "AT^NDISSTATQRY?").lines[0])
    assert st is not None and st.ipv4 and not st.ipv6
    dhcp = hw.parse_dhcp(ask(m, clock, "AT^DHCP?").lines[0])
    assert dhcp is not None
    assert dhcp.address == IPv4Address("100.68.27.142") and dhcp.prefixlen == 30
    assert dhcp.gateway == IPv4Address("100.68.27.141")
    assert dhcp.dns == (IPv4Address("10.177.0.34"), IPv4Address("10.168.187.116"))
    assert ask(m, clock, hw.build_ndisdup_teardown()).ok
    assert ask(m, clock, "AT^DHCP?").final is FinalResult.ERROR


def test_cfun_reset_boots_with_urcs(clock, rng) -> None:
    m = make(clock, rng, echo=False, signal_interval=0)
    assert send(m, clock, "AT+CFUN=1,1") == b"\r\nOK\r\n"
    assert m.mode is Mode.BOOTING
    assert send(m, clock, "AT") == b""                   # deaf while booting
    m.handle_timer(clock.advance(1.0))
    ch = AtChannel()
    ch.feed(m.data_to_send())
    assert ch.state.booted == 1 and ch.state.sim is SimState.READY
    assert ask(m, clock, "AT+CREG?").lines == ("+CREG: 0,2",)


def test_gsm_profile_with_brownout(clock, rng) -> None:
    m = make(clock, rng, echo=False, faults={Fault.BROWNOUT})
    assert b'^HCSQ:"GSM",50' in send(m, clock, "AT")
    assert SimConfig(rat=Rat.LTE).radio.rat is Rat.LTE


def test_line_noise_never_raises(clock, rng) -> None:
    m = make(clock, rng)
    m.receive_data(bytes(range(256)) * 8 + b"\r\r\n\nAT+CGDCONT=,,,\"\r" + b"A" * 5000 + b"\r", clock.now)
    m.data_to_send()
    assert send(m, clock, "ATE0") .endswith(b"\r\nOK\r\n")


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64) | st.sampled_from(
    [b"AT\r", b"ATD*99#\r", b'AT+CGDCONT=1,"IP","x"\r', b"AT+CPIN?\r", b"~\xff\x03\xc0\x21\x01", b"\r\n", b"+++"]),
    max_size=40), steps=st.lists(st.floats(min_value=0, max_value=5), max_size=40),
    faults=st.sets(st.sampled_from(list(Fault)), max_size=3))
def test_any_byte_stream_in_any_mode_never_raises(chunks: list[bytes], steps: list[float], faults: set) -> None:
    import random

    r = random.Random(7)
    config = SimConfig(faults=frozenset(faults), brownout_after=1, reset_after=1, dead_echo_after=1)
    m = SimModem(config, lambda n: bytes(r.getrandbits(8) for _ in range(n)))
    now = 0.0
    m.start(now)
    for i, chunk in enumerate(chunks):
        now += steps[i] if i < len(steps) else 0.1
        m.receive_data(chunk, now)
        timer = m.get_timer()
        if timer is not None and timer <= now:
            m.handle_timer(now)
        m.data_to_send()
        while m.next_event() is not None:
            pass
