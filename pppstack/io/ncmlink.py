"""`pppstack up --mode ncm`: the NCM calls the shared session lifecycle (io/lifecycle.py) runs.

One call: find and bind the NCM function with pyusb (ncm.usb) → start the transfer threads →
dial on the PCUI tty (io/ncmdial.py: AT^NDISDUP, poll ^NDISSTATQRY?, ^DHCP?), or, with no APN,
wait for the function's NETWORK_CONNECTION notification alone → configure the TUN through
PPP's InterfaceSetup (addresses from ^DHCP or options, routes, DNS file, ip-up, status) →
`bridge()` (io/ncmbridge.py) until a signal, a USB disconnect or a carrier loss → ip-down,
AT^NDISDUP=1,0, the device given back.  The TUN lives across calls, as with PPP's persist.
No DHCP client runs: the addresses come from the modem's ^DHCP answer, as ModemManager's
static method does.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ncm.l2 import L2Config, eui64_link_local
from ncm.link import NcmDownCause, NcmLink, NcmLinkDown
from pppstack.endreason import LinkEnd
from pppstack.exitcodes import EdgeCause, ExitCode, exit_code
from pppstack.io import hooks
from pppstack.io.ncmbridge import BridgeResult, PacketPort, bridge
from pppstack.io.ncmdial import NdisStatWatcher
from pppstack.io.ncmoptions import NcmUpOptions, parse_usb

if TYPE_CHECKING:
    from pppstack.io.tracetap import TraceTap

__all__ = ["NcmUpOptions", "NcmUp", "run_ncm_up", "bridge", "PacketPort", "exit_code_for", "BridgeResult"]

log = logging.getLogger("pppstack.ncm")


def exit_code_for(down: NcmLinkDown | None) -> ExitCode:
    return ExitCode.OK if down is None else exit_code(down.cause)


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


class _StopOnSignal(threading.Event):
    """Stands in for the PPP driver in `Signals`: a stop or a redial (SIGHUP with persist) ends
    the running NCM call by setting this event (the bridge, the dial and the carrier wait watch
    it); `reason` says which, for the end's sentence."""

    reason = ""

    def request_stop(self, reason: str = "") -> None:
        self.reason = reason
        self.set()

    def request_redial(self) -> None:
        self.reason = "SIGHUP received: hanging up to redial"
        self.set()


class _CountingPort:
    """The TUN as the bridge sees it, counting this call's IP packets and bytes both ways: what
    ip-down's BYTES_SENT/BYTES_RCVD, the status file and the summary report (per call, as pppd's
    are, and readable in a namespace whose /sys is not its own)."""

    serial_out = serial_in = tun_write_errors = 0

    def __init__(self, tun: Any) -> None:
        self.tun = tun
        self.packets_out = self.bytes_out = self.packets_in = self.bytes_in = 0

    def fileno(self) -> int:
        return int(self.tun.fileno())

    def read_batch(self, limit: int = 256) -> list[bytes]:
        batch: list[bytes] = self.tun.read_batch(limit)
        self.packets_out += len(batch)
        self.bytes_out += sum(map(len, batch))
        return batch

    def write_many(self, packets: list[bytes]) -> int:
        self.packets_in += len(packets)
        self.bytes_in += sum(map(len, packets))
        return int(self.tun.write_many(packets))


class _NcmDriver:
    """InterfaceSetup's view of the running NCM call (counters; the bridge reads the TUN itself)."""

    link = None
    network_up = True

    def __init__(self, counters: _CountingPort) -> None:
        self.counters = counters

    def enable_tun(self, tun: Any) -> None: ...

    def disable_tun(self) -> None: ...


