"""Inside the NCM guest: our NCM path (ncm.usb edge + NcmLink's L2 shim + TUN) up on the gadget.

Run by tests/test_interop_ncm_gadget.py as ``unshare -n python3 -m tests.guest.ncmclient ...``
so the TUN lives in its own network namespace and traffic to the gadget's usb0 really crosses
USB (in the guest's root namespace the kernel would answer it locally). Prints JSON lines:
``Bound`` (NTB parameters), ``Ready`` (TUN up), each session event, and ``Stats`` at exit
(SIGTERM ends it).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import selectors
import signal
import sys
import time


def emit(kind: str, **fields: object) -> None:
    print(json.dumps({"event": kind, **fields}, default=str), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vid", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--pid", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--address", default="192.168.77.2/24")
    ap.add_argument("--gateway", default="192.168.77.1")
    ap.add_argument("--ifname", default="ncm0")
    ap.add_argument("--ntb32", action="store_true")
    args = ap.parse_args(argv)

    from ncm.l2 import L2Config
    from ncm.link import NcmLink, NcmLinkDown
    from ncm.usb import NcmDevice, UsbPump
    from pppstack.io.tun import TunDevice, ip

    dev = NcmDevice.open(vid=args.vid, pid=args.pid)
    params = dev.bind(ntb32=args.ntb32)
    mac = dev.mac or bytes.fromhex("020000770002")
    emit("Bound", params=params.describe(), ntb32=dev.ntb32, rx_max=dev.rx_max, mac=mac.hex(":"))
    iface = ipaddress.IPv4Interface(args.address)
    session = NcmLink(params, L2Config(mac=mac, ipv4=iface, gateway=ipaddress.IPv4Address(args.gateway)),
                         ntb32=dev.ntb32, rx_max=dev.rx_max)
    tun = TunDevice.create(args.ifname, mtu=1500)
    ip("-4", "addr", "add", str(iface), "dev", tun.name)
    tun.up()
    pump = UsbPump(dev)
    pump.start()
    session.start(time.monotonic())
    sel = selectors.DefaultSelector()
    sel.register(tun.fileno(), selectors.EVENT_READ, "tun")
    sel.register(pump.wake_fd, selectors.EVENT_READ, "usb")
    stopping = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    emit("Ready", ifname=tun.name, address=str(iface))
    rc = 0
    while not stopping:
        now = time.monotonic()
        timer = session.get_timer()
        if timer is not None and timer <= now:
            session.handle_timer(now)
        for key, _ in sel.select(0.2 if timer is None else max(0.0, min(0.2, timer - now))):
            now = time.monotonic()
            if key.data == "usb":
                pump.drain_wake()
                for note in pump.take_notifications():
                    session.receive_notification(note, now)
                for block in pump.take_blocks():
                    session.receive_ntb(block, now)
                if pump.error is not None:
                    emit("UsbError", cause=pump.error[0].name, message=pump.error[1])
                    stopping, rc = True, 4
            else:
                session.send_ip_many(tun.read_batch(64), now)
        packets = session.take_packets()
        if packets:
            tun.write_many(packets)
        blocks = session.blocks_to_send()
        if blocks:
            pump.send(blocks)
        while (event := session.next_event()) is not None:
            emit(type(event).__name__, **{k: getattr(event, k) for k in getattr(event, "__slots__", ())})
            if isinstance(event, NcmLinkDown):
                stopping = True
    pump.send(session.close())
    time.sleep(0.2)
    pump.stop()
    emit("Stats", **session.stats(), rx_transfers=pump.rx_transfers, tx_transfers=pump.tx_transfers,
         tx_dropped=pump.tx_dropped)
    tun.close()
    dev.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
