"""Boot a guest image under QEMU (TCG) and talk to it.

Layout of every guest:
- ``modem``: a virtio-serial port (``/dev/virtio-ports/modem`` in the guest), exposed on the
  host as a pty (``Guest.pty_path``) or left unconnected;
- ``ctl``: the control channel, a virtio-serial port on a unix socket on the host. The guest's
  init serves a tiny shell agent there (protocol in build.py); ``Guest.run(cmd, timeout)``
  returns ``(rc, output)``;
- ``ttyS0``: the kernel console, written to ``console.log`` in the guest's work directory (read
  it when a boot fails);
- optional 9p shares (``-virtfs``), mounted by the recipe's setup script.

Both channels are ``virtserialport``, never ``virtconsole``: when the host side cannot take more
(a full socket or pty buffer, a busy test process), QEMU throttles a port until the host drains
it, but silently drops what the guest wrote to a console (hw/char/virtio-console.c, flush_buf:
only ``!is_console`` ports are throttled). A port is not a tty, so nothing in the guest sets
termios on it; its guest side reads end of file while no host side is connected, and a
blocking write waits until one is.
"""

from __future__ import annotations

import base64
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .build import GuestImage


def registry() -> dict[str, object]:
    """Process-wide home for the shared guests.

    The harness may be imported as ``tests.guest`` or as ``guest`` (pytest puts tests/ on
    sys.path); that gives two module objects, so module globals would boot a guest per name.
    A synthetic entry in sys.modules is one dict per process whatever the import path."""
    import sys
    import types

    mod = sys.modules.get("_pppstack_guest_registry")
    if mod is None:
        mod = types.ModuleType("_pppstack_guest_registry")
        mod.guests = {}  # type: ignore[attr-defined]
        sys.modules["_pppstack_guest_registry"] = mod
    return mod.guests  # type: ignore[attr-defined,no-any-return]


class GuestError(RuntimeError):
    """The guest failed to boot, answer, or finish a command in time."""


@dataclass(frozen=True)
class Share:
    tag: str
    path: str
    readonly: bool = True


@dataclass
class GuestSpec:
    memory_mb: int = 256
    modem_pty: bool = True
    shares: tuple[Share, ...] = ()
    append: str = ""
    extra_args: tuple[str, ...] = field(default_factory=tuple)


_PTY_RE = re.compile(rb"char device redirected to (/dev/pts/\d+) \(label modem\)")


