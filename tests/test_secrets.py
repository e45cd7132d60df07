"""Secrets off the command line (issue 12 §6): pppd's secrets files, --password-file,
$PPPSTACK_PASSWORD and an options file's `password`; a secret given as an argument is said to
be visible once.  The CLI cases run the real command and look at its /proc/PID/cmdline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pppstack.auth.secretsfile import SecretEntry, find_secret, parse_secrets, server_secrets
from pppstack.cli import build_parser
from pppstack.cli.up import build_options
from pppstack.options import OptionError

SECRETS = """\
# client        server    secret            addresses
alice           *         "pass word #1"
alice           isp       "exact's"
*               sim       anyone-secret
bob             other     b0b  10.0.0.2
"""


def test_pppd_secrets_format() -> None:
    entries = parse_secrets(SECRETS)
    assert entries[0] == SecretEntry("alice", "*", "pass word #1") and len(entries) == 4
    assert find_secret(entries, "alice", "isp") == "exact's"        # an exact server beats '*'
    assert find_secret(entries, "alice", None) == "pass word #1"     # no remotename: the '*' entry
    assert find_secret(entries, "alice", "elsewhere") == "pass word #1"
    assert find_secret(entries, "carol", "sim") == "anyone-secret"
    assert find_secret(entries, "carol", "isp") is None
    assert server_secrets(entries, "sim") == {"alice": "pass word #1", "*": "anyone-secret"}
    assert "secret=" not in repr(entries[0]) and "pass word" not in repr(entries[0])


@pytest.mark.parametrize("text", ['alice * "unclosed hunter2', "alice hunter2"])
def test_a_bad_secrets_line_is_named_without_its_secret(text: str) -> None:
    with pytest.raises(ValueError, match="line 1") as err:
        parse_secrets(text, "pap-secrets")
    assert "hunter2" not in str(err.value)


def _opts(argv: list[str], **env: str):  # noqa: ANN202
    old = {k: os.environ.get(k) for k in ("PPPSTACK_PASSWORD", *env)}
    os.environ.pop("PPPSTACK_PASSWORD", None)
    os.environ.update(env)
    try:
        return build_options(build_parser().parse_args(["up", *argv]))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_every_way_but_the_command_line(tmp_path) -> None:  # noqa: ANN001
    pw = tmp_path / "pw"
    pw.write_text("from-file\nignored\n")
    sec = tmp_path / "pap-secrets"
    sec.write_text(SECRETS)
    opt = tmp_path / "peer"
    opt.write_text("user alice\npassword from-options\n")
    assert _opts(["--user", "alice", "--password-file", str(pw)]).password == "from-file"
    assert _opts(["--user", "alice"], PPPSTACK_PASSWORD="from-env").password == "from-env"
    assert _opts(["--file", str(opt)], PPPSTACK_PASSWORD="from-env").password == "from-options"
    assert _opts(["--user", "alice", "--secrets-file", str(sec)]).password == "pass word #1"
    assert _opts(["--user", "alice", "--secrets-file", str(sec), "remotename", "isp"]).password == "exact's"
    for opts in (_opts(["--user", "alice", "--password-file", str(pw)]), _opts(["--file", str(opt)])):
        assert not any("visible" in w for w in opts.warnings)
    with pytest.raises(OptionError, match="not both"):
        _opts(["--password", "x", "--password-file", str(pw)])
    with pytest.raises(OptionError, match="--password-file .*missing"):
        _opts(["--password-file", str(tmp_path / "missing")])


def test_a_password_argument_is_said_to_be_visible_once() -> None:
    opts = _opts(["--user", "alice", "--password", "hunter2"])
    assert opts.password == "hunter2"
    said = [w for w in opts.warnings if "visible to every local user" in w]
    assert len(said) == 1 and "hunter2" not in said[0] and "--password-file" in said[0]


def test_the_password_file_keeps_the_secret_out_of_cmdline(tmp_path) -> None:  # noqa: ANN001
    """The real command: its /proc/PID/cmdline holds the file name, never the secret, and a
    run with --password says once that the secret is visible."""
    pw = tmp_path / "pw"
    pw.write_text("s3cret-pw\n")
    out = tmp_path / "cmdline"
    code = ("import os, sys, runpy; sys.argv = ['pppstack'] + sys.argv[1:]; "
            "open(os.environ['CMDLINE_OUT'], 'wb').write(open('/proc/self/cmdline', 'rb').read()); "
            "runpy.run_module('pppstack', run_name='__main__')")
    for argv, visible in ((["--password-file", str(pw)], False), (["--password", "s3cret-pw"], True)):
        proc = subprocess.run([sys.executable, "-c", code, "up", "--user", "u", *argv, "--device",
                               str(tmp_path / "no-such-tty")], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "CMDLINE_OUT": str(out)})
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        cmdline = out.read_bytes()
        assert (b"s3cret-pw" in cmdline) is visible
        assert proc.stderr.count("visible to every local user") == (1 if visible else 0), proc.stderr
