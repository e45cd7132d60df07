"""What the link does to the rest of the host: ip-up/ip-down scripts, the DNS file, the status file.

Scripts follow pppd(8) §SCRIPTS so existing /etc/ppp/ip-up.d setups work unchanged:
    ip-up   IFNAME TTY SPEED LOCAL-IP REMOTE-IP IPPARAM
    ipv6-up IFNAME TTY SPEED LOCAL-LINK-LOCAL REMOTE-LINK-LOCAL IPPARAM
with a clean environment holding DEVICE IFNAME IPLOCAL IPREMOTE PEERNAME SPEED DNS1 DNS2 USEPEERDNS
LLLOCAL LLREMOTE LINKNAME CONNECT_TIME BYTES_SENT BYTES_RCVD CALL_FILE (plus PATH).  Like pppd,
ip-up runs in the background and ip-down is waited for (bounded), so routes and firewall rules a
script removes are gone before the interface is.

DNS goes to a file of our own, as pppd's `usepeerdns` writes /etc/ppp/resolv.conf and never
/etc/resolv.conf (ppp-project/ppp#266); the system resolver is touched only when asked.
The status file is JSON, replaced atomically, so `pppstack status` never reads half a file.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HookContext", "hook_env", "hook_argv", "run_hook", "write_resolv_conf", "remove_file",
    "write_status", "read_status", "RUN_DIR", "default_run_dir", "status_path", "resolv_path",
    "UnsafeDirectory", "check_directory", "secure_directory",
]

log = logging.getLogger("pppstack.hooks")

RUN_DIR = os.environ.get("PPPSTACK_RUN_DIR") or "/run/pppstack"  # the system's links (root's)
SCRIPT_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"


def default_run_dir() -> str:
    """/run/pppstack for root; a per-user directory otherwise (XDG_RUNTIME_DIR or the temp dir)."""
    if os.geteuid() == 0:
        return RUN_DIR
    base = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(base, "pppstack") if base else os.path.join(tempfile.gettempdir(), f"pppstack-{os.geteuid()}")


class UnsafeDirectory(OSError):
    """A directory we would write status or DNS files into that someone else controls."""


def check_directory(path: str) -> None:
    """Refuse a directory another user could change under us: a symlink, not a directory, not
    ours, or writable by group/others.  In a shared /tmp anyone can pre-create /tmp/pppstack-<uid>
    or plant a symlink in it to redirect where resolv.conf goes."""
    st = os.lstat(path)
    fix = "remove it or pass --run-dir with a directory of your own"
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeDirectory(f"{path} is a symbolic link, not a directory of ours: {fix}")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory: {fix}")
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(f"{path} belongs to uid {st.st_uid}, not to us (uid {os.geteuid()}): {fix}")
    if st.st_mode & 0o022:
        raise UnsafeDirectory(f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o}): "
                              f"chmod go-w it, or {fix}")


def secure_directory(path: str) -> None:
    """Create ``path`` (and missing parents) for our files, or check the one that is there.
    Root's directory is 0755 so `pppstack status` needs no privileges; a user's is 0700."""
    mode = 0o755 if os.geteuid() == 0 else 0o700
    if not os.path.lexists(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.lexists(parent):
            secure_directory(parent)
        try:
            os.mkdir(path, mode)
            os.chmod(path, mode)  # whatever the umask
        except FileExistsError:
            pass   # someone was faster: judged below like any existing directory
    check_directory(path)
    _check_parent(os.path.dirname(os.path.abspath(path)))


def _check_parent(parent: str) -> None:
    # Whoever can write the parent can rename our directory away and put theirs in its place:
    # the parent must be ours (as strict as the directory), or root's, or sticky like /tmp.
    st = os.lstat(parent)
    if st.st_uid == 0 and (stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o022):
        return   # /run, /etc, /var/run -> /run: only root changes them
    if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
        return   # /tmp: others may add entries but not move ours
    check_directory(parent)


def netns_id() -> int:
    """This process's network namespace (the inode of /proc/self/ns/net; 0 if unknown).  Interface
    names are per namespace: two links may both be ppp0, so status files are keyed by both."""
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return 0


def status_path(ifname: str, run_dir: str = RUN_DIR) -> str:
    """<run_dir>/<ifname>@net<inode>.json: unique per interface and network namespace."""
    return os.path.join(run_dir, f"{ifname}@net{netns_id()}.json")


def status_files(run_dir: str, ifname: str | None = None) -> list[str]:
    """The status files in ``run_dir`` (of one interface name, in any namespace, if given)."""
    import glob

    name = glob.escape(ifname) if ifname else "*"
    found = set(glob.glob(os.path.join(glob.escape(run_dir), f"{name}@net*.json")))
    found.update(glob.glob(os.path.join(glob.escape(run_dir), f"{name}.json")))  # written before the key
    return sorted(found)


def resolv_path(ifname: str, run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, ifname, "resolv.conf")


@dataclass(frozen=True)
class HookContext:
    """Everything a script may be told about the link."""

    ifname: str
    device: str = ""
    speed: int = 115200
    local: str = ""
    remote: str = ""
    ipparam: str = ""
    dns: tuple[str, ...] = ()
    usepeerdns: bool = False
    ll_local: str = ""
    ll_remote: str = ""
    linkname: str = ""
    peername: str = ""
    call_file: str = ""
    connect_time: int | None = None  # seconds, ip-down only
    bytes_sent: int | None = None
    bytes_rcvd: int | None = None


def hook_env(ctx: HookContext, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment pppd gives its scripts (only the variables that have a value)."""
    env: dict[str, str] = {"PATH": SCRIPT_PATH} if base is None else dict(base)
    env.update(DEVICE=ctx.device, IFNAME=ctx.ifname, SPEED=str(ctx.speed), PPPLOGNAME=os.environ.get("USER", "root"))
    optional = {
        "IPLOCAL": ctx.local, "IPREMOTE": ctx.remote, "LLLOCAL": ctx.ll_local, "LLREMOTE": ctx.ll_remote,
        "LINKNAME": ctx.linkname, "PEERNAME": ctx.peername, "CALL_FILE": ctx.call_file,
    }
    env.update({k: v for k, v in optional.items() if v})
    # pppd exports DNS1/DNS2 whenever the peer gave them, usepeerdns or not (anchors §1.4)
    for n, addr in enumerate(ctx.dns[:2], 1):
        env[f"DNS{n}"] = str(addr)
    if ctx.usepeerdns and ctx.dns:
        env["USEPEERDNS"] = "1"
    if ctx.connect_time is not None:
        env["CONNECT_TIME"] = str(int(ctx.connect_time))
    if ctx.bytes_sent is not None:
        env["BYTES_SENT"] = str(ctx.bytes_sent)
    if ctx.bytes_rcvd is not None:
        env["BYTES_RCVD"] = str(ctx.bytes_rcvd)
    return env


