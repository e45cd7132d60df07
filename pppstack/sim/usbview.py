"""How the simulated stick looks on USB (vendor, product, interface roles), as sysfs would show it."""

from __future__ import annotations

from pppstack.modem.ports import PortRole
from pppstack.sim.modem import Fault, SimConfig

__all__ = ["usb_identity"]


def usb_identity(config: SimConfig) -> tuple[int, int, tuple[PortRole, ...]]:
    if config.has(Fault.HILINK):
        return 0x12D1, 0x14DC, (PortRole.RNDIS, PortRole.MASS_STORAGE)
    return 0x12D1, 0x1506, (PortRole.MODEM, PortRole.DIAG, PortRole.PCUI, PortRole.VENDOR_NCM)
