"""Mistakes on the command line are said as what they are, before anything real happens.

* `modeswitch --explain ''` (an empty or non-hex message) is an option error; it used to fall
  through to a real mode switch.
* `up --device` with a mistyped or unusable port, as a normal user, is NO_DEVICE / OPEN_FAILED —
  the port is checked before a TUN is asked for, so it no longer reads as a PERMISSION error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from pppstack.cli import main
from pppstack.exitcodes import ExitCode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, HOME="/tmp")
UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


@pytest.mark.parametrize("value", ["", " ", "zz", "0x"])
def test_explain_without_a_message_is_an_option_error(value: str, capsys, monkeypatch) -> None:
    import pppstack.io.modeswitch as edge

    def no_switch(*a: object, **k: object) -> None:
        raise AssertionError("a real mode switch was attempted")

    monkeypatch.setattr(edge, "switch", no_switch)
    assert main(["modeswitch", "--explain", value]) == ExitCode.OPTION_ERROR
    err = capsys.readouterr().err
    assert "--explain wants a switch message in hex" in err


def _up_as_user(*argv: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="pppstack-dev-") as d:
        os.chmod(d, 0o777)
        return subprocess.run(UNPRIVILEGED + [sys.executable, "-m", "pppstack", "up", "--run-dir",
                                              os.path.join(d, "run"), *argv],
                              capture_output=True, text=True, env=ENV, timeout=60)


def test_mistyped_device_as_a_user_is_no_device_not_permission() -> None:
    proc = _up_as_user("--device", "/dev/ttyUSB-no-such-port", "--apn", "internet")
    assert proc.returncode == ExitCode.NO_DEVICE, proc.stderr
    assert "/dev/ttyUSB-no-such-port does not exist" in proc.stderr and "pppstack ports" in proc.stderr
    assert "TUN" not in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_or_non_tty_device_as_a_user_is_open_failed() -> None:
    with tempfile.NamedTemporaryFile(prefix="pppstack-notatty-") as f:
        os.chmod(f.name, 0o600)  # root's file: the user may not open it
        proc = _up_as_user("--device", f.name, "--apn", "internet")
    assert proc.returncode == ExitCode.OPEN_FAILED, proc.stderr
    assert "permission denied" in proc.stderr and "dialout" in proc.stderr
    proc = _up_as_user("--device", "/dev/null", "--apn", "internet")
    assert proc.returncode == ExitCode.OPEN_FAILED, proc.stderr
    assert "not a serial port" in proc.stderr and "TUN" not in proc.stderr
