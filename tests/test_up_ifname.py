"""--ifname that the kernel would refuse (or an existing non-TUN interface) is an option error."""
import pytest

from pppstack.cli import main
from pppstack.exitcodes import ExitCode


@pytest.mark.parametrize("name", ["lo", "x" * 40])
def test_bad_ifname_is_option_error(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["up", "--simulate", "--ifname", name])
    assert rc == ExitCode.OPTION_ERROR
    assert "ifname" in capsys.readouterr().err
