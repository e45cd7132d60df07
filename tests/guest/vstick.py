"""A virtual Huawei E3372h-320 on the guest's own USB bus, with the host's real drivers bound to it.

One QEMU guest (TCG, Debian's kernel) holds both sides of a USB cable: dummy_hcd's host
controller and its device controller. On the device side tests/guest/vstick_fw.py plays the
stick (CD-ROM mode 12d1:1f01 over FunctionFS, stick mode 12d1:155e: three vendor serial
interfaces over FunctionFS with the project's simulated E3372 and real pppd behind them, plus
Linux's usb_f_ncm). On the host side Debian's usb-storage, sr_mod, option and cdc_ncm bind it
exactly as they would bind the real stick, and the checkout's pppstack (shared read-only over 9p
at /mnt/src) is installed as ``/usr/bin/pppstack``: a console script like pip's, on Debian's
python3.11 with python3-usb and libusb. Layout and the unknowns: vstick_layout.py.

``VStickGuest.start()`` boots, starts the firmware and waits for usb-storage to bind stage 1;
``pppstack(args)`` runs the installed CLI; ``replug()`` power-cycles the stick (back to CD-ROM
mode); ``fw_log()``/``pppd_log()``/``dmesg()`` help a failing test say why.
"""

from __future__ import annotations

import atexit
import py_compile
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .build import PPPD_PACKAGES, PYTHON_PACKAGES, GuestImage, Recipe, build
from .qemu import Guest, GuestError, GuestSpec, Share, registry

REPO = Path(__file__).resolve().parents[2]

VSTICK_MODULES = ("virtio_console", "virtio_pci", "9p", "9pnet_virtio", "tun", "ppp_async", "dummy_hcd",
                  "libcomposite", "usb_f_fs", "usb_f_ncm", "usb_storage", "sr_mod", "option", "cdc_ncm")

_SETUP = r"""
mkdir -p /mnt/src /mnt/pyc /etc/ppp /tmp/vstick
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose src /mnt/src || echo "9p mount failed"
mount -t 9p -o trans=virtio,version=9p2000.L pyc /mnt/pyc || echo "9p mount of pyc failed"
mount -t configfs configfs /sys/kernel/config
"""

# The checkout is read-only here, and compiling pppstack's sources costs ~8 s of TCG time per
# command: the host compiles them (milliseconds) into a per-guest bytecode directory, shared
# writable as the guest's PYTHONPYCACHEPREFIX (so whatever else it imports is cached there too).
GUEST_ENV = "PYTHONPATH=/mnt/src PYTHONPYCACHEPREFIX=/mnt/pyc PYTHONUNBUFFERED=1"

# pip's console script for `pppstack = "pppstack.cli:main"`, pointing at the shared checkout
_PPPSTACK = ("#!/bin/sh\nexport PYTHONPATH=/mnt/src PYTHONPYCACHEPREFIX=/mnt/pyc\n"
             "exec /usr/bin/python3.11 -c 'import sys; from pppstack.cli import main; sys.exit(main())' \"$@\"\n")

VSTICK_RECIPE = Recipe(
    name="vstick",
    packages=PYTHON_PACKAGES + PPPD_PACKAGES + ("libc-bin",),
    modules=VSTICK_MODULES,
    setup=_SETUP,
    executables=("usr/bin/python3.11", "usr/sbin/ldconfig", "usr/sbin/pppd"),
    dlopened=("usr/lib/x86_64-linux-gnu/libusb-1.0.so.0",),
    extra_files=(("/usr/bin/python3", "#!/bin/sh\nexec /usr/bin/python3.11 \"$@\"\n"),
                 ("/usr/bin/pppstack", _PPPSTACK)),
    python=True,
)

# the thread's usb-mode.json, trailing comma and all
THREAD_USB_MODE_JSON = """{
        "messages" : [
                "55534243123456780000000000000011063000000100010000000000000000",
        ],
        "devices" : {
                "12d1:1f01": {
                        "*": {
                                "t_vendor": 4817,
                                "t_product": [ 5471 ],
                                "msg": [ 0 ]
                        }
                }
        }
}
"""


