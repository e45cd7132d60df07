"""The command's outer shell: exit-code table in --help, and no traceback on a bad environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pppstack.exitcodes import EXPLANATIONS, ExitCode


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pppstack", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def test_help_lists_every_exit_code() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    for code in ExitCode:
        assert f"{int(code):>3}  {EXPLANATIONS[code]}" in proc.stdout


def test_bad_backend_choice_is_a_sentence_not_a_traceback() -> None:
    proc = _run("decode", "--help", PPPSTACK_HDLC="bogus")
    assert proc.returncode == ExitCode.OPTION_ERROR
    assert "PPPSTACK_HDLC must be auto, c or python" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_command_prints_help_and_option_error() -> None:
    proc = _run()
    assert proc.returncode == ExitCode.OPTION_ERROR
    assert "usage: pppstack" in proc.stdout


@pytest.mark.parametrize("args,words", [
    (["--apn", "int€rnet"], "the APN 'int€rnet' contains '€'"),
    (["--apn", 'a"b'], "without double quotes"),
    (["--pin", "12a4"], "the SIM PIN must be 4 to 8 digits"),
    (["--pin", "١٢٣٤"], "the SIM PIN must be 4 to 8 digits"),   # digits, but not ones a modem reads
])
def test_text_a_modem_cannot_take_is_an_option_error(args: list[str], words: str) -> None:
    """It was 'internal error: UnicodeEncodeError' after the simulator had started and dialled."""
    proc = _run("up", "--simulate", *args)
    assert proc.returncode == ExitCode.OPTION_ERROR, proc.stderr
    assert words in proc.stderr and "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_dialers_refuse_text_a_modem_cannot_take() -> None:
    from pppstack.modem.dial import NcmDialer, PppDialer

    for make in (lambda: PppDialer("int€rnet"), lambda: NcmDialer("internet", "usér", "x"),
                 lambda: NcmDialer("internet", "u", "pässword"), lambda: PppDialer("internet", pin="12")):
        with pytest.raises(ValueError) as err:
            make()
        assert "pässword" not in str(err.value)     # a secret is never echoed
