"""`pppstack doctor`: say why a link failed, from a log or by walking a modem step by step.

From a log (`--log FILE`, `-` for stdin): whatever users paste -- OpenWrt logread, syslog,
journalctl, pppd's debug log, chat -v, wvdial, comgt/netifd, ModemManager, NetworkManager,
kernel USB lines -- one verdict per session, oldest first.  The reasoning is sans-I/O
(pppstack.doctor); this module reads the file and prints.
"""

from __future__ import annotations

import argparse
import sys

from pppstack.exitcodes import ExitCode

__all__ = ["register", "handler"]

EPILOG = """verdicts (stable; --json prints a list of {"verdict", "step", "evidence", "fix"}, oldest first):
  OK, WRONG_PORT, PORT_VANISHED, PORT_BUSY, MODE_SWITCH_NEEDED, SIM_PIN, NO_REGISTRATION,
  PDP_REJECTED, CONNECT_FAILED, LCP_TIMEOUT, AUTH_FAILED, NETWORK_FAILED, PEER_DEAD,
  MODEM_RESET, LOOPBACK, NO_KERNEL_PPP, UNKNOWN

exit status: 0 when a diagnosis was printed (whatever the verdict), 2 for a bad option or an
unreadable log.

examples:
  logread | pppstack doctor --log -
  journalctl -b -u NetworkManager -u ModemManager | pppstack doctor --log - --json
  pppstack doctor --log /var/log/ppp.log"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "doctor", help="explain why a link failed: from a log (--log) or live on a modem",
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", metavar="FILE", help="diagnose a log instead of a modem ('-' reads stdin)")
    p.add_argument("--json", action="store_true", help="print one JSON list, one object per session")
    p.set_defaults(func=handler)


def _read_log(name: str) -> list[str]:
    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(name, "rb") as f:
            data = f.read()
    # logs mix encodings and carry modem garbage: never fail on a byte
    return data.decode("utf-8", errors="replace").splitlines()


def handler(args: argparse.Namespace) -> int:
    from pppstack.doctor import diagnose_log
    from pppstack.doctor.report import render_json, render_text

    if args.log is None:
        print("pppstack doctor: give --log FILE (or --log - for stdin)", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    try:
        lines = _read_log(args.log)
    except OSError as exc:
        print(f"pppstack doctor: cannot read {args.log}: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    diagnoses = diagnose_log(lines)
    print(render_json(diagnoses) if args.json else render_text(diagnoses), end="" if not args.json else "\n")
    return int(ExitCode.OK)
