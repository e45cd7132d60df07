"""Linux's own NCM gadget as a device for our pyusb code, inside one QEMU guest.

The guest runs Debian's kernel with ``dummy_hcd``: a software USB host controller wired to a
software device controller (``dummy_udc.0``). Through configfs (libcomposite) the guest sets up
a gadget with one CDC-NCM function (``usb_f_ncm``); the gadget's network side is ``usb0`` with
``GADGET_IP`` — the far end a modem's network would be. The guest's USB host side enumerates the
gadget but no kernel driver claims it (cdc_ncm/usbnet are not in the image), so our ``ncm``
package, running on Debian's python3 with python3-usb from the checkout shared read-only over 9p
at ``/mnt/src``, drives it exactly as it would drive a modem's NCM function.

``NcmGadgetGuest.run(cmd, timeout) -> (rc, output)`` runs shell in the guest; ``python(code)``
runs a Python snippet there with ``PYTHONPATH=/mnt/src``.
"""

from __future__ import annotations

import atexit
import shlex
from pathlib import Path

from .build import PYTHON_PACKAGES, GuestImage, Recipe, build
from .qemu import Guest, GuestSpec, Share, registry

REPO = Path(__file__).resolve().parents[2]

GADGET_VID = 0x1D6B        # Linux Foundation
GADGET_PID = 0x0104        # multifunction composite gadget
GADGET_IP = "192.168.77.1"
GADGET_PREFIX = 24
GADGET_MAC = "02:00:00:77:00:01"   # usb0, the gadget's side
HOST_MAC = "02:00:00:77:00:02"     # what the gadget tells the host to use (iMACAddress)
SERIAL = "PPPSTACK-NCM-1"

NCM_MODULES = ("virtio_console", "virtio_pci", "9p", "9pnet_virtio", "tun", "dummy_hcd", "usb_f_ncm",
               "libcomposite")

_SETUP = rf"""
mkdir -p /mnt/src
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose src /mnt/src || echo "9p mount failed"
mount -t configfs configfs /sys/kernel/config
G=/sys/kernel/config/usb_gadget/ncm
mkdir -p $G/strings/0x409 $G/configs/c.1/strings/0x409 $G/functions/ncm.usb0
echo {GADGET_VID:#06x} > $G/idVendor
echo {GADGET_PID:#06x} > $G/idProduct
echo 0x0200 > $G/bcdUSB
echo pppstack > $G/strings/0x409/manufacturer
echo "Linux NCM gadget" > $G/strings/0x409/product
echo {SERIAL} > $G/strings/0x409/serialnumber
echo NCM > $G/configs/c.1/strings/0x409/configuration
echo 250 > $G/configs/c.1/MaxPower
echo {GADGET_MAC} > $G/functions/ncm.usb0/dev_addr
echo {HOST_MAC} > $G/functions/ncm.usb0/host_addr
ln -s $G/functions/ncm.usb0 $G/configs/c.1/
echo dummy_udc.0 > $G/UDC
i=0; while ! ip link show usb0 >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
ip addr add {GADGET_IP}/{GADGET_PREFIX} dev usb0
ip link set usb0 up
# the guest's host side enumerates the gadget asynchronously: wait until it is configured
i=0; while [ "$(cat /sys/bus/usb/devices/1-1/bConfigurationValue 2>/dev/null)" != 1 ] && [ $i -lt 200 ]; do
  sleep 0.05; i=$((i+1)); done
"""

NCM_RECIPE = Recipe(
    name="ncm-gadget",
    packages=PYTHON_PACKAGES + ("libc-bin",),
    modules=NCM_MODULES,
    setup=_SETUP,
    executables=("usr/bin/python3.11", "usr/sbin/ldconfig"),
    dlopened=("usr/lib/x86_64-linux-gnu/libusb-1.0.so.0",),
    extra_files=(("/usr/bin/python3", "#!/bin/sh\nexec /usr/bin/python3.11 \"$@\"\n"),),
    python=True,
)

GUEST_ENV = "PYTHONPATH=/mnt/src PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1"


class NcmGadgetGuest:
    """A booted guest with the NCM gadget enumerated on its own USB bus."""

    def __init__(self, image: GuestImage | None = None, repo: Path = REPO, cpus: int = 1) -> None:
        self.image = image or build(NCM_RECIPE)
        more = ("-smp", str(cpus)) if cpus > 1 else ()     # QEMU takes the last -smp given
        self.guest = Guest(self.image, GuestSpec(memory_mb=512, modem_pty=False, extra_args=more,
                                                 shares=(Share("src", str(repo), readonly=True),)))

    def start(self) -> NcmGadgetGuest:
        self.guest.start()
        return self

    @property
    def boot_seconds(self) -> float | None:
        return self.guest.boot_seconds

    def run(self, cmd: str, timeout: float = 60.0) -> tuple[int, str]:
        return self.guest.run(cmd, timeout)

    def shell(self, cmd: str, timeout: float = 60.0) -> str:
        return self.guest.shell(cmd, timeout)

    def python(self, code: str, timeout: float = 60.0, args: str = "") -> tuple[int, str]:
        """Run a Python snippet in the guest (checkout on PYTHONPATH); return (rc, output)."""
        self.guest.write_file("/tmp/snippet.py", code)
        return self.guest.run(f"cd /tmp && {GUEST_ENV} python3 /tmp/snippet.py {args}", timeout)

    def python_module(self, module: str, args: str = "", timeout: float = 60.0) -> tuple[int, str]:
        return self.guest.run(f"cd /tmp && {GUEST_ENV} python3 -m {shlex.quote(module)} {args}", timeout)

    def stop(self) -> None:
        self.guest.stop()


def shared_ncm_guest() -> NcmGadgetGuest:
    """One gadget guest per test process, powered off at exit."""
    shared = registry()
    g = shared.get("ncm")
    if g is None or g.guest.proc is None or g.guest.proc.poll() is not None:  # type: ignore[attr-defined]
        g = NcmGadgetGuest()
        g.start()
        shared["ncm"] = g
        atexit.register(g.stop)
    return g  # type: ignore[return-value]
