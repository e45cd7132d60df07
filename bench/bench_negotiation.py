#!/usr/bin/env python3
"""How long after CONNECT the link is usable: CONNECT -> LCP Opened -> IPCP Opened, against real pppd.

    python3 bench/bench_negotiation.py --json          # ~2-3 min under TCG: 10 dials per policy

The peer is Debian's pppd 2.4.9 in the QEMU guest of the interop tests (tests/guest/pppd.py),
behind its AT responder: each dial goes the way `pppstack up` goes (run_dialer to CONNECT, then
build_link and run_session's PppDriver) until IPCP is Opened, then closes with a
Terminate-Request.  pppd flushes its tty after CONNECT, so the Configure-Request we send at once
is often lost; the engine's `lcp_resend_first` policy
(pppstack/fsm/cp.py) sends it again when pppd's first request arrives.  Dials alternate between
the policy on and off (`lcp_resend_first=False`: the RFC's bare Restart timer), and the figures
are medians per policy, in milliseconds from CONNECT (and from pppd's first LCP packet, which
under TCG arrives a few hundred ms after CONNECT), plus how many dials needed our Restart timer
(LCP later than 1 s).

Needs QEMU and the guest image (built from Debian packages into ~/.cache/pppstack/guests on first
use, as the tests do). The guest harness lives in the clone's tests/guest/, which is appended to
sys.path after the installed pppstack.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

import benchenv  # bench/ is sys.path[0]: the installed pppstack, never the clone's tree

CLONE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_dial(guest: Any, resend_first: bool, run_dir: str, timeout: float = 30.0) -> dict[str, Any]:
    """One call through `pppstack up`'s own path: run_dialer, build_link, run_session (PppDriver)."""
    from pppstack.io.dialing import run_dialer
    from pppstack.io.netconf import InterfaceSetup, NetConfig
    from pppstack.io.serialport import open_port
    from pppstack.io.session import build_link, run_session

    marks: dict[str, float] = {}

    class Timed(InterfaceSetup):
        def on_event(self, event: Any, now: float) -> None:
            kind = type(event).__name__
            if kind == "LinkUp":
                marks.setdefault("lcp", time.monotonic())
            elif kind == "Ipv4Up":
                marks.setdefault("ipcp", time.monotonic())
                self.driver.request_stop("benchmark done")
            super().on_event(event, now)

    guest.start_modem(("noauth",))
    port = open_port(guest.pty_path, exclusive=False)
    try:
        with port:
            code, why, initial = run_dialer(port, argparse.Namespace(apn="internet", pin=None, pdp_type="IP",
                                                                     number=None))
            connect = time.monotonic()
            if int(code) != 0:
                raise benchenv.BenchError(f"the dial failed: {why}")
            link = build_link({"noipv6": True, "usepeerdns": True, "lcp_resend_first": resend_first})
            feed = link.receive_data

            def receive(data: bytes, now: float) -> None:  # when pppd's first LCP packet arrives
                feed(data, now)
                if "peer" not in marks and link.link.lcp.counters.received:
                    marks["peer"] = time.monotonic()

            link.receive_data = receive
            setup = Timed(None, NetConfig(device=guest.pty_path, run_dir=run_dir), ifname="bench0")
            watchdog = threading.Timer(timeout, lambda: setup.driver and setup.driver.request_stop("timeout"))
            watchdog.start()
            try:
                run_session(port, link, setup, initial=initial)
            finally:
                watchdog.cancel()
        if "ipcp" not in marks:
            raise benchenv.BenchError(f"no IPCP within {timeout} s of CONNECT (got {sorted(marks)})")
        lcp = link.link.lcp.counters
        return {"resend_first": resend_first, "peer_first_lcp_ms": round((marks["peer"] - connect) * 1000, 1),
                "lcp_ms": round((marks["lcp"] - connect) * 1000, 1),
                "ipcp_ms": round((marks["ipcp"] - connect) * 1000, 1), "lcp_conf_reqs": lcp.conf_reqs_sent,
                "early_resends": lcp.early_resends}
    finally:
        guest.stop_modem()


def summary(dials: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "dials": len(dials),
        "median_connect_to_lcp_opened_ms": round(statistics.median(d["lcp_ms"] for d in dials), 1),
        "median_connect_to_ipcp_opened_ms": round(statistics.median(d["ipcp_ms"] for d in dials), 1),
        # pppd's own start-up under TCG is most of the above; this is what our side adds after it
        "median_peer_first_lcp_to_lcp_opened_ms": round(statistics.median(d["lcp_ms"] - d["peer_first_lcp_ms"]
                                                                           for d in dials), 1),
        "max_connect_to_lcp_opened_ms": max(d["lcp_ms"] for d in dials),
        "dials_waiting_for_restart_timer": sum(d["lcp_ms"] > 1000 for d in dials),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dials", type=int, default=10, help="dials per policy (default 10)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    if args.dials < 1:
        raise benchenv.BenchError("--dials must be at least 1", 2)
    where = benchenv.installed_pppstack()
    sys.path.append(CLONE)  # after site-packages: only tests.guest comes from the clone
    try:
        from tests.guest.pppd import shared_pppd_guest
    except ImportError as exc:
        raise benchenv.BenchError(f"the guest harness (tests/guest in the clone) is not importable: {exc}") from exc
    t0 = time.monotonic()
    guest = shared_pppd_guest()
    boot = time.monotonic() - t0
    logging.getLogger("pppstack").addHandler(logging.NullHandler())
    logging.getLogger("pppstack").propagate = False
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pppstack-bench-neg-") as run_dir:
        for _ in range(args.dials):
            for policy in (True, False):
                runs.append(one_dial(guest, policy, run_dir))
    result = {
        "benchmark": "negotiation", "peer": "pppd 2.4.9 (Debian) in a QEMU guest, tty flushed after CONNECT",
        "pppstack": where, "guest_boot_s": round(boot, 1),
        "resend_first_on": summary([r for r in runs if r["resend_first"]]),
        "resend_first_off": summary([r for r in runs if not r["resend_first"]]),
        "runs": runs,
        "environment": benchenv.environment([benchenv.loaded_backend()]),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key in ("resend_first_on", "resend_first_off"):
            s = result[key]
            print(f"{key:18} CONNECT->LCP {s['median_connect_to_lcp_opened_ms']:8.1f} ms   CONNECT->IPCP "
                  f"{s['median_connect_to_ipcp_opened_ms']:8.1f} ms   restart-timer waits "
                  f"{s['dials_waiting_for_restart_timer']}/{s['dials']}")
    return 0


if __name__ == "__main__":
    sys.exit(benchenv.run_main(main))
