"""`pppstack up ... --print-unit`: a systemd unit that runs this very command as a service.

The template is package data (pppstack/data/pppstack.service).  ExecStart gets the absolute path
of the pppstack being run (a venv's too) and the user's own arguments, with --persist added;
RestartPreventExitStatus= lists the exit codes after which a restart cannot help.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from importlib import resources

from pppstack.exitcodes import ExitCode

__all__ = ["NO_RESTART", "render_unit", "unit_template"]

# a person must change something first: restarting would repeat the refusal (or lock the SIM)
NO_RESTART = (ExitCode.OPTION_ERROR, ExitCode.PERMISSION, ExitCode.SIM_PIN, ExitCode.AUTH_FAILED,
              ExitCode.PEER_AUTH_FAILED)


def unit_template() -> str:
    return resources.files("pppstack").joinpath("data/pppstack.service").read_text(encoding="utf-8")


def _executable() -> list[str]:
    """How to start this pppstack again: its console script if that is what ran, else -m."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "pppstack":
        path = argv0 if os.sep in argv0 else (shutil.which(argv0) or argv0)
        return [os.path.abspath(path)]
    return [os.path.abspath(sys.executable), "-m", "pppstack"]


def render_unit(up_argv: list[str]) -> str:
    """The unit for `pppstack up UP_ARGV` (without --print-unit), --persist added if missing."""
    args = [a for a in up_argv if a != "--print-unit"]
    if "--persist" not in args and "persist" not in args:
        args.append("--persist")
    exec_start = shlex.join([*_executable(), "up", *args])
    text = unit_template().replace("@EXEC_START@", exec_start.replace("%", "%%"))
    return text.replace("@NO_RESTART@", " ".join(str(int(c)) for c in NO_RESTART))