@dataclass
class _Call:
    """What one NCM call holds, to give back in order on the way out."""

    device: Any
    pump: Any = None
    dialed: Any = None          # ncmdial.NcmDialed
    gone: bool = False          # the device left the bus (then its handle is not closed)
    summary: dict[str, Any] = field(default_factory=dict)

    def teardown(self) -> None:
        from pppstack.io.ncmdial import hangup
        if self.pump is not None:
            self.pump.stop()
        d = self.dialed
        if d is not None and d.path is not None:
            hangup(d.path, d.port)
        elif d is not None and d.port is not None:
            d.port.close()
        if self.gone:
            # the device left the bus: there is nothing to give back, and libusb can abort the
            # process on a busy mutex when a handle to a vanished device is closed
            return
        if self.pump is not None and self.pump.running():
            # closing the handle under a thread still in libusb aborts the process: leave it
            log.warning("the USB threads did not stop in time; leaving the device to the kernel")
            return
        try:
            self.device.close()
        except Exception:  # noqa: BLE001
            pass


class NcmUp:
    """`pppstack up --mode ncm`: the shared lifecycle (io/lifecycle.py) over NCM calls.  Each call
    opens and binds the function, dials, waits for the carrier, configures the TUN through the
    same InterfaceSetup as PPP (addresses, routes, DNS file, ip-up/ip-down, status), bridges
    until the link ends and gives everything back; the TUN itself lives across calls."""

    def __init__(self, opts: NcmUpOptions, backend: object | None, vid: int | None, pid: int | None) -> None:
        self.opts = opts
        self.backend = backend
        self.vid, self.pid = vid, pid
        self.tun: Any = None
        self.setup: Any = None
        self.sessions = 0
        self.last: dict[str, Any] = {}
        self.signals: Any = None
        self.started = time.monotonic()
        self._calls = 0
        self._contexts: list[object] = []

    def run(self) -> ExitCode:
        from pppstack.endpolicy import EndPolicy
        from pppstack.io.lifecycle import run_calls
        from pppstack.io.session import Signals

        opts = self.opts
        with Signals(hup_redials=opts.persist) as signals:
            self.signals = signals
            try:
                end = run_calls(signals, EndPolicy(opts.persist, opts.holdoff, opts.maxfail),
                                lambda: self._call(signals))
            except Exception:  # noqa: BLE001 - no traceback reaches a user
                log.exception("internal error in the NCM data path")
                end = LinkEnd(EdgeCause.INTERNAL, "Internal error in the NCM data path (the log says where).")
            finally:
                if self.setup is not None:
                    self.setup.remove_status()
                if self.tun is not None:
                    self.tun.close()
        log.info("NCM link ended: %s", end.message)
        self._summary(end)
        return end.code

    # -- one call -------------------------------------------------------------------------------
    def _call(self, signals: Any) -> LinkEnd | None:
        import usb.core

        from ncm.usb import NcmDevice, NcmUsbError
        if signals.stop_requested:
            return None
        try:
            device = NcmDevice.open(vid=self.vid, pid=self.pid, backend=self._backend())
        except NcmUsbError as exc:
            return LinkEnd(EdgeCause.NO_DEVICE, exc.message)
        except usb.core.NoBackendError:
            return LinkEnd(EdgeCause.INTERNAL, "libusb is not available (install libusb-1.0 or libusb-package).")
        stop = _StopOnSignal()
        signals.driver = stop
        if signals.stop_requested or signals.redial_requested:
            stop.set()
        call = _Call(device)
        try:
            return self._bound(call, stop)
        finally:
            signals.driver = None
            call.teardown()

    def _backend(self) -> object | None:
        """The first call uses pyusb's default backend; later calls a new libusb context.  A
        context lists the devices it scanned when it started, then only what hotplug reports
        (kernel uevents, which reach only the first network namespace): a modem that left the
        bus and came back stays invisible to the old context in a namespace.  Old contexts are
        kept, never exited: a vanished device's handle is still open in them (see _Call)."""
        if self.backend is not None or not self._calls:
            self._calls += 1
            return self.backend
        try:
            import usb.backend.libusb1 as libusb1
            if libusb1.get_backend() is None:
                return None
            fresh = libusb1._LibUSB(libusb1._lib)  # noqa: SLF001 - pyusb has no public "new context"
        except Exception as exc:  # noqa: BLE001 - then the default context it is
            log.debug("no fresh libusb context: %s", exc)
            return None
        self._contexts.append(fresh)
        return fresh

    def _bound(self, call: _Call, stop: _StopOnSignal) -> LinkEnd:
        import usb.core

        from ncm.usb import NcmUsbError, UsbPump
        opts, device = self.opts, call.device
        try:
            ndp_end = opts.ndp_at_end if opts.ndp_at_end is not None else device.function.vendor_class
            params = device.bind(ntb32=opts.ntb32, rx_max=opts.rx_max)
        except NcmUsbError as exc:
            denied = getattr(exc.__cause__, "errno", None) == errno.EACCES   # libusb's LIBUSB_ERROR_ACCESS
            return LinkEnd(EdgeCause.NOT_PERMITTED if denied else exc.cause, exc.message)
        except usb.core.USBError as exc:
            if exc.errno == errno.EACCES:
                return LinkEnd(EdgeCause.NOT_PERMITTED, f"No permission to use {device.name}: run as root or add "
                               "a udev rule.")
            return LinkEnd(NcmDownCause.USB_ERROR, f"USB error while binding {device.name}: {exc}.")
        call.pump = UsbPump(device)
        call.pump.start()
        ipv4, gateway, dns = opts.local_ip, opts.gateway, opts.dns
        if opts.apn is not None:
            from pppstack.io.ncmdial import dial
            call.dialed = dial(opts.at_port, device.dev, stop, apn=opts.apn, user=opts.user,
                               password=opts.password, pin=opts.pin, pdp_type=opts.pdp_type,
                               timeout=opts.dial_timeout)
            if call.dialed.failure is not None:
                log.error("%s", call.dialed.failure[1])
                return LinkEnd(*call.dialed.failure)
            info = call.dialed.ipv4
            if info is not None:
                ipv4, gateway, dns = ipv4 or info.interface, gateway or info.gateway, dns or info.dns
        if ipv4 is None:
            log.error("no IPv4 address: give --apn (the modem's ^DHCP answer) or --local-ip/--gateway")
            return LinkEnd(EdgeCause.BAD_OPTION, "No IPv4 address: give --apn (the modem's ^DHCP answer) or "
                           "--local-ip/--gateway.")
        mac = device.mac or bytes([0x02]) + os.urandom(5)
        mtu = _link_mtu(opts.mtu, device, params)
        session = NcmLink(params, L2Config(mac=mac, ipv4=ipv4, gateway=gateway), ntb32=device.ntb32,
                             ndp_at_end=ndp_end, max_packet_size=device.function.out_max_packet,
                             flush_interval=opts.tx_timer_usecs / 1e6, rx_max=device.rx_max, mtu=mtu)
        if opts.apn is None and not _wait_carrier(session, call.pump, opts.carrier_timeout, stop):
            if stop.is_set():
                return LinkEnd(EdgeCause.INTERRUPTED, "A signal came while waiting for the NCM carrier.")
            if call.pump.error is not None:
                return LinkEnd(call.pump.error[0], call.pump.error[1])
            return LinkEnd(EdgeCause.NO_NCM_CARRIER, f"The NCM function never reported a network connection "
                           f"within {opts.carrier_timeout:g} s.")
        refusal = self._interface(call, mtu)
        if refusal is not None:
            return refusal
        return self._link(call, session, stop, _Addresses(ipv4, gateway, tuple(dns), mac, mtu))

    def _interface(self, call: _Call, mtu: int) -> LinkEnd | None:
        """The TUN on the first call (kept for the next), and the setup's view of this call."""
        from pppstack.io.netconf import InterfaceSetup, NetConfig
        from pppstack.io.tun import TunDevice, TunError, ip
        opts, device = self.opts, call.device
        if self.tun is None:
            try:
                self.tun = TunDevice.create(opts.ifname, mtu)
            except PermissionError as exc:
                return LinkEnd(EdgeCause.NOT_PERMITTED, f"{exc}")
            except (TunError, OSError) as exc:
                return LinkEnd(EdgeCause.INTERNAL, f"{exc}")
            if not opts.noipv6:
                # "random" lets the kernel still make SLAAC addresses from the modem's RA on a device
                # without a MAC (TunDevice.create sets "none", which suits PPP's IPv6CP but not this);
                # set while the link is down, so it takes effect when it comes up.
                ip("link", "set", "dev", self.tun.name, "addrgenmode", "random", check=False)
        at = call.dialed.path if call.dialed is not None else None
        config = NetConfig(
            device=at or device.name, defaultroute=opts.defaultroute, defaultroute_metric=opts.defaultroute_metric or 0,
            routes=opts.routes, no_routes=opts.no_routes, mtu=opts.mtu, usepeerdns=opts.usepeerdns,
            resolv_conf=opts.resolv_conf, ip_up=opts.ip_up, ip_down=opts.ip_down, ipparam=opts.ipparam,
            linkname=opts.linkname, call_file=opts.call_file, run_dir=opts.run_dir or hooks.RUN_DIR,
            extra_status={"mode": "ncm", "device": f"{device.name} NCM ({'NTB32' if device.ntb32 else 'NTB16'})"
                          + (f", AT {at}" if at else "")})
        if self.setup is None:
            self.setup = InterfaceSetup(self.tun, config)
            self.setup.ipv4_by = "IPv4 over NCM"   # no IPCP here: the address came from the modem
        else:
            self.setup.config = config
        return None

    def _link(self, call: _Call, session: NcmLink, stop: _StopOnSignal, a: _Addresses) -> LinkEnd:
        from pppstack.events import Ipv4Up
        from pppstack.io.tun import ip
        setup, tun, opts, pump = self.setup, self.tun, self.opts, call.pump
        port = _CountingPort(tun)
        setup.driver = _NcmDriver(port)
        self.sessions += 1
        setup.on_event(Ipv4Up(local=a.ipv4.ip, peer=a.gateway or a.ipv4.ip, dns=a.dns, mtu=a.mtu), time.monotonic())
        if not opts.noipv6:
            setup.ll_local = eui64_link_local(a.mac)   # the address the L2 shim answers for
            ip("-6", "addr", "add", f"{setup.ll_local}/64", "dev", tun.name, "nodad", check=False)
        setup.phase = "ncm-up"
        log.info("%s up: %s gateway %s%s, MAC %s", tun.name, a.ipv4, a.gateway or "-",
                 f", DNS {' '.join(map(str, a.dns))}" if a.dns else "", a.mac.hex(":"))
        session.start(time.monotonic())
        watchers = [NdisStatWatcher(call.dialed.port)] if call.dialed is not None and call.dialed.port else []

        def tick(s: NcmLink) -> None:
            k = tun.stats()
            ncm_stats = {**s.stats(), **pump.stats()}
            setup.config.extra_status.update(
                carrier=s.carrier, neighbours=s.l2.neighbours(), ncm=ncm_stats, prefix=a.ipv4.network.prefixlen,
                counters={"bytes_sent": port.bytes_out, "bytes_rcvd": port.bytes_in,
                          "packets_sent": port.packets_out, "packets_rcvd": port.packets_in,
                          **drop_counts(ncm_stats, k)})
            setup.write_status()

        ntb_tap = _ntb_tap(opts.pcap)
        try:
            result = bridge(session, pump, port, stop=stop, watchers=watchers, tick=tick,
                            tap=ntb_tap.ntb if ntb_tap else None)
        finally:
            if ntb_tap is not None:
                ntb_tap.close()
        message = _sentence(result.down.message)
        if result.down.cause is NcmDownCause.LOCAL_CLOSE and stop.reason:
            message = f"The link was closed on request ({stop.reason})."
        end = LinkEnd(result.down.cause, message, was_up=True)
        setup.session_ended(end, time.monotonic())   # ip-down, routes, addresses, DNS file
        pump.stop()              # the last flush goes out (or is counted as dropped) first
        final = {**result.stats, **pump.stats()}
        drops = drop_counts(final, tun.stats())
        if drops["dropped_by_pppstack"] or drops["dropped_in_tun_queue"]:
            log.warning("%s", describe_drops(drops))
        self.last = {"interface": tun.name, "address": str(a.ipv4), "gateway": str(a.gateway) if a.gateway else None,
                     "dns": [str(d) for d in a.dns], "cause": result.down.cause.name,
                     "seconds": round(result.seconds, 1), **final, **drops}
        call.gone = result.down.cause is NcmDownCause.USB_DISCONNECTED
        return end

    # -- the end --------------------------------------------------------------------------------
    def _summary(self, end: LinkEnd) -> None:
        """PPP's summary (io/lifecycle.py's lines), with the NCM counters; --json on one line."""
        from pppstack.io.lifecycle import summary_data, summary_lines
        data = summary_data(end.code, end.message, self.sessions, self.setup, time.monotonic() - self.started)
        data.update(self.last, message=end.message)
        if self.opts.json:
            print(json.dumps(data))
            return
        print("\n".join(summary_lines(data, notes=list(self.setup.notes) if self.setup else [])), file=sys.stderr)


