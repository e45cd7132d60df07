"""`pppstack up`: dial a modem and give the host a network interface, without pppd or kernel PPP.

    pppstack up --device /dev/ttyUSB2 --apn internet
    pppstack up                        # find the stick (mode switch if needed) and its PPP port
    pppstack up call e3372             # /etc/ppp/peers/e3372, pppd's words
    pppstack up --simulate             # the whole path against the built-in simulated E3372

Steps: options (pppd files and words, then flags) -> find the port -> open it raw -> dial (our
AT dialer with --apn, or a `connect 'chat ...'` script run by our chat engine) -> PPP over the
port -> TUN with the negotiated addresses, MTU, routes, DNS file, hooks -> run until the link ends.
With `persist` the link is dialled again after `holdoff` seconds, re-finding the modem (it may come
back as another ttyUSBn), until `maxfail` consecutive failures.  SIGINT/SIGTERM close cleanly;
SIGHUP hangs up and redials only with `persist` (else it ends like SIGTERM, as pppd).  The exit
code says why the link ended (table in `pppstack --help`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

from pppstack.cli.modes import refusal
from pppstack.cli.ports import with_right_port
from pppstack.endpolicy import EndPolicy
from pppstack.endreason import LinkEnd
from pppstack.exitcodes import EdgeCause, ExitCode, exit_code, exit_code_table
from pppstack.io import hooks
from pppstack.io.atport import StopRequested
from pppstack.io.dialing import (
    ConnectSpec,
    find_ppp_port,
    parse_connect,
    read_text,
    run_connect,
    run_dialer,
    wait_for_port,
)
from pppstack.io.lifecycle import run_calls, summary_data, summary_lines
from pppstack.io.netconf import InterfaceSetup, NetConfig
from pppstack.io.pppdriver import not_a_serial_port
from pppstack.io.serialport import PortVanished, open_port
from pppstack.io.session import Signals, build_link, run_session
from pppstack.io.simdemo import SimDemo, SimDemoError
from pppstack.io.tun import TunDevice, TunError, TunPermissionError
from pppstack.options import OptionError, PppOptions, parse_argv, with_overrides

__all__ = ["register", "handler", "build_options", "setup_logging", "add_link_arguments", "net_config"]

log = logging.getLogger("pppstack")

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up", help="dial the modem and bring up a network interface (PPP, or NCM with --mode ncm)",
        description=__doc__, epilog="pppd options may follow the flags (e.g. `call NAME`, `lcp-echo-interval 5`)."
        "\n\nexit codes:\n" + exit_code_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_link_arguments(p)
    g = p.add_argument_group("modem")
    g.add_argument("--device", "-d", metavar="TTY", help="the modem's PPP port (default: find it)")
    g.add_argument("--apn", help="access point name; dial with pppstack's AT dialer")
    g.add_argument("--pin", help="SIM PIN, if the SIM asks for one")
    g.add_argument("--pdp-type", default="IP", choices=("IP", "IPV6", "IPV4V6"), help="PDP context type")
    g.add_argument("--number", help="dial string (default *99***1#)")
    g.add_argument("--connect", metavar="CMD", help="connect script, pppd style: 'chat -v -f FILE' runs in-process")
    g.add_argument("--no-dial", action="store_true", help="the port already carries PPP (null modem, serve)")
    g.add_argument("--mode", choices=("ppp", "ncm"), default="ppp", help="data path (default ppp)")
    g.add_argument("--simulate", action="store_true", help="run against the built-in simulated E3372")
    g.add_argument("--stay", action="store_true", help="with --simulate: keep the link up until Ctrl-C")
    g.add_argument("--sim-fault", action="append", default=[], metavar="FAULT",
                   help="with --simulate: inject a fault (e.g. NO_CARRIER, DEAD_ECHO)")
    g.add_argument("--usb-mode", metavar="FILE", help="usb-mode.json / usb_modeswitch file for the mode switch")
    g.add_argument("--print-unit", action="store_true",
                   help="print a systemd unit that runs this command as a service (with --persist), then exit")
    n = p.add_argument_group("NCM (--mode ncm; --device then names the AT port)")
    n.add_argument("--usb", metavar="VID:PID", help="which USB function (default: the first NCM function)")
    n.add_argument("--at-port", metavar="TTY", help="the PCUI port to dial on (default: found through sysfs)")
    n.add_argument("--local-ip", metavar="ADDR/PREFIX", help="static address instead of ^DHCP?")
    n.add_argument("--gateway", metavar="ADDR", help="static gateway instead of ^DHCP?")
    n.add_argument("--ntb32", action="store_true", help="use 32-bit NTBs when the device offers them")
    n.add_argument("--ndp-at-end", action="store_const", const=True, default=None,
                   help="put the NDP after the datagrams (vendor-class Huawei firmware)")
    from pppstack.cli.trace import add_trace_arguments

    add_trace_arguments(p)
    p.set_defaults(func=handler)


def add_link_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by up and serve (pppd's options by their names)."""
    g = p.add_argument_group("link (pppd option names)")
    g.add_argument("--file", action="append", default=[], metavar="FILE", help="read pppd options from FILE")
    g.add_argument("--ifname", help="interface name (default: the first free pppN)")
    g.add_argument("--speed", type=int, help="serial speed (default 115200)")
    g.add_argument("--mru", type=int)
    g.add_argument("--mtu", type=int)
    g.add_argument("--asyncmap", metavar="HEX")
    g.add_argument("--lcp-echo-interval", type=int, metavar="SECONDS")
    g.add_argument("--lcp-echo-failure", type=int, metavar="N")
    g.add_argument("--user")
    g.add_argument("--password", help="visible to every local user (ps); prefer --password-file, "
                   f"{PASSWORD_ENV}, a 'password' line in an options file, or a secrets file")
    g.add_argument("--password-file", metavar="PATH", help="read the password from the first line of PATH")
    g.add_argument("--secrets-file", action="append", default=[], metavar="PATH",
                   help="pppd pap-secrets/chap-secrets format: client server secret (default: /etc/ppp's, for --user)")
    g.add_argument("--persist", action="store_true", help="dial again after the link drops")
    g.add_argument("--holdoff", type=int, metavar="SECONDS", help="wait before dialling again (default 30, as pppd)")
    g.add_argument("--maxfail", type=int, metavar="N", help="give up after N failures in a row (0: never)")
    g.add_argument("--noipv6", action="store_true", help="do not negotiate IPv6CP")
    g.add_argument("--defaultroute", action="store_true", help="add a default route through the link")
    g.add_argument("--defaultroute-metric", type=int, metavar="N")
    g.add_argument("--no-routes", action="store_true", help="add no routes at all (addresses only)")
    g.add_argument("--route", action="append", default=[], metavar="NET", help="also route NET through the link")
    g.add_argument("--usepeerdns", action="store_true", help="ask the peer for DNS servers and write them to a file")
    g.add_argument("--resolv-conf", metavar="PATH",
                   help="where to write the DNS servers (default /run/pppstack/IFNAME/resolv.conf)")
    g.add_argument("--system-resolv-conf", metavar="PATH",
                   help="also write the DNS servers here (e.g. /etc/resolv.conf); never done unless asked")
    g.add_argument("--ip-up", metavar="SCRIPT", help="run when IPv4 is up (pppd ip-up arguments and environment)")
    g.add_argument("--ip-down", metavar="SCRIPT", help="run when IPv4 goes down")
    g.add_argument("--run-dir", default=hooks.default_run_dir(),
                   help="status and DNS files (default /run/pppstack; per-user when not root)")
    g.add_argument("--debug", action="store_true", help="log every PPP packet in pppd's format")
    g.add_argument("--quiet", "-q", action="store_true", help="only warnings and the final summary")
    g.add_argument("--json", action="store_true", help="print the final summary as JSON")
    g.add_argument("words", nargs="*", metavar="OPTION", help="pppd options (e.g. call NAME, lcp-echo-interval 5)")


