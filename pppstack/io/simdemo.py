"""`pppstack up --simulate`: the demo around an ordinary PPP `up` (kept out of UpCommand).

It starts the simulated E3372h-320 (io/simrunner.py) with the faults asked for (--sim-fault,
io/faultdemo.py), hands `up` the simulated port (a new ttyUSBn after a brown-out), pings the
simulator through the link once it is up (io/pingdemo.py: through the kernel and our TUN, or
carried by PPP alone when there are no privileges for a TUN), and adds what it showed to the
summary.  `up` itself runs exactly as against a real stick.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from pppstack.endreason import LinkEnd
from pppstack.exitcodes import ExitCode
from pppstack.options import PppOptions

__all__ = ["SimDemo", "SimDemoError"]

log = logging.getLogger("pppstack")


class SimDemoError(Exception):
    """The demo cannot start: ``code`` and a sentence."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class SimDemo:
    def __init__(self, args: argparse.Namespace, opts: PppOptions) -> None:
        """Start the simulator; `opts` may come back changed (the fault demo shortens holdoff or
        turns LCP echo on).  Raises SimDemoError."""
        try:
            from pppstack.io.simrunner import start_sim
            from pppstack.sim.modem import Fault, SimConfig
        except ImportError:
            raise SimDemoError(ExitCode.FATAL, "the simulator is not available in this build") from None
        try:
            faults = frozenset(Fault[f.upper().replace("-", "_")] for f in args.sim_fault)
        except KeyError as exc:
            raise SimDemoError(ExitCode.OPTION_ERROR, f"unknown simulator fault {exc.args[0]!r} (one of "
                               f"{', '.join(f.name for f in Fault)})") from None
        from pppstack.io.faultdemo import FaultDemo

        self.args = args
        self.opts = opts
        self.ping: Any = None            # the ping demo, once the link runs
        self.faultdemo: Any = None
        self.notes: list[str] = []
        config = SimConfig(faults=faults)
        if faults:
            self.faultdemo = FaultDemo(faults, config)
            self.opts = self.faultdemo.adjust(opts, args)
        self.sim = start_sim(config)
        log.info("simulated Huawei E3372h-320 on %s", self.sim.port_path)
        if not args.apn:
            args.apn = "internet"

    def port(self, again: bool) -> str | None:
        """The simulated stick's PPP port (after a brown-out it comes back as another ttyUSBn)."""
        path = self.sim.wait_for_port(15.0)
        if path is not None and again:
            log.info("the simulated modem's PPP port is %s", path)
        return path

    def no_tun(self, why: str) -> None:
        note = (f"could not create a TUN device ({why}): run as root to get a real interface; proving the link "
                "by pinging the simulator through PPP instead")
        log.warning("%s", note)
        self.notes.append(note)

    def before_run(self, driver: Any, setup: Any, tun: Any) -> None:
        """The link is about to run: start pinging through it once it is up."""
        from pppstack.io.pingdemo import KernelPingDemo, PingDemo

        wait = self.faultdemo.wait_after_pings() if self.faultdemo is not None and not self.args.stay else None
        if tun is not None:  # a real interface: the system's ping goes through the kernel and our TUN
            self.ping = KernelPingDemo(driver, stay=self.args.stay, wait_for=wait)
        else:                # no privileges: ICMP built here, carried by PPP, answered by the simulator
            self.ping = PingDemo(driver, stay=self.args.stay, wait_for=wait)
        self.ping.attach(setup)

    def sink(self, packets: list[bytes]) -> None:
        if self.ping is not None:
            self.ping.receive(packets)

    def call_ended(self, sessions: int, end: LinkEnd, driver: Any) -> None:
        if self.faultdemo is not None:
            naks = driver.link.stats.protocols.get("IPCP", {}).get("naks_received", 0) if driver else 0
            self.faultdemo.call_ended(sessions, end.code, end.message, end.was_up, naks)

    def finished(self, end: LinkEnd) -> bool:
        """The demo showed what it shows: `up` ends even with persist."""
        return self.ping is not None and self.ping.finished and end.code is ExitCode.OK

    def summary(self, data: dict[str, Any], stopped_by: str | None, last: LinkEnd | None
                ) -> tuple[list[str], list[str]]:
        """Adds the ping, faults and notes to the --json data; returns the text lines that go
        before the traffic line (pings) and after it (faults)."""
        first: list[str] = []
        after: list[str] = []
        if self.ping is not None:
            self.ping.interrupted = stopped_by
            if self.ping.target is None and last is not None and last.was_up:
                self.ping.target = "the peer"  # stopped after the link came up, before the first ping
            if self.ping.target is not None:  # no ping line at all when the link never came up
                data["ping"] = self.ping.summary()
                first = self.ping.summary_lines()
        if self.faultdemo is not None:
            commands = [e for _, e in self.sim.events()]
            data["faults"] = self.faultdemo.summary(commands, self.opts.persist)
            after = self.faultdemo.summary_lines(commands, self.opts.persist)
        return first, after

    def more_notes(self) -> list[str]:
        return self.faultdemo.notes if self.faultdemo is not None else []

    def next_step(self, code: ExitCode, stopped_by: str | None) -> list[str]:
        if self.args.stay or code is not ExitCode.OK or stopped_by or self.faultdemo is not None:
            return []
        return ["  next: add --stay to keep the link up and try it yourself (ping, --debug for every "
                "packet in pppd's format, --sim-fault BROWNOUT --persist to watch a recovery)"]

    def stop(self) -> None:
        try:
            self.sim.stop()
        except Exception:  # noqa: BLE001 - the summary still has to be printed
            log.debug("stopping the simulator failed", exc_info=True)
