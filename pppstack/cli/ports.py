"""`pppstack ports`: which USB modem is here, what mode it is in, and which port does what."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

from pppstack.endreason import LinkEnd
from pppstack.exitcodes import ExitCode
from pppstack.io.atport import run
from pppstack.io.serialport import open_port
from pppstack.io.sysfs import ModemInfo, dump_device, find_modems
from pppstack.modem.dial import AtProbe, DialResult, ProbeResult, StatusQuery
from pppstack.modem.ports import DeviceMode

__all__ = ["register", "handler", "probe_port", "query_status", "right_ppp_port", "with_right_port"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ports", help="find modems and name each port's role from its USB descriptors",
                       description="List USB modems found in sysfs, their mode, and the role of each interface "
                       "(modem/PPP, PCUI/AT, diagnostics, GPS, NCM) read from its class/subclass/protocol.")
    p.add_argument("--sysfs", default="/sys", help="sysfs root (default /sys)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--probe", action="store_true", help="confirm by sending AT to each serial port")
    p.add_argument("--probe-timeout", type=float, default=1.0, metavar="SECONDS", help="per try (default 1)")
    p.add_argument("--status", action="store_true",
                   help="also read SIM, registration, mode and signal on each modem's AT port")
    p.add_argument("--all", action="store_true", help="list every USB device, not only modems")
    p.add_argument("--dump", action="store_true",
                   help="print what a hardware report needs: IDs, every interface's and endpoint's descriptor "
                   "fields, bound drivers, tty and network names, and the raw descriptors (paste it into an issue)")
    p.set_defaults(func=handler)


def right_ppp_port(device: str, sysroot: str = "/sys") -> str | None:
    """The PPP port that a plugged-in modem's USB descriptors name, when it is not ``device``."""
    for m in find_modems(sysroot):
        right = m.ppp_port
        if right and os.path.realpath(right) != os.path.realpath(device):
            return right
    return None


def with_right_port(end: LinkEnd, device: str, sysroot: str = "/sys") -> LinkEnd:
    """A wrong-port end, with the port to dial instead when the stick's descriptors say which."""
    right = right_ppp_port(device, sysroot)
    if right is None:
        return end
    return replace(end, message=f"{end.message} By its USB descriptors this modem's PPP port is {right}, "
                   f"not {device}: pppstack up --device {right} (`pppstack ports` lists every port's role).")


def probe_port(path: str, timeout: float = 1.0) -> ProbeResult:
    try:
        port = open_port(path)
    except OSError as exc:
        return ProbeResult(False, False, (), f"cannot open: {exc.strerror or exc}")
    with port:
        return run(port, AtProbe(timeout=timeout, tries=2), timeout=timeout * 3 + 1)


def query_status(path: str, timeout: float = 2.0) -> DialResult | str:
    """StatusQuery on one AT port; a sentence instead when the port cannot be opened."""
    try:
        port = open_port(path)
    except OSError as exc:
        return f"cannot open {path}: {exc.strerror or exc}"
    with port:
        return run(port, StatusQuery(command_timeout=timeout), timeout=timeout * 12 + 2)


def _table(modems: list[ModemInfo], probes: dict[str, ProbeResult], status: dict[str, DialResult | str]) -> str:
    lines = []
    for m in modems:
        title = " ".join(x for x in (m.manufacturer, m.product_name) if x)
        lines.append(f"{m.sysname}  {m.id}  {title}".rstrip())
        lines.append(f"  mode: {m.mode.value}")
        if m.mode is DeviceMode.NEEDS_SWITCH:
            lines.append("  next: pppstack modeswitch (e.g. with your usb-mode.json)")
        lines.append(f"  {'interface':<10} {'class':<9} {'driver':<15} {'role':<12} {'device':<14} why")
        for i in m.interfaces:
            dev = ",".join(i.ttys + i.nets + i.wdms) or "-"
            role = i.role.value + ("" if i.guess.certain else "?")
            probe = ""
            for t in i.ttys:
                pr = probes.get(f"/dev/{t}")
                if pr is not None:
                    probe = f"  [AT: {'OK' if pr.ok else pr.message}]"
            lines.append(f"  {i.sysname:<10} {i.cls:02x}/{i.subclass:02x}/{i.protocol:02x}  {i.driver or '-':<15} "
                         f"{role:<12} {dev:<14} {i.guess.source}{probe}")
        if m.ppp_port or m.net_interface:
            lines.append(f"  use: PPP on {m.ppp_port or '-'}, AT on {m.at_port or '-'}, "
                         f"network interface {m.net_interface or '-'}")
        st = status.get(m.sysname)
        if st is not None:
            lines.append(f"  status: {st if isinstance(st, str) else st.message}")
    return "\n".join(lines)


