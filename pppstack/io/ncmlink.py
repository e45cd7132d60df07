"""`pppstack up --mode ncm`: drive the modem's CDC-NCM function from user space and bridge it to TUN.

Steps: find and bind the NCM function with pyusb (ncm.usb) → start the transfer threads →
dial on the PCUI tty with the modem room's NcmDialer (AT^NDISDUP, poll ^NDISSTATQRY?, ^DHCP?),
or, with no APN, wait for the function's NETWORK_CONNECTION notification alone → create the TUN,
configure it statically from ^DHCP (or from options) → `bridge()` until a signal, a USB
disconnect or a carrier loss → AT^NDISDUP=1,0, alternate setting 0, TUN gone.  No DHCP client
runs: the addresses come from the modem's ^DHCP answer, as ModemManager's static method does.

`bridge()` (io/ncmbridge.py) is the loop that moves the packets.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ncm.l2 import L2Config, eui64_link_local
from ncm.link import DownCause, LinkDown, NcmSession
from pppstack.exitcodes import ExitCode
from pppstack.io.ncmbridge import BridgeResult, PacketPort, bridge

if TYPE_CHECKING:
    from pppstack.io.tracetap import TraceTap

__all__ = ["NcmUpOptions", "run_ncm_up", "bridge", "PacketPort", "exit_code_for", "BridgeResult"]

log = logging.getLogger("pppstack.ncm")


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
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> NcmUpOptions:
        """From `pppstack up` flags.  In NCM mode --device names the AT (PCUI) port."""
        g = lambda name, default=None: getattr(ns, name, default)  # noqa: E731
        local = g("local_ip")
        gw = g("gateway")
        _parse_usb(g("usb"))  # refuse a malformed id here, with the other option errors
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


def exit_code_for(down: LinkDown | None) -> ExitCode:
    if down is None:
        return ExitCode.OK
    return {
        DownCause.USB_DISCONNECTED: ExitCode.PORT_VANISHED,
        DownCause.USB_ERROR: ExitCode.USB_ERROR,
        DownCause.CARRIER_LOST: ExitCode.CARRIER_LOST,
        DownCause.LOCAL_CLOSE: ExitCode.OK,
    }[down.cause]


def drop_counts(stats: dict[str, int], tun: dict[str, int]) -> dict[str, int]:
    """What was lost on the way out: by us (NTBs never sent, frames too big for any NTB) and in
    the kernel's TUN queue while we held back because the modem was behind."""
    ours = ("usb_tx_dropped", "tx_oversize_dropped", "l2_unresolved_dropped", "link_tx_too_big")
    return {"dropped_by_pppstack": sum(stats.get(k, 0) for k in ours),
            "dropped_in_tun_queue": tun.get("tx_dropped", 0)}


def describe_drops(d: dict[str, int]) -> str:
    parts = []
    if d["dropped_by_pppstack"]:
        parts.append(f"{d['dropped_by_pppstack']} blocks or packets dropped by pppstack (usb_tx_dropped: "
                     "not sent when the link ended; l2_unresolved_dropped: no answer to ARP/NS; link_tx_too_big: "
                     "over the MTU)")
    if d["dropped_in_tun_queue"]:
        parts.append(f"{d['dropped_in_tun_queue']} packets dropped by the kernel's TUN queue (it fills when "
                     "the modem takes data slower than it comes)")
    return "; ".join(parts)


# ------------------------------------------------------------------------ the whole command

def _ntb_tap(path: str | None) -> TraceTap | None:
    """`up --pcap FILE` in NCM mode: every NTB's Ethernet frames on their own pcapng interface."""
    if not path:
        return None
    from pppstack.io.tracetap import TraceTap

    try:
        return TraceTap(pcap=open(path, "wb"))  # noqa: SIM115 - the tap closes it
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc.strerror)
        return None


def _parse_usb(text: str | None) -> tuple[int | None, int | None]:
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