def hook_argv(script: str, ctx: HookContext, ipv6: bool = False) -> list[str]:
    """pppd's six arguments: interface, tty, speed, local address, remote address, ipparam."""
    local, remote = (ctx.ll_local, ctx.ll_remote) if ipv6 else (ctx.local, ctx.remote)
    return [script, ctx.ifname, ctx.device, str(ctx.speed), local, remote, ctx.ipparam]


def run_hook(script: str | None, ctx: HookContext, *, ipv6: bool = False, wait: bool = False,
             timeout: float = 5.0) -> subprocess.Popen[bytes] | int | None:
    """Start ``script`` (if it exists and is executable).

    wait=False returns the Popen (ip-up); wait=True waits up to ``timeout`` seconds and returns
    the exit status, or None when it was still running and got killed (ip-down).
    """
    if not script:
        return None
    if not os.path.isfile(script):
        log.debug("no %s script", script)
        return None
    if not os.access(script, os.X_OK):
        log.warning("%s is not executable; not running it", script)
        return None
    argv = hook_argv(script, ctx, ipv6)
    log.info("running %s", " ".join(a or "''" for a in argv))
    try:
        proc = subprocess.Popen(argv, env=hook_env(ctx), stdin=subprocess.DEVNULL, close_fds=True,
                                start_new_session=True)
    except OSError as exc:
        log.warning("could not run %s: %s", script, exc.strerror or exc)
        return None
    if not wait:
        return proc
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s still running after %g s; killing it", script, timeout)
        proc.kill()
        proc.wait()
        return None
    if code:
        log.warning("%s exited with status %d", script, code)
    return code


def _atomic_write(path: str, text: str, mode: int = 0o644) -> None:
    # A temporary file made with O_EXCL (mkstemp never follows a symlink) in a directory only we
    # can write, then rename(2) over the name: a reader sees the old file or the new one, and a
    # symlink planted at the name is replaced, never followed.
    directory = os.path.dirname(path) or "."
    secure_directory(directory)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_resolv_conf(path: str, dns: Iterable[object], ifname: str = "") -> str:
    """A resolv.conf holding the peer's servers (what pppd puts in /etc/ppp/resolv.conf)."""
    servers = [str(d) for d in dns]
    head = f"# written by pppstack for {ifname}: DNS servers the peer gave (usepeerdns)\n" if ifname else ""
    _atomic_write(path, head + "".join(f"nameserver {s}\n" for s in servers))
    return path


def remove_file(path: str | None, remove_parent: bool = False) -> None:
    """Remove ``path`` (and its directory if asked and now empty); missing files are fine."""
    if not path:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.debug("could not remove %s: %s", path, exc)
    if remove_parent:
        try:
            os.rmdir(os.path.dirname(path))
        except OSError:
            pass


def write_status(path: str, status: Mapping[str, Any]) -> None:
    _atomic_write(path, json.dumps(status, indent=2, sort_keys=True, default=str) + "\n")


def read_status(path: str) -> dict[str, Any]:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as f:
        return json.load(f)
