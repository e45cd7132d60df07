"""A thin test driver: dial a modem pty and run our PPP engine to a TUN device, printing events.

Used by the interop tests inside a network namespace (``ip netns exec NS python3 -m
tests.guest.pppclient ...``) so that our stack — pppstack.io.serialport, the modem room's
PppDialer, the PPPoS engine with its HDLC core, and pppstack.io.tun — runs against pppd in the
guest without depending on the CLI's option spelling. Every engine event is printed to stdout as
one JSON line (``{"event": "Ipv4Up", ...}``); SIGTERM closes the link with an LCP
Terminate-Request and waits for LinkDown.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import ipaddress
import json
import os
import selectors
import signal
import sys
import time


def _jsonable(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def emit(kind: str, **fields: object) -> None:
    print(json.dumps({"event": kind, **{k: _jsonable(v) for k, v in fields.items()}}), flush=True)


def emit_event(event: object) -> None:
    fields = {}
    if dataclasses.is_dataclass(event):
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    emit(type(event).__name__, **fields)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", required=True)
    ap.add_argument("--ifname", default="pg0")
    ap.add_argument("--apn", default="internet")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--noipv6", action="store_true")
    ap.add_argument("--refuse-pap", action="store_true")
    ap.add_argument("--refuse-chap", action="store_true")
    ap.add_argument("--lcp-echo-interval", type=float, default=0.0)
    ap.add_argument("--lcp-echo-failure", type=int, default=0)
    ap.add_argument("--mru", type=int)
    ap.add_argument("--asyncmap", type=lambda v: int(v, 16))
    ap.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    args = ap.parse_args(argv)

    from pppstack import events as ev
    from pppstack.config import LinkConfig
    from pppstack.io import atport
    from pppstack.io.serialport import open_port
    from pppstack.io.tun import TunDevice
    from pppstack.modem.dial import PppDialer
    from pppstack.pppos import PPPoS

    port = open_port(args.device)
    dialer = PppDialer(apn=args.apn, wait_registration=True, registration_timeout=10.0)
    t0 = time.monotonic()
    result = atport.run(port, dialer, timeout=60.0)
    emit("Dialed", ok=result.ok, message=result.message, seconds=round(time.monotonic() - t0, 3))
    if not result.ok:
        return 2

    cfg: dict[str, object] = {"noipv6": args.noipv6, "usepeerdns": True}
    if args.user is not None:
        cfg["user"] = args.user
    if args.password is not None:
        cfg["password"] = args.password
    if args.lcp_echo_interval:
        cfg["lcp_echo_interval"] = args.lcp_echo_interval
        cfg["lcp_echo_failure"] = args.lcp_echo_failure
    if args.mru is not None:
        cfg["mru"] = args.mru
    if args.asyncmap is not None:
        cfg["asyncmap"] = args.asyncmap
    if args.refuse_pap:
        cfg["refuse_pap"] = True
    if args.refuse_chap:
        cfg["refuse_chap"] = True
    link = PPPoS(LinkConfig(**cfg), rng=os.urandom)
    now = time.monotonic()
    link.open(now)
    leftover = dialer.take_unconsumed()
    if leftover:
        link.receive_data(leftover, now)

    tun: TunDevice | None = None
    sel = selectors.DefaultSelector()
    sel.register(port.fileno(), selectors.EVENT_READ, "port")
    stopping = False
    closing_since: float | None = None
    out = b""

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    deadline = t0 + args.timeout
    rc = 0
    while True:
        now = time.monotonic()
        if stopping and closing_since is None:
            closing_since = now
            link.close("test asked the link to close", now)
        if now > deadline or (closing_since is not None and now - closing_since > 10):
            emit("GaveUp", seconds=round(now - t0, 3))
            rc = 3
            break
        timer = link.get_timer()
        if timer is not None and timer <= now:
            link.handle_timer(now)
        done = False
        while (event := link.next_event()) is not None:
            emit_event(event)
            if isinstance(event, (ev.Ipv4Up, ev.Ipv6Up)) and tun is None:
                # IPv6CP may open before IPCP: the TUN comes with whichever is first
                tun = TunDevice.create(args.ifname, mtu=event.mtu)
                sel.register(tun.fileno(), selectors.EVENT_READ, "tun")
                tun.up()
            if isinstance(event, ev.Ipv4Up):
                tun.set_ipv4(event.local, event.peer)
                emit("TunReady", ifname=tun.name)
            elif isinstance(event, ev.Ipv6Up):
                ll = tun.set_ipv6_link_local(event.local_ifid, event.peer_ifid)
                emit("Tun6Ready", ifname=tun.name, addresses=[str(a) for a in ll])
            elif isinstance(event, ev.LinkDown):
                done = True
        if tun is not None:
            for pkt in link.take_packets():
                tun.write(pkt)
        out += link.data_to_send()
        if out:
            try:
                n = port.write(out)
                out = out[n:]
            except BlockingIOError:
                pass
        if done:
            break
        timer = link.get_timer()
        wait = 0.5 if timer is None else max(0.0, min(0.5, timer - time.monotonic()))
        if out:
            wait = min(wait, 0.005)
        for key, _ in sel.select(wait):
            now = time.monotonic()
            if key.data == "port":
                try:
                    data = port.read(65536)
                except OSError as exc:
                    emit("PortError", message=str(exc))
                    return 4
                if data:
                    link.receive_data(data, now)
            elif tun is not None:
                for pkt in tun.read_batch(64):
                    link.send_ip(pkt, now)
    emit("Stats", **{k: v for k, v in _stats(link).items()})
    if tun is not None:
        tun.close()
    port.close()
    return rc


def _stats(link: object) -> dict[str, object]:
    stats = getattr(link, "stats", None)
    if stats is None:
        return {}
    if dataclasses.is_dataclass(stats):
        return {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}
    if isinstance(stats, dict):
        return dict(stats)
    return {k: v for k, v in vars(stats).items() if not k.startswith("_")} if hasattr(stats, "__dict__") else {}


if __name__ == "__main__":
    sys.exit(main())
