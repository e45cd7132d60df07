"""`pppstack modeswitch`: read usb-mode.json (or a usb_modeswitch file), explain it, send it."""

from __future__ import annotations

import argparse
import sys

from pppstack.exitcodes import ExitCode
from pppstack.modem.usbmode import (
    HUAWEI_ALT_MESSAGE,
    DeviceRule,
    SwitchMessage,
    UsbModeConfig,
    UsbModeError,
    classify_message,
    parse_config,
    plan_switch,
)

__all__ = ["register", "handler", "BUILTIN"]

# With no --config: the E3372h-320 to stick mode with NCM (usb_modeswitch 2.5 -X, 12d1:155e).
BUILTIN = UsbModeConfig((SwitchMessage(0, HUAWEI_ALT_MESSAGE),),
                        (DeviceRule(0x12D1, 0x1F01, t_vendor=0x12D1, t_product=(0x155E, 0x155F), msg=(0,)),))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("modeswitch", help="switch a stick out of CD-ROM mode (usb-mode.json / usb_modeswitch)",
                       description="Switch a USB modem out of mass-storage mode, wait for it to come back and "
                       "check that it is the expected device.  Reads OpenWrt usb-mode.json files (trailing commas "
                       "allowed) and usb_modeswitch files.  Without --config: E3372h-320 -> 12d1:155e.")
    p.add_argument("--config", "-c", metavar="FILE", help="usb-mode.json or a usb_modeswitch config file")
    p.add_argument("--device", metavar="VID:PID", help="which device (default: the first one the config matches)")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent where; send nothing")
    p.add_argument("--explain", metavar="HEX", help="say which mode a switch message gives, then exit")
    p.add_argument("--check", action="store_true", help="only parse the configuration and explain it")
    p.add_argument("--wait", type=float, default=20.0, metavar="SECONDS", help="how long to wait for re-enumeration")
    p.set_defaults(func=handler)


def _load(args: argparse.Namespace) -> UsbModeConfig:
    if not args.config:
        return BUILTIN
    with open(args.config, encoding="utf-8", errors="replace") as f:
        text = f.read()
    name = args.config.rsplit("/", 1)[-1]
    return parse_config(text, args.config, device=name if ":" in name else args.device)


def handler(args: argparse.Namespace) -> int:
    if args.explain is not None:  # an empty value is a mistake, never a request to switch for real
        hexs = args.explain.replace(" ", "")
        try:
            data = bytes.fromhex(hexs)
        except ValueError:
            data = b""
        if not data:
            print("pppstack modeswitch: --explain wants a switch message in hex (e.g. the MessageContent of "
                  "usb-mode.json: 55534243123456780000000000000011062000000101000100000000000000), "
                  f"not {args.explain!r}",
                  file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
        info = classify_message(data)
        print(info.description)
        if info.targets:
            print("gives: " + ", ".join(f"12d1:{p:04x}" for p in info.targets) + f" — {info.mode.value}")
        return int(ExitCode.OK)
    try:
        config = _load(args)
    except OSError as exc:
        print(f"pppstack modeswitch: cannot read {args.config}: {exc.strerror}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    except UsbModeError as exc:
        print(f"pppstack modeswitch: {exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    for w in config.warnings:
        print(f"warning: {w}", file=sys.stderr)
    vendor = product = None
    if args.device:
        try:
            v, _, p = args.device.partition(":")
            vendor, product = int(v, 16), int(p, 16) if p else None
        except ValueError:
            print("pppstack modeswitch: --device wants VID:PID in hex, e.g. 12d1:1f01", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
    if args.check:
        for rule in config.devices:
            try:
                print("\n".join(plan_switch(config, rule).describe()))
            except UsbModeError as exc:
                print(f"device {rule.key}: {exc}")
        return int(ExitCode.OK)
    try:
        from pppstack.io.modeswitch import SwitchError, switch
    except ImportError as exc:   # pyusb missing
        print(f"pppstack modeswitch: pyusb is not available ({exc})", file=sys.stderr)
        return int(ExitCode.USB_ERROR)
    try:
        report = switch(config, vendor=vendor, product=product, dry_run=args.dry_run, wait=args.wait)
    except UsbModeError as exc:
        print(f"pppstack modeswitch: {exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    except SwitchError as exc:
        print(f"pppstack modeswitch: {exc}", file=sys.stderr)
        return int(ExitCode.NO_DEVICE if "no attached" in str(exc) else ExitCode.MODESWITCH_FAILED)
    except Exception as exc:  # pyusb's NoBackendError, USBError (access denied) ...
        print(f"pppstack modeswitch: USB error: {exc} (is libusb installed, are you root?)", file=sys.stderr)
        return int(ExitCode.USB_ERROR)
    print("\n".join(report.lines()))
    if args.dry_run or report.verified:
        return int(ExitCode.OK)
    return int(ExitCode.MODESWITCH_FAILED)