@dataclass(frozen=True)
class _Addresses:
    ipv4: ipaddress.IPv4Interface
    gateway: ipaddress.IPv4Address | None
    dns: tuple[ipaddress.IPv4Address, ...]
    mac: bytes
    mtu: int


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else "The NCM link ended."


def run_ncm_up(options: NcmUpOptions | argparse.Namespace, *, backend: object | None = None) -> ExitCode:
    """The whole `pppstack up --mode ncm`; returns an ExitCode, never raises to the user.
    ``backend``: a pyusb backend (tests pass the fake modem's)."""
    try:
        opts = options if isinstance(options, NcmUpOptions) else NcmUpOptions.from_namespace(options)
        vid, pid = parse_usb(opts.usb)
    except ValueError as exc:
        log.error("bad NCM option: %s", exc)
        return ExitCode.OPTION_ERROR
    try:
        import usb.core  # noqa: F401

        import ncm.usb  # noqa: F401
    except ImportError as exc:
        log.error("pyusb is needed for the NCM data path: %s", exc)
        return ExitCode.FATAL
    return NcmUp(opts, backend, vid, pid).run()


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


def _wait_carrier(session: NcmLink, pump: object, timeout: float, stop: threading.Event) -> bool:
    """Plain NCM devices: the link is up when the function says NETWORK_CONNECTION = 1.  Waits on
    the loop: the pump's wake fd brings the notification, a signal (which sets `stop`) the loop's
    own, the timeout is a deadline; nothing is polled.  What the pump brought besides stays queued
    for the bridge, which takes every block before its first wait."""
    from pppstack.io.loop import Loop

    with Loop() as loop:
        deadline = loop.clock() + timeout

        def notes(now: float) -> None:
            pump.drain_wake()  # type: ignore[attr-defined]
            for note in pump.take_notifications():  # type: ignore[attr-defined]
                session.receive_notification(note, now)

        loop.add_reader(pump.wake_fd, notes)  # type: ignore[attr-defined]
        loop.call_at(deadline, lambda now: loop.stop())
        notes(loop.clock())   # what arrived before we looked
        loop.run(until=lambda: bool(session.carrier) or stop.is_set()
                 or pump.error is not None)  # type: ignore[attr-defined]
    return bool(session.carrier)
