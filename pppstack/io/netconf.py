"""Turn the engine's network events into host configuration, and undo it when the link drops.

Ipv4Up    -> TUN MTU (negotiated), local/32 peer/32, link up, routes (defaultroute at its metric,
             extra routes), the DNS file (usepeerdns), ip-up, status file
Ipv6Up    -> link up, then fe80::<ifid>/128 peer fe80::<his ifid>/128 from the IPv6CP identifiers, ipv6-up
Ipv4Down / link end -> ip-down (waited for, with CONNECT_TIME and byte counts), routes and
             addresses removed, link down, DNS file removed.

The TUN itself outlives a session: with `persist` the same interface comes back with the next
call, so programs bound to it see it return instead of vanishing.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from pppstack import events as ev
from pppstack.io import hooks
from pppstack.io.tun import TunDevice, TunError

__all__ = ["NetConfig", "InterfaceSetup"]

log = logging.getLogger("pppstack")


@dataclass(frozen=True)
class NetConfig:
    """What the user asked the host side to do."""

    device: str = ""
    speed: int = 115200
    defaultroute: bool = False
    defaultroute_metric: int = 0
    defaultroute6: bool = False
    routes: tuple[str, ...] = ()          # extra destinations through the link ("10.0.0.0/8")
    no_routes: bool = False               # not even the default route
    mtu: int | None = None                # the user's cap (pppd `mtu`)
    usepeerdns: bool = False
    resolv_conf: str | None = None        # our DNS file (None: RUN_DIR/<ifname>/resolv.conf)
    system_resolv_conf: str | None = None  # only when the user names it: also write here
    noresolvconf: bool = False
    ip_up: str | None = None
    ip_down: str | None = None
    ipv6_up: str | None = None
    ipv6_down: str | None = None
    ipparam: str = ""
    linkname: str = ""
    call_file: str = ""
    run_dir: str = hooks.RUN_DIR
    extra_status: dict[str, Any] = field(default_factory=dict)


class InterfaceSetup:
    """Owns what a session changed on the host; `on_event` is the driver's callback."""

    def __init__(self, tun: TunDevice | None, config: NetConfig, ifname: str | None = None) -> None:
        self.tun = tun
        self.config = config
        self.ifname = tun.name if tun is not None else (ifname or "ppp0")
        self.phase = "starting"
        self.local: ipaddress.IPv4Address | None = None
        self.peer: ipaddress.IPv4Address | None = None
        self.dns: tuple[ipaddress.IPv4Address, ...] = ()
        self.ll_local: ipaddress.IPv6Address | None = None
        self.ll_peer: ipaddress.IPv6Address | None = None
        self.mtu: int | None = None
        self.peer_mru: int | None = None
        self.up_since: float | None = None
        self.up_wall: float | None = None
        self.resolv_written: list[str] = []
        self.driver: Any = None            # set by the caller: counters for status/ip-down
        self.sessions = 0
        self.last_end: dict[str, Any] | None = None
        self.notes: list[str] = []         # what could not be done (no privileges...)
        self.events: list[str] = []
        self.ipv4_by = "IPCP"              # what brought IPv4 up, for the log (NCM: the modem's DHCP)
        self._status_failed = False

    # -- status ---------------------------------------------------------------------------------
    @property
    def status_file(self) -> str:
        return hooks.status_path(self.ifname, self.config.run_dir)

    def status(self) -> dict[str, Any]:
        c = getattr(self.driver, "counters", None)
        link = getattr(self.driver, "link", None)
        st: dict[str, Any] = {
            "pid": os.getpid(), "ifname": self.ifname, "device": self.config.device, "phase": self.phase,
            "engine_phase": getattr(getattr(link, "phase", None), "name", None),
            "local": str(self.local) if self.local else None, "peer": str(self.peer) if self.peer else None,
            "dns": [str(d) for d in self.dns], "ipv6_local": str(self.ll_local) if self.ll_local else None,
            "ipv6_peer": str(self.ll_peer) if self.ll_peer else None, "mtu": self.mtu,
            "up_since": self.up_wall, "connect_time": (time.monotonic() - self.up_since) if self.up_since else None,
            "sessions": self.sessions, "last_end": self.last_end, "resolv_conf": self.resolv_written,
            "tun": self.tun is not None, "notes": self.notes, "updated": time.time(), "netns": hooks.netns_id(),
        }
        if c is not None:
            st["counters"] = {
                "bytes_sent": c.bytes_out, "bytes_rcvd": c.bytes_in, "packets_sent": c.packets_out,
                "packets_rcvd": c.packets_in, "serial_bytes_out": c.serial_out, "serial_bytes_in": c.serial_in,
                "tun_write_errors": c.tun_write_errors,
            }
        loop = getattr(self.driver, "loop", None)
        if loop is not None:    # what the link costs in wakeups (bench_link reads it)
            st.setdefault("counters", {})["loop_turns"] = loop.turns
        fast = getattr(self.driver, "fast_path", None)
        if fast is not None:    # the C fast path's runs and why each ended (pppstack/io/fastpath.py)
            st.setdefault("counters", {})["fast_path"] = {"runs": fast.runs, **fast.reasons,
                                                          "wakeups": fast.wakeups, "packets": fast.packets}
        stats = getattr(link, "stats", None)
        if stats is not None:
            st["engine"] = _plain(stats)
        st.update(self.config.extra_status)
        return st

    def write_status(self) -> None:
        try:
            hooks.write_status(self.status_file, self.status())
        except OSError as exc:
            if not self._status_failed:
                self._status_failed = True
                self.notes.append(f"could not write {self.status_file}: {exc.strerror or exc}")
                log.warning("could not write the status file %s: %s", self.status_file, exc.strerror or exc)

    def remove_status(self) -> None:
        hooks.remove_file(self.status_file)

    # -- events ---------------------------------------------------------------------------------
    def on_event(self, event: ev.Event, now: float) -> None:
        # matched by class, never by name: a look-alike class from elsewhere configures nothing
        match event:
            case ev.LinkUp():
                self._link_up(event)
            case ev.AuthSucceeded():
                # the engine already logged the outcome with the peer's own words ("... : Access granted")
                log.debug("%s authentication succeeded", event.protocol)
            case ev.Ipv4Up():
                self._ipv4_up(event, now)
            case ev.Ipv6Up():
                self._ipv6_up(event)
            case ev.Ipv4Down():
                self._ipv4_down(now)
            case ev.Ipv6Down():
                self._ipv6_down(now)
            case ev.LinkDown():
                self.phase = "down"
            case _:
                return
        self.write_status()

    def _link_up(self, event: ev.LinkUp) -> None:
        self.phase = "lcp-up"
        self.peer_mru = event.peer_mru
        log.info("LCP is up (our MRU %s, peer's MRU %s)", event.mru, self.peer_mru)

    def _ipv4_up(self, event: ev.Ipv4Up, now: float) -> None:
        self.phase = "up"
        self.local, self.peer = event.local, event.peer
        self.dns = tuple(event.dns or ())
        mtu = event.mtu or self.peer_mru or 1500
        if self.config.mtu:
            mtu = min(mtu, self.config.mtu)
        self.mtu = mtu
        if self.up_since is None:
            self.up_since = now
            self.up_wall = time.time()
        self.sessions += 1
        dns_text = f", DNS {', '.join(map(str, self.dns))}" if self.dns else ""
        if self.tun is not None:
            try:
                self.tun.set_mtu(mtu)
                self.tun.set_ipv4(self.local, self.peer)
                self.tun.up()
                self._routes()
            except TunError as exc:
                self.notes.append(str(exc))
                log.error("could not configure %s: %s", self.ifname, exc)
            if self.driver is not None:
                self.driver.enable_tun(self.tun)
        # logged once the interface is configured, so whoever waits for this line can use it
        log.info("%s is up: local address %s, peer %s%s", self.ipv4_by, self.local, self.peer, dns_text)
        self._dns()
        hooks.run_hook(self.config.ip_up, self._ctx())

    def _routes(self) -> None:
        cfg = self.config
        if cfg.no_routes or self.tun is None:
            return
        if cfg.defaultroute:
            self.tun.add_default_route(cfg.defaultroute_metric)
            log.info("default route via %s (metric %d)", self.ifname, cfg.defaultroute_metric)
        for dest in cfg.routes:
            fam = 6 if ":" in dest else 4
            if fam == 4:
                self.tun.add_route(dest, 4)
                log.info("route %s via %s", dest, self.ifname)

    def _dns(self) -> None:
        cfg = self.config
        if not (cfg.usepeerdns and self.dns) or cfg.noresolvconf:
            return
        paths = [cfg.resolv_conf or hooks.resolv_path(self.ifname, cfg.run_dir)]
        if cfg.system_resolv_conf:
            paths.append(cfg.system_resolv_conf)
        for path in paths:
            try:
                hooks.write_resolv_conf(path, self.dns, self.ifname)
                self.resolv_written.append(path)
                log.info("DNS servers written to %s", path)
            except OSError as exc:
                self.notes.append(f"could not write {path}: {exc.strerror or exc}")
                log.warning("could not write %s: %s", path, exc.strerror or exc)

    def _ipv6_up(self, event: ev.Ipv6Up) -> None:
        lo, pe = event.local_ifid, event.peer_ifid
        if self.tun is not None:
            try:
                # Up first, as pppd does (sif6up before sif6addr): an address with `peer` added to a
                # down interface never gets the kernel's route to the peer's /128, and
                # `ping fe80::PEER%ifname` then fails.
                self.tun.up()
                self.ll_local, self.ll_peer = self.tun.set_ipv6_link_local(lo, pe)
                if self.config.defaultroute6 and not self.config.no_routes:
                    self.tun.add_route("default", 6, self.config.defaultroute_metric)
            except TunError as exc:
                self.notes.append(str(exc))
                log.error("could not set the IPv6 link-local address on %s: %s", self.ifname, exc)
            if self.driver is not None:
                self.driver.enable_tun(self.tun)
        else:
            self.ll_local = ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + bytes(lo))
            self.ll_peer = ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + bytes(pe))
        if self.phase != "up":
            self.phase = "up"
        log.info("IPv6CP is up: link-local %s, peer %s", self.ll_local, self.ll_peer)
        hooks.run_hook(self.config.ipv6_up, self._ctx(), ipv6=True)

    def _ipv6_down(self, now: float) -> None:
        if self.ll_local is not None:
            hooks.run_hook(self.config.ipv6_down, self._ctx(now), ipv6=True, wait=True)
            if self.tun is not None:
                self.tun.remove_routes(6)
                self.tun.flush_addresses(6)
            self.ll_local = self.ll_peer = None

    # -- teardown -------------------------------------------------------------------------------
    def _ipv4_down(self, now: float | None = None) -> None:
        if self.local is None:
            return
        hooks.run_hook(self.config.ip_down, self._ctx(now), wait=True)
        if self.tun is not None:
            self.tun.remove_routes(4)
            self.tun.flush_addresses(4)
        for path in self.resolv_written:
            hooks.remove_file(path, remove_parent=path == hooks.resolv_path(self.ifname, self.config.run_dir))
        self.resolv_written = []
        self.local = self.peer = None
        self.dns = ()

    def session_ended(self, end: Any, now: float) -> None:
        """The driver returned: undo this session's configuration, keep the TUN for a redial."""
        self._ipv4_down(now)
        self._ipv6_down(now)
        if self.driver is not None:
            self.driver.disable_tun()
        if self.tun is not None:
            self.tun.down()
        self.up_since = None
        self.phase = "down"
        self.last_end = {"code": int(end.code), "cause": end.cause, "message": end.message}
        self.write_status()

    def _ctx(self, now: float | None = None) -> hooks.HookContext:
        c = getattr(self.driver, "counters", None)
        connect_time = None
        if now is not None and self.up_since is not None:
            connect_time = int(now - self.up_since)
        return hooks.HookContext(
            ifname=self.ifname, device=self.config.device, speed=self.config.speed,
            local=str(self.local or ""), remote=str(self.peer or ""), ipparam=self.config.ipparam,
            dns=tuple(str(d) for d in self.dns), usepeerdns=self.config.usepeerdns,
            ll_local=str(self.ll_local or ""), ll_remote=str(self.ll_peer or ""),
            linkname=self.config.linkname, call_file=self.config.call_file, connect_time=connect_time,
            bytes_sent=(c.bytes_out if c is not None and now is not None else None),
            bytes_rcvd=(c.bytes_in if c is not None and now is not None else None),
        )


def _plain(obj: Any) -> Any:
    """Engine stats (a dataclass or object of ints) as JSON-able data."""
    if isinstance(obj, int | float | str | bool) or obj is None:
        return obj
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _plain(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if hasattr(obj, "__dict__"):
        return {k: _plain(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return str(obj)