def setup_logging(debug: bool, quiet: bool = False) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("pppstack")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def build_options(args: argparse.Namespace) -> PppOptions:
    """Files, then words, then flags: later settings win, as with pppd."""
    words: list[str] = []
    for f in args.file:
        words += ["file", f]
    words += list(args.words)
    flag_words: list[str] = []
    for flag, word in (("ifname", "ifname"), ("speed", None), ("mru", "mru"), ("mtu", "mtu"),
                       ("asyncmap", "asyncmap"), ("lcp_echo_interval", "lcp-echo-interval"),
                       ("lcp_echo_failure", "lcp-echo-failure"), ("user", "user"), ("password", "password"),
                       ("holdoff", "holdoff"), ("maxfail", "maxfail"),
                       ("defaultroute_metric", "defaultroute-metric")):
        value = getattr(args, flag, None)
        if value is not None:
            flag_words += [str(value)] if word is None else [word, str(value)]
    for flag, word in (("persist", "persist"), ("noipv6", "noipv6"), ("defaultroute", "defaultroute"),
                       ("usepeerdns", "usepeerdns"), ("debug", "debug")):
        if getattr(args, flag, False):
            flag_words.append(word)
    if getattr(args, "connect", None):
        flag_words += ["connect", args.connect]
    if getattr(args, "ip_up", None):
        flag_words += ["ip-up-script", args.ip_up]
    if getattr(args, "ip_down", None):
        flag_words += ["ip-down-script", args.ip_down]
    opts = parse_argv(words, loader=read_text)
    opts = parse_argv(flag_words, base=opts, loader=read_text, source="flags")
    if getattr(args, "device", None):  # any path: a tty, a pty, or a stable symlink to one
        opts = with_overrides(opts, device=args.device)
    _check_ifname(opts.ifname)
    _check_modem_text(args)
    return _with_secret(opts, args)