class VStickGuest:
    """A booted guest with the virtual stick plugged in (CD-ROM mode once ``start`` returns)."""

    def __init__(self, image: GuestImage | None = None, repo: Path = REPO) -> None:
        self.image = image or build(VSTICK_RECIPE)
        self.pyc = tempfile.mkdtemp(prefix="pppstack-vstick-pyc-")
        precompile(repo, self.pyc)
        self.guest = Guest(self.image, GuestSpec(memory_mb=512, modem_pty=False,
                                                 shares=(Share("src", str(repo), readonly=True),
                                                         Share("pyc", self.pyc, readonly=False))))

    def start(self) -> VStickGuest:
        self.guest.start()
        self.guest.write_file("/tmp/usb-mode.json", THREAD_USB_MODE_JSON)
        self.guest.shell(f"cd /tmp && {GUEST_ENV} setsid python3 -m tests.guest.vstick_fw "
                         "> /tmp/vstick/fw.log 2>&1 < /dev/null &")
        try:
            self.wait_stage("cdrom", driver="usb-storage", timeout=60)
        except GuestError:
            raise GuestError("the virtual stick did not come up in CD-ROM mode\n" + self.diag()) from None
        return self

    def run(self, cmd: str, timeout: float = 60.0) -> tuple[int, str]:
        return self.guest.run(cmd, timeout)

    def shell(self, cmd: str, timeout: float = 60.0) -> str:
        return self.guest.shell(cmd, timeout)

    def pppstack(self, args: str, timeout: float = 60.0) -> tuple[int, str]:
        """The installed CLI, as root in the guest's root namespace; (exit status, stdout+stderr)."""
        return self.guest.run(f"cd /tmp && pppstack {args}", timeout)

    def stage(self) -> str:
        rc, out = self.guest.run("cat /tmp/vstick/stage 2>/dev/null", 10)
        return out.strip()

    def wait_stage(self, stage: str, driver: str, timeout: float = 30.0) -> None:
        """Until the firmware says ``stage`` and the host's ``driver`` is bound to interface 1-1:1.0."""
        deadline = time.monotonic() + timeout
        script = ("cat /tmp/vstick/stage 2>/dev/null; "
                  "basename \"$(readlink /sys/bus/usb/devices/1-1:1.0/driver 2>/dev/null)\" 2>/dev/null")
        out = ""
        while time.monotonic() < deadline:
            out = self.guest.run(script, 10)[1]
            words = out.split()
            if words[:1] == [stage] and driver in words[1:]:
                return
            time.sleep(0.3)
        raise GuestError(f"stick not in {stage} mode with {driver} bound within {timeout:g} s: {out!r}")

    def replug(self) -> None:
        """Power-cycle the stick: it comes back in CD-ROM mode, as the real one does."""
        self.guest.shell("echo replug > /tmp/vstick/ctl")
        self.wait_stage("cdrom", driver="usb-storage", timeout=30)

    def control(self, line: str) -> None:
        self.guest.shell(f"echo {shlex.quote(line)} > /tmp/vstick/ctl")

    def fw_log(self) -> str:
        return self.guest.run("cat /tmp/vstick/fw.log", 10)[1]

    def pppd_log(self) -> str:
        return self.guest.run("cat /tmp/vstick/pppd.log /tmp/vstick/pppd.stderr 2>/dev/null", 10)[1]

    def dmesg(self) -> str:
        return self.guest.run("dmesg | tail -60", 10)[1]

    def diag(self) -> str:
        try:
            return (f"--- firmware ---\n{self.fw_log()[-3000:]}\n--- pppd ---\n{self.pppd_log()[-2000:]}\n"
                    f"--- dmesg ---\n{self.dmesg()}")
        except (GuestError, TimeoutError) as exc:
            return f"(no diagnostics: {exc})"

    def stop(self) -> None:
        self.guest.stop()
        shutil.rmtree(self.pyc, ignore_errors=True)


def precompile(repo: Path, prefix: str, packages: tuple[str, ...] = ("pppstack", "ncm", "tests/guest")) -> None:
    """Bytecode for the guest's view of the checkout (/mnt/src) under ``prefix``, laid out as
    PYTHONPYCACHEPREFIX expects. Only when this interpreter writes the guest's bytecode (3.11,
    Debian 12's python3.11); the guest checks each file's recorded source mtime and size anyway."""
    if sys.implementation.cache_tag != "cpython-311":
        return
    for package in packages:
        for src in sorted((repo / package).rglob("*.py")):
            rel = src.relative_to(repo)
            cfile = Path(prefix, "mnt/src", rel.parent, f"{src.stem}.{sys.implementation.cache_tag}.pyc")
            try:
                py_compile.compile(str(src), cfile=str(cfile), dfile=f"/mnt/src/{rel}", doraise=True)
            except py_compile.PyCompileError:
                pass                      # the guest compiles (and reports) it itself


def shared_vstick_guest() -> VStickGuest:
    """One virtual-stick guest per test process, powered off at exit."""
    shared = registry()
    g = shared.get("vstick")
    if g is None or g.guest.proc is None or g.guest.proc.poll() is not None:  # type: ignore[attr-defined]
        g = VStickGuest()
        g.start()
        shared["vstick"] = g
        atexit.register(g.stop)
    return g  # type: ignore[return-value]
