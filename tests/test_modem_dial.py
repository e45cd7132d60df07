"""Dial sequences: typed results on a pty modem and on a fake clock."""

from __future__ import annotations

from ipaddress import IPv4Address

from modem_scripted import ScriptedModem

from pppstack.io.atport import run
from pppstack.io.serialport import open_port
from pppstack.modem.at import SimState
from pppstack.modem.dial import AtProbe, DialError, NcmDialer, PppDialer

OK = b"\r\nOK\r\n"
BASE = {
    "AT": OK, "AT+CMEE=2": OK, "AT+CPIN?": b"\r\n+CPIN: READY\r\n" + OK,
    "AT+CREG?": b"\r\n+CREG: 0,1\r\n" + OK, "AT+CGREG?": b"\r\n+CGREG: 0,1\r\n" + OK,
    "AT+CEREG?": b"\r\n+CEREG: 0,0\r\n" + OK,
    "AT^HCSQ?": b'\r\n^RSSI: 16\r\n\r\n^HCSQ: "WCDMA",45,41,57\r\n' + OK,
    "AT^SYSINFOEX": b'\r\n^SYSINFOEX:2,3,0,1,,3,"WCDMA",41,"HSPA+"\r\n' + OK,
    "AT+CSQ": b"\r\n+CSQ: 16,99\r\n" + OK,
    # the thread's URCs between the command and its OK
    'AT+CGDCONT=1,"IP","internet"': b'\r\n^RSSI: 16\r\n\r\n^CERSSI:0,-80,-4,0,0,0,0\r\n\r\n^HCSQ:"WCDMA",45,41,57\r\n'
                                    + OK,
    "ATD*99***1#": b"\r\nCONNECT\r\n",
}


def dial(replies: dict, **kw) -> tuple:
    with ScriptedModem(replies) as modem:
        with open_port(modem.path) as port:
            result = run(port, PppDialer("internet", **kw), timeout=20)
    return result, modem.commands


def test_ppp_dial_success_reads_state_from_urcs() -> None:
    result, commands = dial(BASE)
    assert result.ok, result.message
    st = result.modem_state
    assert st.sim is SimState.READY and st.registered
    assert st.hcsq.rscp_dbm == -80 and st.cerssi.ecio_db == -4 and st.rssi == 16
    assert st.mode == "WCDMA/HSPA+"
    assert commands[-2:] == ['AT+CGDCONT=1,"IP","internet"', "ATD*99***1#"]
    assert not any(c in ("ATQ0", "ATZ", "ATS0=0") for c in commands)   # no legacy init


def test_ppp_dial_no_carrier() -> None:
    result, _ = dial({**BASE, "ATD*99***1#": b"\r\nNO CARRIER\r\n"})
    assert not result.ok and result.error is DialError.NO_CARRIER


def test_sim_pin_required_without_pin() -> None:
    result, commands = dial({**BASE, "AT+CPIN?": b"\r\n+CPIN: SIM PIN\r\n" + OK})
    assert result.error is DialError.SIM_PIN_REQUIRED
    assert "ATD*99***1#" not in commands


def test_sim_pin_entry() -> None:
    state = {"pin": False}

    def cpin_query(_: str) -> bytes:
        return b"\r\n+CPIN: READY\r\n" + OK if state["pin"] else b"\r\n+CME ERROR: SIM PIN required\r\n"

    def cpin_set(_: str) -> bytes:
        state["pin"] = True
        return OK

    dialer = PppDialer("internet", pin="1234")
    with ScriptedModem({**BASE, "AT+CPIN?": cpin_query, 'AT+CPIN="1234"': cpin_set}) as modem:
        with open_port(modem.path) as port:
            result = run(port, dialer, timeout=20)
    assert result.ok, result.message
    assert 'AT+CPIN="****"' in "\n".join(dialer.transcript) and "1234" not in "\n".join(dialer.transcript)


def test_registration_denied() -> None:
    result, _ = dial({**BASE, "AT+CREG?": b"\r\n+CREG: 0,3\r\n" + OK, "AT+CGREG?": b"\r\n+CGREG: 0,3\r\n" + OK})
    assert result.error is DialError.REGISTRATION_DENIED


def test_silent_port_is_probably_the_wrong_port(clock) -> None:
    d = PppDialer("internet")
    d.start(clock.now)
    sent = []
    while not d.done:   # between tries the dialer waits for the port to fall quiet (resync)
        out = d.data_to_send()
        if out:
            sent.append(out)
            d.receive_data(b"\x7e\x00garbage from a diag port", clock.now)
        clock.now = d.get_timer()
        d.handle_timer(clock.now)
    assert sent == [b"AT\r"] * 3
    assert d.done and d.result.error is DialError.NO_RESPONSE
    assert "wrong port" in d.result.message


def test_cme_error_text() -> None:
    result, _ = dial({**BASE, 'AT+CGDCONT=1,"IP","internet"': b"\r\n+CME ERROR: 50\r\n"})
    assert result.error is DialError.PDP_CONTEXT_FAILED
    assert "incorrect parameters" in result.message


