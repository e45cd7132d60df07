"""Kernel lines about the stick: enumeration, the serial and network drivers, disconnects."""

from __future__ import annotations

import re

from pppstack.doctor.facts import Fact, Kind
from pppstack.doctor.lines import LogLine

__all__ = ["kernel_facts"]

_RULES: tuple[tuple[re.Pattern[str], Kind], ...] = tuple((re.compile(p, re.I), k) for p, k in (
    (r"^usb \S+: USB disconnect", Kind.USB_DISCONNECT),
    (r"converter now disconnected from (tty\w+)", Kind.USB_DISCONNECT),
    (r"converter now attached to (tty\w+)", Kind.TTY_ATTACHED),
    (r"^cdc_acm \S+: (ttyACM\d+): USB ACM device", Kind.TTY_ATTACHED),
    (r"^usb-storage \S+: USB Mass Storage device detected", Kind.STORAGE_MODE),
    (r"^(?:cdc_ether|rndis_host) \S+ (\w+): register '(?:cdc_ether|rndis_host)'", Kind.STORAGE_MODE),
    (r"^(?:cdc_ncm|huawei_cdc_ncm) \S+ (\w+): register '", Kind.NCM_NETDEV),
    (r"ADDRCONF\(NETDEV_UP\): (\w+): link is not ready", Kind.LINK_NOT_READY),
    (r"ADDRCONF\(NETDEV_CHANGE\): (\w+): link becomes ready", Kind.NDIS_UP),
    (r"(?:PPP generic driver|ppp_generic).*not (?:found|loaded)", Kind.NO_KERNEL_PPP),
))


def kernel_facts(line: LogLine) -> list[Fact]:
    for pat, kind in _RULES:
        m = pat.search(line.message)
        if m:
            return [Fact(kind, line, m.group(1) if m.groups() else "")]
    return []
