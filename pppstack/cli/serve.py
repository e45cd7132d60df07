"""`pppstack serve`: the network side of a PPP link (our engine as the peer), with its own TUN.

    pppstack serve --device /dev/pts/3 --local 10.64.0.1 --remote 10.64.0.2 --ms-dns 10.64.0.1
    pppstack serve --fd 3 ...          # a pty master handed over by the caller (tests, bench)

It hands out the remote address and DNS servers by IPCP Nak, can require PAP or CHAP (secrets
given as --secret USER:PASSWORD), and carries IP between the link and its TUN.  Together with
`pppstack up` it joins two hosts (or two network namespaces) over any serial line.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
import time

from pppstack.auth.secretsfile import parse_secrets, server_secrets
from pppstack.cli.up import add_link_arguments, build_options, net_config, setup_logging
from pppstack.exitcodes import EXPLANATIONS, ExitCode, exit_code_table
from pppstack.io.dialing import read_text
from pppstack.io.netconf import InterfaceSetup
from pppstack.io.pppdriver import not_a_serial_port
from pppstack.io.serialport import PortVanished, SerialPort, open_port
from pppstack.io.session import Signals, build_link, run_session
from pppstack.io.tun import TunDevice, TunError, TunPermissionError
from pppstack.options import OptionError

__all__ = ["register", "handler"]

log = logging.getLogger("pppstack")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="answer PPP as the network side (hands out addresses and DNS)",
                       description=__doc__, epilog="exit codes:\n" + exit_code_table(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("server")
    where = g.add_mutually_exclusive_group(required=True)
    where.add_argument("--device", "-d", metavar="TTY", help="the serial port or pty to answer on")
    where.add_argument("--fd", type=int, metavar="N", help="an inherited file descriptor (a pty master)")
    g.add_argument("--local", default="10.64.0.1", help="our address (default 10.64.0.1)")
    g.add_argument("--remote", default="10.64.0.2", help="the address handed to the peer (default 10.64.0.2)")
    g.add_argument("--ms-dns", action="append", default=[], metavar="ADDR", help="DNS server offered to the peer")
    g.add_argument("--require-pap", action="store_true", help="the peer must authenticate with PAP")
    g.add_argument("--require-chap", action="store_true", help="the peer must authenticate with CHAP-MD5")
    g.add_argument("--secret", action="append", default=[], metavar="USER:PASSWORD",
                   help="accepted credentials (visible to every local user: prefer --secrets-file)")
    g.add_argument("--name", help="our name in CHAP challenges")
    g.add_argument("--no-tun", action="store_true", help="no interface: negotiate only (IP packets are dropped)")
    p.set_defaults(func=handler, connect=None, ip_up=None, ip_down=None)
    add_link_arguments(p)


def handler(args: argparse.Namespace) -> int:
    setup_logging(args.debug, args.quiet)
    try:
        opts = build_options(args)
        local = ipaddress.IPv4Address(args.local)
        remote = ipaddress.IPv4Address(args.remote)
        dns = tuple(ipaddress.IPv4Address(a) for a in args.ms_dns)
        secrets: dict[str, str] = {}
        for f in args.secrets_file:   # pppd's format; entries for our --name (or any server)
            try:
                secrets.update(server_secrets(parse_secrets(read_text(f), f), args.name))
            except OSError as exc:
                raise OptionError(f"--secrets-file {f}: {exc.strerror or exc}") from None
        for s in args.secret:
            user, sep, pw = s.partition(":")
            if not sep or not user:
                raise OptionError(f"--secret wants USER:PASSWORD, got {s.split(':')[0]!r}...")
            secrets[user] = pw
    except (OptionError, ValueError) as exc:
        print(f"pppstack serve: {exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    for w in opts.warnings:
        log.warning("%s", w)
    if (args.require_pap or args.require_chap) and not secrets:
        print("pppstack serve: --require-pap/--require-chap need at least one --secrets-file entry or "
              "--secret USER:PASSWORD", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    settings = opts.link_config_kwargs()
    settings.update(local_ip=local, remote_ip=remote, ms_dns=dns or opts.ms_dns, require_pap=args.require_pap,
                    require_chap=args.require_chap, secrets=secrets)
    if args.name:
        settings["name"] = args.name
    tun = None
    if not args.no_tun:
        try:
            tun = TunDevice.create(opts.ifname or "ppp%d", mtu=opts.mtu or 1500)
        except TunPermissionError as exc:
            print(f"pppstack serve: {exc.strerror or exc}", file=sys.stderr)
            return int(ExitCode.PERMISSION)
        except TunError as exc:
            print(f"pppstack serve: {exc.strerror or exc}", file=sys.stderr)
            return int(ExitCode.FATAL)
    device = args.device or f"fd {args.fd}"
    setup = InterfaceSetup(tun, net_config(opts, args, device), ifname=opts.ifname or "serve")
    code = ExitCode.OK
    message = ""
    failures = 0
    try:
        with Signals(hup_redials=opts.persist) as signals:
            while True:
                port = _open(args, opts.speed or 115200)
                if isinstance(port, ExitCode):
                    code, message = port, f"could not open {device}"
                    break
                with port:
                    link = build_link(settings)
                    log.info("answering PPP on %s as %s (handing out %s)", device, local, remote)
                    end, _ = run_session(port, link, setup, signals)
                code, message = end.code, end.message
                log.info("link ended: %s", message)
                if signals.stop_requested or not opts.persist or args.fd is not None:
                    break
                failures = 0 if end.was_up else failures + 1
                if opts.maxfail and failures >= opts.maxfail:
                    code = ExitCode.MAXFAIL
                    break
                if not signals.sleep(max(opts.holdoff, 0)):
                    break
    finally:
        setup.remove_status()
        if tun is not None:
            tun.close()
    print(f"pppstack serve: {message} (exit code {int(code)}: {EXPLANATIONS[code]})", file=sys.stderr)
    return int(code)


def _open(args: argparse.Namespace, speed: int) -> SerialPort | ExitCode:
    if args.fd is not None:
        try:
            os.fstat(args.fd)
        except OSError:
            print(f"pppstack serve: file descriptor {args.fd} is not open", file=sys.stderr)
            return ExitCode.OPEN_FAILED
        os.set_blocking(args.fd, False)
        port = SerialPort(args.fd, None, None, owns_fd=True)
        if os.isatty(args.fd):
            port.configure(speed)
        return port
    deadline = time.monotonic() + 5
    while True:
        try:
            port = open_port(args.device, speed, exclusive=False)
            refusal = not_a_serial_port(port.fileno(), args.device)
            if refusal:
                port.close()
                print(f"pppstack serve: {refusal}", file=sys.stderr)
                return ExitCode.OPEN_FAILED
            return port
        except PortVanished:
            if time.monotonic() > deadline:
                print(f"pppstack serve: {args.device} does not exist", file=sys.stderr)
                return ExitCode.NO_DEVICE
            time.sleep(0.2)
        except OSError as exc:
            print(f"pppstack serve: cannot open {args.device}: {exc.strerror or exc}", file=sys.stderr)
            return ExitCode.OPEN_FAILED
