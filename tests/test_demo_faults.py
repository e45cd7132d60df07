"""`up --simulate --sim-fault F` shows F happening and what pppstack did about it.

Before, the demo ended a second after IPCP while most faults fire seconds later, so BROWNOUT (the
README's own example), DEAD_ECHO and RESET looked exactly like no fault.  Each case here checks the
exit code the fault must produce, the summary line that names it, and, with --persist, the
recovery (the demo's short holdoff keeps it to seconds).  Run without privileges: no TUN needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

from pppstack.exitcodes import ExitCode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1", HOME="/tmp")
UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]

EXPECTED = {
    "brownout": ExitCode.PORT_VANISHED, "dead_echo": ExitCode.PEER_DEAD, "reset": ExitCode.NO_CARRIER,
    # WRONG_PORT: the modem prints NO CARRIER and hangs up; whichever we read first is true
    "wrong_port": (ExitCode.HANGUP, ExitCode.NO_CARRIER),
    "sim_pin": ExitCode.SIM_PIN, "no_carrier": ExitCode.CONNECT_FAILED,
    "busy": ExitCode.CONNECT_FAILED, "legacy_rejected": ExitCode.OK, "ipcp_stall": ExitCode.OK,
}


def _demo(*extra: str) -> tuple[int, dict, str]:
    with tempfile.TemporaryDirectory(prefix="pppstack-fault-") as d:
        os.chmod(d, 0o777)
        proc = subprocess.run(UNPRIVILEGED + [sys.executable, "-m", "pppstack", "up", "--simulate", "--json",
                                              "--run-dir", os.path.join(d, "run"), *extra],
                              capture_output=True, text=True, env=ENV, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.strip(), f"no JSON summary on stdout (exit {proc.returncode}); stderr:\n{proc.stderr}"
    return proc.returncode, json.loads(proc.stdout), proc.stderr


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_each_fault_happens_and_is_named(fault: str) -> None:
    expected = EXPECTED[fault] if isinstance(EXPECTED[fault], tuple) else (EXPECTED[fault],)
    rc, summary, err = _demo("--sim-fault", fault)
    assert rc in expected, err
    (entry,) = summary["faults"]
    assert entry["fault"] == fault.upper()
    outcome = entry["outcome"]
    assert not outcome.startswith("nothing"), outcome
    code = ExitCode(rc)
    if code is not ExitCode.OK:
        assert f"exit code {rc} ({code.name})" in outcome, outcome
    assert "None" not in json.dumps(summary) + err


def test_dead_echo_needs_no_hidden_options() -> None:
    rc, summary, err = _demo("--sim-fault", "DEAD_ECHO")
    assert rc == ExitCode.PEER_DEAD, err
    assert any("LCP echo" in n for n in summary["notes"]), summary


@pytest.mark.parametrize("fault", ["BROWNOUT", "DEAD_ECHO", "RESET"])
def test_persist_recovers_within_the_demo(fault: str) -> None:
    rc, summary, err = _demo("--sim-fault", fault, "--persist")
    assert rc == 0, err
    assert summary["sessions"] == 2, summary
    assert "recovered" in summary["faults"][0]["outcome"], summary
    assert summary["ping"]["received"] == summary["ping"]["sent"] > 0, summary
    assert any("redials after 1 s" in n for n in summary["notes"]), summary
    assert summary["seconds"] < 30, summary
