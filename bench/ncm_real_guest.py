"""Inside the NCM gadget guest: the pieces bench_ncm_real.py times.  Python 3.11 (Debian's).

    ncm_real_guest.py bare-out VID PID SECONDS    pyusb writes of pre-built NTBs in a loop
    ncm_real_guest.py bare-in VID PID SECONDS     pyusb reads of dwNtbInMaxSize in a loop
    ncm_real_guest.py real VID PID HOST_IP GW     `pppstack up --mode ncm`'s code (run_ncm_up) with a
                                                  static address, --json summary at SIGTERM
    ncm_real_guest.py sink PORT                   a UDP socket on PORT that reads nothing
    ncm_real_guest.py flood HOST PORT SECONDS [RATE]   1472-byte UDP datagrams to HOST, RATE a
                                                  second or as fast as the socket takes them

The bare loops bind the function with ncm.usb (setup is not what is timed) and then move the
blocks with nothing but pyusb: one synchronous transfer at a time, the floor of what a Python
program can do over this libusb.  The NTBs for bare-out are the real path's own: the same
Ethernet/IPv4/UDP frames packed by ncm.Aggregator with the function's parameters.  Each prints
one JSON line.
"""

import json
import signal
import socket
import struct
import sys
import time

PAYLOAD = 1472         # a 1500-byte IPv4 packet


def _csum(data: bytes) -> int:
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _udp_frame(dst_mac: bytes, src_mac: bytes, src_ip: str, dst_ip: str, i: int) -> bytes:
    udp = struct.pack("!HHHH", 40000, 9, 8 + PAYLOAD, 0) + struct.pack("!I", i) + bytes(PAYLOAD - 4)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                      socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return dst_mac + src_mac + b"\x08\x00" + hdr + udp


def _bind(vid: int, pid: int):  # noqa: ANN202 - runs in the guest only
    from ncm.usb import NcmDevice
    dev = NcmDevice.open(vid=vid, pid=pid)
    params = dev.bind()
    return dev, params