def _sysfs_at_port(dev: object) -> str | None:
    try:
        from pppstack.io.sysfs import find_modems
    except ImportError:
        return None
    ports = getattr(dev, "port_numbers", None) or ()
    sysname = f"{dev.bus}-{'.'.join(str(p) for p in ports)}"  # type: ignore[attr-defined]
    for m in find_modems(all_devices=True):
        if m.sysname == sysname:
            return m.at_port
    return None


class _Interrupted(Exception):
    pass


class NdisStatWatcher:
    """Reads the AT port during the link: ``^NDISSTAT: 0,...`` (ModemManager: a non-connected
    ^NDISSTAT outside connect/disconnect means "disconnected now") ends the link with a sentence."""

    def __init__(self, port: object) -> None:
        from pppstack.modem.at import AtChannel
        self.port = port
        self.channel = AtChannel()

    def fileno(self) -> int:
        return self.port.fileno()  # type: ignore[attr-defined]

    def poll(self) -> str | None:
        from pppstack.modem.at import Urc
        from pppstack.modem.huawei import parse_ndisstat
        data = self.port.read()  # type: ignore[attr-defined]
        for ev in self.channel.feed(data) if data else ():
            if isinstance(ev, Urc):
                log.debug("modem: %s", ev.line)
                if ev.name.upper() == "^NDISSTAT":
                    st = parse_ndisstat(ev.line)
                    if st is not None and not st.connected:
                        cause = f", cause {st.error}" if st.error else ""
                        return f"the modem reported the data connection down ({ev.line.strip()}{cause})"
        return None


def _dial(opts: NcmUpOptions, dev: object, stop: threading.Event
          ) -> tuple[ExitCode | None, object | None, str | None, object | None]:
    """Run NcmDialer on the AT port: (failure exit code or None, DhcpInfo or None, port path,
    the port still open after a successful dial).  A signal (``stop``) aborts between steps."""
    from pppstack.io import atport
    from pppstack.io.serialport import SerialPortError, open_port
    from pppstack.modem.dial import DialError, NcmDialer

    path = opts.at_port or _sysfs_at_port(dev)
    if not path:
        log.error("no AT (PCUI) port found for the NCM modem; name it with --device /dev/ttyUSBn")
        return ExitCode.NO_DEVICE, None, None, None
    try:
        dialer = NcmDialer(opts.apn or "", opts.user, opts.password, pin=opts.pin, pdp_type=opts.pdp_type)
    except ValueError as exc:
        log.error("%s", exc)
        return ExitCode.OPTION_ERROR, None, None, None
    try:
        port = open_port(path)
    except (OSError, SerialPortError) as exc:
        log.error("cannot open the AT port %s: %s", path, exc)
        return ExitCode.OPEN_FAILED, None, path, None
    try:
        log.info("dialling NCM on %s: %s", path, dialer.dial_command if not (opts.user or opts.password)
                 else "AT^NDISDUP with credentials")
        def check() -> None:
            if stop.is_set():
                raise _Interrupted

        result = atport.run(port, dialer, timeout=opts.dial_timeout, on_progress=check)
    except _Interrupted:
        log.warning("interrupted while dialling")
        port.close()
        return ExitCode.INTERRUPTED, None, path, None
    except BaseException:
        port.close()
        raise
    for line in getattr(dialer, "transcript", []):
        log.debug("%s", line)
    if result is None or not result.ok:
        port.close()
        msg = result.message if result is not None else "no result"
        log.error("NCM dial failed: %s", msg)
        if result is not None and result.error in (DialError.SIM_PIN_REQUIRED, DialError.SIM_PIN_REJECTED,
                                                   DialError.SIM_PUK_REQUIRED):
            return ExitCode.SIM_PIN, None, path, None
        if result is not None and result.error is DialError.NO_RESPONSE:
            return ExitCode.NO_DEVICE, None, path, None
        return ExitCode.NCM_DIAL_FAILED, None, path, None
    log.info("NCM connected: %s", result.message)
    return None, result.ipv4, path, port


