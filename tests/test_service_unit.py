"""`pppstack up ... --print-unit`: the systemd unit in the package runs the command the user tested,
restarts after failures a restart can fix, and never after the ones that need a person (checked
against the exit-code table, the README, and systemd's own `systemd-analyze verify`)."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import tempfile

from pppstack.cli import build_parser, main
from pppstack.cli.up import build_options
from pppstack.exitcodes import ExitCode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MUST_NOT_RESTART = {ExitCode.OPTION_ERROR, ExitCode.PERMISSION, ExitCode.SIM_PIN, ExitCode.AUTH_FAILED,
                    ExitCode.PEER_AUTH_FAILED}


def _unit(capsys, *argv: str) -> str:
    assert main(["up", *argv, "--print-unit"]) == ExitCode.OK
    return capsys.readouterr().out


def _service(text: str) -> configparser.SectionProxy:
    cp = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#",))
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(text)
    return cp["Service"]


def test_the_unit_runs_the_tested_command_with_persist(capsys) -> None:
    svc = _service(_unit(capsys, "--device", "/dev/ttyUSB2", "--apn", "internet", "--pin", "1234"))
    argv = shlex.split(svc["ExecStart"])
    assert os.path.isabs(argv[0]) and os.path.exists(argv[0])
    words = argv[argv.index("up") + 1:]
    args = build_parser().parse_args(["up", *words])
    opts = build_options(args)
    assert opts.persist and opts.device == "/dev/ttyUSB2" and args.apn == "internet" and args.pin == "1234"
    assert "--print-unit" not in words
    assert svc["Restart"] == "on-failure" and svc["KillSignal"] == "SIGTERM"


def test_restart_is_prevented_exactly_after_the_codes_that_need_a_person(capsys) -> None:
    svc = _service(_unit(capsys, "--apn", "internet"))
    codes = {ExitCode(int(c)) for c in svc["RestartPreventExitStatus"].split()}
    assert codes == MUST_NOT_RESTART
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "RestartPreventExitStatus=" + " ".join(str(int(c)) for c in sorted(MUST_NOT_RESTART)) in readme


def test_a_bad_command_gets_no_unit(capsys) -> None:
    assert main(["up", "lcp-echo-interval", "x", "--print-unit"]) == ExitCode.OPTION_ERROR
    assert "ExecStart" not in capsys.readouterr().out


def test_the_template_ships_in_the_package() -> None:
    from importlib import resources

    text = resources.files("pppstack").joinpath("data/pppstack.service").read_text()
    assert "@EXEC_START@" in text and "@NO_RESTART@" in text


def test_systemd_accepts_the_unit(capsys) -> None:
    # .ci/run installs Debian's systemd: a missing verifier fails here rather than skipping
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing (Debian package systemd; .ci/run installs it)"
    text = _unit(capsys, "--device", "/dev/ttyUSB2", "--apn", "internet")
    with tempfile.TemporaryDirectory(prefix="pppstack-unit-") as d:
        path = os.path.join(d, "pppstack-readme-test.service")
        with open(path, "w") as f:
            f.write(text)
        proc = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
    complaints = [x for x in (proc.stdout + proc.stderr).splitlines() if "pppstack-readme-test" in x]
    assert proc.returncode == 0 and not complaints, proc.stdout + proc.stderr
