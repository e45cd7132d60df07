"""`up`'s options are checked against the data path: one that does not apply to --mode is
refused with a sentence naming it and exit 25 (NOT_FOR_MODE), from a flag, a pppd word or an
options file alike; the options both modes share pass (they reach the NCM lifecycle)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pppstack.cli.modes import FLAGS
from pppstack.exitcodes import ExitCode

ROOT = Path(__file__).resolve().parent.parent

# a command line that sets each table row's flag
FLAG_ARGV = {
    "speed": ["--speed", "9600"], "mru": ["--mru", "1400"], "asyncmap": ["--asyncmap", "0"],
    "lcp_echo_interval": ["--lcp-echo-interval", "5"], "lcp_echo_failure": ["--lcp-echo-failure", "3"],
    "connect": ["--connect", "chat -v -f /dev/null"], "no_dial": ["--no-dial"], "number": ["--number", "*99#"],
    "simulate": ["--simulate"], "stay": ["--stay"], "sim_fault": ["--sim-fault", "NO_CARRIER"],
    "usb_mode": ["--usb-mode", "x.json"], "trace": ["--trace"],
    "usb": ["--usb", "12d1:155e"], "at_port": ["--at-port", "/dev/ttyUSB0"], "local_ip": ["--local-ip", "10.0.0.1/30"],
    "gateway": ["--gateway", "10.0.0.2"], "ntb32": ["--ntb32"], "ndp_at_end": ["--ndp-at-end"],
}


def _up(*argv: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pppstack", "up", "--run-dir", str(tmp_path / "run"), *argv],
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))


def test_every_flag_in_the_table_has_a_command_line() -> None:
    assert set(FLAG_ARGV) == set(FLAGS)


@pytest.mark.parametrize("dest", sorted(FLAGS))
def test_a_flag_of_the_other_mode_is_refused(dest: str, tmp_path: Path) -> None:
    flag, only = FLAGS[dest]
    other = "ppp" if only == "ncm" else "ncm"
    p = _up("--mode", other, *FLAG_ARGV[dest], tmp_path=tmp_path)
    assert p.returncode == ExitCode.NOT_FOR_MODE, p.stderr
    assert f"{flag} does not apply to --mode {other}" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("words", [["lcp-echo-interval", "5"], ["asyncmap", "0"], ["noccp"], ["novj"],
                                   ["nopcomp"], ["crtscts"], ["10.0.0.1:10.0.0.2"], ["ms-dns", "1.1.1.1"]])
def test_a_ppp_word_is_refused_in_ncm_mode(words: list[str], tmp_path: Path) -> None:
    p = _up("--mode", "ncm", "--usb", "12d1:155e", *words, tmp_path=tmp_path)
    assert p.returncode == ExitCode.NOT_FOR_MODE, p.stderr
    assert "does not apply to --mode ncm" in p.stderr and "PPP" in p.stderr, p.stderr


def test_a_ppp_word_from_an_options_file_is_refused_and_the_file_named(tmp_path: Path) -> None:
    peers = tmp_path / "e3372"
    peers.write_text("persist\nmaxfail 3\nlcp-echo-interval 10\nlcp-echo-failure 3\n")
    p = _up("--mode", "ncm", "--file", str(peers), tmp_path=tmp_path)
    assert p.returncode == ExitCode.NOT_FOR_MODE, p.stderr
    assert "lcp-echo-interval does not apply to --mode ncm" in p.stderr and str(peers) in p.stderr, p.stderr


def test_options_both_modes_share_reach_the_ncm_path(tmp_path: Path) -> None:
    """persist, maxfail, holdoff, ip-up/ip-down, ipparam, a file: accepted in NCM mode; the run
    then stops at the next check (a malformed --usb), not at a refusal."""
    opts = tmp_path / "ncm-opts"
    opts.write_text("persist\nholdoff 1\nmaxfail 3\nipparam home\nnoipv6\ndefaultroute\nusepeerdns\n")
    p = _up("--mode", "ncm", "--persist", "--maxfail", "3", "--ip-up", "/bin/true", "--ip-down", "/bin/true",
            "--file", str(opts), "--usb", "zz", tmp_path=tmp_path)
    assert p.returncode == ExitCode.OPTION_ERROR, p.stderr
    assert "--usb 'zz' is not a USB id" in p.stderr and "does not apply" not in p.stderr, p.stderr


def test_print_unit_refuses_the_same_way(tmp_path: Path) -> None:
    p = _up("--mode", "ncm", "--print-unit", "--persist", "lcp-echo-interval", "5", tmp_path=tmp_path)
    assert p.returncode == ExitCode.NOT_FOR_MODE and "lcp-echo-interval" in p.stderr, p.stderr