def _hangup(path: str | None, port: object | None = None) -> None:
    """AT^NDISDUP=1,0 on the port kept from the dial (or on `path` opened again)."""
    if not path and port is None:
        return
    try:
        from pppstack.io import atport
        from pppstack.io.serialport import open_port
        from pppstack.modem.dial import NcmHangup
        if port is None:
            port = open_port(path)  # type: ignore[arg-type]
        try:
            res = atport.run(port, NcmHangup(), timeout=5.0)  # type: ignore[arg-type]
            log.info("AT^NDISDUP=1,0: %s", res.message if res is not None else "no answer")
        finally:
            port.close()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - teardown must finish
        log.info("could not hang up on %s: %s", path, exc)


def run_ncm_up(options: NcmUpOptions | argparse.Namespace, *, backend: object | None = None) -> ExitCode:
    """The whole `pppstack up --mode ncm`; returns an ExitCode, never raises to the user.
    ``backend``: a pyusb backend (tests pass the fake modem's)."""
    try:
        opts = options if isinstance(options, NcmUpOptions) else NcmUpOptions.from_namespace(options)
        vid, pid = _parse_usb(opts.usb)
    except ValueError as exc:
        log.error("bad NCM option: %s", exc)
        return ExitCode.OPTION_ERROR
    try:
        import usb.core

        from ncm.usb import NcmDevice, NcmUsbError, UsbPump
    except ImportError as exc:
        log.error("pyusb is needed for the NCM data path: %s", exc)
        return ExitCode.FATAL
    try:
        device = NcmDevice.open(vid=vid, pid=pid, backend=backend)
    except NcmUsbError as exc:
        log.error("%s", exc.message)
        return ExitCode.NO_DEVICE
    except usb.core.NoBackendError:
        log.error("libusb is not available (install libusb-1.0 or libusb-package)")
        return ExitCode.FATAL
    pump: UsbPump | None = None
    gone = False  # the device left the bus (then its handle is not closed)
    tun = None
    dialled_on: str | None = None
    at_port: object | None = None
    stop = threading.Event()
    old_handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            old_handlers[sig] = signal.signal(sig, lambda *_: stop.set())
        except ValueError:       # not the main thread (tests)
            pass
    try:
        try:
            ndp_end = opts.ndp_at_end if opts.ndp_at_end is not None else device.function.vendor_class
            params = device.bind(ntb32=opts.ntb32, rx_max=opts.rx_max)
        except NcmUsbError as exc:
            log.error("%s", exc.message)
            return ExitCode.PERMISSION if "Access denied" in exc.message or "errno 13" in exc.message.lower() \
                else exit_code_for(LinkDown(exc.cause, exc.message))
        except usb.core.USBError as exc:
            if exc.errno == errno.EACCES:
                log.error("no permission to use %s: run as root or add a udev rule", device.name)
                return ExitCode.PERMISSION
            log.error("USB error while binding %s: %s", device.name, exc)
            return ExitCode.USB_ERROR
        pump = UsbPump(device)
        pump.start()
        ipv4 = opts.local_ip
        gateway = opts.gateway
        dns = opts.dns
        if opts.apn is not None:
            failure, info, at_path, at_port = _dial(opts, device.dev, stop)
            if failure is None or failure is ExitCode.INTERRUPTED:
                dialled_on = at_path        # hang up on the way out (a failed dial hung up itself)
            if failure is not None:
                return failure
            if info is not None:
                ipv4 = ipv4 or info.interface          # type: ignore[attr-defined]
                gateway = gateway or info.gateway       # type: ignore[attr-defined]
                dns = dns or info.dns                   # type: ignore[attr-defined]
        if ipv4 is None:
            log.error("no IPv4 address: give --apn (the modem's ^DHCP answer) or --local-ip/--gateway")
            return ExitCode.OPTION_ERROR
        mac = device.mac or bytes([0x02]) + os.urandom(5)
        l2 = L2Config(mac=mac, ipv4=ipv4, gateway=gateway)
        mtu = _link_mtu(opts.mtu, device, params)
        session = NcmSession(params, l2, ntb32=device.ntb32, ndp_at_end=ndp_end,
                             max_packet_size=device.function.out_max_packet,
                             flush_interval=opts.tx_timer_usecs / 1e6, rx_max=device.rx_max, mtu=mtu)
        if opts.apn is None and not _wait_carrier(session, pump, opts.carrier_timeout, stop):
            if stop.is_set():
                return ExitCode.INTERRUPTED
            if pump.error is not None:
                return exit_code_for(LinkDown(pump.error[0], pump.error[1]))
            log.error("the NCM function never reported a network connection within %g s", opts.carrier_timeout)
            return ExitCode.NO_CARRIER
        from pppstack.io.tun import TunDevice, TunError, ip
        try:
            tun = TunDevice.create(opts.ifname, mtu)
            peer = gateway or ipv4.ip
            tun.set_ipv4(ipv4.ip, peer)
            if not opts.noipv6:
                # Our link-local is the one the L2 shim answers for; "random" lets the kernel
                # still make SLAAC addresses from the modem's RA on a device without a MAC
                # (TunDevice.create sets "none", which suits PPP's IPv6CP but not this).
                ip("link", "set", "dev", tun.name, "addrgenmode", "random", check=False)
                ip("-6", "addr", "add", f"{eui64_link_local(mac)}/64", "dev", tun.name, "nodad", check=False)
            tun.up()
            if not opts.no_routes:
                if opts.defaultroute:
                    tun.add_default_route(opts.defaultroute_metric or 0)
                tun.add_routes(list(opts.routes))
        except PermissionError as exc:
            log.error("%s", exc)
            return ExitCode.PERMISSION
        except (TunError, OSError) as exc:
            log.error("%s", exc)
            return ExitCode.FATAL
        resolv_file = None
        if opts.usepeerdns and dns:
            from pppstack.io import hooks
            resolv_file = opts.resolv_conf or hooks.resolv_path(tun.name, opts.run_dir or hooks.RUN_DIR)
            try:
                os.makedirs(os.path.dirname(resolv_file), exist_ok=True)
                hooks.write_resolv_conf(resolv_file, dns, tun.name)
            except OSError as exc:
                log.warning("could not write the DNS servers to %s: %s", resolv_file, exc)
                resolv_file = None
        log.info("%s up: %s gateway %s%s, MAC %s, %s", tun.name, ipv4, gateway or "-",
                 f", DNS {' '.join(map(str, dns))}" if dns else "", mac.hex(":"), params.describe())
        session.start(time.monotonic())
        watchers = [NdisStatWatcher(at_port)] if at_port is not None else []
        from pppstack.io import hooks
        status_file = hooks.status_path(tun.name, opts.run_dir or hooks.RUN_DIR)
        up_wall = time.time()
        status_base = {
            "pid": os.getpid(), "ifname": tun.name, "mode": "ncm", "phase": "ncm-up",
            "device": f"{device.name} NCM ({'NTB32' if device.ntb32 else 'NTB16'})" + (f", AT {dialled_on}"
                                                                                       if dialled_on else ""),
            "local": str(ipv4.ip), "peer": str(gateway) if gateway else None, "prefix": ipv4.network.prefixlen,
            "dns": [str(d) for d in dns], "mtu": mtu, "up_since": up_wall, "resolv_conf": [resolv_file]
            if resolv_file else [], "ipv6_local": None if opts.noipv6 else str(eui64_link_local(mac)),
        }

        def write_status(s: NcmSession) -> None:
            k = tun.stats()
            ncm_stats = {**s.stats(), **pump.stats()}  # type: ignore[union-attr]
            st = dict(status_base, updated=time.time(), carrier=s.carrier, neighbours=s.l2.neighbours(),
                      counters={"bytes_sent": k.get("tx_bytes"), "bytes_rcvd": k.get("rx_bytes"),
                                "packets_sent": k.get("tx_packets"), "packets_rcvd": k.get("rx_packets"),
                                **drop_counts(ncm_stats, k)},
                      ncm=ncm_stats)
            try:
                os.makedirs(os.path.dirname(status_file), exist_ok=True)
                hooks.write_status(status_file, st)
            except OSError as exc:
                log.debug("could not write %s: %s", status_file, exc)

        ntb_tap = _ntb_tap(opts.pcap)
        try:
            result = bridge(session, pump, tun, stop=stop, watchers=watchers, tick=write_status,
                            tap=ntb_tap.ntb if ntb_tap else None)
        finally:
            hooks.remove_file(status_file)
            if ntb_tap is not None:
                ntb_tap.close()
        pump.stop()              # the last flush goes out (or is counted as dropped) first
        final = {**result.stats, **pump.stats()}
        drops = drop_counts(final, tun.stats())
        summary = {"interface": tun.name, "address": str(ipv4), "gateway": str(gateway) if gateway else None,
                   "dns": [str(d) for d in dns], "cause": result.down.cause.name, "message": result.down.message,
                   "seconds": round(result.seconds, 1), **final, **drops}
        if drops["dropped_by_pppstack"] or drops["dropped_in_tun_queue"]:
            log.warning("%s", describe_drops(drops))
        if resolv_file:
            from pppstack.io import hooks
            hooks.remove_file(resolv_file)
        if opts.json:
            print(json.dumps(summary))
        log.info("NCM link ended after %.0f s: %s", result.seconds, result.down.message)
        gone = result.down.cause is DownCause.USB_DISCONNECTED
        return exit_code_for(result.down)
    except Exception:  # noqa: BLE001 - no traceback reaches a user
        log.exception("internal error in the NCM data path")
        return ExitCode.FATAL
    finally:
        if pump is not None:
            pump.stop()
        if dialled_on is not None:
            _hangup(dialled_on, at_port)
        elif at_port is not None:
            at_port.close()  # type: ignore[attr-defined]
        if gone:
            # the device left the bus: there is nothing to give back, and libusb can abort the
            # process on a busy mutex when a handle to a vanished device is closed
            pass
        elif pump is not None and pump.running():
            # closing the handle under a thread still in libusb aborts the process: leave it
            log.warning("the USB threads did not stop in time; leaving the device to the kernel")
        else:
            try:
                device.close()
            except Exception:  # noqa: BLE001
                pass
        if tun is not None:
            tun.close()
        for sig, h in old_handlers.items():
            signal.signal(sig, h)


