"""The run directory (status files, the DNS file) is private (issue 12 §6).

In a shared temp directory anyone can pre-create /tmp/pppstack-<uid> or plant a symlink in it;
we create ours 0700, refuse one that is not ours, a symlink, or writable by others (with a
sentence), and replace files by rename so a planted symlink is never followed.  When run as
root the tests take a real unprivileged identity (seteuid) so ownership is the kernel's word.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from pppstack.exitcodes import ExitCode
from pppstack.io import hooks

NOBODY = 65534


@contextlib.contextmanager
def unprivileged() -> Iterator[int]:
    """Run the block as a non-root user: ourselves when we are not root, else uid 65534."""
    if os.geteuid() != 0:
        yield os.geteuid()
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield NOBODY
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A /tmp of our own (sticky, world-writable, unique to this test) as the temp directory."""
    d = tempfile.mkdtemp(prefix="pppstack-test-shared-", dir="/tmp")
    os.chmod(d, 0o1777)
    monkeypatch.setattr(tempfile, "tempdir", d)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    try:
        yield d
    finally:
        subprocess.run(["rm", "-rf", d], check=False)


def test_a_users_run_dir_is_created_private(shared_tmp: str) -> None:
    with unprivileged() as uid:
        run_dir = hooks.default_run_dir()
        assert run_dir == os.path.join(shared_tmp, f"pppstack-{uid}")
        hooks.write_status(hooks.status_path("ppp0", run_dir), {"state": "up"})
        hooks.write_resolv_conf(hooks.resolv_path("ppp0", run_dir), ["192.0.2.53"], "ppp0")
        for d in (run_dir, os.path.dirname(hooks.resolv_path("ppp0", run_dir))):
            st = os.lstat(d)
            assert stat.S_ISDIR(st.st_mode) and st.st_uid == uid and stat.S_IMODE(st.st_mode) == 0o700, d
        assert hooks.read_status(hooks.status_path("ppp0", run_dir)) == {"state": "up"}


@pytest.mark.parametrize("kind", ["other-owner", "group-writable", "symlink"])
def test_a_run_dir_someone_else_controls_is_refused(shared_tmp: str, kind: str) -> None:
    with unprivileged() as uid:
        run_dir = hooks.default_run_dir()
    if kind == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("only root can make a directory owned by someone else")
        os.mkdir(run_dir, 0o755)              # root pre-creates the user's directory
        words = f"belongs to uid 0, not to us (uid {uid})"
    elif kind == "group-writable":
        with unprivileged():
            os.mkdir(run_dir)
            os.chmod(run_dir, 0o775)
        words = "is writable by other users (mode 775)"
    else:
        target = tempfile.mkdtemp(dir=shared_tmp)
        os.chmod(target, 0o777)
        os.symlink(target, run_dir)
        if os.geteuid() == 0:
            os.lchown(run_dir, 4242, 4242)    # planted by another user, as it would be
        words = "is a symbolic link"
    with unprivileged():
        with pytest.raises(hooks.UnsafeDirectory, match="pppstack-") as err:
            hooks.write_status(hooks.status_path("ppp0", run_dir), {"state": "up"})
        assert words in str(err.value) and "--run-dir" in str(err.value)
        with pytest.raises(OSError):    # UnsafeDirectory, or EACCES in root's directory
            hooks.write_resolv_conf(hooks.resolv_path("ppp0", run_dir), ["192.0.2.53"], "ppp0")
    assert not os.path.exists(hooks.status_path("ppp0", run_dir))
    assert not os.path.exists(hooks.resolv_path("ppp0", run_dir))


def test_a_symlink_planted_at_the_file_name_is_replaced_not_followed(tmp_path: object) -> None:
    run_dir = str(tmp_path)
    victim = os.path.join(run_dir, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    path = hooks.resolv_path("ppp0", run_dir)
    os.makedirs(os.path.dirname(path), mode=0o700)
    os.symlink(victim, path)
    hooks.write_resolv_conf(path, ["192.0.2.53"], "ppp0")
    assert open(victim).read() == "precious\n"
    assert not os.path.islink(path) and "nameserver 192.0.2.53" in open(path).read()
    status = hooks.status_path("ppp0", run_dir)
    os.symlink(victim, status)
    with pytest.raises(OSError):
        hooks.read_status(status)       # O_NOFOLLOW: status never reads through a symlink


def test_up_refuses_a_run_dir_it_does_not_own(tmp_path: object) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can make a directory owned by someone else")
    run_dir = os.path.join(str(tmp_path), "run")
    os.mkdir(run_dir, 0o755)
    os.chown(run_dir, 4242, 4242)
    proc = subprocess.run([sys.executable, "-m", "pppstack", "up", "--simulate", "--run-dir", run_dir],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == ExitCode.OPTION_ERROR, proc.stderr
    assert f"{run_dir} belongs to uid 4242, not to us (uid 0)" in proc.stderr and "Traceback" not in proc.stderr