PASSWORD_ENV = "PPPSTACK_PASSWORD"
SECRETS_FILES = ("/etc/ppp/pap-secrets", "/etc/ppp/chap-secrets")


def _with_secret(opts: PppOptions, args: argparse.Namespace) -> PppOptions:
    """The password from where pppd keeps it, or ours, never needing the command line:
    --password-file, an options file's `password`, $PPPSTACK_PASSWORD, then the secrets files."""
    from pppstack.auth.secretsfile import find_secret, parse_secrets
    warnings = list(opts.warnings)
    if getattr(args, "password", None) is not None or getattr(args, "secret", None):
        flag = "--password" if getattr(args, "password", None) is not None else "--secret"
        warnings.append(f"{flag} on the command line is visible to every local user (ps, /proc/PID/cmdline); "
                        f"use --password-file, {PASSWORD_ENV} or a secrets file instead")
    password = opts.password
    path = getattr(args, "password_file", None)
    if path:
        if getattr(args, "password", None) is not None:
            raise OptionError("give --password or --password-file, not both")
        try:
            password = (read_text(path).splitlines() or [""])[0]
        except OSError as exc:
            raise OptionError(f"--password-file {path}: {exc.strerror or exc}") from None
    if password is None and os.environ.get(PASSWORD_ENV) is not None:
        password = os.environ[PASSWORD_ENV]
    files = list(getattr(args, "secrets_file", None) or [])
    if password is None and opts.user:
        for f in files or SECRETS_FILES:
            try:
                text = read_text(f)
            except OSError as exc:
                if files:
                    raise OptionError(f"--secrets-file {f}: {exc.strerror or exc}") from None
                continue      # pppd's default files are optional
            try:
                password = find_secret(parse_secrets(text, f), opts.user, opts.remotename)
            except ValueError as exc:
                raise OptionError(str(exc)) from None
            if password is not None:
                break
    return with_overrides(opts, password=password, warnings=tuple(warnings))


def _check_modem_text(args: argparse.Namespace) -> None:
    """What goes into an AT command line must be text the modem can take: say so before dialling."""
    from pppstack.modem import huawei as hw
    try:
        if getattr(args, "apn", None) is not None:
            hw.check_at_text(args.apn, "APN")
        if getattr(args, "pin", None):
            hw.check_pin(args.pin)
    except ValueError as exc:
        raise OptionError(str(exc)) from None


def _check_ifname(name: str | None) -> None:
    """Refuse names the kernel would reject or that are taken by a non-PPP interface (e.g. lo)."""
    if not name:
        return
    if len(name.encode()) > 15 or "/" in name or any(c.isspace() for c in name) or name in (".", ".."):
        raise OptionError(f"--ifname {name!r} is not a valid interface name (at most 15 characters, "
                          "no '/' or spaces)")
    import os
    if os.path.exists(f"/sys/class/net/{name}") and not os.path.exists(f"/sys/class/net/{name}/tun_flags"):
        raise OptionError(f"--ifname {name!r} is already used by another interface; pick a free name such as ppp0")


# -- the command -------------------------------------------------------------------------------

def _ifname_request(opts: PppOptions) -> str:
    if opts.ifname:
        return opts.ifname
    if opts.unit is not None:
        return f"ppp{opts.unit}"
    return "ppp%d"


