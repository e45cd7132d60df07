#!/usr/bin/env python3
"""Throughput of the whole PPP path: TUN -> PPP -> pty -> PPP -> TUN, our client against our server.

    python3 bench/bench_link.py --json            # ~1.5 min: both framing backends, all phases

Two network namespaces; `pppstack up` in one and `pppstack serve` in the other, joined by a pty
pair (the server gets the master, the client opens the slave).  For each framing backend
(PPPSTACK_HDLC=c / python) it measures, as medians over --reps runs of --duration seconds:

* one way a->b and b->a: a TCP stream; the figure is IP bytes the receiving side's driver wrote
  into its TUN (from the kernel's counters), in Mbit/s;
* both ways at once: two opposite TCP streams, Mbit/s per direction;
* 64-byte packets: a UDP flood of 64-byte IP packets a->b; packets/s delivered and Mbit/s;
* 1500-byte UDP flood a->b: what the link carries without TCP's congestion control in the way
  (the flooding sender shares the two CPUs with both ends, so this is a lower bound);
* CPU seconds per GB: user+system time of the two pppstack processes per GB delivered.

In the same run it measures the pty pair itself (64 KiB writes, one reader process, each
direction): the transport's ceiling, and reports our one-way figure as a share of it.
Needs root (namespaces, TUN).  Prints a table, or JSON with --json (with an "environment":
backends, SIMD paths, CPU model, Python version).

Both ends run the installed pppstack (`python -P -m pppstack`, run `pip install .` first); a
backend asked for but not built is an error before anything is set up. Namespaces, processes
and run directories are removed on every exit: normal, error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import tty
import uuid

import benchenv  # bench/ is sys.path[0]: the installed pppstack, never the clone's tree

# -P: the children must not import pppstack from whatever directory the user runs this from
PY = [sys.executable, "-P"]
A_IP, B_IP = "10.99.0.2", "10.99.0.1"
CLK = os.sysconf("SC_CLK_TCK")

SINK = textwrap.dedent("""
    import socket, sys, threading
    def tcp(c):
        while c.recv(1 << 20):
            pass
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], 5201)); s.listen(8)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    u.bind((sys.argv[1], 5202))       # bound so the kernel drops quietly instead of answering ICMP
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp, args=(c,), daemon=True).start()
""")

TCP_SEND = textwrap.dedent("""
    import socket, sys, time
    s = socket.create_connection((sys.argv[1], 5201), timeout=10)
    block = bytes(range(256)) * 256
    end = time.monotonic() + float(sys.argv[2])
    try:
        while time.monotonic() < end:
            s.sendall(block)
    except OSError:
        pass
    s.close()
""")

UDP_SEND = textwrap.dedent("""
    import socket, sys, time
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect((sys.argv[1], 5202))
    payload = bytes(int(sys.argv[3]) - 28)
    end = time.monotonic() + float(sys.argv[2]); send = u.send
    while time.monotonic() < end:
        for _ in range(256):
            try:
                send(payload)
            except OSError:
                pass
""")

PTY_READER = textwrap.dedent("""
    import os, sys, time
    fd = int(sys.argv[1]); n = 0; t0 = None
    while True:
        try:
            b = os.read(fd, 65536)
        except OSError:
            break
        if not b:
            break
        if t0 is None:
            t0 = time.monotonic()
        n += len(b)
    print(n, time.monotonic() - (t0 or time.monotonic()))
