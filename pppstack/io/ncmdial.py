"""NCM dial and hang-up on the modem's AT (PCUI) port: AT^NDISDUP=1,1 and =1,0.

`dial()` runs the modem room's NcmDialer (^NDISDUP, poll ^NDISSTATQRY?, ^DHCP?) and returns
the addresses from ^DHCP with the port still open, so `NdisStatWatcher` can hear the network
end the call (^NDISSTAT: 0) while the link runs; `hangup()` sends AT^NDISDUP=1,0 on the way out.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from pppstack.exitcodes import EdgeCause, dial_cause

__all__ = ["NcmDialed", "dial", "hangup", "NdisStatWatcher", "sysfs_at_port"]

log = logging.getLogger("pppstack.ncm")


def sysfs_at_port(dev: object) -> str | None:
    """The PCUI tty of the USB device ``dev`` (a pyusb Device), found through sysfs."""
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


@dataclass
class NcmDialed:
    """A dial's outcome: `failure` (a cause and a sentence) or the ^DHCP answer and the open port.
    `path` is where to hang up (set whenever ^NDISDUP may have been sent)."""

    failure: tuple[EdgeCause, str] | None = None
    ipv4: Any = None            # pppstack.modem.huawei's DhcpInfo
    path: str | None = None
    port: Any = None


def dial(at_port: str | None, dev: object, stop: threading.Event, *, apn: str, user: str | None,
         password: str | None, pin: str | None, pdp_type: str | None, timeout: float) -> NcmDialed:
    """Run NcmDialer on the AT port (``at_port``, else the one sysfs names for ``dev``).
    A set ``stop`` aborts between steps."""
    from pppstack.io import atport
    from pppstack.io.serialport import SerialPortError, open_port
    from pppstack.modem.dial import NcmDialer

    path = at_port or sysfs_at_port(dev)
    if not path:
        return NcmDialed((EdgeCause.NO_DEVICE, "No AT (PCUI) port found for the NCM modem; name it with "
                          "--device /dev/ttyUSBn."))
    try:
        dialer = NcmDialer(apn, user, password, pin=pin, pdp_type=pdp_type)
    except ValueError as exc:
        return NcmDialed((EdgeCause.BAD_OPTION, f"{exc}."))
    try:
        port = open_port(path)
    except (OSError, SerialPortError) as exc:
        return NcmDialed((EdgeCause.OPEN_FAILED, f"Cannot open the AT port {path}: {exc}."))
    log.info("dialling NCM on %s: %s", path, dialer.dial_command if not (user or password)
             else "AT^NDISDUP with credentials")

    def check() -> None:
        if stop.is_set():
            raise _Interrupted

    try:
        result = atport.run(port, dialer, timeout=timeout, on_progress=check)
    except _Interrupted:
        port.close()
        return NcmDialed((EdgeCause.INTERRUPTED, f"A signal stopped the NCM dial on {path}."), path=path)
    except BaseException:
        port.close()
        raise
    for line in getattr(dialer, "transcript", []):
        log.debug("%s", line)
    if result is None or not result.ok:
        port.close()
        msg = result.message if result is not None else "no result"
        return NcmDialed((dial_cause(result.error if result is not None else None, ncm=True),
                          f"NCM dial failed: {msg}."))
    log.info("NCM connected: %s", result.message)
    return NcmDialed(None, result.ipv4, path, port)


def hangup(path: str | None, port: object | None = None) -> None:
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