def _stopper() -> list[bool]:
    stop = [False]

    def on_term(_sig: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    return stop


def bare_out(vid: int, pid: int, seconds: float) -> dict:
    import usb.core

    from ncm.aggregate import Aggregator
    dev, params = _bind(vid, pid)
    gadget_mac = bytes.fromhex(sys.argv[5].replace(":", "")) if len(sys.argv) > 5 else bytes(6)
    agg = Aggregator(params, max_packet_size=dev.function.out_max_packet, flush_interval=1.0)
    blocks: list[bytes] = []
    i = 0
    while len(blocks) < 64:
        blocks += agg.add(_udp_frame(gadget_mac, dev.mac or bytes(6), "192.168.77.2", "192.168.77.1", i), 0.0)
        i += 1
    per_ntb = agg.counters["datagrams"] // agg.counters["ntbs"]
    ep = dev.function.ep_out
    write = dev.dev.write
    n = nbytes = timeouts = 0
    stop = _stopper()
    print(json.dumps({"ready": True}), flush=True)
    t0 = time.monotonic()
    end = t0 + seconds
    while not stop[0] and time.monotonic() < end:
        b = blocks[n & 63]
        try:
            write(ep, b, 1000)
        except usb.core.USBTimeoutError:
            timeouts += 1
            continue
        n += 1
        nbytes += len(b)
    dt = time.monotonic() - t0
    dev.close()
    return {"ntbs": n, "ntb_bytes": nbytes, "datagrams": n * per_ntb, "seconds": dt, "timeouts": timeouts,
            "datagrams_per_ntb": per_ntb, "ntb_size": len(blocks[0])}


def bare_in(vid: int, pid: int, seconds: float) -> dict:
    import array

    import usb.core
    dev, _params = _bind(vid, pid)
    buf = array.array("B", bytes(dev.rx_max))
    ep = dev.function.ep_in
    read = dev.dev.read
    n = nbytes = 0
    stop = _stopper()
    print(json.dumps({"ready": True}), flush=True)
    t0 = time.monotonic()
    end = t0 + seconds
    while not stop[0] and time.monotonic() < end:
        try:
            k = read(ep, buf, 200)
        except usb.core.USBTimeoutError:
            continue
        n += 1
        nbytes += k
    dt = time.monotonic() - t0
    dev.close()
    return {"ntbs": n, "ntb_bytes": nbytes, "seconds": dt}


def _sampler(period: float = 0.005) -> None:
    """--profile: where every thread is, every `period` seconds; the 25 commonest places (function
    and two callers) go to stderr at exit.  A poor man's profiler for all threads, which cProfile
    (one thread) is not."""
    import atexit
    import collections
    import os
    import threading
    counts: collections.Counter[str] = collections.Counter()
    me = threading.get_ident()
    names = {}

    def run() -> None:
        while True:
            time.sleep(period)
            for ident, frame in sys._current_frames().items():
                if ident == me or frame is None:
                    continue
                parts = []
                f = frame
                for _ in range(3):
                    if f is None:
                        break
                    parts.append(f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_code.co_name}:{f.f_lineno}")
                    f = f.f_back
                counts[names.get(ident, str(ident)) + " " + " < ".join(parts)] += 1

    def dump() -> None:
        for name, (user, system, vol, invol) in sorted(cpu.items()):
            print(f"cpu {name}: user {user:.2f} s, system {system:.2f} s, context switches {vol} voluntary, "
                  f"{invol} involuntary", file=sys.stderr)
        if prof is not None:
            import pstats
            prof.disable()
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        total = sum(counts.values()) or 1
        for where, n in counts.most_common(25):
            print(f"{n / total:6.1%} {where}", file=sys.stderr)

    t = threading.Thread(target=run, daemon=True)
    me = None  # type: ignore[assignment]
    t.start()
    me = t.ident  # type: ignore[assignment]
    for th in threading.enumerate():
        names[th.ident] = th.name
    prof = None
    if os.environ.get("NCMB_SAMPLE") == "cprofile":      # the main thread's functions, by own time
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    atexit.register(dump)

    cpu: dict[str, tuple[float, float, int, int]] = {}

    def rename() -> None:
        # and each thread's CPU and context switches from /proc, kept while it lives
        while True:
            time.sleep(0.5)
            natives = {}
            for th in threading.enumerate():
                names[th.ident] = th.name
                natives[th.native_id] = th.name
            for tid in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{tid}/stat") as fh:
                        f = fh.read().rsplit(")", 1)[1].split()
                    with open(f"/proc/self/task/{tid}/status") as fh:
                        st = dict(ln.split(":", 1) for ln in fh.read().splitlines() if ":" in ln)
                except OSError:
                    continue
                cpu[natives.get(int(tid), tid)] = (int(f[11]) / 100, int(f[12]) / 100,
                                                   int(st["voluntary_ctxt_switches"]),
                                                   int(st["nonvoluntary_ctxt_switches"]))
    threading.Thread(target=rename, daemon=True).start()


def real(vid: int, pid: int, host_ip: str, gateway: str) -> int:
    import ipaddress
    import logging
    import os
    if os.environ.get("NCMB_SAMPLE"):
        _sampler()

    from pppstack.io.ncmlink import NcmUpOptions, run_ncm_up
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    opts = NcmUpOptions(usb=f"{vid:04x}:{pid:04x}", ifname="ncmb0", json=True, noipv6=True,
                        local_ip=ipaddress.IPv4Interface(f"{host_ip}/24"),
                        gateway=ipaddress.IPv4Address(gateway), run_dir="/tmp/ncmbench-run",
                        carrier_timeout=20)
    return int(run_ncm_up(opts))


def flood(host: str, port: int, seconds: float, rate: float = 0.0) -> dict:
    """Unpaced (rate 0) the socket's buffer paces us: over usb0 a full queue blocks the sender.
    A TUN frees each packet as it queues it, so into a TUN an unpaced sender never blocks and
    burns the one CPU on packets the full TUN queue drops: there `rate` datagrams/s are offered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 << 10)
    s.settimeout(1.0)         # a send blocked on a queue that no longer drains still sees SIGTERM
    s.connect((host, port))
    burst = bytes(PAYLOAD)
    stop = _stopper()
    sent = errors = 0
    first_error = None
    print(json.dumps({"ready": True}), flush=True)
    t0 = time.monotonic()
    end = t0 + seconds
    while not stop[0]:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - t0) * rate) if rate else sent + 64
        if sent >= due:
            time.sleep(0.001)
            continue
        for _ in range(min(64, due - sent)):
            try:
                s.send(burst)
                sent += 1
            except OSError as exc:
                errors += 1
                first_error = first_error or str(exc)
                time.sleep(0.001)
    return {"sent": sent, "errors": errors, "first_error": first_error, "seconds": time.monotonic() - t0,
            "rate": rate}


def sink(port: int) -> None:
    """Bind the flood's port and never read: the kernel drops what overflows the buffer and
    sends no ICMP port-unreachable back (which would be traffic of its own, and need ARP)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("0.0.0.0", port))
    stop = _stopper()
    print(json.dumps({"ready": True}), flush=True)
    while not stop[0]:
        time.sleep(0.2)


def main() -> int:
    what = sys.argv[1]
    if what == "sink":
        sink(int(sys.argv[2]))
        return 0
    if what == "real":
        return real(int(sys.argv[2], 0), int(sys.argv[3], 0), sys.argv[4], sys.argv[5])
    if what == "flood":
        res = flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]) if len(sys.argv) > 5 else 0)
    elif what == "bare-out":
        res = bare_out(int(sys.argv[2], 0), int(sys.argv[3], 0), float(sys.argv[4]))
    elif what == "bare-in":
        res = bare_in(int(sys.argv[2], 0), int(sys.argv[3], 0), float(sys.argv[4]))
    else:
        print(f"unknown mode {what!r}", file=sys.stderr)
        return 2
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
