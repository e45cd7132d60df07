"""pppstack sim: a simulated Huawei E3372h-320 on a pty, until Ctrl-C.

Point any dialler at the printed path (pppstack up --device PATH, chat, minicom, even pppd on a
host with kernel PPP).  Faults make it misbehave the way real sticks do, e.g. --fault brownout.
"""

from __future__ import annotations

import argparse
import logging
import sys
from ipaddress import IPv4Address

from pppstack.exitcodes import ExitCode, exit_code_table

__all__ = ["register", "handler"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from pppstack.sim.modem import Fault
    from pppstack.sim.radio import Rat

    p = subparsers.add_parser(
        "sim", help="run a simulated Huawei E3372h-320 on a pty (prints the port path)",
        description=__doc__, epilog="faults:\n" + "\n".join(f"  {f.value:16} {f.description}" for f in Fault)
        + "\n\nexit codes:\n" + exit_code_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fault", action="append", default=[], metavar="FAULT",
                   help="inject a fault (repeatable): " + ", ".join(f.value for f in Fault))
    p.add_argument("--pin", help="lock the SIM with this PIN (the sim-pin fault uses 1234)")
    p.add_argument("--rat", choices=[r.name.lower() for r in Rat], help="radio technology (default wcdma, "
                   "gsm with brownout)")
    p.add_argument("--no-echo", action="store_true", help="start with ATE0 (as in the thread's log)")
    p.add_argument("--tun", action="store_true", help="send the client's packets to a TUN on this host (root)")
    p.add_argument("--extra-ports", action="store_true", help="also create ttyUSB0 (PCUI) and ttyUSB1 (diag); "
                   "the modem (PPP) port is ttyUSB2 either way, as `pppstack ports` names it")
    p.add_argument("--client-ip", default="100.68.27.142", help="address handed out by IPCP")
    p.add_argument("--delay", type=float, metavar="SECONDS",
                   help="seconds after CONNECT before a timed fault (brownout, reset, dead-echo, wrong-port)")
    p.add_argument("--debug", action="store_true", help="log every AT command and PPP event")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from pppstack.io.simrunner import start_sim
    from pppstack.sim.modem import Fault, SimConfig
    from pppstack.sim.radio import Rat

    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")
    try:
        faults = frozenset(Fault[f.upper().replace("-", "_")] for f in args.fault)
    except KeyError as exc:
        print(f"pppstack sim: unknown fault {exc.args[0]!r} (one of {', '.join(f.name.lower() for f in Fault)})",
              file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    kw: dict[str, object] = {}
    if args.delay is not None:
        if args.delay < 0:
            print("pppstack sim: --delay must not be negative", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
        kw.update(brownout_after=args.delay, reset_after=args.delay, dead_echo_after=args.delay,
                  wrong_port_after=args.delay)
    try:
        config = SimConfig(faults=faults, pin=args.pin, rat=Rat[args.rat.upper()] if args.rat else None,
                           echo=not args.no_echo, client_ip=IPv4Address(args.client_ip), **kw)  # type: ignore[arg-type]
    except ValueError as exc:
        print(f"pppstack sim: {exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    try:
        sim = start_sim(config, use_tun=args.tun, extra_ports=args.extra_ports)
    except OSError as exc:
        print(f"pppstack sim: could not create the pty: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.FATAL)
    from pppstack.io.session import Signals

    # SIGINT, SIGTERM and SIGHUP wake the one loop through its self-pipe: no timer looks for them.
    with Signals(hup_redials=False) as signals:
        try:
            for note in sim.notes:
                print(f"note: {note}", file=sys.stderr)
            print(sim.port_path, flush=True)
            print(f"simulated Huawei E3372h-320 on {sim.port_path} ({sim.pty_path})"
                  + (f"; faults: {', '.join(sorted(f.name.lower() for f in faults))}" if faults else "")
                  + ". Ctrl-C to stop.", file=sys.stderr, flush=True)
            while signals.sleep(86400.0):
                pass
        finally:
            sim.stop()
    return int(ExitCode.OK)
