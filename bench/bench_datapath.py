#!/usr/bin/env python3
"""The engine's per-packet cost on the data path, without the kernel: nanoseconds per IP packet.

    python bench/bench_datapath.py --json        # both framing backends, ~20 s

Two PPPoS engines (pppstack.pppos) negotiate LCP and IPCP with each other in memory, then:

* send: batches of --batch IP packets (what the driver reads from the TUN per wakeup) through
  `send_ip_many` and one `data_to_send`, the HDLC bytes for one pty write;
* receive: that HDLC stream cut into 4 KiB reads (what a pty hands out) through `receive_data`
  and `take_packets`, the packets for the TUN writes.

This is the part of bench_link's CPU per GB that pppstack's own code adds on top of the system
calls (which the C relay pays too); it moves by a few percent between runs where bench_link moves
by 2x, so a change to the data path shows here first. Each backend runs in its own process
(PPPSTACK_HDLC is read at import); the median and the best of --reps (on a loaded machine the
best is the steadier figure).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import benchenv  # bench/ is sys.path[0]: the installed pppstack, never the clone's tree

READ = 4096   # what one pty read returns under load (perf-baselines.md §6)


def _pair() -> tuple:  # (client, server), both with IPCP open
    from pppstack.config import LinkConfig
    from pppstack.pppos import PPPoS

    rng = os.urandom
    a = PPPoS(LinkConfig(user="", password="", noipv6=True), rng)
    b = PPPoS(LinkConfig(local_ip="10.64.64.64", remote_ip="10.11.12.13", name="bench", noipv6=True), rng)
    now = 0.0
    a.open(now)
    b.open(now)
    for _ in range(200):
        da, db = a.data_to_send(), b.data_to_send()
        if da:
            b.receive_data(da, now)
        if db:
            a.receive_data(db, now)
        for x in (a, b):
            while x.next_event() is not None:
                pass
        if a.link.ip4_open and b.link.ip4_open and not (da or db):
            return a, b
        if not (da or db):
            now += 1.0
            a.handle_timer(now)
            b.handle_timer(now)
    raise benchenv.BenchError("the two engines did not negotiate IPCP in memory")


def child(size: int, batch: int, packets: int, reps: int) -> dict:
    import pppstack.hdlc

    a, b = _pair()
    payload = bytes(range(256)) * (size // 256 + 1)
    pkts = [b"\x45" + payload[i % 256:i % 256 + size - 1] for i in range(batch)]
    rounds = max(1, packets // batch)

    def send() -> None:
        for _ in range(rounds):
            a.send_ip_many(pkts, 0.0)
            a.data_to_send()

    for _ in range(rounds):
        a.send_ip_many(pkts, 0.0)
    stream = a.data_to_send()
    reads = [stream[i:i + READ] for i in range(0, len(stream), READ)]

    def receive() -> int:
        n = 0
        for r in reads:
            b.receive_data(r, 0.0)
            n += len(b.take_packets())
        return n

    if receive() != rounds * batch:
        raise benchenv.BenchError("the receiving engine lost packets")
    result = {"backend": pppstack.hdlc.BACKEND}
    for name, fn in (("send", send), ("receive", receive)):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        for how, t in (("", statistics.median(times)), ("_best", min(times))):
            result[f"{name}_ns_per_packet{how}"] = round(t / (rounds * batch) * 1e9, 1)
            result[f"{name}_cpu_s_per_gb{how}"] = round(t / (rounds * batch * size) * 1e9, 3)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--backends", nargs="+", default=["c", "python"], choices=("c", "python"))
    p.add_argument("--size", type=int, default=1400, help="IP packet bytes (default 1400)")
    p.add_argument("--batch", type=int, default=32, help="packets per send_ip_many (default 32)")
    p.add_argument("--packets", type=int, default=640, help="packets per repetition (default 640, ~1 MB: "
                   "the data a driver handles per wakeup stays in cache, as it does in the link)")
    p.add_argument("--reps", type=int, default=101, help="repetitions; the median and the best are reported "
                   "(default 101)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.size, args.batch, args.packets, args.reps)))
        return 0
    env = benchenv.environment(args.backends)
    benchenv.require_backends(args.backends)
    records = []
    for backend in args.backends:
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--size", str(args.size),
                            "--batch", str(args.batch), "--packets", str(args.packets), "--reps", str(args.reps)],
                           capture_output=True, text=True, env=dict(os.environ, PPPSTACK_HDLC=backend))
        if r.returncode:
            raise benchenv.BenchError(f"the {backend} run failed: {r.stderr.strip().splitlines()[-1:]}")
        records.append(json.loads(r.stdout))
    doc = {"benchmark": "datapath", "environment": env, "size": args.size, "batch": args.batch,
           "read_bytes": READ, "records": records}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for r in records:
            print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(benchenv.run_main(main))
