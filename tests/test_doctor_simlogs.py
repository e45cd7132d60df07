"""`doctor --log` on chat -v logs recorded live from the simulated stick, one per fault.

The dial script is the careful kind users write (ask for the PIN state and registration, then
dial); the log is chat's own lines, bare as chat -s prints them and wrapped as syslog would
store them with pppd around it.  Where chat's ABORT cuts the modem's reason off, the verdict
can only be the dial's failure, and the test says so.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pppstack.doctor import Verdict, diagnose_log
from pppstack.io.simrunner import start_sim
from pppstack.sim.modem import Fault, SimConfig

SCRIPT = ["ABORT", "BUSY", "ABORT", "NO CARRIER", "ABORT", "ERROR", "", "AT", "OK", "AT+CPIN?", "OK",
          "AT+CREG?", "OK", "\\d\\dATD*99#", "CONNECT"]

CASES: dict[str, tuple[Verdict, str]] = {
    "": (Verdict.UNKNOWN, "reached CONNECT"),
    "busy": (Verdict.CONNECT_FAILED, "BUSY"),
    "no-carrier": (Verdict.CONNECT_FAILED, "NO CARRIER"),
    "apn-rejected": (Verdict.CONNECT_FAILED, "NO CARRIER"),   # the cause needs AT+CEER, which chat never sends
    "sim-pin": (Verdict.SIM_PIN, "SIM PIN"),
    "no-registration": (Verdict.NO_REGISTRATION, "searching"),
    "port-busy": (Verdict.PORT_BUSY, "AT+CSQ"),
}


def _chat_log(fault: str) -> list[str]:
    faults = frozenset({Fault(fault)}) if fault else frozenset()
    sim = start_sim(SimConfig(faults=faults))
    try:
        r = subprocess.run([sys.executable, "-m", "pppstack", "chat", "-v", "-t", "5", "--device", sim.port_path,
                            *SCRIPT], capture_output=True, timeout=60)
    finally:
        sim.stop()
    return r.stderr.decode("latin-1").splitlines()


@pytest.fixture(scope="module")
def logs() -> dict[str, list[str]]:
    return {f: _chat_log(f) for f in CASES}


@pytest.mark.parametrize("fault", list(CASES))
def test_chat_log_from_the_simulator(fault: str, logs: dict[str, list[str]]) -> None:
    lines = logs[fault]
    verdict, word = CASES[fault]
    (d,) = diagnose_log(lines)
    assert d.verdict is verdict, (d, lines)
    assert word in d.summary + "\n".join(d.evidence), (d, lines)
    # the same lines as syslog keeps them, inside a pppd session
    wrapped = ["Jun  1 10:00:00 gw pppd[700]: pppd 2.4.9 started by root, uid 0"]
    wrapped += [f"Jun  1 10:00:01 gw chat[701]: {x}" for x in lines]
    if verdict is not Verdict.UNKNOWN:
        wrapped += ["Jun  1 10:00:03 gw pppd[700]: Connect script failed", "Jun  1 10:00:04 gw pppd[700]: Exit."]
    assert [x.verdict for x in diagnose_log(wrapped)] == [verdict]
