"""The command's outer shell: exit-code table in --help, and no traceback on a bad environment."""

from __future__ import annotations

import os
import subprocess
import sys

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
