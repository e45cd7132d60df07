"""A regular file or /dev/null as --device is refused at open time with a sentence and OPEN_FAILED."""
from pathlib import Path

import pytest

from pppstack.cli import main
from pppstack.exitcodes import ExitCode


@pytest.mark.parametrize("argv", [["up", "--device", "/dev/null"], ["up", "--device", "FILE"],
                                  ["serve", "--device", "/dev/null", "--no-tun"]])
def test_not_a_serial_port(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    argv = [str(f) if a == "FILE" else a for a in argv]
    assert main(argv) == ExitCode.OPEN_FAILED
    assert "is not a serial port" in capsys.readouterr().err
