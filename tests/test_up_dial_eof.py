"""End of file during the dial phase is a hang-up (15), not a vanished port (16)."""
import pytest

from pppstack.cli import main
from pppstack.exitcodes import ExitCode


def test_eof_while_dialling_is_hangup(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["up", "--device", "/dev/null", "--apn", "x"])
    assert rc == ExitCode.HANGUP
    assert "dropped off USB" not in capsys.readouterr().err