class Guest:
    """One running QEMU guest (use as a context manager or call ``stop()``)."""

    def __init__(self, image: GuestImage, spec: GuestSpec | None = None, workdir: str | None = None) -> None:
        self.image = image
        self.spec = spec or GuestSpec()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="pppstack-guest-"))
        self._own_workdir = workdir is None
        self.proc: subprocess.Popen[bytes] | None = None
        self.pty_path: str | None = None
        self._ctl: socket.socket | None = None
        self._buf = b""
        self._seq = 0
        self.boot_seconds: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def argv(self) -> list[str]:
        ctl = self.workdir / "ctl.sock"
        extra = f"{self.spec.append} {os.environ.get('PPPSTACK_GUEST_APPEND', '')}"
        append = f"console=ttyS0 quiet panic=-1 rdinit=/init {extra}".strip()
        args = [
            "qemu-system-x86_64", "-accel", "tcg", "-nodefaults", "-no-user-config", "-no-reboot",
            "-display", "none", "-monitor", "none", "-smp", "1", "-m", str(self.spec.memory_mb),
            "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd), "-append", append,
            "-serial", f"file:{self.workdir / 'console.log'}",
            # ports, not consoles: see the module docstring (nr 0 is reserved for a console)
            "-device", "virtio-serial-pci,id=vser0",
            "-chardev", "pty,id=modem" if self.spec.modem_pty else "null,id=modem",
            "-device", "virtserialport,bus=vser0.0,chardev=modem,name=modem,nr=1",
            "-chardev", f"socket,id=ctl,path={ctl},server=on,wait=off",
            "-device", "virtserialport,bus=vser0.0,chardev=ctl,name=ctl,nr=2",
        ]
        for s in self.spec.shares:
            ro = ",readonly=on" if s.readonly else ""
            args += ["-virtfs", f"local,path={s.path},mount_tag={s.tag},security_model=none{ro}"]
        return args + list(self.spec.extra_args)

    def start(self, timeout: float = 120.0) -> Guest:
        t0 = time.monotonic()
        self._stderr = open(self.workdir / "qemu.stderr", "wb+")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = t0 + timeout
        try:
            if self.spec.modem_pty:
                self.pty_path = self._wait_pty(deadline)
            self._connect_ctl(deadline)
            self._handshake(deadline)
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = time.monotonic() - t0
        return self

    def _diag(self) -> str:
        parts = []
        for name in ("qemu.stderr", "console.log"):
            p = self.workdir / name
            if p.exists():
                parts.append(f"--- {name} (tail) ---\n" + p.read_bytes()[-3000:].decode(errors="replace"))
        return "\n".join(parts)

    def _check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            raise GuestError(f"QEMU exited (rc={rc})\n{self._diag()}")

    def _wait_pty(self, deadline: float) -> str:
        while time.monotonic() < deadline:
            m = _PTY_RE.search((self.workdir / "qemu.stderr").read_bytes())
            if m:
                return m.group(1).decode()
            self._check_alive()
            time.sleep(0.02)
        raise GuestError("QEMU did not report the modem pty\n" + self._diag())

    def _connect_ctl(self, deadline: float) -> None:
        path = str(self.workdir / "ctl.sock")
        while time.monotonic() < deadline:
            self._check_alive()
            if os.path.exists(path):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(path)
                except OSError:
                    s.close()
                else:
                    self._ctl = s
                    return
            time.sleep(0.02)
        raise GuestError("QEMU control socket never appeared\n" + self._diag())

    def _handshake(self, deadline: float) -> None:
        # The agent starts only after init has loaded modules; a ping waits in the port until
        # then. Ask again every second anyway, so a slow boot shows up as progress, not one wait;
        # run() skips the answers to earlier pings by their sequence numbers.
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                rc, out = self.run("echo agent-ready", timeout=1.0, _retry_ok=True)
            except TimeoutError:
                continue
            if rc == 0 and out.strip() == "agent-ready":
                return
        raise GuestError("guest agent did not answer\n" + self._diag())

    def stop(self, timeout: float = 5.0) -> None:
        """Power the guest off (kill QEMU if it lingers) and remove the work directory."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                if self._ctl is not None:
                    self._send_cmd(0, 1, "sync; poweroff -f")
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(3)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()
            self._stderr = None
        if self._own_workdir and not os.environ.get("PPPSTACK_KEEP_GUEST_DIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Guest:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control channel ---------------------------------------------------------------------

    def _send_cmd(self, seq: int, timeout: float, cmd: str) -> None:
        assert self._ctl is not None
        b64 = base64.b64encode(cmd.encode()).decode()
        guest_timeout = max(1, int(timeout + 0.999))
        self._ctl.sendall(f"{seq} {guest_timeout} {b64}\n".encode())

    def run(self, cmd: str, timeout: float = 60.0, check: bool = False, _retry_ok: bool = False) -> tuple[int, str]:
        """Run ``cmd`` with the guest's busybox sh; return (exit status, combined output).

        The guest kills the command after ``timeout`` seconds (status 137); the host gives up a
        few seconds later with TimeoutError.
        """
        if self._ctl is None:
            raise GuestError("guest is not running")
        self._seq += 1
        seq = self._seq
        self._send_cmd(seq, timeout, cmd)
        begin = f"@@B {seq}\n".encode()
        end_re = re.compile(rb"@@E %d (\d+)\n" % seq)
        deadline = time.monotonic() + (timeout if _retry_ok else timeout + 10.0)
        while True:
            i = self._buf.find(begin)
            if i >= 0:
                m = end_re.search(self._buf, i)
                if m:
                    body = self._buf[i + len(begin):m.start()]
                    self._buf = self._buf[m.end():]
                    out = base64.b64decode(b"".join(body.split())).decode(errors="replace")
                    rc = int(m.group(1))
                    if check and rc != 0:
                        raise GuestError(f"guest command failed ({rc}): {cmd}\n{out}")
                    return rc, out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"guest command did not finish in {timeout} s: {cmd[:200]}")
            r, _, _ = select.select([self._ctl], [], [], min(left, 0.5))
            if r:
                chunk = self._ctl.recv(65536)
                if not chunk:
                    raise GuestError("control channel closed (guest gone?)\n" + self._diag())
                self._buf += chunk
            elif not _retry_ok:
                self._check_alive()

    def shell(self, cmd: str, timeout: float = 60.0) -> str:
        """Run ``cmd`` and return its output; raise GuestError if it fails."""
        return self.run(cmd, timeout, check=True)[1]

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else data
        b64 = base64.b64encode(raw).decode()
        # the agent reads the script one byte at a time; keep each command modest
        self.shell(f"mkdir -p \"$(dirname {path})\"; : > {path}")
        for i in range(0, len(b64), 8192):
            self.shell(f"printf '%s' '{b64[i:i + 8192]}' | base64 -d >> {path}")
        self.shell(f"chmod {mode:o} {path}")

    def read_file(self, path: str) -> bytes:
        rc, out = self.run(f"base64 {path}")
        if rc != 0:
            raise GuestError(f"cannot read {path} in guest: {out}")
        return base64.b64decode("".join(out.split()))
