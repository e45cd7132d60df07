"""Live `pppstack doctor --simulate`: every simulator fault is named as itself, and nothing else.

Each run is a real walk (subprocess): the simulated stick on a pty, our AT dialer, our PPP link
and a ping through it.  The mapping below is keyed by the Fault enum, so a fault added to the
simulator without a doctor verdict fails `test_every_fault_has_an_expected_verdict`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pppstack.doctor.live import Walk, cause_of, foreign_chatter, judge_link, signal_quality
from pppstack.doctor.verdicts import Verdict
from pppstack.exitcodes import ExitCode
from pppstack.modem.state import ModemState
from pppstack.sim.modem import Fault

# fault -> (verdict, step, a word the evidence or notes must contain)
EXPECTED: dict[Fault, tuple[str, str, str]] = {
    Fault.WRONG_PORT: ("WRONG_PORT", "lcp", "sent [LCP ConfReq"),
    Fault.BROWNOUT: ("PORT_VANISHED", "traffic", ""),
    Fault.SIM_PIN: ("SIM_PIN", "sim", "+CPIN: SIM PIN"),
    Fault.LEGACY_REJECTED: ("OK", "end", "legacy init string"),
    Fault.NO_CARRIER: ("CONNECT_FAILED", "dial", "NO CARRIER"),
    Fault.BUSY: ("CONNECT_FAILED", "dial", "BUSY"),
    Fault.IPCP_STALL: ("OK", "end", "Naked IPCP"),
    Fault.DEAD_ECHO: ("PEER_DEAD", "traffic", "sent [LCP EchoReq"),
    Fault.RESET: ("MODEM_RESET", "traffic", "^BOOT"),
    Fault.NO_REGISTRATION: ("NO_REGISTRATION", "registration", "REG: 0,2"),
    Fault.APN_REJECTED: ("PDP_REJECTED", "dial", "cause 33"),
    Fault.AUTH_REJECTED: ("AUTH_FAILED", "auth", "rcvd [CHAP Failure"),
    Fault.HILINK: ("MODE_SWITCH_NEEDED", "usb", "12d1:14dc"),
    Fault.PORT_BUSY: ("PORT_BUSY", "ports", "AT+CSQ"),
}


def _doctor(*args: str) -> list[dict[str, Any]]:
    r = subprocess.run([sys.executable, "-m", "pppstack", "doctor", "--simulate", "--json", *args],
                       capture_output=True, timeout=150)
    assert r.returncode == 0, r.stderr.decode()
    assert b"Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    assert isinstance(doc, list) and len(doc) == 1
    return doc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def walks() -> dict[str, dict[str, Any]]:
    """Every fault (and a clean stick) walked once, four at a time: the walks mostly wait."""
    runs = {f.value: ("--sim-fault", f.value) for f in Fault} | {"clean": ()} | {
        "ncm": ("--mode", "ncm"), "ncm-apn-rejected": ("--mode", "ncm", "--sim-fault", "apn-rejected")}
    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(runs, pool.map(lambda a: _doctor(*a)[0], runs.values()), strict=True))
    return results


def test_every_fault_has_an_expected_verdict() -> None:
    assert set(EXPECTED) == set(Fault)


def test_a_clean_stick_passes_every_step(walks: dict[str, dict[str, Any]]) -> None:
    d = walks["clean"]
    assert d["verdict"] == "OK", d
    steps = [p["step"] for p in d["passed"]]
    assert steps == ["usb", "ports", "at", "sim", "registration", "signal", "dial", "lcp", "auth", "network",
                     "traffic"]
    saw = {p["step"]: p["saw"] for p in d["passed"]}
    assert "RSCP -80 dBm" in saw["signal"]           # the thread's ^HCSQ:"WCDMA",45,41,57
    assert "replies" in saw["traffic"] and not saw["traffic"].startswith("ping ? ")
    assert "100.68.27.142" in saw["network"]


def test_ncm_data_call_up_and_refused(walks: dict[str, dict[str, Any]]) -> None:
    assert walks["ncm"]["verdict"] == "OK", walks["ncm"]
    d = walks["ncm-apn-rejected"]
    # the refusal is the ^NDISSTAT:0,33 URC; waiting for ^NDISSTATQRY? to say so would never end
    assert (d["verdict"], d["step"]) == ("PDP_REJECTED", "dial"), d
    assert "cause 33" in d["summary"] and any("^NDISSTAT: 0,33" in e for e in d["evidence"])


@pytest.mark.parametrize("fault", list(Fault), ids=lambda f: f.value)
def test_each_fault_is_named_as_itself(fault: Fault, walks: dict[str, dict[str, Any]]) -> None:
    verdict, step, word = EXPECTED[fault]
    d = walks[fault.value]
    assert (d["verdict"], d["step"]) == (verdict, step), d
    assert {"verdict", "step", "evidence", "fix"} <= set(d)
    text = "\n".join(d["evidence"] + d.get("notes", []))
    assert word in text, d
    if verdict == "OK":
        assert d.get("notes"), "a fault ridden through is still reported as a note"
    # the steps before the failing one were passed and listed
    if verdict != "MODE_SWITCH_NEEDED":
        assert d["passed"][0]["step"] == "usb"


def test_passed_steps_stop_before_the_failing_one(walks: dict[str, dict[str, Any]]) -> None:
    for fault in Fault:
        d = walks[fault.value]
        if d["verdict"] != "OK":
            assert d["step"] not in [p["step"] for p in d["passed"]], (fault, d)


def test_sim_help_lists_the_new_faults() -> None:
    r = subprocess.run([sys.executable, "-m", "pppstack", "sim", "--help"], capture_output=True, timeout=60)
    for f in ("no-registration", "apn-rejected", "auth-rejected", "hilink", "port-busy"):
        assert f.encode() in r.stdout


def test_unknown_fault_is_a_sentence() -> None:
    r = subprocess.run([sys.executable, "-m", "pppstack", "doctor", "--simulate", "--sim-fault", "gremlins"],
                       capture_output=True, timeout=60)
    assert r.returncode == 2 and b"unknown simulator fault" in r.stderr and b"Traceback" not in r.stderr


# -- the pure judgement, with plain values --------------------------------------------------------
def test_signal_quality_rates_the_measure_of_the_technology() -> None:
    s = ModemState()
    s.update("^HCSQ", '"LTE",56,53,171,27')
    assert signal_quality(s).startswith("LTE RSRP -88 dBm (good)")   # RSRP index 53: -141 + 53
    s = ModemState()
    s.update("^HCSQ", '"LTE",40,46,100,20')
    assert "RSRP -95 dBm (fair)" in signal_quality(s)
    s = ModemState()
    s.update("+CSQ", "99,99")
    assert signal_quality(s) == "no signal report"


def test_foreign_chatter_ignores_the_modems_own_urcs() -> None:
    assert foreign_chatter('\r\n^RSSI: 16\r\n\r\n^HCSQ:"WCDMA",45,41,57\r\n^BOOT:1,0,0,0,75\r\n+CREG: 1\r\n') == []
    assert foreign_chatter("AT+CSQ\r\r\n+CSQ: 16,99\r\n\r\nOK\r\n") == ["AT+CSQ", "+CSQ: 16,99", "OK"]


def test_cause_of_reads_ceer_and_ndisstat() -> None:
    assert "cause 33" in cause_of(['+CEER: "SM cause 33: requested service option not subscribed"'])
    assert "missing or unknown APN" in cause_of(['^NDISSTAT: 0,27,,"IPV4"'])
    assert cause_of(['^NDISSTAT: 1,,,"IPV4"', '+CEER: "No cause information available"']) == ""


def test_judge_link_names_a_chap_failure_even_when_the_modem_says_no_carrier() -> None:
    frames = ['rcvd [CHAP Challenge id=0x1 <00>, name = "x"]', 'rcvd [CHAP Failure id=0x1 "Access denied"]']
    d = judge_link(ExitCode.NO_CARRIER, "NO CARRIER", {"LinkUp"}, frames, Walk(), [], True)
    assert d is not None and d.verdict is Verdict.AUTH_FAILED and "Access denied" in d.summary


def test_judge_link_tells_a_silent_port_from_an_lcp_timeout() -> None:
    d = judge_link(ExitCode.HANGUP, "Modem hangup", set(), ["sent [LCP ConfReq id=0x1]"], Walk(), [], False)
    assert d is not None and d.verdict is Verdict.WRONG_PORT
    d = judge_link(ExitCode.LCP_TIMEOUT, "LCP timeout", set(), ["sent [LCP ConfReq id=0x1]"], Walk(), [], False)
    assert d is not None and d.verdict is Verdict.LCP_TIMEOUT
    d = judge_link(ExitCode.NO_CARRIER, "NO CARRIER", {"LinkUp", "Ipv4Up"}, [], Walk(), ["^BOOT:1,0,0,0,75"], True)
    assert d is not None and d.verdict is Verdict.MODEM_RESET


def test_a_port_that_does_not_exist_is_a_verdict_not_a_traceback(tmp_path: Any) -> None:
    r = subprocess.run([sys.executable, "-m", "pppstack", "doctor", "--device", str(tmp_path / "ttyUSB9"), "--json"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    (d,) = json.loads(r.stdout)
    assert (d["verdict"], d["step"]) == ("MODE_SWITCH_NEEDED", "ports"), d
    assert "does not exist" in d["summary"]