def _dump_text(doc: dict) -> str:
    d = doc
    lines = [f"device {d['device']}  {d['idVendor']}:{d['idProduct']}  bcdDevice {d['bcdDevice']}  "
             f"USB {d['version']}  speed {d['speed']} Mbit/s  bus {d['busnum']} device {d['devnum']}",
             f"  manufacturer {d['manufacturer']!r}  product {d['product']!r}  serial {d['serial']!r}",
             f"  class {d['bDeviceClass']}/{d['bDeviceSubClass']}/{d['bDeviceProtocol']}  bMaxPacketSize0 "
             f"{d['bMaxPacketSize0']}  configurations {d['bNumConfigurations']} (active {d['bConfigurationValue']})  "
             f"bmAttributes {d['bmAttributes']}  MaxPower {d['bMaxPower']}",
             f"  mode: {d['mode']}"]
    for i in d["interfaces"]:
        names = ",".join(i["ttys"] + i["nets"] + i["wdms"]) or "-"
        lines.append(f"  interface {i['sysname']}  #{i['bInterfaceNumber']} alt {i['bAlternateSetting']}  "
                     f"{i['bInterfaceClass']}/{i['bInterfaceSubClass']}/{i['bInterfaceProtocol']}  "
                     f"{i['bNumEndpoints']} endpoints  string {i['interface']!r}")
        lines.append(f"    driver {i['driver'] or '-'}  device {names}  role {i['role']} ({i['why']})")
        for e in i["endpoints"]:
            lines.append(f"    endpoint {e['address']} {e['type'].lower()} {e['direction']}  wMaxPacketSize "
                         f"{e['wMaxPacketSize']}  bInterval {e['bInterval']} ({e['interval']})")
    lines.append("  raw descriptors (sysfs 'descriptors'):" if d["descriptors"] else
                 "  raw descriptors: not readable")
    for r in d["descriptors"]:
        lines.append(f"    {r['hex']}")
        lines.append(f"      = {r['what']}")
    return "\n".join(lines)


def dump(args: argparse.Namespace, modems: list[ModemInfo]) -> int:
    docs = [doc for m in modems if (doc := dump_device(args.sysfs, m.sysname)) is not None]
    if args.json:
        print(json.dumps(docs, indent=2))
    else:
        print("# pppstack ports --dump: paste this into a hardware report (no secrets in it: USB descriptors "
              "and driver names only)")
        print("\n\n".join(_dump_text(d) for d in docs))
    return int(ExitCode.OK)


def handler(args: argparse.Namespace) -> int:
    modems = find_modems(args.sysfs, all_devices=args.all)
    if args.dump and modems:
        return dump(args, modems)
    probes: dict[str, ProbeResult] = {}
    if args.probe:
        for m in modems:
            for i in m.interfaces:
                for t in i.ttys:
                    probes[f"/dev/{t}"] = probe_port(f"/dev/{t}", args.probe_timeout)
    status: dict[str, DialResult | str] = {}
    if args.status:
        for m in modems:
            if m.at_port:
                status[m.sysname] = query_status(m.at_port)
    if args.json:
        doc = [m.to_json() for m in modems]
        for d, m in zip(doc, modems, strict=True):
            st = status.get(m.sysname)
            if st is not None:
                d["status"] = {"error": st} if isinstance(st, str) else (
                    st.modem_state.to_json() if st.ok else {"error": st.message})
        for d in doc:
            for i in d["interfaces"]:
                for t in i["ttys"]:
                    pr = probes.get(f"/dev/{t}")
                    if pr is not None:
                        i["probe"] = {"answered": pr.answered, "ok": pr.ok, "message": pr.message}
        print(json.dumps(doc, indent=2))
    elif modems:
        print(_table(modems, probes, status))
    if not modems:
        print(f"pppstack ports: no USB modem found under {args.sysfs}/bus/usb/devices", file=sys.stderr)
        return int(ExitCode.NO_DEVICE)
    return int(ExitCode.OK)