""")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


class Netns:
    def __init__(self, tag: str, owner: list[Netns]) -> None:
        self.name = f"pppbench-{tag}-{uuid.uuid4().hex[:6]}"
        owner.append(self)   # before it exists: a signal right after `add` still finds it to delete
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")

    def cmd(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def tun_stat(self, ifname: str, key: str) -> int:
        out = sh(*self.cmd("cat", f"/sys/class/net/{ifname}/statistics/{key}")).stdout
        return int(out.strip())

    def delete(self) -> None:
        sh("ip", "netns", "del", self.name, check=False)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


class Link:
    """One client/server pair for one framing backend. Use as a context manager: whatever was
    set up (namespaces, processes, pty, run directory) is torn down however the block ends."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.namespaces: list[Netns] = []
        self.procs: list[subprocess.Popen] = []
        self.slave: int | None = None
        self.run_dir = f"/tmp/pppbench-{uuid.uuid4().hex[:6]}"

    def __enter__(self) -> Link:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spawn(self, argv: list[str], **kw) -> subprocess.Popen:  # noqa: ANN003
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def _start(self) -> None:
        self.a = Netns("a", self.namespaces)
        self.b = Netns("b", self.namespaces)
        print(f"bench_link: namespaces {self.a.name} {self.b.name} (backend {self.backend})", file=sys.stderr,
              flush=True)
        env = dict(os.environ, PPPSTACK_HDLC=self.backend, PYTHONUNBUFFERED="1")
        env.pop("PYTHONPATH", None)
        master, slave = os.openpty()
        tty.setraw(slave)
        self.slave = slave  # held open until the client has opened it (a master reads EIO otherwise)
        path = os.ttyname(slave)
        common = ["--noipv6", "--run-dir", self.run_dir, "--ifname", "pppb0"]
        try:
            self.serve = self.spawn(
                self.b.cmd(*PY, "-m", "pppstack", "serve", "--fd", str(master), "--local", B_IP, "--remote",
                           A_IP, *common), env=env, pass_fds=(master,), stderr=subprocess.PIPE, text=True)
        finally:
            os.close(master)
        self.up = self.spawn(self.a.cmd(*PY, "-m", "pppstack", "up", "--device", path, "--no-dial", *common),
                             env=env, stderr=subprocess.PIPE, text=True)
        self._wait_up(self.up, "client")
        self._wait_up(self.serve, "server")
        self.sinks = []
        for ns, ip in ((self.a, A_IP), (self.b, B_IP)):
            p = self.spawn(ns.cmd(*PY, "-c", SINK, ip), stdout=subprocess.PIPE, text=True)
            if p.stdout is None or p.stdout.readline().strip() != "ready":
                raise benchenv.BenchError(f"the traffic sink in {ns.name} did not start")
            self.sinks.append(p)

    def _wait_up(self, proc: subprocess.Popen, who: str) -> None:
        assert proc.stderr is not None
        lines = []
        end = time.monotonic() + 30
        while time.monotonic() < end:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "IPCP is up" in line:
                threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain
                return
        raise benchenv.BenchError(f"the {who} (PPPSTACK_HDLC={self.backend}) never came up; it said:\n"
                                  + "".join(lines[-15:]))

    def close(self) -> None:
        """Kill every process started, then remove the namespaces and the run directory."""
        while self.procs:
            p = self.procs.pop()
            if p.poll() is None:
                p.kill()
            p.wait()
        if self.slave is not None:
            os.close(self.slave)
            self.slave = None
        while self.namespaces:
            self.namespaces.pop().delete()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def cpu(self) -> float:
        return cpu_seconds(self.up.pid) + cpu_seconds(self.serve.pid)

    # -- phases ---------------------------------------------------------------------------------
    def measure(self, senders: list[tuple[Netns, list[str]]], receivers: list[tuple[Netns, str]],
                duration: float) -> tuple[list[tuple[int, int]], float]:
        """Run senders; return (bytes, packets) delivered into each receiving TUN and CPU seconds."""
        procs = [self.spawn(ns.cmd(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for ns, argv in senders]
        time.sleep(0.5)  # past TCP slow start
        before = [(ns.tun_stat(i, "rx_bytes"), ns.tun_stat(i, "rx_packets")) for ns, i in receivers]
        cpu0, t0 = self.cpu(), time.monotonic()
        time.sleep(duration)
        after = [(ns.tun_stat(i, "rx_bytes"), ns.tun_stat(i, "rx_packets")) for ns, i in receivers]
        cpu1, t1 = self.cpu(), time.monotonic()
        for p in procs:
            p.kill()
            p.wait()
            self.procs.remove(p)
        elapsed = t1 - t0
        rates = [((b1 - b0) / elapsed, (p1 - p0) / elapsed) for (b0, p0), (b1, p1) in zip(before, after, strict=True)]
        return rates, (cpu1 - cpu0) / elapsed  # per second of wall time

    def tcp(self, direction: str, duration: float) -> dict:
        d = str(duration + 1.5)
        if direction == "a->b":
            senders, receivers = [(self.a, [*PY, "-c", TCP_SEND, B_IP, d])], [(self.b, "pppb0")]
        elif direction == "b->a":
            senders, receivers = [(self.b, [*PY, "-c", TCP_SEND, A_IP, d])], [(self.a, "pppb0")]
        else:
            senders = [(self.a, [*PY, "-c", TCP_SEND, B_IP, d]),
                       (self.b, [*PY, "-c", TCP_SEND, A_IP, d])]
            receivers = [(self.b, "pppb0"), (self.a, "pppb0")]
        rates, cpu = self.measure(senders, receivers, duration)
        total = sum(r[0] for r in rates)
        return {"mbit_s": [r[0] * 8 / 1e6 for r in rates], "cpu_s_per_gb": cpu / (total / 1e9) if total else None,
                "pkt_s": [r[1] for r in rates]}

    def udp(self, size: int, duration: float) -> dict:
        d = str(duration + 1.5)
        rates, cpu = self.measure([(self.a, [*PY, "-c", UDP_SEND, B_IP, d, str(size)])],
                                  [(self.b, "pppb0")], duration)
        (bps, pps), = rates
        return {"mbit_s": [bps * 8 / 1e6], "pkt_s": [pps], "cpu_s_per_gb": cpu / (bps / 1e9) if bps else None}


def pty_ceiling(duration: float) -> dict:
    """Raw pty pair, 64 KiB writes, a separate reader process: MB/s each direction."""
    out = {}
    for direction in ("master->slave", "slave->master"):
        master, slave = os.openpty()
        tty.setraw(slave)
        wfd, rfd = (master, slave) if direction == "master->slave" else (slave, master)
        reader = None
        try:
            reader = subprocess.Popen([*PY, "-c", PTY_READER, str(rfd)], pass_fds=(rfd,),
                                      stdout=subprocess.PIPE, text=True)
            os.close(rfd)
            rfd = -1
            block = bytes(range(256)) * 256
            end = time.monotonic() + duration
            while time.monotonic() < end:
                os.write(wfd, block)
            time.sleep(0.2)   # let the reader take the last block before the end of file
            os.close(wfd)
            wfd = -1
            n, secs = reader.communicate(timeout=30)[0].split()
            out[direction] = int(n) * 8 / float(secs) / 1e6
        finally:
            for fd in (wfd, rfd):
                if fd >= 0:
                    os.close(fd)
            if reader is not None and reader.poll() is None:
                reader.kill()
                reader.wait()
    return out


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def run(args: argparse.Namespace) -> dict:
    result: dict = {"duration_s": args.duration, "reps": args.reps, "cpus": os.cpu_count(), "backends": {}}
    ceil_runs: list[dict] = []
    for backend in args.backends:
        with Link(backend) as link:
            runs: dict[str, list[dict]] = {"a->b": [], "b->a": [], "both": [], "udp64": [], "udp1500": []}
            for _ in range(args.reps):
                ceil_runs.append(pty_ceiling(args.pty_duration))  # interleaved: same noise windows as ours
                for name in ("a->b", "b->a", "both"):
                    runs[name].append(link.tcp(name, args.duration))
                runs["udp64"].append(link.udp(64, args.duration))
                runs["udp1500"].append(link.udp(1500, args.duration))
        summary = {
            "one_way_a_to_b_mbit_s": median([r["mbit_s"][0] for r in runs["a->b"]]),
            "one_way_b_to_a_mbit_s": median([r["mbit_s"][0] for r in runs["b->a"]]),
            "both_ways_a_to_b_mbit_s": median([r["mbit_s"][0] for r in runs["both"]]),
            "both_ways_b_to_a_mbit_s": median([r["mbit_s"][1] for r in runs["both"]]),
            "packets_1500_per_s_a_to_b": median([r["pkt_s"][0] for r in runs["a->b"]]),
            "cpu_s_per_gb_one_way": median([r["cpu_s_per_gb"] for r in runs["a->b"] if r["cpu_s_per_gb"]]),
            "cpu_s_per_gb_both_ways": median([r["cpu_s_per_gb"] for r in runs["both"] if r["cpu_s_per_gb"]]),
            "udp64_packets_per_s": median([r["pkt_s"][0] for r in runs["udp64"]]),
            "udp64_mbit_s": median([r["mbit_s"][0] for r in runs["udp64"]]),
            "cpu_s_per_gb_udp64": median([r["cpu_s_per_gb"] for r in runs["udp64"] if r["cpu_s_per_gb"]]),
            "udp1500_flood_mbit_s": median([r["mbit_s"][0] for r in runs["udp1500"]]),
            "udp1500_flood_packets_per_s": median([r["pkt_s"][0] for r in runs["udp1500"]]),
        }
        # a->b crosses the pty from slave (client) to master (server): compare with that direction,
        # measured between this backend's own runs
        mine = ceil_runs[-args.reps:]
        ceil_ab = median([r["slave->master"] for r in mine])
        summary["pty_ceiling_slave_to_master_mbit_s"] = ceil_ab
        summary["tcp_a_to_b_share_of_pty_ceiling"] = round(summary["one_way_a_to_b_mbit_s"] / ceil_ab, 3)
        summary["udp1500_share_of_pty_ceiling"] = round(summary["udp1500_flood_mbit_s"] / ceil_ab, 3)
        summary["runs"] = runs if args.verbose else None
        result["backends"][backend] = summary
    result["pty_ceiling_mbit_s"] = {k: median([r[k] for r in ceil_runs]) for k in ceil_runs[0]}
    if "c" in result["backends"] and "python" in result["backends"]:
        c, p = result["backends"]["c"], result["backends"]["python"]
        result["c_over_python_one_way"] = round(c["one_way_a_to_b_mbit_s"] / p["one_way_a_to_b_mbit_s"], 2) \
            if p["one_way_a_to_b_mbit_s"] else None
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--duration", type=float, default=2.5, help="seconds per measurement (default 2.5)")
    p.add_argument("--pty-duration", type=float, default=1.5, help="seconds per pty ceiling run (default 1.5)")
    p.add_argument("--reps", type=int, default=3, help="repetitions; medians are reported (default 3)")
    p.add_argument("--backends", nargs="+", default=["c", "python"], choices=("c", "python"))
    p.add_argument("--verbose", action="store_true", help="include every run in the JSON")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise benchenv.BenchError("needs root (network namespaces and TUN devices): run it with sudo.",
                                  benchenv.NOT_ROOT)
    env = benchenv.environment(args.backends)   # installed, and every backend asked for built
    benchenv.require_backends(args.backends)
    t0 = time.monotonic()
    result = {"environment": env, **run(args)}
    result["wall_s"] = round(time.monotonic() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"pty ceiling (raw, 64 KiB writes): {result['pty_ceiling_mbit_s']} Mbit/s")
    for backend, s in result["backends"].items():
        print(f"\nframing backend {backend}:")
        for k, v in s.items():
            if k != "runs":
                print(f"  {re.sub('_', ' ', k):36s} {v}")
    if result.get("c_over_python_one_way"):
        print(f"\nC / Python, one way: {result['c_over_python_one_way']}x")
    print(f"\n(wall time {result['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(benchenv.run_main(main))
