"""`pppstack up --mode ncm`'s options: the NCM flags, and the pppd words both modes share.

`from_namespace(args, ppp)` takes the flags and, from `cli/up.build_options`, what the pppd
words, `file` and `call` said (persist, holdoff, maxfail, ip-up/ip-down, ipparam, ...); options
that only PPP acts on never get here (cli/modes.py refuses them).  In NCM mode --device names
the AT (PCUI) port.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pppstack.options import PppOptions

__all__ = ["NcmUpOptions", "parse_usb"]


@dataclass(frozen=True)
class NcmUpOptions:
    usb: str | None = None                    # "12d1:155e" (vendor:product, hex); None: first NCM function
    at_port: str | None = None                # PCUI tty; None: found through sysfs when dialling
    apn: str | None = None                    # None: no dial, wait for NETWORK_CONNECTION
    user: str | None = None
    password: str | None = None
    pin: str | None = None
    pdp_type: str | None = None
    ifname: str = "ncm%d"
    mtu: int | None = None
    local_ip: ipaddress.IPv4Interface | None = None
    gateway: ipaddress.IPv4Address | None = None
    dns: tuple[ipaddress.IPv4Address, ...] = ()
    ntb32: bool = False
    ndp_at_end: bool | None = None            # None: on for Huawei vendor-class functions (huawei_cdc_ncm)
    rx_max: int = 16384
    tx_timer_usecs: int = 400
    carrier_timeout: float = 30.0
    dial_timeout: float = 240.0
    noipv6: bool = False
    defaultroute: bool = False
    defaultroute_metric: int | None = None
    no_routes: bool = False
    routes: tuple[str, ...] = ()
    json: bool = False
    usepeerdns: bool = False
    resolv_conf: str | None = None            # default /run/pppstack/IFNAME/resolv.conf (hooks.resolv_path)
    run_dir: str | None = None
    pcap: str | None = None                   # `up --pcap`: the Ethernet frames as pcapng
    # the lifecycle PPP has too: persist/holdoff/maxfail and pppd's ip-up/ip-down
    persist: bool = False
    holdoff: int = 30
    maxfail: int = 10
    ip_up: str | None = None
    ip_down: str | None = None
    ipparam: str = ""
    linkname: str = ""
    call_file: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, ppp: PppOptions | None = None) -> NcmUpOptions:
        """From `pppstack up` flags and, when given, the pppd words, files and `call` they name
        (`ppp`, from cli/up.build_options: flags already folded in).  In NCM mode --device names
        the AT (PCUI) port."""
        opts = cls._from_flags(ns)
        if ppp is None:
            return opts
        return dataclasses.replace(
            opts, at_port=opts.at_port or ppp.device, user=ppp.user, password=ppp.password,
            ifname=ppp.ifname or "ncm%d", mtu=ppp.mtu, noipv6=ppp.noipv6, defaultroute=ppp.defaultroute,
            defaultroute_metric=ppp.defaultroute_metric, usepeerdns=ppp.usepeerdns and not ppp.noresolvconf,
            persist=ppp.persist, holdoff=ppp.holdoff, maxfail=ppp.maxfail, ip_up=ppp.ip_up_script,
            ip_down=ppp.ip_down_script, ipparam=ppp.ipparam or "", linkname=ppp.linkname or "",
            call_file=ppp.files[0] if ppp.files else "")

    @classmethod
    def _from_flags(cls, ns: argparse.Namespace) -> NcmUpOptions:
        g = lambda name, default=None: getattr(ns, name, default)  # noqa: E731
        local = g("local_ip")
        gw = g("gateway")
        parse_usb(g("usb"))  # refuse a malformed id here, with the other option errors
        try:
            local_ip = ipaddress.IPv4Interface(local) if local else None
        except ValueError:
            raise ValueError(f"--local-ip {local!r} is not an IPv4 address (optionally with /prefix), "
                             "e.g. 10.10.1.1/30") from None
        try:
            gateway = ipaddress.IPv4Address(gw) if gw else None
        except ValueError:
            raise ValueError(f"--gateway {gw!r} is not an IPv4 address, e.g. 10.10.1.2") from None
        return cls(
            usb=g("usb"), at_port=g("at_port") or g("device"), apn=g("apn"), user=g("user"),
            password=g("password"), pin=g("pin"), pdp_type=g("pdp_type") if g("pdp_type") != "IP" else None,
            ifname=g("ifname") or "ncm%d", mtu=g("mtu"),
            local_ip=local_ip, gateway=gateway,
            ntb32=bool(g("ntb32", False)), ndp_at_end=g("ndp_at_end"), noipv6=bool(g("noipv6", False)),
            defaultroute=bool(g("defaultroute", False)), defaultroute_metric=g("defaultroute_metric"),
            no_routes=bool(g("no_routes", False)), routes=tuple(g("route", ()) or ()), json=bool(g("json", False)),
            usepeerdns=bool(g("usepeerdns", False)), resolv_conf=g("resolv_conf"), run_dir=g("run_dir"),
            pcap=g("pcap"),
        )



def parse_usb(text: str | None) -> tuple[int | None, int | None]:
    """``--usb VID[:PID]`` in hex (lsusb's form) -> ids; ValueError with a sentence for the user."""
    if not text:
        return None, None
    vid, _, pid = text.partition(":")
    try:
        ids = [int(part, 16) for part in ((vid, pid) if pid else (vid,))]
    except ValueError:
        ids = []
    if not ids or not all(0 <= i <= 0xFFFF for i in ids):
        raise ValueError(f"--usb {text!r} is not a USB id: give vendor[:product] in hex as lsusb shows it, "
                         "e.g. 12d1:155e")
    return ids[0], (ids[1] if pid else None)