def answer_all(d, replies: dict, clock, limit: int = 500) -> None:
    d.start(clock.now)
    for _ in range(limit):
        if d.done:
            return
        out = d.data_to_send()
        if out:
            cmd = out.decode().strip()
            reply = replies.get(cmd, b"\r\nERROR\r\n")
            d.receive_data(reply(cmd) if callable(reply) else reply, clock.now)
        else:
            t = d.get_timer()
            assert t is not None
            clock.now = t
            d.handle_timer(t)
    raise AssertionError("dialer did not finish")


def test_ncm_dial_polls_ndisstatqry_then_reads_dhcp(clock) -> None:
    polls = {"n": 0}

    def ndisstat(_: str) -> bytes:
        polls["n"] += 1
        state = 1 if polls["n"] >= 3 else 0
        return f'\r\n^NDISSTATQRY: {state},,,"IPV4",0,,,"IPV6"\r\n'.encode() + OK

    replies = {**BASE, 'AT^NDISDUP=1,1,"internet"': OK, "AT^NDISSTATQRY?": ndisstat,
               "AT^DHCP?": b"\r\n^DHCP: a3ec5c64,f8ffffff,a1ec5c64,a1ec5c64,2200b10a,74bba80a,236800,236800\r\n" + OK}
    d = NcmDialer("internet")
    start = clock.now
    answer_all(d, replies, clock)
    r = d.result
    assert r.ok, r.message
    assert r.ipv4_connected and not r.ipv6_connected
    assert r.ipv4.address == IPv4Address("100.92.236.163") and r.ipv4.prefixlen == 29
    assert polls["n"] == 3 and clock.now - start >= 3.0       # polled once a second


def test_ncm_dial_gives_up_and_tears_down(clock) -> None:
    replies = {**BASE, 'AT^NDISDUP=1,1,"internet","u","p",2': OK,
               "AT^NDISSTATQRY?": b'\r\n^NDISSTATQRY: 0,,,"IPV4"\r\n' + OK, "AT^NDISDUP=1,0": OK}
    d = NcmDialer("internet", "u", "p", max_polls=5)
    answer_all(d, replies, clock)
    assert d.result.error is DialError.NDIS_FAILED
    transcript = "\n".join(d.transcript)
    assert "--> AT^NDISDUP=1,0" in transcript
    assert '"p"' not in transcript and "****" in transcript


def test_probe_on_pty() -> None:
    with ScriptedModem({"AT": OK}) as modem:
        with open_port(modem.path) as port:
            assert run(port, AtProbe(timeout=0.5), timeout=5).ok
    with ScriptedModem({}, default=None) as modem:
        with open_port(modem.path) as port:
            r = run(port, AtProbe(timeout=0.2), timeout=5)
    assert not r.ok and not r.answered


def test_ncm_dial_default_polls_for_three_minutes_like_modemmanager(clock) -> None:
    polls = {"n": 0}

    def ndisstat(_: str) -> bytes:
        polls["n"] += 1
        return b'\r\n^NDISSTATQRY: 0,,,"IPV4"\r\n' + OK

    replies = {**BASE, 'AT^NDISDUP=1,1,"internet"': OK, "AT^NDISSTATQRY?": ndisstat, "AT^NDISDUP=1,0": OK}
    d = NcmDialer("internet")
    start = clock.now
    answer_all(d, replies, clock, limit=2000)
    assert d.result.error is DialError.NDIS_FAILED and "180 s" in d.result.message
    assert polls["n"] == 180 and clock.now - start >= 180.0


def test_both_dialers_share_the_same_preamble(clock) -> None:
    # probe, verbose errors, SIM, network mode, registration, signal, PDP context: same commands,
    # same order, before ATD (PPP) and before ^NDISDUP (NCM)
    replies = {**BASE, 'AT^SYSCFGEX="03",3FFFFFFF,2,4,7FFFFFFFFFFFFFFF,,': OK, 'AT^NDISDUP=1,1,"internet"': OK,
               "AT^NDISSTATQRY?": b'\r\n^NDISSTATQRY: 1,,,"IPV4"\r\n' + OK}
    sent = {}
    for d in (PppDialer("internet", mode="03"), NcmDialer("internet", mode="03", pdp_type="IP")):
        log: list[str] = []

        def record(cmd: str, log: list[str] = log) -> bytes:
            log.append(cmd)
            return replies.get(cmd, b"\r\nERROR\r\n")

        answer_all(d, {cmd: record for cmd in replies}, clock)
        assert d.result.ok, d.result.message
        sent[type(d).__name__] = log
    ppp, ncm = sent["PppDialer"], sent["NcmDialer"]
    assert ppp[-1] == "ATD*99***1#" and ncm[len(ppp) - 1] == 'AT^NDISDUP=1,1,"internet"'
    assert ppp[:-1] == ncm[:len(ppp) - 1]
    assert ppp[:3] == ["AT", "AT+CMEE=2", "AT+CPIN?"]
    assert ppp.index('AT^SYSCFGEX="03",3FFFFFFF,2,4,7FFFFFFFFFFFFFFF,,') < ppp.index("AT+CREG?") \
        < ppp.index("AT^HCSQ?") < ppp.index('AT+CGDCONT=1,"IP","internet"')