def _link_mtu(wanted: int | None, device: object, params: object) -> int:
    """--mtu, clamped with a sentence to what the function carries (wMaxSegmentSize, NTB sizes);
    without --mtu, 1500 or less."""
    from ncm.mtu import max_mtu
    eth = device.function.descriptors.ethernet  # type: ignore[attr-defined]
    limit = max_mtu(params, max_segment=eth.wMaxSegmentSize if eth else None,  # type: ignore[arg-type]
                    rx_max=device.rx_max, ntb32=device.ntb32)  # type: ignore[attr-defined]
    if wanted is None:
        return min(1500, limit.mtu)
    if wanted > limit.mtu:
        log.warning("--mtu %d is more than this NCM function can carry: %s allows an MTU of at most %d, "
                    "so the MTU is %d", wanted, limit.reason, limit.mtu, limit.mtu)
        return limit.mtu
    return wanted


def _wait_carrier(session: NcmSession, pump: object, timeout: float, stop: threading.Event) -> bool:
    """Plain NCM devices: the link is up when the function says NETWORK_CONNECTION = 1."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set() and pump.error is None:  # type: ignore[attr-defined]
        now = time.monotonic()
        for note in pump.take_notifications():  # type: ignore[attr-defined]
            session.receive_notification(note, now)
        if session.carrier:
            return True
        stop.wait(0.05)
    return bool(session.carrier)