def net_config(opts: PppOptions, args: argparse.Namespace, device: str) -> NetConfig:
    return NetConfig(
        device=device, speed=opts.speed or 115200, defaultroute=opts.defaultroute,
        defaultroute_metric=opts.defaultroute_metric, defaultroute6=opts.defaultroute6,
        routes=tuple(getattr(args, "route", ()) or ()), no_routes=bool(getattr(args, "no_routes", False)),
        mtu=opts.mtu, usepeerdns=opts.usepeerdns, resolv_conf=getattr(args, "resolv_conf", None),
        system_resolv_conf=getattr(args, "system_resolv_conf", None), noresolvconf=opts.noresolvconf,
        ip_up=opts.ip_up_script, ip_down=opts.ip_down_script, ipparam=opts.ipparam or "",
        linkname=opts.linkname or "", call_file=opts.files[0] if opts.files else "",
        run_dir=getattr(args, "run_dir", hooks.RUN_DIR),
    )


def handler(args: argparse.Namespace) -> int:
    if not args.print_unit:  # --print-unit checks the options like a real start, then prints the unit
        setup_logging(args.debug, args.quiet)
    try:
        opts = build_options(args)
    except OptionError as exc:
        print(f"pppstack up: {exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    if (wrong := refusal(args, opts, args.mode)) is not None:
        print(f"pppstack up: {wrong}", file=sys.stderr)
        return int(exit_code(EdgeCause.OPTION_NOT_FOR_MODE))
    if args.print_unit:
        from pppstack.cli.unit import render_unit

        raw = list(getattr(args, "raw_argv", None) or [])
        print(render_unit(raw[raw.index("up") + 1:] if "up" in raw else raw), end="")
        return int(ExitCode.OK)
    run_dir = getattr(args, "run_dir", None)
    if run_dir and os.path.lexists(run_dir):
        try:
            hooks.check_directory(run_dir)   # someone else's directory: refuse before dialling
        except OSError as exc:
            print(f"pppstack up: {exc}", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
    for w in opts.warnings:
        log.warning("%s", w)
    if args.mode == "ncm":
        return _ncm(args, opts)
    if opts.ignored:
        log.debug("pppd options with no effect here: %s", ", ".join(opts.ignored))
    try:
        connect = parse_connect(opts.connect) if opts.connect else None
    except OptionError as exc:
        print(f"pppstack up: {exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    return int(UpCommand(args, opts, connect).run())


def _ncm(args: argparse.Namespace, opts: PppOptions) -> int:
    """NCM mode: the same options, lifecycle, hooks, status and summary over the NCM function."""
    try:
        from pppstack.io.ncmlink import NcmUpOptions, run_ncm_up
        ncm_opts = NcmUpOptions.from_namespace(args, opts)
    except ImportError:
        log.error("the NCM data path is not available in this build")
        return int(ExitCode.FATAL)
    except ValueError as exc:
        print(f"pppstack up: {exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    return int(run_ncm_up(ncm_opts))


class UpCommand:
    """The persist loop around single sessions."""

    def __init__(self, args: argparse.Namespace, opts: PppOptions, connect: ConnectSpec | None) -> None:
        self.args = args
        self.opts = opts
        self.connect = connect
        self.sim: SimDemo | None = None   # --simulate: the demo around this command
        self.tun: TunDevice | None = None
        self.setup: InterfaceSetup | None = None
        self.sessions = 0
        self.last_end: LinkEnd | None = None
        self.signals: Signals | None = None
        self.tap: Any = None  # the --trace/--pcap tap, once the device is known to be usable
        self.started = time.monotonic()

    # -- the outer loop -------------------------------------------------------------------------
    def run(self) -> ExitCode:
        with Signals(hup_redials=self.opts.persist) as signals:
            self.signals = signals
            try:
                return self._run(signals)
            finally:
                self._cleanup()

    def _run(self, signals: Signals) -> ExitCode:
        args, opts = self.args, self.opts
        if args.simulate:
            try:
                self.sim = SimDemo(args, opts)
            except SimDemoError as exc:
                print(f"pppstack up: {exc}", file=sys.stderr)
                return exc.code
            self.opts = opts = self.sim.opts  # the fault demo may shorten holdoff or turn LCP echo on
            signals.hup_redials = opts.persist
        elif opts.device:  # a mistyped or unreadable port is said as such, before a TUN is asked for
            refusal = self._check_port(opts.device)
            if refusal is not None:
                return self._finish(exit_code(refusal[0]), refusal[1])
        code = self._make_tun()
        if code is not ExitCode.OK:
            return code
        from pppstack.cli.trace import make_tap

        self.tap = make_tap(args, self.tun.name if self.tun else f"up-{os.getpid()}")
        if self.tap is None:
            return ExitCode.OPTION_ERROR
        policy = EndPolicy(self.opts.persist, self.opts.holdoff, self.opts.maxfail)
        end = run_calls(signals, policy, lambda: self._one_call(signals), on_end=self._call_ended,
                        finished=self.sim.finished if self.sim is not None else None)
        return self._finish(end.code, end.message)

    def _one_call(self, signals: Signals) -> LinkEnd | None:
        device, cause, why = self._port_path(self.opts.device, signals)
        return LinkEnd(cause, why) if device is None else self._one_session(device, signals)

    def _call_ended(self, end: LinkEnd) -> None:
        self.last_end = end
        if self.sim is not None:
            self.sim.call_ended(self.sessions, end, self.setup.driver if self.setup is not None else None)

    def _port_path(self, device: str | None, signals: Signals) -> tuple[str | None, EdgeCause, str]:
        if self.sim is not None:
            path = self.sim.port(again=bool(self.sessions))
            if path is None:
                return None, EdgeCause.NO_DEVICE, "The simulated modem did not come back."
            return path, EdgeCause.STOPPED, ""
        if device:
            if os.path.exists(device):
                return device, EdgeCause.STOPPED, ""
            if self.sessions and wait_for_port(device, 10.0, signals):
                return device, EdgeCause.STOPPED, ""
            if self.sessions:  # the modem re-enumerated: look for it under its new name
                found, _ = find_ppp_port(self.args, stop=signals)
                if found:
                    log.info("%s is gone; the modem's PPP port is now %s", device, found)
                    return found, EdgeCause.STOPPED, ""
            return None, EdgeCause.NO_DEVICE, f"{device} does not exist (is the modem plugged in?)"
        found, why = find_ppp_port(self.args, wait=20.0 if self.sessions else 0.0, stop=signals)
        if found is None:
            if signals.stop_requested:
                return (None, EdgeCause.INTERRUPTED,
                        f"{signals.signal_name} received while looking for the modem; stopped.")
            return None, EdgeCause.NO_DEVICE, f"No modem to dial: {why}."
        return found, EdgeCause.STOPPED, ""

    def _check_port(self, device: str) -> tuple[EdgeCause, str] | None:
        """Why the given port cannot be dialled (missing, not permitted, not a tty), else None.
        With persist a missing port may still appear (the stick is re-enumerating): not refused."""
        try:
            fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except FileNotFoundError:
            if self.opts.persist:
                return None
            return EdgeCause.NO_DEVICE, (f"{device} does not exist: is the modem plugged in, and is that its name? "
                                        "`pppstack ports` lists the modem's ports and their roles.")
        except PermissionError:
            return EdgeCause.OPEN_FAILED, (f"Could not open {device}: permission denied. Run as root, or add "
                                          "yourself to the port's group (usually dialout) and log in again.")
        except OSError as exc:
            return EdgeCause.OPEN_FAILED, f"Could not open {device}: {exc.strerror or exc}."
        try:
            return (EdgeCause.OPEN_FAILED, refusal) if (refusal := not_a_serial_port(fd, device)) else None
        finally:
            os.close(fd)

    # -- one call -------------------------------------------------------------------------------
    def _one_session(self, device: str, signals: Signals) -> LinkEnd | None:
        args, opts = self.args, self.opts
        try:
            port = open_port(device, opts.speed or 115200, opts.crtscts, modem_control=opts.modem)
        except PortVanished as exc:
            return LinkEnd(EdgeCause.NO_DEVICE, str(exc))
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            return LinkEnd(EdgeCause.OPEN_FAILED, f"Could not open {device}: {why}.")
        refusal = not_a_serial_port(port.fileno(), device)
        if refusal:
            port.close()
            return LinkEnd(EdgeCause.OPEN_FAILED, refusal)
        with port:
            initial = b""
            if signals.stop_requested:
                return None
            dial = self.connect is not None or args.apn is not None or args.simulate or self.sim is not None \
                or (opts.device is None and not args.no_dial)
            if args.no_dial:
                dial = False
            if self.setup is None:
                self.setup = InterfaceSetup(self.tun, net_config(opts, args, device), ifname=opts.ifname)
                if self.sim is not None:
                    self.setup.notes.extend(self.sim.notes)
            else:
                self.setup.config = net_config(opts, args, device)
            from pppstack.io.tracetap import TappedPort

            dial_port: Any = TappedPort(port, self.tap)  # the AT dialogue goes into the trace too
            if dial:
                self.setup.phase = "dialling"
                self.setup.write_status()

                def interrupted() -> LinkEnd:  # worded when it happens: the signal's name is known only then
                    return LinkEnd(EdgeCause.INTERRUPTED, f"{signals.signal_name or 'A signal'} received while "
                                   f"dialling: stopped the dial and released {device}.")
                if self.connect is not None:
                    try:
                        ok, why, initial = run_connect(dial_port, self.connect, stop=signals)
                    except StopRequested:
                        return interrupted()
                    if not ok:
                        return self._traced(LinkEnd(EdgeCause.CONNECT_FAILED, why + "."))
                else:
                    cause, why, initial = run_dialer(dial_port, args, stop=signals)
                    if cause is EdgeCause.INTERRUPTED:
                        return interrupted()
                    if cause is not EdgeCause.STOPPED:
                        return self._traced(LinkEnd(cause, why))
            self.tap.connected(time.monotonic())
            if signals.stop_requested:
                return None
            try:
                link = build_link(self._link_settings())
            except (TypeError, ValueError) as exc:
                return LinkEnd(EdgeCause.BAD_OPTION, f"The PPP settings were refused: {exc}")
            self.sessions += 1
            log.info("starting PPP on %s", device)
            setup = self.setup
            sim = self.sim
            before = (lambda driver: sim.before_run(driver, setup, self.tun)) if sim is not None else None
            self.tap.network_up = lambda: setup.driver is not None and setup.driver.network_up
            end, _ = run_session(port, link, self.setup, signals, initial=initial, carrier_watch=opts.modem,
                                 before_run=before, packet_sink=sim.sink if sim is not None else None, tap=self.tap)
            if end.wrong_port and self.sim is None:
                end = with_right_port(end, device)
            log.info("link ended: %s", end.message)
            return self._traced(end)

    def _traced(self, end: LinkEnd) -> LinkEnd:
        """The end goes into the trace (the ladder's verdict, and watchers stop)."""
        self.tap.ended(time.monotonic(), f"{end.code.name}: {end.message}")
        return end

    def _link_settings(self) -> dict[str, Any]:
        return self.opts.link_config_kwargs()

    # -- TUN ------------------------------------------------------------------------------------
    def _make_tun(self) -> ExitCode:
        name = _ifname_request(self.opts)
        try:
            self.tun = TunDevice.create(name, mtu=self.opts.mtu or 1500)
            log.info("created interface %s", self.tun.name)
        except TunPermissionError as exc:
            if self.sim is not None:
                self.sim.no_tun(str(exc.strerror or exc))
                return ExitCode.OK
            print(f"pppstack up: {exc.strerror or exc}", file=sys.stderr)
            return ExitCode.PERMISSION
        except TunError as exc:
            print(f"pppstack up: {exc.strerror or exc}", file=sys.stderr)
            return ExitCode.FATAL
        return ExitCode.OK

    # -- the end --------------------------------------------------------------------------------
    def _finish(self, code: ExitCode, message: str) -> ExitCode:
        self._summary(code, message)
        return code

    def _summary(self, code: ExitCode, message: str) -> None:
        setup, sim = self.setup, self.sim
        data = summary_data(code, message, self.sessions, setup, time.monotonic() - self.started)
        stopped_by = self.signals.signal_name if self.signals and self.signals.stop_requested else None
        first, after = sim.summary(data, stopped_by, self.last_end) if sim is not None else ([], [])
        notes = (list(setup.notes) if setup else []) + (sim.more_notes() if sim is not None else [])
        if notes:
            data["notes"] = notes
        if self.args.json:
            import json

            print(json.dumps(data, indent=2))
            return
        lines = summary_lines(data, notes, first=first, middle=after)
        lines += sim.next_step(code, stopped_by) if sim is not None else []
        print("\n".join(lines), file=sys.stderr)

    def _cleanup(self) -> None:
        if self.tap is not None:
            self.tap.close()
        if self.setup is not None:
            self.setup.remove_status()
        if self.tun is not None:
            self.tun.close()
        if self.sim is not None:
            self.sim.stop()
