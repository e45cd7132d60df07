"""`pppstack doctor`: say why a link failed, from a log or by walking a modem step by step.

Live (no --log): USB mode -> ports -> AT -> SIM -> registration -> signal -> dial -> LCP -> auth ->
IPCP/IPv6CP -> traffic (ping the peer through PPP), stopping at the first step that fails; each
passed step is listed with what it saw.  Needs no root: no interface is created.

From a log (`--log FILE`, `-` for stdin): whatever users paste -- OpenWrt logread, syslog,
journalctl, pppd's debug log, chat -v, wvdial, comgt/netifd, ModemManager, NetworkManager,
kernel USB lines -- one verdict per session, oldest first.
"""
# The reasoning is sans-I/O (pppstack.doctor); the live walk is pppstack.io.doctorwalk; this
# module only parses options, reads the log and prints.

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
  pppstack doctor                                   # find the stick and walk it
  pppstack doctor --device /dev/ttyUSB2 --apn internet
  pppstack doctor --simulate --sim-fault auth-rejected
  logread | pppstack doctor --log -
  journalctl -b -u NetworkManager -u ModemManager | pppstack doctor --log - --json
  pppstack doctor --log /var/log/ppp.log"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "doctor", help="explain why a link failed: from a log (--log) or live on a modem",
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", metavar="FILE", help="diagnose a log instead of a modem ('-' reads stdin)")
    p.add_argument("--json", action="store_true", help="print one JSON list, one object per session")
    g = p.add_argument_group("live (without --log)")
    g.add_argument("--device", "-d", metavar="TTY", help="the port to dial on (default: found through sysfs)")
    g.add_argument("--apn", help="access point name (PPP default: the modem's stored context; NCM: internet)")
    g.add_argument("--pin", help="SIM PIN, if the SIM wants one")
    g.add_argument("--user", help="PAP/CHAP user name")
    g.add_argument("--password", help="PAP/CHAP password (never printed)")
    g.add_argument("--mode", choices=("ppp", "ncm"), default="ppp", help="data path to try (default ppp)")
    g.add_argument("--watch", type=float, metavar="SECONDS",
                   help="how long to keep the link up and ping the peer (default 10, 6 with --simulate)")
    g.add_argument("--simulate", action="store_true", help="walk the built-in simulated E3372h-320")
    g.add_argument("--sim-fault", action="append", default=[], metavar="FAULT",
                   help="with --simulate: inject a fault (pppstack sim --help lists them)")
    g.add_argument("--debug", action="store_true", help="log every AT command and PPP packet while walking")
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
        return _live(args)
    try:
        lines = _read_log(args.log)
    except OSError as exc:
        print(f"pppstack doctor: cannot read {args.log}: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    diagnoses = diagnose_log(lines)
    print(render_json(diagnoses) if args.json else render_text(diagnoses), end="" if not args.json else "\n")
    return int(ExitCode.OK)


def _live(args: argparse.Namespace) -> int:
    import json
    import logging

    from pppstack.doctor.report import render_steps, render_text

    if args.sim_fault and not args.simulate:
        print("pppstack doctor: --sim-fault needs --simulate", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    if args.simulate:
        from pppstack.sim.modem import Fault

        names = {f.value for f in Fault} | {f.name.lower() for f in Fault}
        bad = [f for f in args.sim_fault if f.lower().replace("_", "-") not in names and f.lower() not in names]
        if bad:
            print(f"pppstack doctor: unknown simulator fault {bad[0]!r} (one of "
                  f"{', '.join(f.value for f in Fault)})", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
    if args.watch is None:
        args.watch = 6.0 if args.simulate else 10.0
    if args.watch <= 0:
        print("pppstack doctor: --watch must be positive", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    root = logging.getLogger("pppstack")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.setLevel(logging.DEBUG if args.debug else logging.CRITICAL + 1)  # the verdict speaks, not the log
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if args.debug else logging.INFO)
    root.propagate = False
    from pppstack.io.doctorwalk import run_doctor

    diagnosis, walk = run_doctor(args)
    if args.json:
        doc = diagnosis.to_json()
        doc["passed"] = [{"step": s, "saw": saw} for s, saw in walk.passed]
        print(json.dumps([doc], indent=2))
    else:
        if walk.passed:
            print("\n".join(render_steps(walk.passed)))
        print(render_text([diagnosis], numbered=False), end="")
    return int(ExitCode.OK)
